"""Working time against the statutory limits: per day, week and month, and the rest between.

Needs what ``sessions`` needs (activity, orders, messages, participants, schedules).
A worker's working time is platform time (app online periods and order time, 人社厅发〔2023〕50号
Art. 4: waiting online at the platform's disposal counts) together with off-platform chat work
(sessions.chat_work), each minute once, split at local midnight. Each day gets its kind from the
China calendar (auditor.calendar). Extended hours (延长工作时间) are hours beyond 8 on a workday and
all hours on a rest day or statutory holiday. Indicators (one finding per worker and period):

- ``working-time-total``: hours over the case against 8 h × the workdays in it;
- ``weekly-hours-over-limit``: an ISO week over 40 h;
- ``weekly-rest-missing``: a full week without 24 consecutive hours off;
- ``monthly-extension-over-limit``: a month with more than 36 extended hours;
- ``daily-extension-over-limit``: a day with more than 3 extended hours;
- ``daily-rest-under-11h``: EU comparison — a working stretch with no 11 h rest in its first 24 h.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import polars as pl

from auditor import calendar
from auditor.analyzers import context, interval_sets, sessions
from auditor.analyzers.intervals import daily_blocks, daily_refs, daily_union
from auditor.case import Case
from auditor.findings import Findings, evidence_rows, render, validate
from auditor.law import load as load_law
from auditor.settings import Settings

FAMILY = "working_time"
WORKER = interval_sets.WORKER
TOTAL, WEEKLY, WEEKLY_REST = "working-time-total", "weekly-hours-over-limit", "weekly-rest-missing"
MONTHLY_EXT, DAILY_EXT, DAILY_REST = "monthly-extension-over-limit", "daily-extension-over-limit", "daily-rest-under-11h"
ID = TOTAL  # the registry's progress label; this module reports all six indicators
WORKED_PERIOD = "worked period"  # the case-wide reference of case_period


def chat_intervals(case: Case, settings: Settings) -> pl.LazyFrame:
    """Off-platform chat work (sessions.chat_work): worker_id, start, end, refs."""
    return sessions.chat_work(case, settings).select(WORKER, "start", "end", "refs")


def work_intervals(case: Case, settings: Settings) -> pl.LazyFrame:
    """Platform time and off-platform chat work: worker_id, start, end, refs."""
    return pl.concat([sessions.platform_intervals(case, settings), chat_intervals(case, settings)])


def worker_days(case: Case, settings: Settings) -> pl.DataFrame:
    """Hours per worker and local day, each minute once, with the day's kind and extended hours.
    Columns: worker_id, date, hours, chat_hours (off-platform chat work alone), first_start,
    last_end, refs, day_kind, holiday_name, extended_hours. Once per shared run (context)."""
    return context.frame(case, "worker days", lambda: _worker_days(case, settings).lazy(), settings)


def case_period(case: Case, settings: Settings) -> tuple[date, date] | None:
    """First and last day anyone worked (None if nobody did): the period of the totals, the full
    weeks and the wage date. A case-wide reference (context.span)."""
    def build() -> tuple[date, date]:
        dates = worker_days(case, settings)["date"]
        return dates.min(), dates.max()
    return context.span(case, WORKED_PERIOD, build, settings)


def _worker_days(case: Case, settings: Settings) -> pl.DataFrame:
    chat = chat_intervals(case, settings)
    # Hours from the merged working periods; the rows behind each day are platform_days' (shared)
    # and the chat sessions' own: two different tables, so the lists add up without repeats.
    platform_refs = sessions.platform_days(case, settings).lazy().select(WORKER, "date", "refs")
    chat_refs = daily_refs(chat, case.tz).select(WORKER, "date", chat_refs="refs")
    days = (daily_blocks(work_periods(case, settings).lazy(), case.tz)
            .join(platform_refs, on=[WORKER, "date"], how="left").join(chat_refs, on=[WORKER, "date"], how="left")
            .with_columns(refs=pl.concat_list(pl.col("refs").fill_null([]), pl.col("chat_refs").fill_null([])))
            .drop("chat_refs").sort(WORKER, "date").collect())
    chat = daily_union(chat, case.tz, refs=False).select(WORKER, "date", chat_hours="hours").collect()
    if days.is_empty():
        kinds = pl.DataFrame(schema={"date": pl.Date, "day_kind": pl.String, "holiday_name": pl.String})
    else:
        kinds = calendar.day_kinds(days["date"].min(), days["date"].max())
    limit = float(settings.law["daily_hours"]["limit_hours"])
    return (days.join(chat, on=[WORKER, "date"], how="left").join(kinds, on="date", how="left")
            .with_columns(pl.col("chat_hours").fill_null(0.0),
                          extended_hours=pl.when(pl.col("day_kind") == "workday")
                          .then((pl.col("hours") - limit).clip(0)).otherwise(pl.col("hours"))))


def work_periods(case: Case, settings: Settings) -> pl.DataFrame:
    """Working periods: platform time and chat work merged per worker (a union, not split at
    midnight), with the start of the next one (null after the last). Columns: worker_id, start,
    end, next_start. Once per shared run (context)."""
    def build() -> pl.LazyFrame:
        # The platform's merged blocks stand for its intervals: the union of a union is the same.
        periods = pl.concat([sessions.platform_blocks(case, settings), chat_intervals(case, settings).select(
            WORKER, "start", "end")])
        return interval_sets.union(periods).with_columns(next_start=pl.col("start").shift(-1).over(WORKER))
    return context.frame(case, "work periods", build, settings)


def _period_refs(case: Case, settings: Settings, merged: pl.DataFrame) -> pl.LazyFrame:
    """_period (the row of ``merged``), refs: each work interval with the working period it is in."""
    return interval_sets.member_of(work_intervals(case, settings).select(WORKER, "start", "end", "refs"),
                                   merged.lazy(), "_period").select("_period", "refs")


def _finding(frame: pl.DataFrame, indicator: str, period: pl.Expr, value: str, threshold: float, score: pl.Expr,
             sources: list[str], zh: str, en: str, parameters: dict, **columns: pl.Expr) -> pl.DataFrame:
    return frame.select(
        finding_id=pl.format("{}:{}:{}", pl.lit(indicator), WORKER, period),
        worker_id=WORKER, indicator=pl.lit(indicator), family=pl.lit(FAMILY), period=period,
        value=pl.col(value).cast(pl.Float64), unit=pl.lit("h"), threshold=pl.lit(float(threshold)),
        score=score.clip(0, 1).cast(pl.Float64), sources=pl.lit(sources, dtype=pl.List(pl.String)),
        explanation_zh=render(zh, **columns), explanation_en=render(en, **columns),
        parameters=pl.lit(json.dumps(parameters, ensure_ascii=False)))


def _evidence(frame: pl.DataFrame, indicator: str, period: pl.Expr) -> pl.DataFrame:
    return evidence_rows(frame, pl.format("{}:{}:{}", pl.lit(indicator), WORKER, period))


def _week(date_col: str = "date") -> pl.Expr:
    return pl.col(date_col).dt.truncate("1w")  # ISO weeks start on Monday


def _sum_by_date(column: str) -> pl.Expr:
    # Added up over each group's days in date order: the same figure however the rows arrive (a
    # running hash aggregation adds in arrival order, which moves the last binary digit, and a
    # total at a rounding edge would then print differently from one run to the next).
    return pl.col(column).sort_by("date").sum()


def totals(days: pl.DataFrame, law: dict, params: dict,
           period: tuple[date, date]) -> tuple[pl.DataFrame, pl.DataFrame]:
    limit = float(law["daily_hours"]["limit_hours"])
    first, last = period
    workdays = calendar.day_kinds(first, last).filter(pl.col("day_kind") == "workday").height
    standard = limit * workdays
    per_worker = days.group_by(WORKER).agg(hours=_sum_by_date("hours"), chat=_sum_by_date("chat_hours"),
                                          days=pl.len())
    period = pl.lit(f"{first}/{last}")
    found = _finding(
        per_worker, TOTAL, period, "hours", standard,
        ((pl.col("hours") - standard) / standard) if standard else pl.lit(0.0),
        law["daily_hours"]["sources"] + law["weekly_hours"]["sources"],
        "{first} 至 {last} 共工作 {hours} 小时（{days} 天，其中平台外聊天工作 {chat} 小时）；同期标准工时为 {workdays} 个工作日 × {limit} 小时 = {standard} 小时。",
        "From {first} to {last} the worker worked {hours} h on {days} days ({chat} h of it chat work off the "
        "platform); the standard hours for the period are {workdays} workdays × {limit} h = {standard} h.",
        {**params, "workdays": workdays}, first=pl.lit(str(first)), last=pl.lit(str(last)),
        hours=pl.col("hours").round(2), days=pl.col("days"), chat=pl.col("chat").round(2),
        workdays=pl.lit(workdays), limit=pl.lit(limit).round(0).cast(pl.Int64), standard=pl.lit(standard).round(1))
    return found, _evidence(days, TOTAL, period)


def weekly_hours(days: pl.DataFrame, law: dict, params: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    limit = float(law["weekly_hours"]["limit_hours"])
    weeks = (days.group_by(WORKER, week=_week()).agg(hours=_sum_by_date("hours"), days=pl.len())
             .filter(pl.col("hours") > limit))
    period = pl.col("week").cast(pl.String)
    found = _finding(
        weeks, WEEKLY, period, "hours", limit, (pl.col("hours") - limit) / limit, law["weekly_hours"]["sources"],
        "自 {week} 起的一周工作 {hours} 小时（{days} 天），超过每周 {limit} 小时标准工时 {over} 小时。",
        "In the week from {week} the worker worked {hours} h on {days} days, {over} h beyond the {limit} h week.",
        params, week=pl.col("week"), hours=pl.col("hours").round(2), days=pl.col("days"),
        limit=pl.lit(limit).round(0).cast(pl.Int64), over=(pl.col("hours") - limit).round(2))
    behind = days.with_columns(week=_week()).join(weeks.select(WORKER, "week"), on=[WORKER, "week"], how="semi")
    return found, _evidence(behind, WEEKLY, period)


def weekly_rest(merged: pl.DataFrame, period: tuple[date, date], tz: str, law: dict,
                params: dict, period_refs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Full ISO weeks inside the case period in which the longest time off is under 24 h.
    ``merged``: the working periods with their row number ``_period``; ``period_refs``: _period, refs."""
    need = float(law["weekly_rest"]["min_hours"])
    first, last = period
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    mondays = pl.date_range(monday, last - timedelta(days=6), "1w", eager=True)
    if mondays.is_empty():
        return pl.DataFrame(), pl.DataFrame()
    local = lambda d: d.cast(pl.Datetime("us")).dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    weeks = pl.DataFrame({"week": mondays}).with_columns(w_start=local(pl.col("week")),
                                                         w_end=local(pl.col("week").dt.offset_by("1w")))
    period_start, period_end = weeks["w_start"].min(), weeks["w_end"].max()
    first_start = merged.group_by(WORKER).agg(end=pl.col("start").min()).with_columns(start=pl.lit(period_start))
    gaps = pl.concat([
        merged.select(WORKER, start="end", end=pl.col("next_start").fill_null(period_end)),
        first_start.select(WORKER, "start", "end"),
    ])
    per_week = (gaps.join(weeks, how="cross")
                .filter((pl.col("start") < pl.col("w_end")) & (pl.col("end") > pl.col("w_start")))
                .with_columns(rest=(pl.min_horizontal("end", "w_end") - pl.max_horizontal("start", "w_start"))
                              .dt.total_microseconds() / 3.6e9)
                .group_by(WORKER, "week", "w_start", "w_end").agg(longest=pl.col("rest").max())
                .filter(pl.col("longest") < need))
    worked = (merged.join(per_week.select(WORKER, "week", "w_start", "w_end"), on=WORKER)
              .filter((pl.col("start") < pl.col("w_end")) & (pl.col("end") > pl.col("w_start")))
              .select(WORKER, "week", "_period"))
    short = per_week.join(worked.select(WORKER, "week").unique(), on=[WORKER, "week"], how="inner")
    period = pl.col("week").cast(pl.String)
    found = _finding(
        short, WEEKLY_REST, period, "longest", need, (need - pl.col("longest")) / need,
        law["weekly_rest"]["sources"],
        "自 {week} 起的一周内最长连续休息仅 {longest} 小时，未达到每周至少休息一日（{need} 小时）。",
        "In the week from {week} the longest time off was {longest} h: no full rest day ({need} h) that week.",
        params, week=pl.col("week"), longest=pl.col("longest").round(2), need=pl.lit(need).round(0).cast(pl.Int64))
    return found, _evidence(worked.join(period_refs, on="_period"), WEEKLY_REST, period)


def monthly_extension(days: pl.DataFrame, law: dict, params: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    cap = float(law["monthly_extension"]["max_hours"])
    month = pl.col("date").dt.strftime("%Y-%m")
    months = (days.group_by(WORKER, month=month).agg(extended=_sum_by_date("extended_hours"))
              .filter(pl.col("extended") > cap))
    behind = (days.filter(pl.col("extended_hours") > 0).with_columns(month=month)
              .join(months.select(WORKER, "month"), on=[WORKER, "month"], how="semi"))
    found = _finding(
        months, MONTHLY_EXT, pl.col("month"), "extended", cap, (pl.col("extended") - cap) / cap,
        law["monthly_extension"]["sources"],
        "{month} 延长工作时间 {extended} 小时（工作日超过8小时的部分及休息日、法定节假日的全部工作时间），超过每月 {cap} 小时上限。",
        "In {month} the worker's extended hours (beyond 8 h on workdays, and all hours on rest days and holidays) "
        "were {extended} h, over the {cap} h monthly cap.",
        params, month=pl.col("month"), extended=pl.col("extended").round(2), cap=pl.lit(cap).round(0).cast(pl.Int64))
    return found, _evidence(behind, MONTHLY_EXT, pl.col("month"))


def daily_extension(days: pl.DataFrame, law: dict, params: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    cap = float(law["daily_extension"]["max_hours"])
    over = days.filter(pl.col("extended_hours") > cap)
    period = pl.col("date").cast(pl.String)
    found = _finding(
        over, DAILY_EXT, period, "extended_hours", cap, (pl.col("extended_hours") - cap) / cap,
        law["daily_extension"]["sources"],
        "{date}（{kind}）工作 {hours} 小时，其中延长工作时间 {extended} 小时，超过每日最多 {cap} 小时。",
        "On {date} ({kind}) the worker worked {hours} h, {extended} h of it extended hours, over the {cap} h daily "
        "maximum.",
        params, date=pl.col("date"), kind=pl.col("day_kind"), hours=pl.col("hours").round(2),
        extended=pl.col("extended_hours").round(2), cap=pl.lit(cap).round(0).cast(pl.Int64))
    return found, _evidence(over, DAILY_EXT, period)


def daily_rest(merged: pl.DataFrame, tz: str, params: dict,
               period_refs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """EU comparison: a stretch of work whose breaks are all under 11 h and which lasts more than
    24 − 11 = 13 h leaves no 11 h rest in the 24 h from its start (and only such a stretch does).
    The value is the longest rest in those 24 h."""
    eu = load_law("eu_wtd")["daily_rest"]
    need = float(eu["min_hours"])
    window = pl.duration(hours=24)
    stretches = interval_sets.blocks(merged.lazy(), pl.col("end") + pl.duration(microseconds=int(need * 3.6e9)))
    clipped_rest = (pl.min_horizontal(pl.col("next_start"), pl.col("s0") + window) - pl.col("end"))
    short = (stretches.with_columns(s0=pl.col("start").min().over(WORKER, "block"))
             .filter(pl.col("end") < pl.col("s0") + window)
             .group_by(WORKER, "block").agg(
                 s0=pl.col("s0").first(), longest=clipped_rest.max().dt.total_microseconds() / 3.6e9,
                 periods=pl.col("_period"))
             .filter(pl.col("longest") < need).collect()
             .with_columns(date=pl.col("s0").dt.convert_time_zone(tz).dt.date())
             .group_by(WORKER, "date").agg(pl.col("longest").min(), pl.col("s0").min(),
                                           pl.col("periods").list.explode()))
    period = pl.col("date").cast(pl.String)
    found = _finding(
        short, DAILY_REST, period, "longest", need, (need - pl.col("longest")) / need, eu["sources"],
        "（欧盟工作时间指令比较）自 {start} 开始的24小时内最长连续休息仅 {longest} 小时，少于 {need} 小时。",
        "(EU Working Time Directive comparison) in the 24 h from {start} the longest rest was {longest} h, under "
        "{need} h.",
        params, start=pl.col("s0").dt.convert_time_zone(tz).dt.strftime("%Y-%m-%d %H:%M"),
        longest=pl.col("longest").round(2), need=pl.lit(need).round(0).cast(pl.Int64))
    behind = (short.select(WORKER, "date", _period="periods").explode("_period")
              .join(period_refs, on="_period"))
    return found, _evidence(behind, DAILY_REST, period)


@context.sharing
def run(case: Case, settings: Settings) -> Findings:
    law = settings.law
    days = worker_days(case, settings)
    if days.is_empty():
        return Findings.empty()
    params = {"timezone": case.tz, "chat_gap_minutes": settings.chat_gap_minutes,
              "excluded_platforms": list(settings.excluded_platforms), "hours_system": settings.hours_system,
              "working_time": "app online + order time (taking → delivery) + off-platform chat work, each minute once"}
    merged = work_periods(case, settings).with_row_index("_period")
    period_refs = _period_refs(case, settings, merged).collect()
    period = case_period(case, settings)
    parts = [totals(days, law, params, period), weekly_hours(days, law, params),
             weekly_rest(merged, period, case.tz, law, params, period_refs), monthly_extension(days, law, params),
             daily_extension(days, law, params), daily_rest(merged, case.tz, params, period_refs)]
    parts = [p for p in parts if p[0].height]
    findings = pl.concat([p[0] for p in parts])
    evidence = pl.concat([p[1] for p in parts])
    return validate(findings, evidence, {"worker_days": days.drop("refs")})
