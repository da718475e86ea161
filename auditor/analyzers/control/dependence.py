"""Economic dependence on one platform and the continuity of the work.

Needs orders (worker_id, platform, pay, src, src_row) and activity online periods (per platform: each online event to the next session event).

platform-dependence: the largest share of the worker's pay earned on one platform, with that
platform's share of orders and of online hours in the detail. Only platforms in these inputs
are seen: a rider's other jobs are invisible, so the value is an upper bound.
work-continuity: days with working time ÷ days the case spans.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from auditor.analyzers import context
from auditor.analyzers.control.common import (
    Inputs,
    Measured,
    cited,
    referenced,
    rows,
    summed,
)
from auditor.analyzers.intervals import SESSION_KINDS

DEPENDENCE = "platform-dependence"
CONTINUITY = "work-continuity"
CASE_SPAN = "case span"  # the case-wide reference of case_span


def platform_shares(inputs: Inputs) -> pl.DataFrame:
    """Per worker and platform: pay, orders, online hours and their shares of the worker's total."""
    return inputs.once("platform shares", lambda: _platform_shares(inputs))


def _platform_shares(inputs: Inputs) -> pl.DataFrame:
    money = summed(inputs.orders.lazy().group_by("worker_id", "platform").agg(pay=pl.col("pay").sum(), orders=pl.len()))
    keys = ["worker_id", "platform"]
    hours = (inputs.activity.filter(pl.col("platform").is_not_null() & pl.col("kind").is_in(SESSION_KINDS))
             .sort(*keys, "ts").with_columns(next_ts=pl.col("ts").shift(-1).over(keys))
             .filter(pl.col("kind") == "online")
             .group_by(keys).agg(hours=((pl.col("next_ts") - pl.col("ts")).dt.total_microseconds() / 3.6e9).sum()))
    shares = money.join(hours, on=["worker_id", "platform"], how="full", coalesce=True).fill_null(0)
    return shares.with_columns(
        [(pl.col(c) / pl.col(c).sum().over("worker_id")).alias(f"{c}_share") for c in ("pay", "orders", "hours")]
    ).sort("worker_id", "pay_share", "platform", descending=[False, True, False])


def dependence(inputs: Inputs) -> Measured:
    shares = platform_shares(inputs).filter(pl.col("pay") > 0)
    main = shares.group_by("worker_id", maintain_order=True).agg(
        platform=pl.col("platform").first(), value=pl.col("pay_share").first(),
        orders_share=pl.col("orders_share").first(), hours_share=pl.col("hours_share").first(),
        platforms=pl.len())
    # the per-worker platforms are the hash table (left to choose, polars first buffers orders to compare sizes)
    on_main = inputs.orders.lazy().join(main.lazy().select("worker_id", "platform"), on=["worker_id", "platform"],
                                        build_side="force_right")
    counts = on_main.group_by("worker_id").agg(n=pl.len()).collect()
    pct = lambda c: (pl.col(c) * 100).round(0)
    return rows(main.join(counts, on="worker_id").with_columns(
        detail_zh=pl.format("数据中的 {} 个平台里，平台 {} 占其收入 {}%、订单 {}%、在线时长 {}%（仅可见本案数据中的平台）",
                            "platforms", "platform", pct("value"), pct("orders_share"), pct("hours_share")),
        detail_en=pl.format("of {} platform(s) in these inputs, platform {} holds {}% of the income, {}% of the orders "
                            "and {}% of the online hours (other work outside these inputs is not seen)", "platforms",
                            "platform", pct("value"), pct("orders_share"), pct("hours_share"))), DEPENDENCE,
                cited(on_main, "orders"))


def case_span(inputs: Inputs) -> tuple[date, date] | None:
    """First and last local date of the case's orders and activity (None without any): the days
    work-continuity counts against. A case-wide reference (context.span)."""
    def build() -> tuple[date, date] | None:
        stamps = pl.concat([inputs.table("orders").select(ts="dispatched_at"), inputs.table("activity").select("ts")])
        first, last = stamps.select(first=pl.col("ts").min(), last=pl.col("ts").max()).collect().row(0)
        if first is None:
            return None
        local = pl.Series([first, last]).dt.convert_time_zone(inputs.case.tz).dt.date()
        return local[0], local[1]
    return context.span(inputs.case, CASE_SPAN, build)


def continuity(inputs: Inputs) -> Measured:
    dates = case_span(inputs)
    if dates is None:
        return rows(pl.DataFrame(), CONTINUITY)
    span = (dates[1] - dates[0]).days + 1
    # one row cited per day worked (once if it opens two days): the day's first row in source
    # order, so every run (and every engine) cites the same row whatever order the day's rows
    # were gathered in
    field = pl.element().struct.field
    first_row = pl.col("refs").list.eval(pl.element().sort_by(field("table"), field("src"), field("src_row")).first())
    per_worker = inputs.working_days.lazy().group_by("worker_id").agg(
        n=pl.len(), weeks=pl.col("date").dt.week().n_unique())
    return rows(per_worker.with_columns(
        value=pl.col("n") / span,
        detail_zh=pl.format("本案 {} 天中工作了 {} 天，分布在 {} 个自然周", pl.lit(span), "n", "weeks"),
        detail_en=pl.format("worked on {} of the {} days the case spans, in {} calendar weeks", "n", pl.lit(span),
                            "weeks")), CONTINUITY,
        referenced(inputs.working_days.lazy().select("worker_id", first=first_row.list.first()), "first").unique())
