"""WhatsApp "Export chat" text files, Android and iOS layouts, any date locale.

    27/04/2026, 22:31 - Li Wei: text            Android, day-first, 24 h
    4/27/26, 10:31 PM - Li Wei: text            Android, month-first, 12 h (U+202F before PM)
    [27/04/2026, 22:31:05] Li Wei: text         iOS (system and media lines start with U+200E)

The file is split into lines by polars from its bytes, and every line is matched against the
header pattern at once (polars ``str.extract_groups``: the plain-ASCII form, whose captures are
cheap, then the full Unicode ``HEADER`` for the few lines it misses); a line that is not a header
continues the message above it. The timestamp is built from the header's numbers, not parsed from
text, with the same range checks a parse makes: once per date (a chat's dates come in long runs)
and once per distinct time of day, not once per message. Whether dates are day- or month-first is
decided once for the whole file, from every date in it, never line by line. Timestamps are local
wall-clock time in the case time zone. The file does not say whose phone it came from: the owner
is set in ``case.toml`` ``[owners]``."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    ReadResult,
    Rejection,
    SourceError,
    check_rows,
    decode_lines,
    empty_named,
    finish,
    head_text,
    owner_unknown,
    per_run,
    utc,
)

NAME = "whatsapp-txt"
TABLES = ("messages",)
# bidi marks WhatsApp puts around names and notices (and a stray BOM)
MARK_CHARS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
MARKS = f"[{MARK_CHARS}]"
HEADER = (r"^(?P<open>\[)?(?P<timestamp>(?P<d1>\d{1,4})[./-](?P<d2>\d{1,2})[./-](?P<d3>\d{1,4}),?\s+"
          r"(?:(?P<half>上午|下午|凌晨|早上|中午|晚上)\s?)?(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?:[:.](?P<second>\d{2}))?"
          r"(?:\s?(?P<ampm>[AaPp])\.?\s?[Mm]\.?)?)(?:\]\s|\s[-–]\s)(?P<rest>.*)$")
# Chinese locales write the half of the day before the time (下午8:00): as AM/PM
HALVES = {"上午": "A", "凌晨": "A", "早上": "A", "中午": "P", "下午": "P", "晚上": "P"}
HALF = f"(?:{'|'.join(HALVES)})"
PM_HALF = "|".join(half for half, letter in HALVES.items() if letter == "P")


def _header_pattern(digit: str, space: str) -> str:
    """HEADER's date and time as one ``head`` group holding a ``date`` group (with the ``[`` of
    iOS) and a ``clock`` group (the time of day to the separator after it), written so that the
    next character always decides the way on (a one-pass regex, whose captures are cheap)."""
    ampm = rf"[AaPp]\.?{space}?[Mm]\.?"
    end = rf"(?:\]{space}|{space}[-–]{space})"
    return (rf"^(?P<head>(?P<date>\[?{digit}{{1,4}}[./-]{digit}{{1,2}}[./-]{digit}{{1,4}}),?{space}+"
            rf"(?P<clock>(?:{HALF}{space}?)?{digit}{{1,2}}[:.]{digit}{{2}}(?:[:.]{digit}{{2}})?"
            rf"(?:{space}(?:{ampm}{end}|[-–]{space})|{ampm}{end}|\]{space})))")


# the header in ASCII digits and spaces (what phones write) and in any Unicode ones (what HEADER allows)
FAST_HEADER = _header_pattern("[0-9]", r"[\t\n\v\f\r ]")
FULL_HEADER = _header_pattern(r"\d", r"\s")
# HEADER's numbers in the date and clock groups (read once per distinct text, not per line)
DATE = r"^\[?(?P<d1>\d{1,4})[./-](?P<d2>\d{1,2})[./-](?P<d3>\d{1,4})"
CLOCK = rf"^(?:{HALF}\s?)?(?P<hour>\d{{1,2}})[:.](?P<minute>\d{{2}})(?:[:.](?P<second>\d{{2}}))?"
# attachment notices -> (kind, whether the notice itself is the text: a file name is kept, "omitted" is not)
MEDIA = (
    (r"^<Media omitted>$", "other", False),
    (r"^(?i:image omitted)$", "image", False),
    (r"^(?i:(video|GIF) omitted)$", "video", False),
    (r"^(?i:audio omitted)$", "voice", False),
    (r"^(?i:sticker omitted)$", "sticker", False),
    (r"(?i:document omitted)$", "file", False),
    (r"^(?i:contact card omitted)$", "other", False),
    (r"^<attached: [^>]*PHOTO[^>]*>$", "image", True),
    (r"^<attached: [^>]*(VIDEO|GIF)[^>]*>$", "video", True),
    (r"^<attached: [^>]*AUDIO[^>]*>$", "voice", True),
    (r"^<attached: [^>]*STICKER[^>]*>$", "sticker", True),
    (r"^<attached: [^>]*>$", "file", True),
    (r"^IMG-\S+ \(file attached\)$", "image", True),
    (r"^VID-\S+ \(file attached\)$", "video", True),
    (r"^(PTT|AUD)-\S+ \(file attached\)$", "voice", True),
    (r"^STK-\S+ \(file attached\)$", "sticker", True),
    (r"^.+ \(file attached\)$", "file", True),
)
# any notice at all: one cheap pass over every message before the patterns are told apart
MEDIA_ANY = "|".join(f"(?:{pattern})" for pattern, _, _ in MEDIA)
# iOS marks a person's deleted message like a notice; it is still that person's message
NOT_SYSTEM = r"^(This message was deleted\.?|You deleted this message\.?)$"


def sniff(path: Path, head: bytes) -> float:
    lines = [ln.strip(MARK_CHARS + " \r").replace("\u202f", " ").replace("\u00a0", " ")
             for ln in head_text(head).split("\n")]
    first = [bool(re.match(HEADER, ln)) for ln in lines if ln][:5]
    if first and first[0]:
        return 0.9
    if any(first):  # a title or stray line above the first message
        return 0.75
    return empty_named(path, head, "whatsapp*.txt", "*chat*.txt")


def read(path: Path, options: ReadOptions) -> ReadResult:
    data = path.read_bytes()
    lines, too_long, encoding = decode_lines(path, data)
    if not options.owner:
        raise owner_unknown(path, "a WhatsApp export does not say whose phone it came from")
    lines = pl.DataFrame({"src_row": pl.int_range(1, len(lines) + 1, dtype=pl.Int64, eager=True), "line": lines})
    lines = _normalised(lines, special=encoding not in ("utf-8", "utf-8-sig") or _special_bytes(data))
    headers, more = _headers(lines)
    if headers.height == 0:
        raise SourceError(path, "no line looks like a WhatsApp message header (date, time - name: text)",
                          line=1, code="file-unrecognised")
    dates, clocks = _dates(headers), _clocks(headers)
    order, order_note = _date_order(dates)
    orphans = more.filter(pl.col("message") == 0).filter(pl.col("line").str.strip_chars(MARK_CHARS + " ") != "")
    rejections = [Rejection(n, "row-malformed", "text before the first message header") for n in orphans["src_row"]]
    rejections += too_long
    messages = _with_continuations(headers, more.filter(pl.col("message") > 0))

    messages = _with_local_time(messages, dates, clocks, order).with_columns(
        ts=per_run(pl.col("_local"), lambda local: utc(local, options.tz)))
    unreadable = messages.filter(pl.col("ts").is_null()).with_columns(timestamp=_timestamp_text())
    _, bad = check_rows(unreadable, {"ts": (pl.col("ts"), "timestamp")}, required=("ts",))
    frame = messages.filter(pl.col("ts").is_not_null())
    marked = bool(lines["_marks"].any())
    frame = _table(_classified(frame, marked), options, path.stem, marked)
    ios = dates.filter(pl.col("value").str.starts_with("["))["len"].sum() * 2 > headers.height
    detected = {"format": "WhatsApp chat export, " + ("iOS ([date, time] name: text)" if ios
                                                       else "Android (date, time - name: text)"),
                "encoding": encoding, "date order": order_note,
                "clock": "12 h (AM/PM)" if clocks["_twelve"].any() else "24 h",
                "time basis": f"local wall-clock time in {options.tz}", "owner": f"{options.owner} (case.toml [owners])"}
    rows_read = headers.height + len(rejections)
    return ReadResult({"messages": frame}, rows_read, rejections + bad, detected)


def _special_bytes(data: bytes) -> bool:
    """Whether UTF-8 ``data`` may hold a CR, a no-break space or a bidi mark: the bytes they start
    with are looked for (memchr), which rules out most files long before a regex over every line."""
    return any(start in data for start in (b"\r", b"\xc2", b"\xe2", b"\xef"))


def _normalised(lines: pl.DataFrame, special: bool) -> pl.DataFrame:
    """Lines without the CR of a CRLF ending and with narrow and no-break spaces as plain spaces;
    ``_marks`` says whether the line holds a bidi mark. Each step runs only when some line needs it."""
    if not special or not lines["line"].str.contains(f"[\r\u202f\u00a0{MARK_CHARS}]").any():
        return lines.with_columns(_marks=pl.lit(False))
    line = pl.col("line")
    if lines["line"].str.contains("\r", literal=True).any():
        lines = lines.with_columns(line.str.strip_suffix("\r"))
    if lines["line"].str.contains("[\u202f\u00a0]").any():
        lines = lines.with_columns(line.str.replace_all("[\u202f\u00a0]", " "))
    return lines.with_columns(_marks=line.str.contains(MARKS))


def _headers(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(header lines: ``head``, its ``date`` and ``clock``, and ``rest``, the text after it; the
    other lines, each with the ``message`` it continues: the number of headers above it). A header
    is found by the plain-ASCII pattern where it matches (the captures of the full Unicode pattern
    cost several times more); the few lines it misses are tried against the full pattern."""
    start = pl.col("line")
    if lines["_marks"].any():
        start = pl.when("_marks").then(start.str.replace(f"^{MARKS}+", "")).otherwise(start)
    found = lines.select("src_row", "line", _start=start).with_columns(
        _h=pl.col("_start").str.extract_groups(FAST_HEADER)).unnest("_h")
    header = found["head"].is_not_null()
    slow = found.select("src_row", "_start").filter(~header).filter(pl.col("_start").str.contains(FULL_HEADER))
    headers = found.filter(header).drop("line")
    if slow.height:  # Unicode digits or spaces: read with the full pattern, in their place
        header = header.scatter(slow["src_row"] - 1, True)
        slow = slow.with_columns(_h=pl.col("_start").str.extract_groups(FULL_HEADER)).unnest("_h")
        headers = pl.concat([headers, slow]).sort("src_row")
    headers = headers.select("src_row", "head", "date", "clock", rest=pl.col("_start").str.strip_prefix(pl.col("head")))
    # a continuation line belongs to the last header above it (message 0: text above the first header)
    more = found.select("src_row", "line", message=header.cum_sum()).filter(~header)
    return headers, more


def _with_continuations(headers: pl.DataFrame, more: pl.DataFrame) -> pl.DataFrame:
    """One row per message: ``name`` (the sender, when the text starts ``name: ``), ``part`` (the
    header's text after the header, or after the name, and every continuation line)."""
    # "name: text": the name (1 to 80 characters) runs to the first ": " and holds no other ":"
    headers = headers.with_columns(_split=pl.col("rest").str.splitn(": ", 2).struct.rename_fields(["_name", "_said"])
                                   ).unnest("_split")
    name, said = pl.col("_name"), pl.col("_said")
    headers = headers.with_columns(_is_name=said.is_not_null() & ~name.str.contains(":", literal=True) & (
        name.str.len_chars() <= 80) & (name != ""))
    headers = headers.with_columns(name=pl.when("_is_name").then(name),
                                   part=pl.when("_is_name").then(said).otherwise("rest")
                                   ).drop("_name", "_said", "_is_name", "rest")
    if more.height == 0:
        return headers
    # most messages continue on one line at most: only the others are grouped
    message = pl.col("message")
    several = (message == message.shift(1)) | (message == message.shift(-1))
    more = more.with_columns(_several=several.fill_null(False))
    joined = pl.concat([more.filter(~pl.col("_several")).select("message", _more="line"),
                        more.filter("_several").group_by("message", maintain_order=True)
                        .agg(_more=pl.col("line").str.join("\n"))])
    index = joined["message"] - 1
    texts = pl.DataFrame({"part": headers["part"].gather(index), "_more": joined["_more"]}).select(
        pl.concat_str("part", "_more", separator="\n").str.strip_chars_end("\n"))["part"]
    return headers.with_columns(headers["part"].scatter(index, texts))


def _classified(frame: pl.DataFrame, marked: bool) -> pl.DataFrame:
    """``_said`` (the text after the name, or of a line without a name, without bidi marks),
    ``_kind`` and ``_keep`` (the attachment notice a named message is, and whether its text is
    kept) and ``_system`` (a notice of WhatsApp's own)."""
    named = pl.col("name").is_not_null()
    frame = frame.with_columns(_said=_unmarked(pl.col("part"), marked).str.strip_chars(" "))
    # one regex pass finds the few notices; only those are matched pattern by pattern (the first listed wins)
    which = pl.lit(None, pl.Int64)
    for index, (pattern, _, _) in reversed(list(enumerate(MEDIA))):
        which = pl.when(pl.col("_said").str.contains(pattern)).then(pl.lit(index)).otherwise(which)
    at = frame.select(named & pl.col("_said").str.contains(MEDIA_ANY)).to_series().arg_true()
    notices = frame[at].select(which).to_series()
    kinds = notices.replace_strict({i: k for i, (_, k, _) in enumerate(MEDIA)}, return_dtype=pl.String)
    keeps = notices.replace_strict({i: keep for i, (_, _, keep) in enumerate(MEDIA)}, return_dtype=pl.Boolean)
    frame = frame.with_columns(_kind=pl.repeat(None, frame.height, dtype=pl.String, eager=True).scatter(at, kinds),
                               _keep=pl.repeat(True, frame.height, dtype=pl.Boolean, eager=True).scatter(at, keeps))
    if not marked:  # a named message is a notice only when it starts with a mark
        return frame.with_columns(_system=~named)
    starts_marked = pl.when(named).then(pl.col("part").str.contains(f"^{MARKS}"))
    return frame.with_columns(_system=~named | (
        starts_marked & pl.col("_kind").is_null() & ~pl.col("_said").str.contains(NOT_SYSTEM)))


def _table(frame: pl.DataFrame, options: ReadOptions, conversation: str, marked: bool) -> pl.DataFrame:
    """The canonical messages from the classified ones."""
    frame = frame.with_columns(_name=_unmarked(pl.col("name"), marked).str.strip_chars(" "))
    if frame["_name"].str.starts_with("~").any():  # "~ Li Wei": a number not in the phone's contacts
        frame = frame.with_columns(_name=pl.col("_name").str.replace(r"^~\s*", ""))
    system = pl.col("_system")
    frame = frame.with_columns(
        worker_id=pl.lit(options.owner),
        message_id=pl.col("src_row").cast(pl.String),
        conversation_id=pl.lit(conversation),
        sender_id=pl.when(~system).then("_name"),
        sender_role=pl.when(system).then(pl.lit("system")),
        text=pl.when(pl.col("name").is_null() | system | pl.col("_keep")).then("_said").otherwise(pl.lit("")),
        attachment_kind=pl.when(~system).then(pl.col("_kind")),
    )
    return finish("messages", frame.with_columns(sender_name=pl.col("sender_id")))


def _unmarked(text: pl.Expr, marked: bool) -> pl.Expr:
    return text.str.replace_all(MARKS, "") if marked else text


def _dates(headers: pl.DataFrame) -> pl.DataFrame:
    """The headers' dates as runs of one date text (``value``, for ``len`` headers in a row) with
    its numbers d1, d2, d3: a chat's messages of a day are in a row, so each is read once."""
    runs = headers.select(pl.col("date").rle()).unnest("date")
    return runs.with_columns(_d=pl.col("value").str.extract_groups(DATE)).unnest("_d")


def _date_order(dates: pl.DataFrame) -> tuple[str, str]:
    """Day-first, month-first or year-first, decided from every date in the file (``_dates``)."""
    d1, d2 = dates["d1"], dates["d2"].cast(pl.Int64, strict=False)
    if (d1.str.len_chars() == 4).all():
        return "ymd", "year-first (yyyy-mm-dd)"
    day_first = int(dates["len"].filter(d1.cast(pl.Int64, strict=False) > 12).sum())
    month_first = int(dates["len"].filter(d2 > 12).sum())
    if day_first and month_first:
        order = "dmy" if day_first >= month_first else "mdy"
        return order, (f"{'day' if order == 'dmy' else 'month'}-first, but the dates conflict ({day_first} only valid "
                       f"day-first, {month_first} only month-first); the others are rejected")
    if month_first:
        return "mdy", f"month-first ({month_first} date(s) have a second field above 12)"
    if day_first:
        return "dmy", f"day-first ({day_first} date(s) have a first field above 12)"
    return "dmy", "day-first assumed: no date in the file tells day-first from month-first"


def _number(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int32, strict=False)


def _clocks(headers: pl.DataFrame) -> pl.DataFrame:
    """The headers' distinct clock texts, each with ``_twelve`` (whether it is a 12 h time) and
    ``_time`` (after midnight): a time of day recurs every day, so each is read once."""
    clocks = headers.select(pl.col("clock").unique()).with_columns(_c=pl.col("clock").str.extract_groups(CLOCK))
    return clocks.unnest("_c").with_columns(_twelve=pl.col("clock").str.contains(f"[AaPp]|{HALF}")).select(
        "clock", "_twelve", _time_of_day())


def _with_local_time(messages: pl.DataFrame, dates: pl.DataFrame, clocks: pl.DataFrame, order: str) -> pl.DataFrame:
    """``_local``: the header's wall-clock time from its number fields; null where one is out of range
    (31 April, 25 o'clock, "13 PM", a three-digit day), exactly where ``YYYY-MM-DD HH:MM:SS`` would
    not parse: the midnight of its date run (``_dates``) plus the time of its clock (``_clocks``)."""
    midnight = dates.select(_midnight(order)).to_series().gather(messages["date"].rle_id())
    time = messages.select("clock").join(clocks, on="clock", how="left", maintain_order="left")["_time"]
    return messages.with_columns(_local=midnight + time)


def _midnight(order: str) -> pl.Expr:
    """The start of a date run's day; null where its month or day is out of range."""
    year, month, day = {"dmy": ("d3", "d2", "d1"), "mdy": ("d3", "d1", "d2"), "ymd": ("d1", "d2", "d3")}[order]

    def two_digits(column: str) -> pl.Expr:  # a day or month is read from two characters at most
        return pl.when(pl.col(column).str.len_chars() <= 2).then(_number(column))

    y, mo, d = _number(year), two_digits(month), two_digits(day)
    y = pl.when(y < 100).then(y + 2000).otherwise(y)
    valid = mo.is_between(1, 12) & d.is_between(1, _month_days(y, mo))
    return pl.datetime(*(pl.when(valid).then(part) for part in (y, mo, d)), time_unit="us")


def _time_of_day() -> pl.Expr:
    """A clock's time after midnight (a 12 h one as 24 h); null where a number is out of range.
    A written AM/PM wins over the half of the day (下午) before the time."""
    clock = pl.col("clock")
    pm = pl.when("_twelve").then(
        pl.when(clock.str.contains("[AaPp]")).then(clock.str.contains("[Pp]")).otherwise(clock.str.contains(PM_HALF)))
    h, mi, s = _number("hour"), _number("minute"), pl.col("second").fill_null("00").cast(pl.Int32, strict=False)
    h = (pl.when(pm.is_null()).then(h)
         .when((h < 1) | (h > 12)).then(None)  # "0 PM", "13 PM": not a 12 h time
         .otherwise(h % 12 + pl.when(pm).then(12).otherwise(0)))
    # second 60 is a leap second: the next minute, as a parse reads it
    valid = h.is_between(0, 23) & mi.is_between(0, 59) & s.is_between(0, 60)
    return pl.when(valid).then(pl.duration(hours=h, minutes=mi, seconds=s, time_unit="us")).alias("_time")


def _month_days(year: pl.Expr, month: pl.Expr) -> pl.Expr:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    return (pl.when(month == 2).then(pl.when(leap).then(29).otherwise(28))
            .when(month.is_in([4, 6, 9, 11])).then(30).otherwise(31))


def _timestamp_text() -> pl.Expr:
    """The date and time as written in the header (without ``[`` and the separator after it)."""
    return pl.col("head").str.strip_prefix("[").str.replace(r"(?:\]\s|\s[-–]\s)$", "")
