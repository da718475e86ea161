"""Service areas as a CSV with the polygon written as WKT (``POLYGON ((121.0 31.0, …))``), as GIS
tools and spreadsheets export them: a zone id column (``zone_id``, ``id``, ``区域编号``), a WKT column
(``wkt``, ``geometry``, ``geom``, ``the_geom``, ``边界``) and optionally ``name``, ``station_id``,
``platform``. Coordinates are ``lon lat``. Geometries are parsed and checked by shapely in one
vectorised call and stored as WKB; a row without a usable polygon is rejected by line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import shapely

from connectors.base import (
    ReadOptions,
    ReadResult,
    Rejection,
    SourceError,
    check_rows,
    decode,
    empty_named,
    finish,
    head_text,
    header_fields,
    map_columns,
    read_csv_rows,
)

NAME = "wkt-zones"
TABLES = ("zones",)
ALIASES = {
    "zone_id": ("zone_id", "id", "区域编号", "zone"),
    "wkt": ("wkt", "geometry", "geom", "the_geom", "边界"),
    "name": ("name", "zone_name", "区域名称"),
    "station_id": ("station_id", "站点编号"),
    "platform": ("platform", "平台"),
}


def sniff(path: Path, head: bytes) -> float:
    text = head_text(head)
    if not text.strip() or text.lstrip().startswith(("{", "[", "<")):
        return empty_named(path, head, "*zones*.csv")
    mapped = map_columns(header_fields(path, text)[0], ALIASES)
    return 0.9 if {"zone_id", "wkt"} <= set(mapped) and "POLYGON" in text.upper() else 0.0


def read(path: Path, options: ReadOptions) -> ReadResult:
    text, encoding = decode(path)
    header, delimiter = header_fields(path, text)
    mapped = map_columns(header, ALIASES)
    if not {"zone_id", "wkt"} <= set(mapped):
        raise SourceError(path, f"expected a zone id and a WKT column; found {header}", line=1,
                          code="file-missing-columns")
    raw, rejections, rows_read = read_csv_rows(path, text, required=(), delimiter=delimiter)
    raw = raw.select(*[pl.col(c).alias(f) for f, c in mapped.items()], "src_row").with_columns(
        pl.lit(None, pl.String).alias(f) for f in ALIASES if f not in mapped)
    frame, bad = check_rows(raw, {}, required=("zone_id", "wkt"))
    geometries = shapely.from_wkt(np.array(frame["wkt"].to_list(), dtype=object), on_invalid="ignore")
    polygonal = np.isin(shapely.get_type_id(geometries), (3, 6))  # Polygon, MultiPolygon
    usable = polygonal & ~shapely.is_empty(geometries) & shapely.is_valid(geometries)
    bad += [Rejection(line, "row-malformed", f"the WKT is not a valid polygon: {wkt[:40]}")
            for line, wkt, ok in zip(frame["src_row"], frame["wkt"], usable) if not ok]
    kept = frame.filter(pl.Series(usable)).with_columns(
        geometry=pl.Series(list(shapely.to_wkb(geometries[usable])), dtype=pl.Binary))
    detected = {"format": "zones CSV with WKT polygons", "encoding": encoding,
                "columns": ", ".join(f"{f}={c}" for f, c in mapped.items()), "coordinates": "lon lat (WKT x y)"}
    return ReadResult({"zones": finish("zones", kept.drop("wkt"))}, rows_read, rejections + bad, detected)
