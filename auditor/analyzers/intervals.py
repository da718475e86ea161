"""Time intervals of work from the canonical tables, and their union per local day.

Every interval keeps references to the canonical rows it was built from (``refs``: a list of
``{table, src, src_row}``), so a day's total can always be traced back to its source lines.
"""

from __future__ import annotations

import polars as pl

from auditor.findings import ref

REF = pl.Struct({"table": pl.String, "src": pl.String, "src_row": pl.Int64})
SESSION_KINDS = ("login", "logout", "online", "offline")
WORKING_OUTCOMES = ("accepted", "auto_assigned")


def online_intervals(activity: pl.LazyFrame) -> pl.LazyFrame:
    """App online periods: each ``online`` event to the next session event of the same worker on
    the same platform (offline, logout or another online). An online period that the log never
    closes ends at that worker's last event on the platform, so a truncated log under-counts
    rather than inventing time."""
    keys = ["worker_id", "platform"]
    last_seen = activity.group_by(keys).agg(last_ts=pl.col("ts").max())
    return (
        activity.filter(pl.col("kind").is_in(SESSION_KINDS))
        .sort([*keys, "ts"])
        .with_columns(
            next_ts=pl.col("ts").shift(-1).over(keys),
            next_src=pl.col("src").shift(-1).over(keys),
            next_src_row=pl.col("src_row").shift(-1).over(keys),
        )
        .filter(pl.col("kind") == "online")
        .join(last_seen, on=keys, how="left", nulls_equal=True)
        .select(
            "worker_id",
            start=pl.col("ts"),
            end=pl.coalesce("next_ts", "last_ts"),
            refs=pl.concat_list(ref("activity"), ref("activity", "next_src", "next_src_row")).list.eval(
                pl.element().filter(pl.element().struct.field("src").is_not_null())),
        )
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
    day_start = pl.col("date").cast(pl.Datetime("us")).dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    day_end = pl.col("date").dt.offset_by("1d").cast(pl.Datetime("us")).dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null")
    return (
        intervals.filter(pl.col("end") > pl.col("start"))
        .with_columns(pl.col("start", "end").dt.convert_time_zone(tz).cast(local))
        .with_columns(date=pl.date_ranges(pl.col("start").dt.date(),
                                          (pl.col("end") - pl.duration(microseconds=1)).dt.date()))
        .explode("date")
        .with_columns(start=pl.max_horizontal("start", day_start), end=pl.min_horizontal("end", day_end))
        .filter(pl.col("end") > pl.col("start"))
    )


def daily_union(intervals: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Hours per worker and local day, overlapping intervals counted once.

    Columns: worker_id, date, hours, first_start, last_end, refs (all rows behind the day)."""
    keys = ["worker_id", "date"]
    pieces = split_local_days(intervals, tz).sort([*keys, "start"])
    blocks = pieces.with_columns(
        block=(pl.col("start") > pl.col("end").cum_max().shift(1).over(keys)).fill_null(True).cum_sum().over(keys)
    )
    merged = blocks.group_by([*keys, "block"]).agg(
        start=pl.col("start").min(), end=pl.col("end").max(), refs=pl.col("refs").list.explode(keep_nulls=False, empty_as_null=False))
    return (
        merged.group_by(keys)
        .agg(
            hours=((pl.col("end") - pl.col("start")).dt.total_microseconds().sum() / 3.6e9),
            first_start=pl.col("start").min(),
            last_end=pl.col("end").max(),
            refs=pl.col("refs").list.explode(keep_nulls=False, empty_as_null=False).unique(maintain_order=True),
        )
        .sort(keys)
    )
