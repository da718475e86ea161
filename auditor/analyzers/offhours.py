"""Off-hours substantive work over chat apps (隐形加班), with the court's three criteria.

Needs what ``sessions`` needs: messages, participants, activity, orders, schedules.
Off-hours work is a chat work session (sessions.chat_work: outside platform time, the worker sent
substantive content) minus the working window (roster, else ``Settings.working_window`` on
workdays). The Beijing No. 3 Intermediate People's Court (2023) counts it as overtime when the
worker (1) provided substantive work content, (2) beyond simple communication, (3) periodically
and fixedly. Each criterion is shown met or not met with its evidence. Measured hours run from the
request that started a session to the worker's last substantive reply; the conservative estimate
keeps only the sessions that belong to a periodic pattern (occasional contact does not count).
"""

from __future__ import annotations

import polars as pl

from auditor.analyzers import context, interval_sets, sessions
from auditor.case import Case
from auditor.findings import Findings, evidence_rows, render, validate
from auditor.settings import Settings

ID = "offhours-substantive-work"
FAMILY = "working_time"
CASE_PERIOD = "chat and platform period"  # the case-wide reference of _weeks_in_period
WORKER = interval_sets.WORKER
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
MET = {True: ("符合", "met"), False: ("不符合", "not met")}

EXPLANATION_ZH = (
    "下班时间（{schedule}以外、且不在平台在线或接单时段）通过聊天软件完成实质性工作 {sessions} 次，"
    "实测 {hours} 小时（从派活消息到本人最后一条实质性回复），保守估计 {conservative} 小时（仅计周期性部分）。"
    "标准一 实质性工作内容：{c1}（{substantive} 条实质性消息，规则 {rules}）；"
    "标准二 超出一般简单沟通：{c2}（本人发出 {own} 条实质性消息）；"
    "标准三 周期性和固定性：{c3}（{pattern_zh}）。")
EXPLANATION_EN = (
    "Outside working hours ({schedule_en}, and outside app online and order time) the worker did substantive "
    "work over chat in {sessions} session(s): {hours} h measured (from the request to the worker's last "
    "substantive reply), {conservative} h conservative (periodic sessions only). Criterion 1, substantive work "
    "content: {c1_en} ({substantive} substantive messages, rules {rules}); criterion 2, beyond simple "
    "communication: {c2_en} (the worker sent {own} substantive messages); criterion 3, periodic and fixed: "
    "{c3_en} ({pattern_en}).")


def _off_schedule(work: pl.LazyFrame, windows: pl.LazyFrame) -> pl.LazyFrame:
    """Work sessions with ``off_hours``: their hours outside the working window. A one-message
    session has no length; it is off hours when its moment is outside every window."""
    inside = interval_sets.overlap(work, windows, "session_id")
    length = pl.col("end") - pl.col("start")
    off = pl.when(length > pl.duration(microseconds=0)).then(length - pl.col("inside")).otherwise(
        pl.duration(microseconds=0)).dt.total_microseconds() / 3.6e9
    merged = interval_sets.union(windows.filter(pl.col("end") > pl.col("start")).select(WORKER, "start", "end"))
    in_window = (work.select("session_id", WORKER, "start").sort("start")
                 .join_asof(merged.select(WORKER, w_start="start", w_end="end").sort("w_start"), left_on="start",
                            right_on="w_start", by=WORKER, strategy="backward", check_sortedness=False)
                 .select("session_id", in_window=(pl.col("start") < pl.col("w_end")).fill_null(False)))
    return (work.join(inside, on="session_id", how="left").join(in_window, on="session_id", how="left")
            .with_columns(off_hours=off)
            .filter((pl.col("off_hours") > 0) | ((pl.col("end") == pl.col("start")) & ~pl.col("in_window")))
            .drop("inside", "in_window"))


def offhours_sessions(case: Case, settings: Settings) -> pl.LazyFrame:
    """Off-hours chat work sessions with their local time and periodicity.
    Columns: the chat session columns, off_hours, schedule, local_date, weekday (1 = Monday),
    week, clock (minutes after local midnight), periodic, pattern (daily / weekly / null)."""
    # Both collected once per run (context): the plan below reads them several times.
    windows = sessions.case_windows(case, settings)
    work = sessions.chat_work(case, settings)
    schedule = windows.group_by(WORKER).agg(schedule=pl.col("source").first())
    off = _off_schedule(work, windows).collect().lazy()
    local = pl.col("start").dt.convert_time_zone(case.tz)
    timed = off.join(schedule, on=WORKER, how="left").with_columns(
        local_date=local.dt.date(), weekday=local.dt.weekday(),
        week=local.dt.iso_year() * 100 + local.dt.week(),
        clock=local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32),
        end_clock=(pl.col("end").dt.convert_time_zone(case.tz).dt.hour().cast(pl.Int32) * 60
                   + pl.col("end").dt.convert_time_zone(case.tz).dt.minute().cast(pl.Int32)))
    return _periodicity(timed, settings.law["hidden_overtime"])


def _periodicity(timed: pl.LazyFrame, rule: dict) -> pl.LazyFrame:
    """Mark sessions that recur at the same clock time (± tolerance) or on the same weekday in at
    least ``min_weeks`` different weeks. The clock pattern is anchored on the session with the most
    others within the tolerance, so one rider's nightly report is found wherever in the day it falls."""
    tolerance, min_weeks = rule["clock_tolerance_minutes"], rule["min_weeks"]
    pairs = (timed.select("session_id", WORKER, "clock")
             .join(timed.select(WORKER, other="clock"), on=WORKER)
             .with_columns(apart=(pl.col("clock") - pl.col("other")).abs())
             .with_columns(apart=pl.min_horizontal("apart", 1440 - pl.col("apart"))))
    anchors = (pairs.group_by("session_id", WORKER, "clock").agg(near=(pl.col("apart") <= tolerance).sum())
               .sort("near", "clock", descending=[True, False]).group_by(WORKER).first()
               .select(WORKER, anchor="clock"))
    apart = (pl.col("clock") - pl.col("anchor")).abs()
    with_anchor = timed.join(anchors, on=WORKER, how="left").with_columns(
        on_clock=pl.min_horizontal(apart, 1440 - apart) <= tolerance)
    # Sessions at one clock time on several weekdays make a daily pattern; at one clock time on a
    # single weekday they are a weekly pattern, which the weekday test below finds.
    on_clock = pl.col("on_clock")
    daily = (on_clock & (pl.col("week").filter(on_clock).n_unique().over(WORKER) >= min_weeks)
             & (pl.col("weekday").filter(on_clock).n_unique().over(WORKER) > 1))
    weekly = ~pl.col("daily") & (pl.col("week").n_unique().over(WORKER, "weekday", "daily") >= min_weeks)
    return (with_anchor.with_columns(daily=daily).with_columns(weekly=weekly)
            .with_columns(periodic=pl.col("daily") | pl.col("weekly"),
                          pattern=pl.when("daily").then(pl.lit("daily")).when("weekly").then(pl.lit("weekly")))
            .drop("anchor", "on_clock", "daily", "weekly"))


def _hhmm(minutes: pl.Expr) -> pl.Expr:
    return pl.format("{}:{}", (minutes // 60).cast(pl.String).str.zfill(2), (minutes % 60).cast(pl.String).str.zfill(2))


def patterns(off: pl.DataFrame, days_worked: pl.DataFrame, weeks_in_period: int) -> pl.DataFrame:
    """One sentence per worker describing each recurring pattern, e.g. "every day 22:15–22:45 on
    19 of 21 days worked" / "every Tuesday 11:00–13:30 in 4 of 4 weeks". Columns: worker_id,
    pattern_en, pattern_zh, periods (list of "daily" / "weekly:<weekday>")."""
    span = pl.format("{}–{}", _hhmm(pl.col("clock").min()), _hhmm(pl.col("end_clock").max()))
    daily = (off.filter(pl.col("pattern") == "daily").group_by(WORKER)
             .agg(span=span, n=pl.col("local_date").n_unique())
             .join(days_worked, on=WORKER, how="left")
             .select(WORKER, period=pl.lit("daily"),
                     en=pl.format("every day {} on {} of {} days worked", "span", "n", "days_worked"),
                     zh=pl.format("每天 {}，{} 个工作日中有 {} 天", "span", "days_worked", "n")))
    weekly = (off.filter(pl.col("pattern") == "weekly").group_by(WORKER, "weekday")
              .agg(span=span, n=pl.col("week").n_unique())
              .select(WORKER, period=pl.format("weekly:{}", "weekday"),
                      en=pl.format("every {} {} in {} of {} weeks",
                                   pl.col("weekday").replace_strict(dict(enumerate(WEEKDAYS_EN, 1))), "span", "n",
                                   pl.lit(weeks_in_period)),
                      zh=pl.format("每{} {}，{} 周中有 {} 周",
                                   pl.col("weekday").replace_strict(dict(enumerate(WEEKDAYS_ZH, 1))), "span",
                                   pl.lit(weeks_in_period), "n")))
    return (pl.concat([daily, weekly]).sort(WORKER, "period").group_by(WORKER, maintain_order=True)
            .agg(pattern_en=pl.col("en").str.join("; "), pattern_zh=pl.col("zh").str.join("；"),
                 periods=pl.col("period")))


def _days_worked(case: Case, settings: Settings) -> pl.DataFrame:
    return sessions.platform_days(case, settings).group_by(WORKER).agg(days_worked=pl.len())


def _weeks_in_period(case: Case, settings: Settings) -> int:
    # the case's period (context.span), also when this case is part of one
    span = context.span(case, CASE_PERIOD, lambda: sessions.period(case, settings), settings)
    if span is None:
        return 0
    dates = pl.date_range(span[0], span[1], eager=True)
    return (dates.dt.iso_year() * 100 + dates.dt.week()).n_unique()


def _exact_sum(hours: pl.Expr) -> pl.Expr:
    # Each session's hours are a whole number of microseconds ÷ 3.6e9: added up as those whole
    # numbers the total is exact, the same in whatever order the sessions come (a float sum is
    # not, and a total at a rounding edge, e.g. 9.515 h, would print differently between runs).
    return (hours * 3.6e9).round().cast(pl.Int64).sum() / 3.6e9


@context.sharing
def run(case: Case, settings: Settings) -> Findings:
    rule = settings.law["hidden_overtime"]
    off = offhours_sessions(case, settings).collect().sort(WORKER, "start")
    per_worker = off.group_by(WORKER).agg(
        hours=_exact_sum(pl.col("off_hours")),
        conservative=_exact_sum(pl.col("off_hours").filter("periodic")),
        sessions=pl.len(),
        substantive=pl.col("n_substantive").sum(),
        own=pl.col("n_own_substantive").sum(),
        c1=pl.col("substantive").any(),
        c2=pl.col("beyond_simple").any(),
        c3=pl.col("periodic").any(),
        rules=pl.col("rules").list.explode(keep_nulls=False, empty_as_null=False).unique().sort().str.join(", "),
        schedule=pl.col("schedule").first(),
        refs=pl.col("refs").list.explode(keep_nulls=False, empty_as_null=False),
    )
    described = (per_worker.join(patterns(off, _days_worked(case, settings), _weeks_in_period(case, settings)),
                                 on=WORKER, how="left")
                 .with_columns(pl.col("pattern_en").fill_null("no recurrence in enough different weeks: occasional"),
                               pl.col("pattern_zh").fill_null("未在足够多的不同周重复出现：属偶发"),
                               pl.col("periods").fill_null([]))
                 .sort(WORKER))
    met = lambda c, i: pl.col(c).replace_strict({k: v[i] for k, v in MET.items()}, return_dtype=pl.String)
    schedule_zh = pl.col("schedule").replace_strict({"roster": "排班表", "default window": "默认工作时间 "
                                                     + "–".join(settings.working_window)}, default="工作时间")
    schedule_en = pl.col("schedule").replace_strict({"roster": "the roster", "default window": "the default window "
                                                     + "–".join(settings.working_window) + " on workdays"},
                                                    default="the working window")
    columns = {"schedule": schedule_zh, "schedule_en": schedule_en, "sessions": pl.col("sessions"),
                   "hours": pl.col("hours").round(2), "conservative": pl.col("conservative").round(2),
                   "substantive": pl.col("substantive"), "own": pl.col("own"), "rules": pl.col("rules"),
                   "c1": met("c1", 0), "c2": met("c2", 0), "c3": met("c3", 0), "c1_en": met("c1", 1), "c2_en": met("c2", 1),
                   "c3_en": met("c3", 1), "pattern_zh": pl.col("pattern_zh"), "pattern_en": pl.col("pattern_en")}
    parameters = pl.struct(
        chat_gap_minutes=pl.lit(settings.chat_gap_minutes),
        clock_tolerance_minutes=pl.lit(rule["clock_tolerance_minutes"]), min_weeks=pl.lit(rule["min_weeks"]),
        standing_duty_rules=pl.lit(rule["standing_duty_rules"]), schedule="schedule",
        working_window=pl.lit(list(settings.working_window)),
        excluded_platforms=pl.lit(list(settings.excluded_platforms), dtype=pl.List(pl.String)),
        conservative_hours=pl.col("conservative").round(6), periods="periods").struct.json_encode()
    criteria_met = pl.sum_horizontal(pl.col("c1", "c2", "c3").cast(pl.Int32))
    findings = described.select(
        finding_id=pl.format("{}:{}", pl.lit(ID), WORKER),
        worker_id=WORKER,
        indicator=pl.lit(ID),
        family=pl.lit(FAMILY),
        period=pl.lit("case"),
        value=pl.col("hours"),
        unit=pl.lit("h"),
        threshold=pl.lit(0.0),
        score=criteria_met / 3,
        sources=pl.lit(rule["sources"], dtype=pl.List(pl.String)),
        explanation_zh=render(EXPLANATION_ZH, **columns),
        explanation_en=render(EXPLANATION_EN, **columns),
        parameters=parameters,
    )
    evidence = evidence_rows(described, pl.format("{}:{}", pl.lit(ID), WORKER))
    measure = off.drop("refs").with_columns(finding_id=pl.format("{}:{}", pl.lit(ID), WORKER))
    return validate(findings, evidence, {"offhours_sessions": measure, "offhours_summary": described.drop("refs")})
