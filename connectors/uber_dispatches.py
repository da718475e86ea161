"""Uber-style dispatch counts from a data-access request: ``Driver Dispatches Offered and
Accepted.csv``. One row per time window (an hour or a day, as the export chose): requests
dispatched to the driver, accepted, rejected, expired (not answered in time), and minutes online.

Each window becomes one row of the ``offers`` table, the counts the assignment analyzers need when
the single dispatches are not in the export (acceptance rate, share left to expire). A count that
is not a whole number is rejected. Layout drift, ``;``, ``\\N`` and time columns: see
``uber_common``; a window given as a date alone starts at local midnight."""

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

NAME = "uber-dispatches"
TABLES = ("offers",)
ALIASES = {
    "worker_id": ("driver_uuid", "driver_id"),
    "start_utc": ("window_start_timestamp_utc", "start_timestamp_utc", "window_start_utc", "Start Time (UTC)"),
    "start_local": ("window_start_timestamp_local", "start_timestamp_local", "window_start_local", "Start Time (Local)",
                    "window_start", "date", "day"),
    "end_utc": ("window_end_timestamp_utc", "end_timestamp_utc", "window_end_utc", "End Time (UTC)"),
    "end_local": ("window_end_timestamp_local", "end_timestamp_local", "window_end_local", "End Time (Local)",
                  "window_end"),
    "offered": ("dispatches", "dispatches_offered", "offers", "Dispatches Offered"),
    "accepted": ("accepts", "dispatches_accepted", "accepted", "Dispatches Accepted"),
    "rejected": ("rejections", "rejects", "rejected", "declines"),
    "expired": ("expireds", "expired", "expires", "timeouts"),
    "minutes_online": ("minutes_online", "online_minutes", "Minutes Online"),
}
REQUIRED = (("start_utc", "start_local"), ("offered",), ("accepted",))


def sniff(path: Path, head: bytes) -> float:
    names = uber_common.header_names(head)
    if {"dispatches", "accepts"} <= names or {"dispatches_offered", "dispatches_accepted"} <= names:
        return 0.9
    return empty_named(path, head, "driver dispatches offered and accepted*.csv")


def read(path: Path, options: ReadOptions) -> ReadResult:
    raw, rejections, rows_read, detected = uber_common.read_table(path, ALIASES, REQUIRED)
    worker, whence = uber_common.owner(path, options, raw)
    start, end = uber_common.when(raw, "start", options.tz), uber_common.when(raw, "end", options.tz)
    raw = raw.with_columns(pl.lit(None, pl.String).alias(f) for f in ALIASES if f not in raw.columns)
    counts = {c: (_count(c), c) for c in ("offered", "accepted", "rejected", "expired")}
    parsed = {"window_start": start, "window_end": end, **counts,
              "minutes_online": (number("minutes_online"), "minutes_online")}
    frame, bad = check_rows(raw, parsed, required=("window_start", "offered", "accepted"))
    frame = frame.with_columns(worker_id=worker, platform=pl.lit(uber_common.PLATFORM))
    detected = {"format": "Uber-style dispatches offered and accepted", **detected, "owner": whence,
                "time basis": f"window_start from {start[1]} (*_local in {options.tz})"}
    return ReadResult({"offers": finish("offers", frame)}, rows_read, rejections + bad, detected)


def _count(raw: str) -> pl.Expr:
    value = number(raw)
    return pl.when((value >= 0) & (value == value.floor())).then(value.cast(pl.Int64))
