"""A track as GeoJSON: a FeatureCollection of ``Point`` features (RFC 7946, ``[lon, lat]``) with the
time in ``properties`` (``time``, ``timestamp``, ``时间`` …, as in ``location_csv``), as GPS logger
apps and GIS tools write it. Every point becomes an activity ``gps`` event; ``src_row`` is the
feature's 1-based index in ``features``. The worker is ``case.toml`` ``[owners]``, else a worker
property (``rider_id``, ``driver_uuid``, ``worker_id``)."""

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
    empty_named,
    finish,
    head_text,
    load_json,
    map_columns,
    number,
    owner_unknown,
)
from connectors.location_csv import ALIASES, UTC_TIMES, times

NAME = "geojson-points"
TABLES = ("activity",)


def sniff(path: Path, head: bytes) -> float:
    text = head_text(head).lstrip()
    if (text.startswith("{") and re.search(r'"type"\s*:\s*"FeatureCollection"', text)
            and re.search(r'"type"\s*:\s*"Point"', text) and "Polygon" not in text):
        return 0.9
    return empty_named(path, head, "*track*.geojson")


def read(path: Path, options: ReadOptions) -> ReadResult:
    data, encoding = load_json(path)
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise SourceError(path, "expected a GeoJSON FeatureCollection with a list of features", code="file-unreadable")
    rows: dict[str, list] = {"src_row": [], "lon": [], "lat": [], "time": [], "worker": []}
    rejections = []
    names = sorted({k for f in features if isinstance(f, dict) for k in (f.get("properties") or {})})
    mapped = map_columns(names, {k: ALIASES[k] for k in ("time", "worker")})
    for index, feature in enumerate(features, start=1):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if not (isinstance(geometry, dict) and geometry.get("type") == "Point" and isinstance(coordinates, list)
                and len(coordinates) >= 2):
            rejections.append(Rejection(index, "row-malformed", f"feature {index} is not a Point with [lon, lat]"))
            continue
        properties = feature.get("properties") or {}
        rows["src_row"].append(index)
        rows["lon"].append(str(coordinates[0]))
        rows["lat"].append(str(coordinates[1]))
        for field in ("time", "worker"):
            value = properties.get(mapped.get(field, ""))
            rows[field].append(None if value is None else str(value))
    raw = pl.DataFrame(rows, schema={"src_row": pl.Int64, "lon": pl.String, "lat": pl.String, "time": pl.String,
                                     "worker": pl.String})
    ts, basis = times(raw["time"], mapped.get("time") in UTC_TIMES, options.tz)
    lat, lon = number("lat"), number("lon")
    parsed = {"ts": (ts, "time"), "lat": (pl.when(lat.abs() <= 90).then(lat), "lat"),
              "lon": (pl.when(lon.abs() <= 180).then(lon), "lon")}
    frame, bad = check_rows(raw, parsed, required=("ts", "lat", "lon"))
    if not options.owner and "worker" not in mapped:
        raise owner_unknown(path, "the track does not name the worker", "gps")
    worker = pl.lit(options.owner) if options.owner else pl.col("worker").str.strip_chars()
    frame = frame.with_columns(worker_id=worker, kind=pl.lit("gps"))
    detected = {"format": "GeoJSON points (track)", "encoding": encoding, "coordinates": "lon, lat (RFC 7946)",
                "time basis": f"properties.{mapped.get('time', 'time')}: {basis}",
                "owner": f"{options.owner} (case.toml [owners])" if options.owner else f"properties.{mapped['worker']}"}
    return ReadResult({"activity": finish("activity", frame)}, len(features), rejections + bad, detected, "feature")
