"""Overtime pay owed, by premium band (150 / 200 / 300 %), assuming none of it was paid.

Needs what ``worktime`` needs. Hours per day come from worktime.worker_days (platform time and
off-platform chat work, each minute once) and the day's kind from the China calendar:

- standard hours (default): hours beyond 8 on a workday at 150 %, all hours on a rest day at
  200 %, all hours on a statutory holiday date at 300 % (Labour Law Art. 44; substituted days off
  are rest days, not holidays);
- comprehensive hours: per calendar month, hours beyond 8 h × the month's workdays in the case at
  150 %, holiday hours at 300 %; irregular hours: no overtime pay in principle (Art. 44 not applied).

The hourly wage is monthly wage ÷ 21.75 ÷ 8 (劳社部发〔2008〕3号). The monthly wage is the one the
user entered for the worker (``Settings.worker_wages``), else ``Settings.monthly_wage``, else the
city's minimum wage (auditor/law/minimum_wage.toml), which the finding marks as an assumption.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from auditor import calendar
from auditor.analyzers import context, worktime
from auditor.case import Case
from auditor.findings import Findings, evidence_rows, render, validate
from auditor.law import load as load_law
from auditor.settings import Settings

ID = "overtime-pay-owed"
FAMILY = "working_time"
WORKER = worktime.WORKER
BANDS = {"workday": "hours_150", "rest_day": "hours_200", "statutory_holiday": "hours_300"}

EXPLANATION_ZH = (
    "按{system}计算：工作日延长工作时间 {h150} 小时（{m150}%）、休息日工作 {h200} 小时（{m200}%）、法定节假日工作 "
    "{h300} 小时（{m300}%）。小时工资 {hourly} 元（月工资 {wage} 元 ÷ 21.75 ÷ 8，{basis_zh}），"
    "假定均未支付加班费，应付加班工资 {owed} 元。含平台外聊天工作 {chat} 小时。")
EXPLANATION_EN = (
    "Under {system_en}: {h150} h extended on workdays ({m150} %), {h200} h on rest days ({m200} %), {h300} h on "
    "statutory holidays ({m300} %). Hourly wage {hourly} CNY (monthly {wage} CNY ÷ 21.75 ÷ 8, {basis_en}); "
    "assuming none of it was paid, overtime pay owed is {owed} CNY. Includes {chat} h of chat work off the "
    "platform.")


def minimum_wage(city: str, on: str | None = None) -> dict:
    """The city's minimum-wage entry in force on ``on`` (ISO date; default: the latest)."""
    rates = [r for r in load_law("minimum_wage")["rates"] if r["city"] == city]
    if on:
        rates = [r for r in rates if str(r["effective"]) <= on] or rates
    if not rates:
        raise ValueError(f"no minimum wage for city {city!r} in auditor/law/minimum_wage.toml")
    return max(rates, key=lambda r: str(r["effective"]))


def wages(workers: pl.Series, settings: Settings, on: str | None) -> pl.DataFrame:
    """worker_id, monthly_wage, wage_basis (entered for the worker / entered / assumption)."""
    fallback = minimum_wage(settings.city, on)
    basis = (("entered", settings.monthly_wage) if settings.monthly_wage is not None
             else (f"assumption: {fallback['name']} minimum wage from {fallback['effective']}", fallback["monthly"]))
    return pl.DataFrame({WORKER: workers}).with_columns(
        monthly_wage=pl.col(WORKER).replace_strict(settings.worker_wages, default=basis[1], return_dtype=pl.Float64),
        wage_basis=pl.when(pl.col(WORKER).is_in(list(settings.worker_wages)))
        .then(pl.lit("entered for this worker")).otherwise(pl.lit(basis[0])))


def band_hours(days: pl.DataFrame, law: dict, system: str, period: tuple[date, date]) -> pl.DataFrame:
    """Hours per worker in each premium band under the hours system; columns worker_id,
    hours_150, hours_200, hours_300, chat_hours, refs (the rows behind the days with overtime).
    ``period``: the case period, whose workdays make the comprehensive system's monthly quotas."""
    limit = float(law["daily_hours"]["limit_hours"])
    if system == "standard":
        owed = pl.when(pl.col("day_kind") == "workday").then((pl.col("hours") - limit).clip(0)).otherwise("hours")
        banded = days.with_columns(owed=owed, band=pl.col("day_kind").replace_strict(BANDS))
    elif system == "comprehensive":
        workdays = calendar.day_kinds(*period).filter(pl.col("day_kind") == "workday")
        quota = workdays.group_by(month=pl.col("date").dt.strftime("%Y-%m")).agg(quota=pl.len() * limit)
        month = pl.col("date").dt.strftime("%Y-%m")
        ordinary = pl.col("day_kind") != "statutory_holiday"
        banded = (days.sort("date").with_columns(month=month).join(quota, on="month", how="left")
                  .with_columns(cum=pl.when(ordinary).then(pl.col("hours")).otherwise(0.0)
                                .cum_sum().over(WORKER, "month", order_by="date"))
                  .with_columns(owed=pl.when(ordinary).then(
                      pl.min_horizontal("hours", (pl.col("cum") - pl.col("quota").fill_null(0)).clip(0)))
                                .otherwise("hours"),
                                band=pl.when(ordinary).then(pl.lit("hours_150")).otherwise(pl.lit("hours_300"))))
    elif system == "irregular":
        banded = days.with_columns(owed=pl.lit(0.0), band=pl.lit("hours_150"))
    else:
        raise ValueError(f"unknown hours system {system!r}; expected standard, comprehensive or irregular")
    return banded.group_by(WORKER).agg(
        *[pl.col("owed").filter(pl.col("band") == band).sum().alias(band) for band in BANDS.values()],
        chat_hours=pl.col("chat_hours").sum(),
        refs=pl.col("refs").filter(pl.col("owed") > 0).list.explode(keep_nulls=False, empty_as_null=False))


def overtime(case: Case, settings: Settings) -> pl.DataFrame:
    """Per worker: hours_150, hours_200, hours_300, monthly_wage, wage_basis, hourly_wage,
    pay_owed (rounded to cents), chat_hours, refs."""
    law = settings.law
    days = worktime.worker_days(case, settings)
    if days.is_empty():
        return pl.DataFrame()
    pay = law["hourly_wage"]
    multipliers = {row["day_kind"]: row["multiplier"] for row in calendar.premium_bands(law).iter_rows(named=True)}
    premium = pl.sum_horizontal(pl.col(band) * multipliers[kind] for kind, band in BANDS.items())
    period = worktime.case_period(case, settings)  # the whole case's, also when this case is part of one
    hours = band_hours(days, law, settings.hours_system, period)
    return (hours.join(wages(hours[WORKER], settings, str(period[1])), on=WORKER)
            .with_columns(hourly_wage=pl.col("monthly_wage") / pay["monthly_pay_days"] / pay["daily_hours"])
            .with_columns(pay_owed=(pl.col("hourly_wage") * premium).round(2))
            .sort(WORKER))


@context.sharing
def run(case: Case, settings: Settings) -> Findings:
    law = settings.law
    owed = overtime(case, settings)
    if owed.is_empty():
        return Findings.empty()
    bands = calendar.premium_bands(law)
    multipliers = {kind: round(m * 100) for kind, m in zip(bands["day_kind"], bands["multiplier"])}
    sources = sorted({s for row in bands["sources"] for s in row} | set(law["hourly_wage"]["sources"]))
    system_zh, _, system_en = law["hours_systems"][settings.hours_system]["name"].partition(" ")
    due = owed.filter(pl.col("pay_owed") > 0)
    assumption = pl.col("wage_basis").str.starts_with("assumption")
    columns = {
        "system": pl.lit(system_zh), "system_en": pl.lit(system_en or system_zh), "h150": pl.col("hours_150").round(2),
        "h200": pl.col("hours_200").round(2), "h300": pl.col("hours_300").round(2),
        "m150": pl.lit(multipliers["workday"]), "m200": pl.lit(multipliers["rest_day"]),
        "m300": pl.lit(multipliers["statutory_holiday"]), "hourly": pl.col("hourly_wage").round(2),
        "wage": pl.col("monthly_wage").round(2), "owed": pl.col("pay_owed"), "chat": pl.col("chat_hours").round(2),
        "basis_zh": pl.when(assumption).then(pl.format("假定为当地最低工资：{}", "wage_basis"))
        .otherwise(pl.lit("用户输入")),
        "basis_en": pl.col("wage_basis")}
    parameters = pl.struct(hours_system=pl.lit(settings.hours_system), wage_basis="wage_basis",
                           monthly_wage="monthly_wage", hourly_wage="hourly_wage",
                           hours_150="hours_150", hours_200="hours_200", hours_300="hours_300",
                           assumption=assumption, paid_so_far=pl.lit(0.0),
                           excluded_platforms=pl.lit(list(settings.excluded_platforms), dtype=pl.List(pl.String)),
                           timezone=pl.lit(case.tz)).struct.json_encode()
    findings = due.select(
        finding_id=pl.format("{}:{}", pl.lit(ID), WORKER), worker_id=WORKER, indicator=pl.lit(ID),
        family=pl.lit(FAMILY), period=pl.lit("case"), value=pl.col("pay_owed"), unit=pl.lit("CNY"),
        threshold=pl.lit(0.0), score=(pl.col("pay_owed") / pl.col("monthly_wage")).clip(0, 1),
        sources=pl.lit(sources, dtype=pl.List(pl.String)),
        explanation_zh=render(EXPLANATION_ZH, **columns), explanation_en=render(EXPLANATION_EN, **columns),
        parameters=parameters)
    evidence = evidence_rows(due, pl.format("{}:{}", pl.lit(ID), WORKER))
    return validate(findings, evidence, {"overtime": owed.drop("refs")})
