"""Economic dependence on one platform and the continuity of the work.

Needs orders (worker_id, platform, pay, src, src_row) and activity online periods (per platform: each online event to the next session event).

platform-dependence: the largest share of the worker's pay earned on one platform, with that
platform's share of orders and of online hours in the detail. Only platforms in these inputs
are seen: a rider's other jobs are invisible, so the value is an upper bound.
work-continuity: days with working time ÷ days the case spans.
"""

from __future__ import annotations

import polars as pl

from auditor.analyzers.control.common import Inputs, rows
from auditor.analyzers.intervals import SESSION_KINDS
from auditor.findings import ref

DEPENDENCE = "platform-dependence"
CONTINUITY = "work-continuity"


def platform_shares(inputs: Inputs) -> pl.DataFrame:
    """Per worker and platform: pay, orders, online hours and their shares of the worker's total."""
    money = inputs.orders.group_by("worker_id", "platform").agg(pay=pl.col("pay").sum(), orders=pl.len())
    keys = ["worker_id", "platform"]
    hours = (inputs.activity.filter(pl.col("platform").is_not_null() & pl.col("kind").is_in(SESSION_KINDS))
             .sort(*keys, "ts").with_columns(next_ts=pl.col("ts").shift(-1).over(keys))
             .filter(pl.col("kind") == "online")
             .group_by(keys).agg(hours=((pl.col("next_ts") - pl.col("ts")).dt.total_microseconds() / 3.6e9).sum()))
    shares = money.join(hours, on=["worker_id", "platform"], how="full", coalesce=True).fill_null(0)
    return shares.with_columns(
        [(pl.col(c) / pl.col(c).sum().over("worker_id")).alias(f"{c}_share") for c in ("pay", "orders", "hours")]
    ).sort("worker_id", "pay_share", descending=[False, True])


def dependence(inputs: Inputs) -> pl.LazyFrame:
    shares = platform_shares(inputs).filter(pl.col("pay") > 0)
    main = shares.group_by("worker_id", maintain_order=True).agg(
        platform=pl.col("platform").first(), value=pl.col("pay_share").first(),
        orders_share=pl.col("orders_share").first(), hours_share=pl.col("hours_share").first(),
        platforms=pl.len())
    refs = inputs.orders.join(main.select("worker_id", "platform"), on=["worker_id", "platform"]).group_by(
        "worker_id").agg(refs=ref("orders"), n=pl.len())
    pct = lambda c: (pl.col(c) * 100).round(0)
    return rows(main.join(refs, on="worker_id").with_columns(
        detail_zh=pl.format("数据中的 {} 个平台里，平台 {} 占其收入 {}%、订单 {}%、在线时长 {}%（仅可见本案数据中的平台）",
                            "platforms", "platform", pct("value"), pct("orders_share"), pct("hours_share")),
        detail_en=pl.format("of {} platform(s) in these inputs, platform {} holds {}% of the income, {}% of the orders "
                            "and {}% of the online hours (other work outside these inputs is not seen)", "platforms",
                            "platform", pct("value"), pct("orders_share"), pct("hours_share"))), DEPENDENCE)


def continuity(inputs: Inputs) -> pl.LazyFrame:
    span = inputs.window_days
    if span == 0:
        return rows(pl.DataFrame(), CONTINUITY)
    # one row cited per day worked: the day's first row in source order, so every run (and every
    # engine) cites the same row whatever order the day's rows were gathered in
    field = pl.element().struct.field
    first_row = pl.col("refs").list.eval(pl.element().sort_by(field("table"), field("src"), field("src_row")).first())
    per_worker = inputs.working_days.group_by("worker_id").agg(
        n=pl.len(), weeks=(pl.col("date").dt.week()).n_unique(), refs=first_row.list.first().drop_nulls())
    return rows(per_worker.with_columns(
        value=pl.col("n") / span,
        detail_zh=pl.format("本案 {} 天中工作了 {} 天，分布在 {} 个自然周", pl.lit(span), "n", "weeks"),
        detail_en=pl.format("worked on {} of the {} days the case spans, in {} calendar weeks", "n", pl.lit(span),
                            "weeks")), CONTINUITY)
