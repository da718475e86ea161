"""Uber-style driver trip history from a data-access request: ``driver_lifetime_trips-0.csv``
(older exports: ``Driver Lifetime Trips.csv``). One row per trip: status, request / begin-trip /
drop-off times in local and UTC columns, coordinates, distance (miles or km), duration, fare.

Each trip becomes one order: requested → ``dispatched_at``, trip begins → ``picked_up_at``, drop-off
→ ``delivered_at``; a completed trip is ``accepted``, a cancelled one ``cancelled``. The export has
no time of acceptance (``responded_at`` stays empty) and no deadline. Layout drift, ``;``, ``\\N``
and time columns: see ``uber_common``. A trip without an id (the oldest layout) takes
``trip-<line>`` as its id."""

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

NAME = "uber-trips"
TABLES = ("orders",)
ALIASES = {
    "order_id": ("trip_uuid", "trip_id", "Trip ID"),
    "worker_id": ("driver_uuid", "driver_id"),
    "status": ("status", "trip_status", "Trip or Order Status"),
    "request_utc": ("request_timestamp_utc", "request_time_utc", "Request Time (UTC)"),
    "request_local": ("request_timestamp_local", "request_time_local", "Request Time (Local)", "Request Time"),
    "begin_utc": ("begintrip_timestamp_utc", "begin_trip_time_utc", "Begin Trip Time (UTC)"),
    "begin_local": ("begintrip_timestamp_local", "begin_trip_time_local", "Begin Trip Time (Local)", "Begin Trip Time"),
    "dropoff_utc": ("dropoff_timestamp_utc", "dropoff_time_utc", "Dropoff Time (UTC)"),
    "dropoff_local": ("dropoff_timestamp_local", "dropoff_time_local", "Dropoff Time (Local)", "Dropoff Time"),
    "begin_lat": ("begintrip_lat", "begin_trip_lat", "Begin Trip Lat"),
    "begin_lng": ("begintrip_lng", "begin_trip_lng", "Begin Trip Lng"),
    "dropoff_lat": ("dropoff_lat", "Dropoff Lat"),
    "dropoff_lng": ("dropoff_lng", "Dropoff Lng"),
    "miles": ("trip_distance_miles", "distance_miles", "Distance (miles)"),
    "km": ("trip_distance_km", "distance_km", "Distance (km)"),
    "duration": ("trip_duration_seconds", "duration_seconds", "Duration (seconds)"),
    "fare": ("original_fare_local", "fare_amount", "Fare Amount", "fare"),
    "currency": ("currency_code", "fare_currency", "Fare Currency"),
    "city": ("city_name", "city", "City"),
    "product": ("product_type_name", "product_type", "Product Type"),
}
REQUIRED = (("request_utc", "request_local"), ("status",))
# trip status -> what the driver did with the dispatch
STATUSES = {"completed": "accepted", "fare_split": "accepted", "canceled": "cancelled", "cancelled": "cancelled",
            "rider_canceled": "cancelled", "rider_cancelled": "cancelled", "driver_canceled": "cancelled",
            "driver_cancelled": "cancelled"}
SIGNATURE = {"begintrip_timestamp_utc", "begintrip_timestamp_local", "begin_trip_time", "begin_trip_time_local",
             "begin_trip_time_utc"}
MILE_M = 1609.344


def sniff(path: Path, head: bytes) -> float:
    names = uber_common.header_names(head)
    if names & SIGNATURE and names & {"status", "trip_status", "trip_or_order_status"}:
        return 0.9
    return empty_named(path, head, "driver_lifetime_trips*.csv", "driver lifetime trips*.csv")


def read(path: Path, options: ReadOptions) -> ReadResult:
    raw, rejections, rows_read, detected = uber_common.read_table(path, ALIASES, REQUIRED)
    worker, whence = uber_common.owner(path, options, raw)
    times = {canonical: uber_common.when(raw, field, options.tz) for canonical, field in
             (("dispatched_at", "request"), ("picked_up_at", "begin"), ("delivered_at", "dropoff"))}
    unit, scale = ("miles", MILE_M) if "miles" in raw.columns else ("km", 1000.0)
    raw = raw.with_columns(pl.lit(None, pl.String).alias(f) for f in ALIASES if f not in raw.columns)  # absent: null
    status = pl.col("status").str.strip_chars().str.to_lowercase().replace_strict(STATUSES, default=None,
                                                                                  return_dtype=pl.String)
    coordinates = {"pickup_lat": "begin_lat", "pickup_lon": "begin_lng", "dropoff_lat": "dropoff_lat",
                   "dropoff_lon": "dropoff_lng"}
    parsed = {**times, "outcome": (status, "status"), "pay": (number("fare"), "fare"),
              "distance_m": (number(unit) * scale, unit), **{c: (number(f), f) for c, f in coordinates.items()}}
    frame, bad = check_rows(raw, parsed, required=("dispatched_at", "outcome"))
    frame = frame.with_columns(
        worker_id=worker, platform=pl.lit(uber_common.PLATFORM), zone_id=pl.col("city").str.strip_chars(),
        order_id=pl.coalesce(pl.col("order_id").str.strip_chars(), pl.lit("trip-") + pl.col("src_row").cast(pl.String)))
    basis = ", ".join(f"{canonical} from {column}" for canonical, (_, column) in times.items())
    detected = {"format": "Uber-style driver trips (driver_lifetime_trips)", **detected, "owner": whence,
                "time basis": f"{basis} (*_local in {options.tz})"}
    return ReadResult({"orders": finish("orders", frame)}, rows_read, rejections + bad, detected)
