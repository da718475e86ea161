"""WhatsApp "Export chat" text files, Android and iOS layouts, any date locale.

    27/04/2026, 22:31 - Li Wei: text            Android, day-first, 24 h
    4/27/26, 10:31 PM - Li Wei: text            Android, month-first, 12 h (U+202F before PM)
    [27/04/2026, 22:31:05] Li Wei: text         iOS (system and media lines start with U+200E)

Every line is matched against one header pattern at once (polars ``str.extract_groups``); a line
that is not a header continues the message above it. Whether dates are day- or month-first is
decided once for the whole file, from every date in it, never line by line. Timestamps are local
wall-clock time in the case time zone. The file does not say whose phone it came from: the owner
is set in ``case.toml`` ``[owners]``."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from connectors.base import (ReadOptions, ReadResult, Rejection, SourceError, check_rows, decode, empty_named, finish,
                             head_text, long_lines, owner_unknown)

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
SENDER = r"(?s)^(?P<name>[^:\n]{1,80}?): (?P<body>.*)$"
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
    text, encoding = decode(path)
    if not options.owner:
        raise owner_unknown(path, "a WhatsApp export does not say whose phone it came from")
    text, too_long = long_lines(text)
    # split in polars, not in Python: a million lines stay in one Arrow buffer
    lines = pl.DataFrame({"line": [text]}).select(pl.col("line").str.split("\n").explode()).with_row_index(
        "src_row", offset=1).with_columns(
        pl.col("src_row").cast(pl.Int64), pl.col("line").str.strip_suffix("\r").str.replace_all("[\u202f\u00a0]", " "))
    lines = lines.with_columns(pl.col("line").str.replace(f"^{MARKS}+", "").str.extract_groups(HEADER).alias("h")
                               ).unnest("h").with_columns(
        header=pl.col("d1").is_not_null(),
        ampm=pl.coalesce("ampm", pl.col("half").replace_strict(HALVES, default=None, return_dtype=pl.String)))
    headers = lines.filter("header")
    if headers.height == 0:
        raise SourceError(path, "no line looks like a WhatsApp message header (date, time - name: text)",
                          line=1, code="file-unrecognised")
    order, order_note = _date_order(headers)
    lines = lines.with_columns(message=pl.col("header").cum_sum())
    orphans = lines.filter((pl.col("message") == 0) & (pl.col("line").str.strip_chars(MARK_CHARS + " ") != ""))
    rejections = [Rejection(n, "row-malformed", "text before the first message header") for n in orphans["src_row"]]
    rejections += too_long

    # one row per message: header fields from its first line, text = its body and every continuation line;
    # only the few continuation lines are grouped (grouping every line was the reader's slowest step)
    more = (lines.filter((pl.col("message") > 0) & ~pl.col("header"))
            .group_by("message", maintain_order=True).agg(_more=pl.col("line").str.join("\n")))
    messages = (lines.filter("header").drop("line").join(more, on="message", how="left", maintain_order="left")
                .with_columns(part=pl.concat_str("rest", "_more", separator="\n", ignore_nulls=True)
                              .str.strip_chars_end("\n")).drop("_more", "rest"))
    messages = messages.with_columns(_stamp=_stamp(order))
    ts = (pl.col("_stamp").str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us")
          .dt.replace_time_zone(options.tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC"))
    frame, bad = check_rows(messages, {"ts": (ts, "timestamp")}, required=("ts",))

    said = pl.col("part").str.extract_groups(SENDER)
    frame = frame.with_columns(name=said.struct.field("name"), body=said.struct.field("body"))
    frame = frame.with_columns(_marked=pl.col("body").str.contains(f"^{MARKS}"),
                               _body=pl.col("body").str.replace_all(MARKS, "").str.strip_chars(" "))
    # one regex pass finds the few notices; only those are matched pattern by pattern (the first listed wins)
    which = pl.lit(None, pl.Int64)
    for index, (pattern, _, _) in reversed(list(enumerate(MEDIA))):
        which = pl.when(pl.col("_body").str.contains(pattern)).then(pl.lit(index)).otherwise(which)
    notices = frame.filter(pl.col("_body").str.contains(MEDIA_ANY)).select("src_row", _which=which)
    frame = frame.join(notices, on="src_row", how="left", maintain_order="left").with_columns(
        _kind=pl.col("_which").replace_strict({i: k for i, (_, k, _) in enumerate(MEDIA)}, default=None,
                                              return_dtype=pl.String),
        _keep=pl.col("_which").replace_strict({i: keep for i, (_, _, keep) in enumerate(MEDIA)}, default=True,
                                              return_dtype=pl.Boolean))
    frame = frame.with_columns(_system=pl.col("name").is_null() | (
        pl.col("_marked") & pl.col("_kind").is_null() & ~pl.col("_body").str.contains(NOT_SYSTEM)))
    body, kind, keep, system = pl.col("_body"), pl.col("_kind"), pl.col("_keep"), pl.col("_system")
    name = pl.col("name").str.replace_all(MARKS, "").str.strip_chars(" ").str.replace(r"^~\s*", "")
    frame = frame.with_columns(
        worker_id=pl.lit(options.owner),
        message_id=pl.col("src_row").cast(pl.String),
        conversation_id=pl.lit(path.stem),
        sender_id=pl.when(~system).then(name),
        sender_name=pl.when(~system).then(name),
        sender_role=pl.when(system).then(pl.lit("system")),
        text=pl.when(pl.col("name").is_null()).then(pl.col("part").str.replace_all(MARKS, "").str.strip_chars(" "))
        .when(system).then(body)
        .when(keep).then(body).otherwise(pl.lit("")),
        attachment_kind=pl.when(~system).then(kind),
    )
    ios = headers["open"].is_not_null().sum() * 2 > headers.height
    detected = {"format": "WhatsApp chat export, " + ("iOS ([date, time] name: text)" if ios
                                                       else "Android (date, time - name: text)"),
                "encoding": encoding, "date order": order_note,
                "clock": "12 h (AM/PM)" if headers["ampm"].is_not_null().any() else "24 h",
                "time basis": f"local wall-clock time in {options.tz}", "owner": f"{options.owner} (case.toml [owners])"}
    rows_read = headers.height + len(rejections)
    return ReadResult({"messages": finish("messages", frame)}, rows_read, rejections + bad, detected)


def _date_order(headers: pl.DataFrame) -> tuple[str, str]:
    """Day-first, month-first or year-first, decided from every date in the file."""
    d1, d2 = headers["d1"], headers["d2"].cast(pl.Int64)
    if (d1.str.len_chars() == 4).all():
        return "ymd", "year-first (yyyy-mm-dd)"
    day_first = int((d1.cast(pl.Int64) > 12).sum())
    month_first = int((d2 > 12).sum())
    if day_first and month_first:
        order = "dmy" if day_first >= month_first else "mdy"
        return order, (f"{'day' if order == 'dmy' else 'month'}-first, but the dates conflict ({day_first} only valid "
                       f"day-first, {month_first} only month-first); the others are rejected")
    if month_first:
        return "mdy", f"month-first ({month_first} date(s) have a second field above 12)"
    if day_first:
        return "dmy", f"day-first ({day_first} date(s) have a first field above 12)"
    return "dmy", "day-first assumed: no date in the file tells day-first from month-first"


def _stamp(order: str) -> pl.Expr:
    """``YYYY-MM-DD HH:MM:SS`` from the header fields; impossible values stay impossible and fail to parse."""
    year, month, day = {"dmy": ("d3", "d2", "d1"), "mdy": ("d3", "d1", "d2"), "ymd": ("d1", "d2", "d3")}[order]
    year = pl.col(year).cast(pl.Int64)
    year = pl.when(year < 100).then(year + 2000).otherwise(year)
    hour = pl.col("hour").cast(pl.Int64)
    pm = pl.col("ampm").str.to_uppercase() == "P"
    hour = (pl.when(pl.col("ampm").is_null()).then(hour)
            .when((hour < 1) | (hour > 12)).then(pl.lit(99))  # "0 PM", "13 PM": not a 12 h time
            .otherwise(hour % 12 + pl.when(pm).then(12).otherwise(0)))

    def two(expr: pl.Expr) -> pl.Expr:
        return expr.cast(pl.String).str.zfill(2)

    return pl.concat_str(year.cast(pl.String).str.zfill(4), pl.lit("-"), two(pl.col(month)), pl.lit("-"),
                         two(pl.col(day)), pl.lit(" "), two(hour), pl.lit(":"), two(pl.col("minute")), pl.lit(":"),
                         two(pl.col("second").fill_null("00")))
