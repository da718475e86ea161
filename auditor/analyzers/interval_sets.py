"""Set algebra on time intervals per worker: union, stitching, intersection and difference.

Intervals are frames with ``worker_id``, ``start``, ``end`` (UTC) and any other columns. Every
operation is a sort plus a running maximum of the ends (the sweep that finds where one block of
overlapping intervals stops and the next begins), so no minute is ever materialised.
"""

from __future__ import annotations

import polars as pl

WORKER = "worker_id"


def blocks(intervals: pl.LazyFrame, reach: pl.Expr) -> pl.LazyFrame:
    # A new block starts where an interval begins after everything before it has ended (or has
    # ended long enough ago, when ``reach`` adds a stitching gap to each end).
    sorted_ = intervals.sort(WORKER, "start", "end")
    return sorted_.with_columns(
        block=(pl.col("start") > reach.cum_max().shift(1).over(WORKER)).fill_null(True).cum_sum().over(WORKER))


def stitch(intervals: pl.LazyFrame, gap: pl.Expr, refs: str | None = "refs") -> pl.LazyFrame:
    """Merge each worker's intervals that overlap or follow one another within ``gap`` (a
    duration expression, which may differ per row: chat and device activity stitch differently).
    Columns: worker_id, start, end, and ``refs`` (all rows behind the block) when given."""
    numbered = blocks(intervals, pl.col("end") + gap)
    aggregates = [pl.col("start").min(), pl.col("end").max()]
    if refs:
        aggregates.append(pl.col(refs).list.explode(keep_nulls=False, empty_as_null=False))
    return numbered.group_by(WORKER, "block").agg(aggregates).drop("block").sort(WORKER, "start")


def union(intervals: pl.LazyFrame, refs: str | None = None) -> pl.LazyFrame:
    """Each worker's intervals merged where they overlap or touch: disjoint, sorted."""
    return stitch(intervals, pl.duration(microseconds=0), refs)


def intersect(intervals: pl.LazyFrame, cover: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """The parts of each interval (identified by ``key``) inside ``cover``; one row per piece.
    Columns: key, worker_id, start, end."""
    merged = union(cover.select(WORKER, "start", "end"))
    return (
        intervals.select(key, WORKER, "start", "end")
        .join(merged, on=WORKER, suffix="_cover")
        .filter((pl.col("start_cover") < pl.col("end")) & (pl.col("end_cover") > pl.col("start")))
        .select(key, WORKER, start=pl.max_horizontal("start", "start_cover"),
                end=pl.min_horizontal("end", "end_cover"))
    )


def subtract(intervals: pl.LazyFrame, cover: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """The parts of each interval (identified by ``key``) outside ``cover``; one row per piece.
    Columns: key, worker_id, start, end. The pieces are the gaps between the covered pieces."""
    inside = intersect(intervals, cover, key).sort(key, "start")
    whole = intervals.select(key, WORKER, whole_start="start", whole_end="end")
    before_each = inside.select(key, WORKER, end="start",
                                start=pl.col("end").shift(1).over(key))
    after_last = inside.group_by(key).agg(start=pl.col("end").max())
    pieces = pl.concat([
        before_each.join(whole.drop(WORKER), on=key)
        .select(key, WORKER, start=pl.coalesce("start", "whole_start"), end="end"),
        after_last.join(whole, on=key).select(key, WORKER, "start", end="whole_end"),
        whole.join(inside.select(key).unique(), on=key, how="anti").select(key, WORKER, start="whole_start",
                                                                           end="whole_end"),
    ])
    return pieces.filter(pl.col("end") > pl.col("start")).sort(key, "start")


def hours(start: str = "start", end: str = "end") -> pl.Expr:
    return (pl.col(end) - pl.col(start)).dt.total_microseconds() / 3.6e9
