"""Weekly shift rules: ``worker_id,weekday,start,end[,valid_from,valid_to][,kind]`` (or the Chinese
headers ``骑手编号,星期,班次开始,班次结束,生效日期,失效日期,类型``), ``,`` or ``;``.

One line is one weekly shift: ``weekday`` is ``1``–``7`` (ISO, Monday = 1), ``Mon``/``Monday`` or
``周一``/``星期一`` … ``周日``/``周天``, or several of them as a range (``周一至周五``, ``周一到周五``,
``Mon-Fri``, ``1~5``; ``周六至周一`` wraps over the week end) or a list (``周六、周日``, ``Sat/Sun``,
``1,3,5`` in a quoted cell), or a mix (``周一至周三、周五``); ``start``/``end`` are local ``HH:MM`` as in the dated roster
(an end before the start is the next day, ``24:00`` is midnight); ``valid_from``/``valid_to`` are
optional ``YYYY-MM-DD`` dates bounding the rule (both included).

A file cannot know the case's dates, so ``read`` keeps the rules as rules (table ``RULES``, not
canonical) and the registry expands them once every file is read (``expand``): each rule repeats
on its weekday from ``valid_from`` to ``valid_to``, an open end taking the first or last local
date of the case's dated records (orders, activity, messages). Every shift produced is a canonical
``schedules`` row whose provenance (``src``, ``src_row``) is the rule's line."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    ReadResult,
    Rejection,
    SourceError,
    check_rows,
    decode,
    head_text,
    header_fields,
    map_columns,
    read_csv_rows,
)
from connectors.roster_csv import TIME_BASIS, clock, kind, shift_bounds

NAME = "roster-weekly"
TABLES = ("schedules",)
RULES = "schedule_rules"  # what read hands to the registry, expanded into schedules at load
ALIASES = {
    "worker_id": ("worker_id", "rider_id", "driver_id", "骑手编号", "骑手ID", "工号"),
    "weekday": ("weekday", "day_of_week", "dow", "星期", "周几"),
    "start": ("start", "start_time", "shift_start", "班次开始", "开始时间"),
    "end": ("end", "end_time", "shift_end", "班次结束", "结束时间"),
    "valid_from": ("valid_from", "生效日期"),
    "valid_to": ("valid_to", "valid_until", "失效日期"),
    "kind": ("kind", "类型"),
}
REQUIRED = ("worker_id", "weekday", "start", "end")
_NAMES = (("mon", "monday", "周一", "星期一"), ("tue", "tues", "tuesday", "周二", "星期二"),
          ("wed", "wednesday", "周三", "星期三"), ("thu", "thur", "thurs", "thursday", "周四", "星期四"),
          ("fri", "friday", "周五", "星期五"), ("sat", "saturday", "周六", "星期六"),
          ("sun", "sunday", "周日", "周天", "星期日", "星期天"))
WEEKDAYS = {name: number for number, names in enumerate(_NAMES, start=1) for name in (str(number), *names)}
_LIST = re.compile(r"\s*[、,，;；/+&]\s*|\s+and\s+|和")
_RANGE = re.compile(r"^(.+?)\s*(?:-|–|—|~|～|至|到|\bto\b)\s*(.+)$")
RULE_SCHEMA = {"worker_id": pl.String, "weekday": pl.List(pl.Int8), "start": pl.Duration("us"), "end": pl.Duration("us"),
               "valid_from": pl.Date, "valid_to": pl.Date, "kind": pl.String, "src_row": pl.Int64}


def sniff(path: Path, head: bytes) -> float:
    text = head_text(head)
    if not text.strip():
        return 0.0
    mapped = map_columns(header_fields(path, text)[0], ALIASES)
    return 0.95 if all(f in mapped for f in REQUIRED) else 0.0


def read(path: Path, options: ReadOptions) -> ReadResult:
    text, encoding = decode(path)
    header, delimiter = header_fields(path, text)
    mapped = map_columns(header, ALIASES)
    if missing := [ALIASES[f][0] for f in REQUIRED if f not in mapped]:
        raise SourceError(path, f"missing column(s) {missing}; found {header}", line=1, code="file-missing-columns")
    raw, rejections, rows_read = read_csv_rows(path, text, required=(), delimiter=delimiter)
    raw = raw.with_columns(pl.lit(None, pl.String).alias(f) for f in ALIASES if f not in mapped)
    column = {f: mapped.get(f, f) for f in ALIASES}  # rejections name the column as the file writes it
    # the weekday stays text through the check (an unknown one is an unknown value, not a bad number);
    # a range or list is spelled out as "1,2,3" and becomes one rule per weekday after the check
    texts = raw.get_column(column["weekday"]).drop_nulls().unique().to_list() if raw.height else []
    spelled = {text: ",".join(map(str, days)) for text in texts if (days := weekdays(text))}
    day = pl.col(column["weekday"]).replace_strict(spelled, default=None, return_dtype=pl.String)
    parsed = {"worker_id": (pl.col(column["worker_id"]).str.strip_chars(), column["worker_id"]),
              "weekday": (day, column["weekday"]), "start": (clock(column["start"]), column["start"]),
              "end": (clock(column["end"]), column["end"]), "kind": (kind(column["kind"]), column["kind"]),
              **{f: (pl.col(column[f]).str.strip_chars().str.to_date("%Y-%m-%d", strict=False), column[f])
                 for f in ("valid_from", "valid_to")}}
    frame, bad = check_rows(raw, parsed, required=(*REQUIRED, "kind"))
    reversed_ = frame.filter(pl.col("valid_to") < pl.col("valid_from"))
    bad += [Rejection(line, "row-unknown-value", f"valid_to {to} is before valid_from {since}")
            for line, since, to in reversed_.select("src_row", "valid_from", "valid_to").iter_rows()]
    frame = frame.join(reversed_.select("src_row"), on="src_row", how="anti", maintain_order="left")
    frame = frame.with_columns(pl.col("weekday").str.split(","))  # one rule per line, its weekdays a list
    detected = {"format": "weekly shift rules CSV", "encoding": encoding, "delimiter": repr(delimiter),
                "time basis": TIME_BASIS.format(tz=options.tz),
                "expansion": "each rule repeats weekly over valid_from..valid_to, an open end taking the case's first"
                             " or last dated record (done at load)"}
    return ReadResult({RULES: frame.select(pl.col(c).cast(t) for c, t in RULE_SCHEMA.items())}, rows_read, rejections + bad, detected)


def weekdays(text: str) -> list[int] | None:
    """ISO weekday numbers named by one cell (a day, a range, a list of both), or None if any part
    is not a weekday. Called once per distinct spelling in a file, not per row."""
    days: list[int] = []
    for part in _LIST.split(text.strip().lower()):
        bounds = _RANGE.match(part)
        first, last = (WEEKDAYS.get(bounds[1]), WEEKDAYS.get(bounds[2])) if bounds else (WEEKDAYS.get(part),) * 2
        if first is None or last is None:
            return None
        days += [(first - 1 + k) % 7 + 1 for k in range((last - first) % 7 + 1)]
    return sorted(set(days))


def record_span(tables: dict[str, pl.LazyFrame], tz: str) -> tuple[date | None, date | None]:
    """The first and last local date (zone ``tz``) of the case's dated records."""
    moments = pl.concat([tables["orders"].select(t="dispatched_at"), tables["activity"].select(t="ts"),
                         tables["messages"].select(t="ts")])
    day = pl.col("t").dt.convert_time_zone(tz).dt.date()
    return moments.select(first=day.min(), last=day.max()).collect().row(0)


def expand(rules: pl.DataFrame, span: tuple[date | None, date | None], tz: str) -> tuple[pl.DataFrame, dict[str, str]]:
    """Each rule (a ``RULES`` frame with ``src``) as one ``schedules`` row per matching local date,
    and per source a note of what was produced. Vectorised: one weekly date range per rule and
    weekday, exploded."""
    rules = rules.explode("weekday")
    first = pl.coalesce("valid_from", pl.lit(span[0], pl.Date))
    last = pl.coalesce("valid_to", pl.lit(span[1], pl.Date))
    on_weekday = first + pl.duration(days=(pl.col("weekday").cast(pl.Int64) - first.dt.weekday() + 7) % 7)
    days = (rules.with_columns(day=pl.date_ranges(on_weekday, last, interval="1w"))
            .explode("day").filter(pl.col("day").is_not_null()))
    start, end = shift_bounds(pl.col("day"), pl.col("start"), pl.col("end"), tz)
    shifts = days.with_columns(start=start, end=end)
    skipped = shifts.filter(pl.col("start").is_null() | pl.col("end").is_null())
    shifts = shifts.filter(pl.col("start").is_not_null() & pl.col("end").is_not_null())
    where = (f"local dates {span[0]} to {span[1]} of the case's dated records" if span[0] else
             "no dated record in the case")
    made = dict(shifts.group_by("src").len().iter_rows())
    lost = dict(skipped.group_by("src").len().iter_rows())
    notes = {src: f"{made.get(src, 0)} shift(s) from the rules ({where}, or a rule's own valid_from/valid_to)"
             + (f"; {lost[src]} not made: the clock skips its start or end in {tz}" if src in lost else "")
             for src in rules["src"].unique()}
    return shifts.select("worker_id", "start", "end", "kind", "src", "src_row"), notes
