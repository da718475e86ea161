"""Service areas and geofences: a GeoJSON FeatureCollection of Polygon / MultiPolygon features
(RFC 7946, ``[lon, lat]``) with ``properties: {zone_id, name, station_id, platform}``.

Geometries are parsed and checked by shapely in one vectorised call and stored as WKB. A feature
without a usable polygon is rejected with its 1-based index in ``features`` (its ``src_row``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import shapely

from connectors.base import (
    ReadOptions,
    ReadResult,
    Rejection,
    SourceError,
    empty_named,
    finish,
    head_text,
    load_json,
)

NAME = "geojson-zones"
TABLES = ("zones",)
POLYGONAL = ("Polygon", "MultiPolygon")
PROPERTIES = ("zone_id", "name", "station_id", "platform")


def sniff(path: Path, head: bytes) -> float:
    text = head_text(head).lstrip()
    if text.startswith("{") and re.search(r'"type"\s*:\s*"FeatureCollection"', text):
        # a collection of points only is a track (geojson_points), not service areas
        return 0.0 if re.search(r'"type"\s*:\s*"Point"', text) and "Polygon" not in text else 0.9
    return empty_named(path, head, "*.geojson")


def read(path: Path, options: ReadOptions) -> ReadResult:
    data, encoding = load_json(path)
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise SourceError(path, "expected a GeoJSON FeatureCollection with a list of features", code="file-unreadable")
    features = data["features"]
    rejections: list[Rejection] = []
    kept: list[tuple[int, dict, str]] = []
    for index, feature in enumerate(features, start=1):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if kind not in POLYGONAL:
            what = "no geometry" if geometry is None else f"a {kind or 'malformed'} geometry"
            rejections.append(Rejection(index, "row-malformed", f"feature {index} has {what}; expected Polygon or MultiPolygon"))
            continue
        kept.append((index, feature.get("properties") or {}, json.dumps(geometry)))
    geometries = shapely.from_geojson(np.array([g for _, _, g in kept], dtype=object), on_invalid="ignore") \
        if kept else np.array([], dtype=object)
    usable = ~shapely.is_missing(geometries) & ~shapely.is_empty(geometries) & shapely.is_valid(geometries)
    for (index, _, _), ok, geometry in zip(kept, usable, geometries):
        if not ok:
            why = "cannot be parsed" if geometry is None else (
                "is empty" if shapely.is_empty(geometry) else f"is not valid ({shapely.is_valid_reason(geometry)})")
            rejections.append(Rejection(index, "row-malformed", f"feature {index}: the polygon {why}"))
    good = [k for k, ok in zip(kept, usable) if ok]
    wkb = shapely.to_wkb(geometries[usable]) if good else []
    frame = pl.DataFrame({
        "src_row": pl.Series([i for i, _, _ in good], dtype=pl.Int64),
        **{p: pl.Series([_text(props.get(p)) for _, props, _ in good], dtype=pl.String) for p in PROPERTIES},
        "geometry": pl.Series(list(wkb), dtype=pl.Binary),
    })
    missing = frame.filter(pl.col("zone_id").is_null())
    rejections += [Rejection(i, "row-missing-field", f"feature {i} has no properties.zone_id") for i in missing["src_row"]]
    frame = frame.filter(pl.col("zone_id").is_not_null())
    detected = {"format": "GeoJSON FeatureCollection", "encoding": encoding, "coordinates": "lon, lat (RFC 7946)"}
    return ReadResult({"zones": finish("zones", frame)}, len(features), rejections, detected, "feature")


def _text(value) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip()
