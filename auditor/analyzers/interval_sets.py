"""Set algebra on time intervals per worker: union, stitching, and the time inside a cover.

Intervals are frames with ``worker_id``, ``start``, ``end`` (UTC) and any other columns. Every
operation is a sort plus a running maximum of the ends (the sweep that finds where one block of
overlapping intervals stops and the next begins), or an as-of join against such blocks, so no
minute is ever materialised and no worker's intervals are paired with another set's.
"""

from __future__ import annotations

import polars as pl

WORKER = "worker_id"


def blocks(intervals: pl.LazyFrame, reach: pl.Expr) -> pl.LazyFrame:
    # A new block starts where an interval begins after everything before it has ended (or has
    # ended long enough ago, when ``reach`` adds a stitching gap to each end). Sorted by time
    # alone (records mostly arrive in time order, so this sort is cheap): the window per worker
    # keeps that order, so no sort by worker is needed. Block numbers count per worker.
    sorted_ = intervals.sort("start", "end")
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


def member_of(intervals: pl.LazyFrame, merged: pl.LazyFrame, block: str) -> pl.LazyFrame:
    """Each interval with the ``block`` column of the merged block (from :func:`stitch` or
    :func:`union` of these intervals) it belongs to: the last block starting at or before it."""
    return (intervals.sort("start")
            .join_asof(merged.select(WORKER, block, _block_start="start").sort("_block_start"), left_on="start",
                       right_on="_block_start", by=WORKER, strategy="backward", check_sortedness=False)
            .drop("_block_start"))


def _cover_index(cover: pl.LazyFrame) -> pl.LazyFrame:
    """The cover merged into disjoint blocks, each with the covered time before it (per worker),
    so the covered time up to any instant is one as-of look-up away."""
    length = pl.col("c_end") - pl.col("c_start")
    return (union(cover.filter(pl.col("end") > pl.col("start")).select(WORKER, "start", "end"))
            .select(WORKER, c_start="start", c_end="end")
            .with_columns(c_before=(length.cum_sum() - length).over(WORKER))
            .sort("c_start"))


def _covered_until(intervals: pl.LazyFrame, at: str, index: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """key, and the covered time before the instant ``at`` (with the block found for it)."""
    found = (intervals.select(key, WORKER, at).sort(at)
             .join_asof(index, left_on=at, right_on="c_start", by=WORKER, strategy="backward", check_sortedness=False))
    upto = pl.col("c_before") + (pl.min_horizontal(at, "c_end") - pl.col("c_start")).clip(pl.duration(microseconds=0))
    return found.select(key, pl.col("c_start", "c_end").name.suffix(f"_{at}"),
                        **{f"covered_{at}": upto.fill_null(pl.duration(microseconds=0))})


def overlap(intervals: pl.LazyFrame, cover: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """Time of each interval (identified by ``key``) inside ``cover``: key, inside (a duration).

    The covered time up to the end minus that up to the start. A cover interval that ends before
    it starts covers nothing. An interval that ends before it starts (a damaged record) counts, as
    a piece-wise intersection would, its negative length when one cover block holds it whole."""
    index = _cover_index(cover)
    intervals = intervals.select(key, WORKER, "start", "end").cache()  # read three times below
    ends = intervals.select(key, "start", "end")
    sweep = (ends.join(_covered_until(intervals, "start", index, key), on=key)
             .join(_covered_until(intervals, "end", index, key), on=key))
    reversed_inside = (pl.col("c_start_end") < pl.col("end")) & (pl.col("c_end_end") > pl.col("start"))
    return sweep.select(key, inside=pl.when(pl.col("end") >= pl.col("start"))
                        .then(pl.col("covered_end") - pl.col("covered_start"))
                        .when(reversed_inside.fill_null(False)).then(pl.col("end") - pl.col("start"))
                        .otherwise(pl.duration(microseconds=0)))


def hours(start: str = "start", end: str = "end") -> pl.Expr:
    return (pl.col(end) - pl.col(start)).dt.total_microseconds() / 3.6e9
