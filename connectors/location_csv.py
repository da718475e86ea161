"""Positions as a plain CSV, under whatever names the exporting app chose: a latitude column
(``lat``, ``latitude``, ``纬度``), a longitude column (``lon``, ``lng``, ``longitude``, ``经度``) and a
time column (``time``, ``timestamp``, ``时间``, ``定位时间`` …; ``*_utc`` names are UTC). GPS logger apps
write this, and so does the app-analytics GPS file of an Uber-style driver data download
(``event_time_utc,latitude,longitude,…``).

Every row becomes an activity ``gps`` event. Times are epoch seconds or milliseconds (told apart
by magnitude, decided once for the file) or ISO 8601 (an offset as written, else UTC in a ``*_utc``
column and local time in the case zone otherwise). The worker is ``case.toml`` ``[owners]``, else
a worker column (``rider_id``, ``driver_uuid``, ``worker_id``, ``骑手编号``). A position outside
±90° / ±180° is rejected."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    ReadResult,
    SourceError,
    check_rows,
    decode,
    empty_named,
    finish,
    head_text,
    header_fields,
    iso_time,
    map_columns,
    number,
    owner_unknown,
    read_csv_rows,
)

NAME = "location-csv"
TABLES = ("activity",)
UTC_TIMES = ("event_time_utc", "event_timestamp_utc", "timestamp_utc", "time_utc", "gps_time_utc", "utc_time")
ALIASES = {
    "lat": ("lat", "latitude", "纬度", "Latitude"),
    "lon": ("lon", "lng", "long", "longitude", "经度"),
    "time": (*UTC_TIMES, "time", "timestamp", "datetime", "date_time", "recorded_at", "gps_time", "时间", "定位时间"),
    "worker": ("rider_id", "driver_uuid", "driver_id", "worker_id", "骑手编号"),
    "detail": ("event_name", "analytics_event_name", "provider", "accuracy", "speed"),
}


def sniff(path: Path, head: bytes) -> float:
    text = head_text(head)
    if not text.strip() or text.lstrip().startswith(("{", "[", "<")):
        return empty_named(path, head, "*location*.csv", "*gps*.csv")
    mapped = map_columns(header_fields(path, text)[0], ALIASES)
    return 0.6 if {"lat", "lon", "time"} <= set(mapped) else 0.0


def read(path: Path, options: ReadOptions) -> ReadResult:
    text, encoding = decode(path)
    header, delimiter = header_fields(path, text)
    mapped = map_columns(header, ALIASES)
    if not {"lat", "lon", "time"} <= set(mapped):
        raise SourceError(path, f"expected latitude, longitude and time columns; found {header}", line=1,
                          code="file-missing-columns")
    raw, rejections, rows_read = read_csv_rows(path, text, required=(), delimiter=delimiter)
    raw = raw.select(*[pl.col(c).alias(f) for f, c in mapped.items()], "src_row")
    ts, basis = times(raw["time"], mapped["time"] in UTC_TIMES, options.tz)
    lat, lon = number("lat"), number("lon")
    parsed = {"ts": (ts, "time"), "lat": (pl.when(lat.abs() <= 90).then(lat), "lat"),
              "lon": (pl.when(lon.abs() <= 180).then(lon), "lon")}
    frame, bad = check_rows(raw, parsed, required=("ts", "lat", "lon"))
    if options.owner:
        worker, whence = pl.lit(options.owner), f"{options.owner} (case.toml [owners])"
    elif "worker" in mapped:
        worker, whence = pl.col("worker").str.strip_chars(), f"column {mapped['worker']}"
    else:
        raise owner_unknown(path, "the file does not name the worker", "gps")
    detail = (pl.lit(f"{mapped['detail']}=") + pl.col("detail")) if "detail" in mapped else pl.lit(None, pl.String)
    frame = frame.with_columns(worker_id=worker, kind=pl.lit("gps"), detail=detail)
    detected = {"format": "positions CSV (latitude, longitude, time)", "encoding": encoding,
                "columns": ", ".join(f"{f}={c}" for f, c in mapped.items()), "time basis": basis, "owner": whence}
    return ReadResult({"activity": finish("activity", frame)}, rows_read, rejections + bad, detected)


def times(values: pl.Series, utc_column: bool, tz: str) -> tuple[pl.Expr, str]:
    """Epoch seconds or milliseconds when most values are integers (unit by magnitude), else ISO 8601."""
    values = values.drop_nulls().str.strip_chars()
    epoch = values.str.contains(r"^-?\d+(\.\d+)?$")
    if epoch.sum() * 2 > len(values):
        unit = "ms" if values.filter(epoch).str.len_chars().median() >= 12 else "s"
        seconds = pl.col("time").str.strip_chars().cast(pl.Float64, strict=False) / (1000 if unit == "ms" else 1)
        ts = pl.from_epoch((seconds * 1_000_000).round().cast(pl.Int64), time_unit="us").dt.replace_time_zone("UTC")
        return ts, f"epoch {'milliseconds' if unit == 'ms' else 'seconds'} (UTC)"
    zone = "UTC" if utc_column else tz
    return iso_time("time", zone), f"ISO 8601; without an offset read in {zone}"
