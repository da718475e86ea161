"""Platform working time as minute states, and the rest limits of 人社厅发〔2023〕50号 Art. 5.

Needs activity (worker_id, platform, ts, kind, src, src_row) and orders (worker_id, platform,
outcome, responded_at/dispatched_at, picked_up_at, delivered_at, src, src_row).
Each minute of a local day is in one state, by priority on trip > en route > waiting > offline:
on trip = pickup → delivery; en route = taking the order → pickup; waiting = online in the app,
at the platform's disposal, with no order running (Art. 4 counts it; so did Uber BV v Aslam).
The states are differences of nested unions (trips ⊆ orders ⊆ orders ∪ online), so each minute
counts once without materialising minutes. Art. 5 asks for an agreed maximum continuous order time
and maximum daily working time; their values come from the law file's [platform_rest_limits]
(defaults until the agreed ones are entered) and are recorded on every finding.
"""

from __future__ import annotations

import json

import polars as pl

from auditor.analyzers import context, interval_sets, sessions
from auditor.analyzers.intervals import (
    WORKING_OUTCOMES,
    daily_blocks,
    daily_refs,
    daily_union,
    order_intervals,
)
from auditor.case import Case
from auditor.findings import Findings, evidence_rows, render, validate
from auditor.settings import Settings

ID = "platform-daily-working-time"
CONTINUOUS = "platform-continuous-order-time"
FAMILY = "working_time"
WORKER = interval_sets.WORKER
KEYS = [WORKER, "date"]


def trip_intervals(orders: pl.LazyFrame) -> pl.LazyFrame:
    """On trip: from pickup to delivery."""
    return orders.filter(pl.col("outcome").is_in(WORKING_OUTCOMES) & pl.col("picked_up_at").is_not_null()
                         & pl.col("delivered_at").is_not_null()).select(
        WORKER, start="picked_up_at", end="delivered_at",
        refs=pl.concat_list(pl.struct(table=pl.lit("orders"), src="src", src_row="src_row")))


def _trips_outside_order_time(orders: pl.LazyFrame) -> pl.LazyFrame:
    """Trips that start before their order was taken (or whose order has no taking time): the
    only trips that add anything to a union already holding order time (trips ⊆ orders)."""
    within = (pl.coalesce("responded_at", "dispatched_at") <= pl.col("picked_up_at")).fill_null(False)
    return trip_intervals(orders.filter(~within))


def order_blocks(case: Case, settings: Settings) -> pl.LazyFrame:
    """Order time (taking → delivery) merged per worker: worker_id, start, end; once per shared run.
    Both the daily states and the continuous stretches start from these blocks."""
    _, orders = sessions.platform_activity(case, settings)
    return context.frame(case, sessions.without_excluded("order blocks", settings),
                         lambda: interval_sets.union(order_intervals(orders).select(WORKER, "start", "end"))).lazy()


def minute_states(case: Case, settings: Settings) -> pl.DataFrame:
    """Hours per worker and local day in each state. Columns: worker_id, date, on_trip, en_route,
    waiting, offline, working (on trip + en route + waiting), refs."""
    _, orders = sessions.platform_activity(case, settings)
    extra = _trips_outside_order_time(orders).collect()  # almost always none

    def with_extra_days(blocks: pl.LazyFrame) -> pl.LazyFrame:
        if extra.height:  # merged blocks stay merged: only trips outside them call for another union
            blocks = interval_sets.union(pl.concat([blocks, extra.lazy().select(WORKER, "start", "end")]))
        return daily_blocks(blocks, case.tz)

    trips = daily_union(trip_intervals(orders), case.tz, refs=False).select(*KEYS, trips="hours")
    in_orders = with_extra_days(order_blocks(case, settings)).select(*KEYS, orders="hours")
    everything = with_extra_days(sessions.platform_blocks(case, settings)).select(*KEYS, all="hours")
    refs = sessions.platform_days(case, settings).lazy().select(*KEYS, "refs")
    if extra.height:
        refs = pl.concat([refs, daily_refs(extra.lazy(), case.tz)]).group_by(KEYS).agg(
            pl.col("refs").list.explode(keep_nulls=False, empty_as_null=False).unique(maintain_order=True))
    days = (everything.join(refs, on=KEYS, how="left").join(trips, on=KEYS, how="left")
            .join(in_orders, on=KEYS, how="left").collect())
    local_midnight = lambda d: d.cast(pl.Datetime("us")).dt.replace_time_zone(
        case.tz, ambiguous="earliest", non_existent="null")
    day_hours = (local_midnight(pl.col("date").dt.offset_by("1d")) - local_midnight(pl.col("date"))
                 ).dt.total_microseconds() / 3.6e9  # 23 or 25 h on a daylight-saving change
    return days.sort(KEYS).with_columns(pl.col("trips", "orders").fill_null(0.0)).select(
        *KEYS, on_trip="trips", en_route=pl.col("orders") - pl.col("trips"),
        waiting=pl.col("all") - pl.col("orders"), offline=day_hours - pl.col("all"), working="all", refs="refs")


def continuous_order_stretches(case: Case, settings: Settings, pause_minutes: float,
                               refs: bool = True) -> pl.DataFrame:
    """Order time (taking → delivery, overlaps once) joined across pauses shorter than
    ``pause_minutes``: worker_id, start, end, hours, refs (left out when ``refs`` is false)."""
    pause = pl.duration(microseconds=int(pause_minutes * 60e6))
    # Stitching the merged order blocks joins what stitching every order would (one pause for all).
    stretches = (interval_sets.stitch(order_blocks(case, settings), pause, refs=None).collect()
                 .with_columns(hours=interval_sets.hours()))
    if not refs:
        return stretches
    return _with_order_refs(case, settings, stretches).select(WORKER, "start", "end", "refs", "hours")


def _with_order_refs(case: Case, settings: Settings, stretches: pl.DataFrame,
                     among: pl.DataFrame | None = None) -> pl.DataFrame:
    """``among`` (default: all ``stretches``, the full set from continuous_order_stretches) with
    ``refs``: the orders whose time lies in each stretch."""
    _, orders = sessions.platform_activity(case, settings)
    numbered = stretches.lazy().with_row_index("_stretch")
    wanted = numbered if among is None else numbered.join(
        among.lazy().select(WORKER, "start"), on=[WORKER, "start"], how="semi")
    members = (interval_sets.member_of(order_intervals(orders), numbered, "_stretch")
               .join(wanted.select("_stretch"), on="_stretch", how="semi")
               .group_by("_stretch").agg(pl.col("refs").list.explode(keep_nulls=False, empty_as_null=False)))
    return (wanted.join(members, on="_stretch", how="left", maintain_order="left")
            .with_columns(pl.col("refs").fill_null([])).drop("_stretch").collect())


@context.sharing
def run(case: Case, settings: Settings) -> Findings:
    limits = settings.law["platform_rest_limits"]
    params = json.dumps({"max_continuous_order_hours": limits["max_continuous_order_hours"],
                         "rest_resets_after_minutes": limits["rest_resets_after_minutes"],
                         "max_daily_working_hours": limits["max_daily_working_hours"],
                         "limits_agreed": limits["agreed"], "excluded_platforms": list(settings.excluded_platforms),
                         "timezone": case.tz})
    excluded = ", ".join(settings.excluded_platforms) or "—"
    states = minute_states(case, settings)
    daily_max = float(limits["max_daily_working_hours"])
    long_days = states.filter(pl.col("working") > daily_max)
    day_id = pl.format("{}:{}:{}", pl.lit(ID), WORKER, "date")
    common = {"family": pl.lit(FAMILY), "unit": pl.lit("h"), "sources": pl.lit(limits["sources"], dtype=pl.List(pl.String)),
                  "parameters": pl.lit(params)}
    days_found = long_days.select(
        finding_id=day_id, worker_id=WORKER, indicator=pl.lit(ID), period=pl.col("date").cast(pl.String),
        value="working", threshold=pl.lit(daily_max), score=((pl.col("working") - daily_max) / daily_max).clip(0, 1),
        explanation_zh=render("{date} 平台工作时间 {working} 小时（配送 {trip}、前往取餐 {route}、在线等单 {wait} 小时，"
                              "每分钟只计一次），超过每日最长工作时间 {limit} 小时（按用户声明作为另一份工作排除的平台：{excluded}）。",
                              date=pl.col("date"), working=pl.col("working").round(2), trip=pl.col("on_trip").round(2),
                              route=pl.col("en_route").round(2), wait=pl.col("waiting").round(2),
                              limit=pl.lit(daily_max), excluded=pl.lit(excluded)),
        explanation_en=render("On {date} platform working time was {working} h (on trip {trip}, en route {route}, "
                              "waiting online at the platform's disposal {wait} h; each minute once), over the "
                              "{limit} h daily maximum (platforms excluded as another job: {excluded}).",
                              date=pl.col("date"), working=pl.col("working").round(2), trip=pl.col("on_trip").round(2),
                              route=pl.col("en_route").round(2), wait=pl.col("waiting").round(2),
                              limit=pl.lit(daily_max), excluded=pl.lit(excluded)),
        **common)
    pause = float(limits["rest_resets_after_minutes"])
    continuous_max = float(limits["max_continuous_order_hours"])
    every_stretch = continuous_order_stretches(case, settings, pause, refs=False)
    stretches = _with_order_refs(case, settings, every_stretch,
                                 every_stretch.filter(pl.col("hours") > continuous_max))
    local_start = pl.col("start").dt.convert_time_zone(case.tz)
    stretch_id = pl.format("{}:{}:{}", pl.lit(CONTINUOUS), WORKER, local_start.dt.strftime("%Y-%m-%dT%H:%M"))
    stretch_found = stretches.select(
        finding_id=stretch_id, worker_id=WORKER, indicator=pl.lit(CONTINUOUS),
        period=local_start.dt.strftime("%Y-%m-%d %H:%M"), value="hours", threshold=pl.lit(continuous_max),
        score=((pl.col("hours") - continuous_max) / continuous_max).clip(0, 1),
        explanation_zh=render("自 {start} 起连续接单配送 {hours} 小时（间歇不足 {pause} 分钟不算休息），超过连续接单最长 "
                              "{limit} 小时，系统应提示休息并暂停派单。", start=local_start.dt.strftime("%Y-%m-%d %H:%M"),
                              hours=pl.col("hours").round(2), pause=pl.lit(pause), limit=pl.lit(continuous_max)),
        explanation_en=render("From {start} the worker had orders running for {hours} h without a pause of {pause} "
                              "minutes, over the {limit} h maximum continuous order time after which the system "
                              "should prompt rest and stop dispatching.",
                              start=local_start.dt.strftime("%Y-%m-%d %H:%M"), hours=pl.col("hours").round(2),
                              pause=pl.lit(pause), limit=pl.lit(continuous_max)),
        **common)
    columns = list(days_found.columns)
    findings = pl.concat([days_found, stretch_found.select(columns)]).select(
        "finding_id", "worker_id", "indicator", "family", "period", pl.col("value").cast(pl.Float64), "unit",
        "threshold", "score", "sources", "explanation_zh", "explanation_en", "parameters")
    evidence = pl.concat([evidence_rows(long_days, day_id), evidence_rows(stretches, stretch_id)])
    return validate(findings, evidence, {"platform_time": states.drop("refs")})
