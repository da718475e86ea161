"""Time intervals of work from the canonical tables, and their union per local day.

Every interval keeps references to the canonical rows it was built from (``refs``: a list of
``{table, src, src_row}``), so a day's total can always be traced back to its source lines.
"""

from __future__ import annotations

import polars as pl

from auditor.analyzers import interval_sets
from auditor.findings import ref

WORKER = interval_sets.WORKER
KEYS = [WORKER, "date"]
REF = pl.Struct({"table": pl.String, "src": pl.String, "src_row": pl.Int64})
SESSION_KINDS = ("login", "logout", "online", "offline")
WORKING_OUTCOMES = ("accepted", "auto_assigned")


def online_intervals(activity: pl.LazyFrame) -> pl.LazyFrame:
    """App online periods: each ``online`` event to the next session event of the same worker on
    the same platform (offline, logout or another online). An online period that the log never
    closes ends at that worker's last event on the platform, so a truncated log under-counts
    rather than inventing time."""
    keys = ["worker_id", "platform"]
    periods = (
        activity.filter(pl.col("kind").is_in(SESSION_KINDS))
        .sort([*keys, "ts"])
        .with_columns(
            next_ts=pl.col("ts").shift(-1).over(keys),
            next_src=pl.col("src").shift(-1).over(keys),
            next_src_row=pl.col("src_row").shift(-1).over(keys),
        )
        .filter(pl.col("kind") == "online")
        .collect()
    )
    # Only a period left open needs the last event of its worker on that platform, which means
    # reading every event (GPS positions included) again: done for those few workers alone.
    unclosed = periods.filter(pl.col("next_ts").is_null()).select(keys).unique()
    last_seen = (activity.filter(pl.col("worker_id").is_in(unclosed["worker_id"].implode()))
                 .join(unclosed.lazy(), on=keys, how="semi", nulls_equal=True)
                 .group_by(keys).agg(last_ts=pl.col("ts").max()))
    closing = pl.when(pl.col("next_src").is_not_null()).then(ref("activity", "next_src", "next_src_row"))
    return periods.lazy().join(last_seen, on=keys, how="left", nulls_equal=True).select(
        "worker_id",
        start=pl.col("ts"),
        end=pl.coalesce("next_ts", "last_ts"),
        refs=pl.concat_list(ref("activity"), closing).list.drop_nulls(),
    )


def order_intervals(orders: pl.LazyFrame) -> pl.LazyFrame:
    """Order time as 人社厅发〔2023〕50号 Art. 4 counts it: from taking the order (the response
    to the dispatch, or the dispatch itself when no response time is recorded) to delivery."""
    return orders.filter(pl.col("outcome").is_in(WORKING_OUTCOMES) & pl.col("delivered_at").is_not_null()).select(
        "worker_id",
        start=pl.coalesce("responded_at", "dispatched_at"),
        end=pl.col("delivered_at"),
        refs=pl.concat_list(ref("orders")),
    )


def split_local_days(intervals: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Cut intervals at local midnight: one piece per (interval, local date) it touches."""
    local = pl.Datetime("us", tz)
    at = lambda day, hour: (day.cast(pl.Datetime("us")) + pl.duration(hours=hour)).dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null")
    # Where a daylight-saving change skips local midnight (e.g. America/Santiago), the day starts
    # when the clocks land, at 01:00: every day has both bounds, so no piece runs past its day.
    midnight = lambda day: pl.coalesce(at(day, 0), at(day, 1))
    dated = (intervals.filter(pl.col("end") > pl.col("start"))
             .with_columns(pl.col("start", "end").dt.convert_time_zone(tz).cast(local))
             .with_columns(date=pl.col("start").dt.date(),
                           _last=(pl.col("end") - pl.duration(microseconds=1)).dt.date())
             .cache())
    # Nearly every interval lies within one local day: only the few that cross midnight are
    # expanded into one row per date, and each date's bounds are found once, not once a row.
    crossing = (dated.filter(pl.col("_last") > pl.col("date"))
                .with_columns(date=pl.date_ranges("date", "_last")).explode("date"))
    pieces = pl.concat([dated.filter(pl.col("_last") == pl.col("date")), crossing])
    bounds = pieces.select("date").unique().with_columns(
        _day_start=midnight(pl.col("date")), _day_end=midnight(pl.col("date").dt.offset_by("1d")))
    return (pieces.join(bounds, on="date", how="left", maintain_order="left")
            .with_columns(start=pl.max_horizontal("start", "_day_start"),
                          end=pl.min_horizontal("end", "_day_end"))
            .filter(pl.col("end") > pl.col("start"))
            .drop("_last", "_day_start", "_day_end"))


def daily_blocks(blocks: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Hours per worker and local day of disjoint intervals (``interval_sets.union``'s blocks).
    Columns: worker_id, date, hours, first_start, last_end (local time)."""
    length = (pl.col("end") - pl.col("start")).dt.total_microseconds()
    return split_local_days(blocks.select(WORKER, "start", "end"), tz).group_by(KEYS).agg(
        hours=length.sum() / 3.6e9, first_start=pl.col("start").min(), last_end=pl.col("end").max())


def daily_refs(intervals: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """The rows behind each worker's local day: worker_id, date, refs (every row of every
    interval that has time on that day, each once)."""
    return split_local_days(intervals.select(WORKER, "start", "end", "refs"), tz).group_by(KEYS).agg(
        refs=pl.col("refs").list.explode(keep_nulls=False, empty_as_null=False).unique(maintain_order=True))


def daily_union(intervals: pl.LazyFrame, tz: str, refs: bool = True) -> pl.LazyFrame:
    """Hours per worker and local day, overlapping intervals counted once.

    The intervals are merged per worker first (a sort and a running maximum) and only the merged
    blocks are cut at midnight; the rows behind each day are gathered apart, as plain lists, so
    no reference travels through the sort. Columns: worker_id, date, hours, first_start, last_end,
    refs (all rows behind the day; left out when ``refs`` is false)."""
    days = daily_blocks(interval_sets.union(intervals.select(WORKER, "start", "end")), tz)
    if refs:
        days = days.join(daily_refs(intervals, tz), on=KEYS, how="left")
    return days.sort(KEYS)
