"""Station rosters (排班表): ``骑手编号,日期,班次开始,班次结束,类型``.

Shift times are local wall-clock ``HH:MM`` on ``日期``; a shift whose end is earlier than its start
ends on the next day (``22:00``–``06:00``), and ``24:00`` is the next midnight. The local times are
combined before conversion, so a shift across a daylight-saving change keeps its wall-clock ends.
The same parse serves the Excel roster (``roster_xlsx``) and the shifts expanded from weekly rules
(``roster_weekly``)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    ReadResult,
    Rejection,
    check_rows,
    decode,
    empty_named,
    finish,
    header_is,
    read_csv_rows,
)

NAME = "roster-csv"
TABLES = ("schedules",)
COLUMNS = ("骑手编号", "日期", "班次开始", "班次结束", "类型")
# 类型 -> canonical schedule kind; an empty 类型 in a roster file is a roster entry
KINDS = {"排班": "roster", "roster": "roster", "班次": "shift", "shift": "shift", "合同": "contract",
         "contract": "contract"}
TIME_BASIS = "local wall-clock time in {tz}; an end before the start is the next day"


def sniff(path: Path, head: bytes) -> float:
    if header_is(head, COLUMNS):
        return 0.95
    return empty_named(path, head, "*roster*.csv", "*排班*.csv")


def clock(raw: str) -> pl.Expr:
    """``HH:MM`` or ``HH:MM:SS`` as a duration since midnight; ``24:00`` is allowed, other hours past 23 are not."""
    parts = pl.col(raw).str.strip_chars().str.extract_groups(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
    h, m = parts.struct.field("1").cast(pl.Int64), parts.struct.field("2").cast(pl.Int64)
    s = parts.struct.field("3").cast(pl.Int64).fill_null(0)
    ok = ((h < 24) & (m < 60) & (s < 60)) | ((h == 24) & (m == 0) & (s == 0))
    return pl.when(ok).then(pl.duration(hours=h, minutes=m, seconds=s, time_unit="us"))


def kind(raw: str) -> pl.Expr:
    """The schedule kind of a 类型 / kind column; empty is a roster entry, an unknown word null."""
    return (pl.col(raw).str.strip_chars().str.to_lowercase().fill_null("排班")
            .replace_strict(KINDS, default=None, return_dtype=pl.String))


def shift_bounds(day: pl.Expr, start: pl.Expr, end: pl.Expr, tz: str) -> tuple[pl.Expr, pl.Expr]:
    """UTC start and end of a shift on local ``day`` (a date) from its clock durations: the wall-clock
    moments are formed first and then placed in ``tz``, so a shift on a daylight-saving day keeps
    its wall-clock ends (a moment the clock skips is null and the row is rejected)."""
    midnight = day.cast(pl.Datetime("us"))
    overnight = pl.when(end < start).then(pl.duration(days=1, time_unit="us")).otherwise(
        pl.duration(days=0, time_unit="us"))

    def utc(local: pl.Expr) -> pl.Expr:
        return local.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")

    return utc(midnight + start), utc(midnight + end + overnight)


def dated_shifts(raw: pl.DataFrame, tz: str) -> tuple[pl.DataFrame, list[Rejection]]:
    """Roster rows (all-String ``COLUMNS`` + ``src_row``) as canonical schedules. A date written
    with a zero time (``2026-04-27 00:00:00``, as a spreadsheet date cell reads) is a date."""
    day = pl.col("日期").str.strip_chars().str.strip_suffix(" 00:00:00").str.to_date("%Y-%m-%d", strict=False)
    parsed = {"_day": (day, "日期"), "_start": (clock("班次开始"), "班次开始"), "_end": (clock("班次结束"), "班次结束"),
              "kind": (kind("类型"), "类型")}
    frame, bad = check_rows(raw, parsed, required=("骑手编号", "_day", "_start", "_end", "kind"))
    start, end = shift_bounds(pl.col("_day"), pl.col("_start"), pl.col("_end"), tz)
    frame = frame.with_columns(worker_id=pl.col("骑手编号").str.strip_chars(), start=start, end=end)
    unplaced = frame.filter(pl.col("start").is_null() | pl.col("end").is_null())
    bad += [Rejection(line, "row-unparseable-timestamp", f"the shift starts or ends at a time the clock skips in {tz}"
                      " (daylight saving)") for line in unplaced["src_row"]]
    return frame.filter(pl.col("start").is_not_null() & pl.col("end").is_not_null()), bad


def read(path: Path, options: ReadOptions) -> ReadResult:
    text, encoding = decode(path)
    raw, rejections, rows_read = read_csv_rows(path, text, required=COLUMNS)
    frame, bad = dated_shifts(raw, options.tz)
    detected = {"format": "station roster CSV (排班表)", "encoding": encoding,
                "time basis": TIME_BASIS.format(tz=options.tz)}
    return ReadResult({"schedules": finish("schedules", frame)}, rows_read, rejections + bad, detected)
