"""Daily working hours per worker against the daily standard (first working-time analyzer).

Needs: activity (worker_id, platform, ts, kind = online/offline/login/logout, src, src_row) and
orders (worker_id, outcome, responded_at/dispatched_at, delivered_at, src, src_row).
A worker's day is the union of app online periods and order time (taking an order to delivery),
split at local midnight, each minute counted once across platforms.
"""

from __future__ import annotations

import json

import polars as pl

from auditor.analyzers import context, sessions
from auditor.case import Case
from auditor.findings import Findings, evidence_rows, render, validate
from auditor.settings import Settings

ID = "daily-hours-over-limit"
FAMILY = "working_time"
EXPLANATION_ZH = ("{date} 当日工作时间 {hours} 小时（在线时段与接单至送达时段合并计算，重叠只计一次，"
                  "{first}–{last}），超过每日 {limit} 小时标准工时 {over} 小时。")
EXPLANATION_EN = ("On {date} the worker was at work {hours} h (app online periods merged with order time "
                  "from taking to delivering, overlaps counted once, {first}–{last}), {over} h beyond the "
                  "{limit} h daily standard.")


def daily_hours(case: Case) -> pl.LazyFrame:
    """App online periods ∪ order time per worker and local day, every platform (daily_union's
    columns): sessions.platform_days with no platform left out, once per shared run (context),
    which the control indicators and the platform-time analyzers read too."""
    return sessions.platform_days(case, Settings(excluded_platforms=())).lazy()


@context.sharing
def run(case: Case, settings: Settings) -> Findings:
    law = settings.law
    limit = float(law["daily_hours"]["limit_hours"])
    full_at = limit + float(law["daily_extension"]["max_hours"])  # score 1 at the extension ceiling
    sources = law["daily_hours"]["sources"] + law["daily_extension"]["sources"]
    days = daily_hours(case).collect()
    over = days.filter(pl.col("hours") > limit)
    hhmm = "%H:%M"
    findings = over.select(
        finding_id=pl.format("{}:{}:{}", pl.lit(ID), "worker_id", "date"),
        worker_id="worker_id",
        indicator=pl.lit(ID),
        family=pl.lit(FAMILY),
        period=pl.col("date").cast(pl.String),
        value=pl.col("hours"),
        unit=pl.lit("h"),
        threshold=pl.lit(limit),
        score=((pl.col("hours") - limit) / (full_at - limit)).clip(0, 1),
        sources=pl.lit(sources, dtype=pl.List(pl.String)),
        **{f"explanation_{lang}": render(
            template, date=pl.col("date"), hours=pl.col("hours").round(2), over=(pl.col("hours") - limit).round(2),
            limit=pl.lit(limit).round(0).cast(pl.Int64), first=pl.col("first_start").dt.strftime(hhmm),
            last=pl.col("last_end").dt.strftime(hhmm))
           for lang, template in (("zh", EXPLANATION_ZH), ("en", EXPLANATION_EN))},
        parameters=pl.lit(json.dumps({"limit_hours": limit, "score_full_at_hours": full_at, "timezone": case.tz})),
    )
    evidence = evidence_rows(over, pl.format("{}:{}:{}", pl.lit(ID), "worker_id", "date"))
    measures = {"daily_hours": days.select("worker_id", "date", "hours", "first_start", "last_end")}
    return validate(findings, evidence, measures)
