"""Pay control: per-km rates set and changed by the platform alone, and earnings per working hour.

Needs orders (worker_id, platform, dispatched_at, outcome, distance_m, pay, penalty, src,
src_row) and activity online periods for working hours.

Rate changes: for each platform and local day, the per-km rate is the least-squares slope of
pay on distance over that day's paid orders. A change date splits the days into before and
after; the date chosen is the split that explains most of the variation of the daily rates
(between-sides sum of squares), with at least ``min_days_each_side`` days on each side. ``separation`` is the share of (before day, after
day) pairs in which the after-day rate is lower (for a cut) — 1.0 means every day after paid less
per km than every day before; a change is reported when separation ≥ 0.95. The same rate moving
for every rider on the platform on one day, with no negotiation in the data, is unilateral
price setting.

Earnings per working hour: (Σ pay − Σ penalty) ÷ working hours (app online periods ∪ order
time, waiting included), against the local hourly minimum wage.
"""

from __future__ import annotations

import polars as pl

from auditor.analyzers import context
from auditor.analyzers.control.common import (
    Inputs,
    Measured,
    cited,
    listed,
    minimum_hourly_wage,
    rows,
    spec,
    summed,
)

CUT = "pay-rate-cut"
EARNINGS = "earnings-per-hour"
SEPARATION = 0.95  # (before, after) day pairs on the same side of the change: a clean break
RATE_CHANGES = "rate changes"  # the case-wide reference of rate_changes


RATE_COLUMNS = ("platform", "dispatched_at", "pay", "distance_m")  # what the rates read of the orders


def daily_rates(inputs: Inputs) -> pl.DataFrame:
    km = pl.col("distance_m") / 1000
    paid = inputs.orders.lazy().filter((pl.col("pay") > 0) & (pl.col("distance_m") > 0)).with_columns(
        day=pl.col("dispatched_at").dt.convert_time_zone(inputs.case.tz).dt.date(), km=km)
    slope = pl.cov("km", "pay") / pl.col("km").var()
    return (paid.group_by("platform", "day").agg(n=pl.len(), rate=slope, base=pl.col("pay").mean() - slope * pl.col("km").mean())
            .filter(pl.col("n") >= 3).sort("platform", "day").pipe(summed))


def rate_changes(inputs: Inputs) -> pl.DataFrame:
    """Per platform: the best split date, rates before/after, relative change, separation and
    whether it counts as a change. Fitted on all the platform's orders: a case-wide reference
    (context.reference), which an engine auditing the workers in parts injects."""
    return context.reference(inputs.case, RATE_CHANGES, lambda: _fitted_rate_changes(inputs))


def _fitted_rate_changes(inputs: Inputs) -> pl.DataFrame:
    rates = daily_rates(inputs)
    min_days = int(spec(CUT)["min_days_each_side"])
    candidates = rates.select("platform", change_date="day").join(rates, on="platform").with_columns(
        after=pl.col("day") >= pl.col("change_date"))
    sides = candidates.group_by("platform", "change_date").agg(
        days_before=(~pl.col("after")).sum(), days_after=pl.col("after").sum(),
        rate_before=pl.col("rate").filter(~pl.col("after")).median(),
        rate_after=pl.col("rate").filter(pl.col("after")).median(),
        before=pl.col("rate").filter(~pl.col("after")), after_rates=pl.col("rate").filter(pl.col("after")))
    sides = sides.filter((pl.col("days_before") >= min_days) & (pl.col("days_after") >= min_days))
    if sides.height == 0:
        return sides.select("platform", "change_date", "rate_before", "rate_after")
    # the classic single change point: the split that explains most of the day-to-day variation,
    # days_before·days_after/days · (difference of the sides)²; a later or earlier split mixes days
    # of the other side into one side and explains less
    explained = (pl.col("days_before") * pl.col("days_after") / (pl.col("days_before") + pl.col("days_after"))
                 * (pl.col("before").list.mean() - pl.col("after_rates").list.mean()) ** 2)
    best = (sides.with_columns(change=pl.col("rate_after") / pl.col("rate_before") - 1, explained=explained)
            .sort("explained", "change_date", descending=[True, False]).group_by("platform", maintain_order=True).first())
    pairs = (best.select("platform", "before", "after_rates").explode("before").explode("after_rates")
             .group_by("platform").agg(lower=(pl.col("after_rates") < pl.col("before")).mean(),
                                       higher=(pl.col("after_rates") > pl.col("before")).mean()))
    return (best.join(pairs, on="platform")
            .with_columns(separation=pl.when(pl.col("change") < 0).then("lower").otherwise("higher"))
            .with_columns(detected=pl.col("separation") >= SEPARATION)
            .select("platform", "change_date", "days_before", "days_after", "rate_before", "rate_after", "change",
                    "separation", "detected").sort("platform"))


def rate_cut(inputs: Inputs, changes: pl.DataFrame) -> Measured:
    found = changes.filter(pl.col("detected")) if changes.height else changes
    if found.height == 0:
        return rows(pl.DataFrame(), CUT)
    day = pl.col("dispatched_at").dt.convert_time_zone(inputs.case.tz).dt.date()
    after = (inputs.orders.lazy().join(found.lazy(), on="platform", build_side="force_right")
             .filter((day >= pl.col("change_date")) & (pl.col("pay") > 0)))
    per_worker = after.group_by("worker_id", "platform").agg(
        n=pl.len(), change=pl.col("change").first(), date=pl.col("change_date").first(),
        before=pl.col("rate_before").first(), after=pl.col("rate_after").first())
    # a worker on two platforms that cut: the one with more of their orders
    per_worker = per_worker.sort("n", descending=True).group_by("worker_id", maintain_order=True).first().collect()
    return rows(per_worker.with_columns(
        value=-pl.col("change"),
        detail_zh=pl.format("平台 {} 自 {} 起将每公里单价由 {} 元调为 {} 元（所有骑手同日生效，数据中无协商记录）；此后 {} 单按新价计酬",
                            "platform", "date", pl.col("before").round(2), pl.col("after").round(2), "n"),
        detail_en=pl.format("platform {} changed the per-km rate from {} to {} CNY on {} for every rider at once, with no "
                            "negotiation in the data; {} of the worker's orders were paid at the new rate", "platform",
                            pl.col("before").round(2), pl.col("after").round(2), "date", "n")), CUT,
                cited(after.join(per_worker.lazy().select("worker_id", "platform"), on=["worker_id", "platform"],
                                 how="semi"), "orders"))


def earnings_per_hour(inputs: Inputs) -> Measured:
    hours = summed(inputs.working_days.lazy().group_by("worker_id").agg(hours=pl.col("hours").sum(), days=pl.len()))
    # a worker whose orders carry no pay figure is not measurable, not a worker earning nothing
    money = inputs.orders.lazy().filter(pl.col("pay").is_not_null()).group_by("worker_id").agg(
        pay=pl.col("pay").sum(), penalty=pl.col("penalty").fill_null(0).sum()).pipe(summed)
    minimum = minimum_hourly_wage(inputs.settings)
    per_worker = hours.join(money, on="worker_id").filter(pl.col("hours") > 0)
    return rows(per_worker.with_columns(
        value=(pl.col("pay") - pl.col("penalty")) / pl.col("hours"), n=pl.col("days"),
        detail_zh=pl.format("{} 个工作日共工作 {} 小时（含在线等单时间），报酬 {} 元减罚款 {} 元；当地小时最低工资 {} 元",
                            "days", pl.col("hours").round(1), pl.col("pay").round(2), pl.col("penalty").round(2),
                            pl.lit(minimum)),
        detail_en=pl.format("{} h at work over {} days (waiting online included), {} CNY pay less {} CNY fines; local "
                            "hourly minimum wage {} CNY", pl.col("hours").round(1), "days", pl.col("pay").round(2),
                            pl.col("penalty").round(2), pl.lit(minimum))), EARNINGS,
                listed(inputs.working_days).unique())  # a period across midnight is behind two days: cited once
