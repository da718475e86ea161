"""Platform app event logs: ``rider_id,event_time,event,lon,lat,detail``.

``event_time`` is epoch milliseconds (UTC) in one platform's export and ISO 8601 in another's; the
basis is decided once per file from all its values, so one stray value is a rejected row rather
than a silently different clock. The platform is not in the file: it is the export's folder
(``platform_a/activity.csv`` → ``A``), else left empty."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    ReadResult,
    Rejection,
    check_rows,
    empty_named,
    finish,
    header_is,
    iso_time,
    number,
    read_csv_file,
)

NAME = "activity-csv"
TABLES = ("activity",)
COLUMNS = ("rider_id", "event_time", "event", "lon", "lat", "detail")
# export vocabulary -> canonical activity kind
EVENTS = {"login": "login", "logout": "logout", "online": "online", "offline": "offline", "gps": "gps",
          "check_in": "check_in", "checkin": "check_in", "check-in": "check_in", "sanction": "sanction",
          "break": "break", "pause": "break"}
PLATFORM_FOLDER = re.compile(r"platform[_\- ]?([a-z0-9]+)", re.IGNORECASE)
OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"


def sniff(path: Path, head: bytes) -> float:
    if header_is(head, COLUMNS):
        return 0.95
    return empty_named(path, head, "*activity*.csv")


def platform_of(path: Path) -> str | None:
    """``platform_a`` → ``A``: the folder an export sits in names its platform."""
    match = PLATFORM_FOLDER.fullmatch(path.parent.name)
    return match.group(1).upper() if match else None


def read(path: Path, options: ReadOptions) -> ReadResult:
    raw, rejections, rows_read, encoding = read_csv_file(path, required=COLUMNS)
    frame, bad, basis = events(raw, path, options.tz)
    detected = {"format": "platform activity CSV", "encoding": encoding, "time basis": basis,
                **platform_note(path)}
    return ReadResult({"activity": finish("activity", frame)}, rows_read, rejections + bad, detected)


def events(raw: pl.DataFrame, path: Path, tz: str) -> tuple[pl.DataFrame, list[Rejection], str]:
    """App events (all-String ``COLUMNS`` + ``src_row``) as canonical activity rows, with the
    rejections and the time basis decided for the file. Shared with the JSON event logs."""
    ts, basis = _event_times(raw["event_time"], tz)
    kind = pl.col("event").str.strip_chars().str.to_lowercase().replace_strict(EVENTS, default=None,
                                                                               return_dtype=pl.String)
    parsed = {"ts": (ts, "event_time"), "kind": (kind, "event"), "lon": (number("lon"), "lon"),
              "lat": (number("lat"), "lat")}
    frame, bad = check_rows(raw, parsed, required=("rider_id", "ts", "kind"))
    unplaced = frame.select((pl.col("kind") == "gps") & (pl.col("lon").is_null() | pl.col("lat").is_null())).to_series()
    bad += [Rejection(line, "row-missing-field", "a gps event needs lon and lat")
            for line in frame.filter(unplaced)["src_row"]]
    if not (~unplaced).fill_null(False).all():  # the usual log keeps every row: no copy of it
        frame = frame.filter(~unplaced)
    platform = pl.lit(platform_of(path), pl.String)
    frame = frame.with_columns(worker_id=pl.col("rider_id").str.strip_chars(), platform=platform)
    return frame, bad, basis


def _event_times(values: pl.Series, tz: str) -> tuple[pl.Expr, str]:
    """The parse of ``event_time``: epoch (seconds or milliseconds, UTC) or ISO 8601, decided once
    from all the file's values."""
    times = values.drop_nulls().str.strip_chars()
    epoch = times.str.contains(r"^-?\d+$")
    iso = times.str.contains(r"^\d{4}-\d{2}-\d{2}")
    if epoch.sum() > iso.sum():  # values that look like neither do not vote
        # 13 digits is milliseconds until the year 2286; 10 digits is seconds
        unit = "ms" if times.filter(epoch).str.len_chars().median() >= 12 else "s"
        ts = pl.from_epoch(pl.col("event_time").str.strip_chars().cast(pl.Int64, strict=False), time_unit=unit)
        return (ts.dt.cast_time_unit("us").dt.replace_time_zone("UTC"),
                f"epoch {'milliseconds' if unit == 'ms' else 'seconds'} (UTC)")
    ts = pl.when(~pl.col("event_time").str.contains(r"^\s*-?\d+\s*$")).then(iso_time("event_time", tz))
    naive = int((~times.filter(~epoch).str.contains(OFFSET)).sum())
    return ts, "ISO 8601 with offset" + (f"; {naive} value(s) without one read in {tz}" if naive else "")


def platform_note(path: Path) -> dict[str, str]:
    platform = platform_of(path)
    return {"platform": f"{platform} (from folder {path.parent.name})" if platform else "unknown (folder "
            f"{path.parent.name!r} does not name one; expected platform_<x>)"}
