"""Station rosters kept in Excel (``.xlsx``, first sheet): the columns of the CSV roster
(``骑手编号,日期,班次开始,班次结束,类型``, see ``roster_csv``) in any order.

Cells may be typed (an Excel date, a time-of-day) or text; both are read as the CSV's text and
parsed once (``base.table_rows``, shared with the Excel order exports). ``src_row`` is the row
number Excel shows (header = 1)."""

from __future__ import annotations

from pathlib import Path

from connectors.base import (
    HEAD_BYTES,
    ReadOptions,
    ReadResult,
    SourceError,
    finish,
    table_header,
    table_rows,
)
from connectors.roster_csv import COLUMNS, TIME_BASIS, dated_shifts

NAME = "roster-xlsx"
TABLES = ("schedules",)


def sniff(path: Path, head: bytes) -> float:
    if path.suffix.lower() != ".xlsx":
        return 0.0
    try:
        header = table_header(path, head)
    except (OSError, ValueError):
        return 0.0
    return 0.95 if set(COLUMNS) <= set(header) else 0.0


def read(path: Path, options: ReadOptions) -> ReadResult:
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    try:
        header = table_header(path, head)
    except ValueError as err:
        raise SourceError(path, f"cannot open it as an Excel workbook ({err})", code="file-unreadable") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise SourceError(path, f"missing column(s) {missing}; found {header}", line=1, code="file-missing-columns")
    raw = table_rows(path, "%Y-%m-%d %H:%M:%S")
    frame, bad = dated_shifts(raw, options.tz)
    detected = {"format": "station roster, Excel workbook (排班表)", "encoding": "xlsx", "sheet": "the first",
                "time basis": TIME_BASIS.format(tz=options.tz)}
    return ReadResult({"schedules": finish("schedules", frame)}, raw.height, bad, detected, "sheet row")
