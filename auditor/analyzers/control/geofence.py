"""Geofence confinement: the share of the worker's positions while online inside their zone, and
instructions to return to it.

Needs activity gps rows (app log or phone GPX, inside online periods), zones (zone_id, geometry
as WKB), relations (assigned_zone) or orders (zone_id), classified messages.

The zone is the one the relations assign; else the zone on most of the worker's orders; else the
zone holding most of their positions (an undeclared confinement still shows). Point-in-polygon
runs once over all positions: a bounding-box filter in polars, then shapely 2's vectorised
``contains_xy`` on the candidates. Evidence: the first position inside the zone in every clock
hour, the assigned_zone relation, and the return-to-zone instructions.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import shapely

from auditor.analyzers.control.common import Inputs, first_each_hour, rows, spec, wilson
from auditor.findings import ref

ID = "zone-confinement"


def zones(inputs: Inputs) -> tuple[pl.DataFrame, np.ndarray]:
    """Zones with their shapely geometry index and bounding box."""
    frame = inputs.table("zones").select("zone_id", "geometry").collect()
    geoms = shapely.from_wkb(frame["geometry"].to_numpy())
    bounds = shapely.bounds(geoms)
    return frame.select("zone_id").with_columns(
        geom_index=pl.int_range(pl.len(), dtype=pl.Int64), xmin=bounds[:, 0], ymin=bounds[:, 1],
        xmax=bounds[:, 2], ymax=bounds[:, 3]), geoms


def inside(points: pl.DataFrame, zone_table: pl.DataFrame, geoms: np.ndarray) -> pl.Series:
    """For points with a zone_id column: true where the point lies in that zone."""
    located = points.join(zone_table, on="zone_id", how="left")
    in_box = ((pl.col("lon") >= pl.col("xmin")) & (pl.col("lon") <= pl.col("xmax"))
              & (pl.col("lat") >= pl.col("ymin")) & (pl.col("lat") <= pl.col("ymax"))).fill_null(False)
    candidates = located.with_row_index("_i").filter(in_box)
    hit = np.zeros(located.height, dtype=bool)
    hit[candidates["_i"].to_numpy()] = shapely.contains_xy(geoms[candidates["geom_index"].to_numpy()],
                                                          candidates["lon"].to_numpy(), candidates["lat"].to_numpy())
    return pl.Series("inside", hit)


def _most_visited(pings: pl.DataFrame, zone_table: pl.DataFrame, geoms: np.ndarray) -> pl.DataFrame:
    tree = shapely.STRtree(geoms)
    point_idx, zone_idx = tree.query(shapely.points(pings["lon"].to_numpy(), pings["lat"].to_numpy()),
                                     predicate="intersects")
    hits = pl.DataFrame({"worker_id": pings["worker_id"].gather(point_idx),
                         "zone_id": zone_table["zone_id"].gather(zone_idx)})
    return (hits.group_by("worker_id", "zone_id").len().sort("len", "zone_id", descending=[True, False])
            .group_by("worker_id", maintain_order=True).first()
            .select("worker_id", "zone_id", zone_source=pl.lit("positions")))


def worker_zones(inputs: Inputs, zone_table: pl.DataFrame, geoms: np.ndarray) -> pl.DataFrame:
    assigned = (inputs.table("relations").filter(pl.col("relation") == "assigned_zone")
                .select(worker_id="from_party", zone_id="to_party", zone_source=pl.lit("relations"),
                        zone_ref=ref("relations")).collect()
                .unique("worker_id", keep="first", maintain_order=True))
    modal = (inputs.orders.filter(pl.col("zone_id").is_not_null()).group_by("worker_id", "zone_id").len()
             .sort("len", "zone_id", descending=[True, False]).group_by("worker_id", maintain_order=True).first()
             .select("worker_id", "zone_id", zone_source=pl.lit("orders")))
    known = pl.concat([assigned, modal.join(assigned, on="worker_id", how="anti")], how="diagonal")
    rest = inputs.pings.join(known, on="worker_id", how="anti")
    found = _most_visited(rest, zone_table, geoms) if rest.height else pl.DataFrame()
    return pl.concat([known, found], how="diagonal").filter(pl.col("zone_id").is_in(zone_table["zone_id"].implode()))


def return_instructions(inputs: Inputs) -> pl.DataFrame:
    words = spec(ID)["return_keywords"]
    return (inputs.messages.filter(pl.col("is_instruction") & pl.col("text").fill_null("").str.contains_any(
        words, ascii_case_insensitive=True)).group_by("worker_id").agg(returns=pl.len(), return_refs=ref("messages")))


def confinement(inputs: Inputs) -> pl.LazyFrame:
    if inputs.table("zones").select(pl.len()).collect().item() == 0 or inputs.pings.height == 0:
        return rows(pl.DataFrame(), ID)
    zone_table, geoms = zones(inputs)
    assigned = worker_zones(inputs, zone_table, geoms)
    pings = inputs.pings.join(assigned, on="worker_id")
    pings = pings.with_columns(inside(pings, zone_table, geoms)).with_columns(
        cited=first_each_hour().over("inside"))
    per_worker = (pings.group_by("worker_id").agg(
        n=pl.len(), k=pl.col("inside").sum(), zone_id=pl.col("zone_id").first(),
        zone_source=pl.col("zone_source").first(), zone_ref=pl.col("zone_ref").drop_nulls(),
        refs=ref("activity").filter(pl.col("inside") & pl.col("cited")))
        .join(return_instructions(inputs), on="worker_id", how="left")
        .with_columns(pl.col("returns").fill_null(0),
                      refs=pl.concat_list("refs", "zone_ref", pl.col("return_refs").fill_null([]))))
    low, high = wilson(pl.col("k"), pl.col("n"))
    source_zh = pl.col("zone_source").replace_strict({"relations": "合作关系中指定", "orders": "多数订单所属",
                                                      "positions": "定位最常出现"}, default="?")
    return rows(per_worker.with_columns(
        value=pl.col("k") / pl.col("n"), ci_low=low, ci_high=high,
        detail_zh=pl.format("在线期间 {} 个定位点中 {} 个位于区域 {}（{}）内；{} 条要求回到区域的指令",
                            "n", "k", "zone_id", source_zh, "returns"),
        detail_en=pl.format("{} of {} positions while online lay inside zone {} (zone from {}); {} instructions to "
                            "return to the zone", "k", "n", "zone_id", "zone_source", "returns")), ID)
