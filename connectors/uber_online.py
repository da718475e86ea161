"""Uber-style driver app states from a data-access request: ``Driver Online Offline.csv``. One row
per span in one ``earner_state``: ``open`` (online, waiting for a request), ``enroute`` (driving to a
pickup), ``ontrip`` (with a rider) or ``offline``, with begin and end times, a position and the
duration.

Each span becomes one activity event at its begin: ``online`` for open, enroute and ontrip (all are
time at the platform's disposal), ``offline`` for offline, so a day's online periods are the spans
from an online event to the next offline one (``analyzers.intervals.online_intervals``). The state
itself and the span's end stay in ``detail`` (``earner_state=enroute; until 2026-04-27T00:10:00Z``).
Layout drift, ``;``, ``\\N`` and time columns: see ``uber_common``."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors import uber_common
from connectors.base import (
    ReadOptions,
    ReadResult,
    check_rows,
    empty_named,
    finish,
    number,
)

NAME = "uber-online"
TABLES = ("activity",)
ALIASES = {
    "worker_id": ("driver_uuid", "driver_id"),
    "state": ("earner_state", "status"),
    "begin_utc": ("begin_timestamp_utc", "start_timestamp_utc", "Begin Timestamp (UTC)"),
    "begin_local": ("begin_timestamp_local", "start_timestamp_local", "Begin Timestamp (Local)", "Begin Timestamp"),
    "end_utc": ("end_timestamp_utc", "End Timestamp (UTC)"),
    "end_local": ("end_timestamp_local", "End Timestamp (Local)", "End Timestamp"),
    "lat": ("begin_lat", "latitude", "lat"),
    "lng": ("begin_lng", "longitude", "lng"),
    "duration": ("duration_seconds", "duration_sec", "Duration (seconds)"),
}
REQUIRED = (("state",), ("begin_utc", "begin_local"))
# earner_state -> the session event a day's union of online time reads
STATES = {"open": "online", "enroute": "online", "en_route": "online", "ontrip": "online", "on_trip": "online",
          "offline": "offline"}


def sniff(path: Path, head: bytes) -> float:
    if "earner_state" in uber_common.header_names(head):
        return 0.9
    return empty_named(path, head, "driver online offline*.csv", "driver_online_offline*.csv")


def read(path: Path, options: ReadOptions) -> ReadResult:
    raw, rejections, rows_read, detected = uber_common.read_table(path, ALIASES, REQUIRED)
    worker, whence = uber_common.owner(path, options, raw)
    begin, end = uber_common.when(raw, "begin", options.tz), uber_common.when(raw, "end", options.tz)
    raw = raw.with_columns(pl.lit(None, pl.String).alias(f) for f in ALIASES if f not in raw.columns)
    state = pl.col("state").str.strip_chars().str.to_lowercase()
    parsed = {"ts": begin, "_end": end, "kind": (state.replace_strict(STATES, default=None, return_dtype=pl.String),
                                                 "state"),
              "lat": (number("lat"), "lat"), "lon": (number("lng"), "lng")}
    frame, bad = check_rows(raw, parsed, required=("ts", "kind"))
    until = pl.when(pl.col("_end").is_not_null()).then(
        pl.lit("; until ") + pl.col("_end").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).otherwise(pl.lit(""))
    frame = frame.with_columns(worker_id=worker, platform=pl.lit(uber_common.PLATFORM),
                               detail=pl.lit("earner_state=") + state + until)
    detected = {"format": "Uber-style driver online/offline states", **detected, "owner": whence,
                "time basis": f"ts from {begin[1]} (*_local in {options.tz})",
                "states": "open, enroute, ontrip -> online; offline -> offline (state kept in detail)"}
    return ReadResult({"activity": finish("activity", frame)}, rows_read, rejections + bad, detected)
