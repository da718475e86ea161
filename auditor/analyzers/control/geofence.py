"""Geofence confinement: the share of the worker's positions while online inside their zone, and
instructions to return to it.

Needs activity gps rows (app log or phone GPX, inside online periods), zones (zone_id, geometry
as WKB), relations (assigned_zone) or orders (zone_id), classified messages.

The zone is the one the relations assign; else the zone on most of the worker's orders; else the
zone holding most of their positions (an undeclared confinement still shows). Point-in-polygon
runs on the stream of positions as it passes (``positions``), through ``zone_index`` (shapely 2's
vectorised tests on prepared polygons): for a worker with a declared zone, whether each position
lies in it; for the others, every zone each position touches, counted per zone, so the most
visited zone is known after the same pass. That pass also summarises the positions for
gps-ping-interval (``position_summary``). Evidence: the first position inside the zone in every
clock hour, the assigned_zone relation, and the return-to-zone instructions.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import shapely

from auditor.analyzers.control import positions
from auditor.analyzers.control.common import (
    Inputs,
    Measured,
    cited,
    referenced,
    rows,
    spec,
    wilson,
)
from auditor.analyzers.control.zone_index import NO_ZONE, ZoneIndex
from auditor.findings import ref

ID = "zone-confinement"
ENTRIES = pl.List(pl.Struct({"zone": pl.Int64, "inside": pl.Boolean, "position": pl.Boolean}))


def zones(inputs: Inputs) -> tuple[pl.DataFrame, np.ndarray]:
    """Zones with their shapely geometry index and bounding box, and the geometries."""
    return inputs.once("zones", lambda: _zones(inputs))


def _zones(inputs: Inputs) -> tuple[pl.DataFrame, np.ndarray]:
    # a zone listed twice is measured against its first geometry, not counted twice
    frame = inputs.table("zones").select("zone_id", "geometry").collect().unique("zone_id", keep="first",
                                                                                 maintain_order=True)
    geoms = shapely.from_wkb(frame["geometry"].to_numpy())
    bounds = shapely.bounds(geoms)
    return frame.select("zone_id").with_columns(
        geom_index=pl.int_range(pl.len(), dtype=pl.Int64), xmin=bounds[:, 0], ymin=bounds[:, 1],
        xmax=bounds[:, 2], ymax=bounds[:, 3]), geoms


def inside(points: pl.DataFrame, zone_table: pl.DataFrame, geoms: np.ndarray) -> pl.Series:
    """For points with a zone_id column: true where the point lies in that zone."""
    located = points.join(zone_table.select("zone_id", "geom_index"), on="zone_id", how="left", maintain_order="left")
    return pl.Series("inside", ZoneIndex(geoms).contains(
        located["geom_index"].fill_null(NO_ZONE).to_numpy(), located["lon"].to_numpy(), located["lat"].to_numpy()))


def _entries(index: ZoneIndex) -> pl.Expr:
    """Over zone (the declared zone's geometry index, or null), declared, lon, lat: the list of
    {zone, inside, position} rows ``positions.hourly`` counts, to be exploded (``_entry_lists``)."""
    def test(batch: pl.Series) -> pl.Series:
        field = batch.struct.field
        lists = _entry_lists(index, field("zone").fill_null(NO_ZONE).to_numpy(),
                             field("declared").fill_null(False).to_numpy(), field("lon").to_numpy(),
                             field("lat").to_numpy())
        return pl.Series(lists).cast(ENTRIES)
    return pl.struct("zone", "declared", "lon", "lat").map_batches(test, return_dtype=ENTRIES, is_elementwise=True)


def _entry_lists(index: ZoneIndex, zone: np.ndarray, declared: np.ndarray, lon: np.ndarray,
                 lat: np.ndarray) -> pa.ListArray:
    """Per position, its own row first (zone: the declared one, else none; position true), then,
    if the worker declared no zone, a row for every zone it touches (position false): a worker with
    a declared zone is measured against it alone, the others' most visited zone is known after the
    same pass. Built in numpy, as arrow lists with one offset per position."""
    own = np.where(declared, zone, NO_ZONE)
    undeclared = np.flatnonzero(~declared)
    point, touched = index.hits(lon[undeclared], lat[undeclared])
    point = undeclared[point]
    row = np.concatenate([np.arange(len(zone)), point])
    order = np.argsort(row, kind="stable")  # each position's own row, then its touched zones
    zones = np.concatenate([own, touched])[order]
    inside = np.concatenate([index.contains(own, lon, lat), index.contains(touched, lon[point], lat[point])])[order]
    position = np.concatenate([np.ones(len(zone), dtype=bool), np.zeros(len(point), dtype=bool)])[order]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=len(zone)))]).astype(np.int32)
    values = pa.StructArray.from_arrays([pa.array(zones, pa.int64(), mask=zones == NO_ZONE), pa.array(inside),
                                         pa.array(position)], ["zone", "inside", "position"])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def declared_zones(inputs: Inputs) -> pl.DataFrame:
    """worker_id, zone_id, zone_source, zone_ref: the zone the relations assign, else the zone on
    most of the worker's orders."""
    return inputs.once("declared zones", lambda: _declared_zones(inputs))


def _declared_zones(inputs: Inputs) -> pl.DataFrame:
    assigned = (inputs.table("relations").filter(pl.col("relation") == "assigned_zone")
                .select(worker_id="from_party", zone_id="to_party", zone_source=pl.lit("relations"),
                        zone_ref=ref("relations")).collect()
                .unique("worker_id", keep="first", maintain_order=True))
    modal = (inputs.orders.lazy().filter(pl.col("zone_id").is_not_null()).group_by("worker_id", "zone_id").len()
             .sort("len", "zone_id", descending=[True, False]).group_by("worker_id", maintain_order=True).first()
             .select("worker_id", "zone_id", zone_source=pl.lit("orders")).collect())
    return pl.concat([assigned, modal.join(assigned, on="worker_id", how="anti")], how="diagonal")


def position_summary(inputs: Inputs) -> positions.Summary:
    """The positions while online, summarised (``positions.Summary``): passed = inside the
    worker's declared zone; visits = the zones touched by the positions of workers without one."""
    return inputs.once("position summary", lambda: _summarise(inputs))


def _summarise(inputs: Inputs) -> positions.Summary:
    activity, online = inputs.table("activity"), inputs.online_spans
    if not has_zones(inputs):
        return positions.summarise(activity, online, lambda stream: stream.with_columns(
            zone=pl.lit(None, pl.Int64), inside=pl.lit(False), position=pl.lit(True)))
    zone_table, geoms = zones(inputs)
    index = ZoneIndex(geoms)
    declared = (declared_zones(inputs).join(zone_table.select("zone_id", "geom_index"), on="zone_id", how="left")
                .select("worker_id", zone="geom_index", declared=pl.lit(True)))
    return positions.summarise(activity, online.join(declared, on="worker_id", how="left"), lambda stream: (
        stream.with_columns(entry=_entries(index)).drop("zone").explode("entry").unnest("entry")))


def has_zones(inputs: Inputs) -> bool:
    return inputs.table("zones").select(pl.len()).collect().item() > 0


def measured_zones(inputs: Inputs, summary: positions.Summary) -> pl.DataFrame:
    """worker_id, zone_id, zone_source, zone_ref, geom_index: the declared zone, else the zone the
    worker's positions touch most often; only zones in the zones table."""
    zone_table, _ = zones(inputs)
    visited = (summary.with_periods(summary.visits).group_by("worker_id", "zone").agg(hits=pl.col("hits").sum())
               .join(zone_table.select("zone_id", zone="geom_index"), on="zone")
               .sort("hits", "zone_id", descending=[True, False]).group_by("worker_id", maintain_order=True).first()
               .select("worker_id", "zone_id", zone_source=pl.lit("positions")))
    return (pl.concat([declared_zones(inputs), visited], how="diagonal")
            .join(zone_table.select("zone_id", "geom_index"), on="zone_id"))


def inside_hours(summary: positions.Summary, measured: pl.DataFrame) -> pl.DataFrame:
    """worker_id, online_start, hour, passed, first_passed: the positions inside the zone each
    worker is measured against, per hour (a declared zone's from the hours, a found one's from the
    visits)."""
    columns = ["worker_id", "online_start", "hour", "passed", "first_passed"]
    declared = summary.hours.join(measured.filter(pl.col("zone_source") != "positions"), on="worker_id", how="semi")
    found = (summary.with_periods(summary.visits)
             .join(measured.filter(pl.col("zone_source") == "positions").select("worker_id", zone="geom_index"),
                   on=["worker_id", "zone"]))
    return pl.concat([declared.select(columns), found.select(columns)])


def return_instructions(inputs: Inputs) -> pl.DataFrame:
    """Instructions to return to the zone: the messages, each worker's own."""
    words = spec(ID)["return_keywords"]
    return inputs.messages.filter(pl.col("is_instruction") & pl.col("text").fill_null("").str.contains_any(
        words, ascii_case_insensitive=True))


def confinement(inputs: Inputs) -> Measured:
    if not has_zones(inputs):
        return rows(pl.DataFrame(), ID)
    summary = position_summary(inputs)
    if summary.hours.height == 0:
        return rows(pl.DataFrame(), ID)
    measured = measured_zones(inputs, summary)
    inside_zone = inside_hours(summary, measured)
    returns = return_instructions(inputs)
    per_worker = (summary.hours.lazy().group_by("worker_id").agg(n=pl.col("positions").sum())
                  .join(inside_zone.lazy().group_by("worker_id").agg(k=pl.col("passed").sum()), on="worker_id")
                  .join(measured.lazy(), on="worker_id")
                  .join(returns.lazy().group_by("worker_id").agg(returns=pl.len()), on="worker_id", how="left")
                  .with_columns(pl.col("returns").fill_null(0)))
    low, high = wilson(pl.col("k"), pl.col("n"))
    source_zh = pl.col("zone_source").replace_strict({"relations": "合作关系中指定", "orders": "多数订单所属",
                                                      "positions": "定位最常出现"}, default="?")
    return rows(per_worker.with_columns(
        value=pl.col("k") / pl.col("n"), ci_low=low, ci_high=high,
        detail_zh=pl.format("在线期间 {} 个定位点中 {} 个位于区域 {}（{}）内；{} 条要求回到区域的指令",
                            "n", "k", "zone_id", source_zh, "returns"),
        detail_en=pl.format("{} of {} positions while online lay inside zone {} (zone from {}); {} instructions to "
                            "return to the zone", "k", "n", "zone_id", "zone_source", "returns")), ID,
                cited(positions.first_each_hour(inside_zone, "first_passed"), "activity"),
                referenced(measured, "zone_ref"), cited(returns, "messages"))
