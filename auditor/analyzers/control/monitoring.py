"""Monitoring intensity: how often the platform's app records the worker's position, and photo
or face check-ins.

Needs activity (worker_id, platform, ts, kind = gps/online/offline/check_in, src, src_row).
gps-ping-interval: the median gap between consecutive positions the *platform's app* logged
within one online period (``positions.gaps``; evidence: the first app position of every online
hour, from the position summary the confinement pass builds, ``geofence.position_summary``). A
phone's own GPX track is the worker's record, not the platform's monitoring, so a worker whose only
positions come from a GPX file is not measurable here.
photo-check-ins: check_in events ÷ working days; not measurable when the case holds no check-in
event at all (the export may not carry them).
"""

from __future__ import annotations

import polars as pl

from auditor.analyzers.control import geofence, positions
from auditor.analyzers.control.common import Inputs, Measured, cited, rows

PING = "gps-ping-interval"
CHECK_IN = "photo-check-ins"


def ping_interval(inputs: Inputs) -> Measured:
    summary = geofence.position_summary(inputs)
    gap = pl.col("gap_s").explode()
    per_worker = (positions.gaps(inputs.table("activity"), inputs.online_spans).group_by("worker_id")
                  .agg(n=gap.count(), value=gap.median(), q1=gap.quantile(0.25), q3=gap.quantile(0.75))
                  .filter(pl.col("n") > 0))
    return rows(per_worker.with_columns(
        detail_zh=pl.format("在线期间平台应用每 {} 秒记录一次位置（中位数；四分位 {}–{} 秒）",
                            pl.col("value").round(0), pl.col("q1").round(0), pl.col("q3").round(0)),
        detail_en=pl.format("while online the platform's app logged a position every {} s (median; quartiles {}–{} s)",
                            pl.col("value").round(0), pl.col("q1").round(0), pl.col("q3").round(0))), PING,
                cited(positions.first_each_hour(summary.hours, "first_app"), "activity"))


def check_ins(inputs: Inputs) -> Measured:
    if not inputs.carried["check_in"]:  # a log without any check-in may simply not export them: not a zero
        return rows(pl.DataFrame(), CHECK_IN)
    events = inputs.activity.filter(pl.col("kind") == "check_in")
    checks = events.group_by("worker_id").agg(
        k=pl.len(), kinds=pl.col("detail").fill_null("?").unique().sort().str.join("/"))
    days = inputs.working_days.lazy().group_by("worker_id").agg(n=pl.len())
    per_worker = days.join(checks.lazy(), on="worker_id", how="left").with_columns(pl.col("k").fill_null(0))
    return rows(per_worker.with_columns(
        value=pl.col("k") / pl.col("n"),
        detail_zh=pl.format("{} 个工作日中共 {} 次拍照或人脸打卡（{}）", "n", "k", pl.col("kinds").fill_null("—")),
        detail_en=pl.format("{} photo or face check-ins over {} working days ({})", "k", "n",
                            pl.col("kinds").fill_null("—"))), CHECK_IN, cited(events, "activity"))
