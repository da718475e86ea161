"""The subordination scorecard and what an inspector builds on it.

Reads the scored indicator table of ``auditor.analyzers.control`` (one row per worker ×
indicator measured: value, n, interval, thresholds, weight, family, score) and the rules in
``auditor/law/control/scorecard.toml`` and ``views.toml``:

- ``scorecard``: per worker, the personal / organisational / economic family scores (weighted
  mean of the measured indicators' scores; unmeasured indicators left out, never counted as 0),
  the overall score, the 人社部发〔2021〕56号 category and the reasons, in Chinese and English;
- ``views``: the same scores read through each jurisdiction's test (the SPC factor list is the
  primary Chinese view), criterion by criterion, met / not met / not measurable;
- ``measurability``: per indicator, how many workers the inputs could measure, and what input
  would make it measurable;
- ``stations`` and ``platforms``: how many riders show each indicator, the distribution of the
  overall score, and a ranking of stations by risk (预判预警);
- ``inspection_sample``: a reproducible random sample of riders (双随机), its seed recorded;
- ``compare_periods``: deadlines, penalties, pay per hour and hours before and after a date.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import polars as pl

from auditor import law
from auditor.case import Case
from auditor.settings import Settings

NOT_MEASURABLE_ZH = "无法从现有数据计量"
NOT_MEASURABLE_EN = "not measurable from these inputs"


def _rules() -> dict:
    return law.load_control("scorecard")


def _specs() -> dict:
    return law.load_control("indicators")["indicator"]


def family_scores(table: pl.DataFrame, workers: pl.DataFrame) -> pl.DataFrame:
    """worker × family: weighted mean score, indicators measured, and whether the family is thin."""
    rules = _rules()
    weighted = table.filter(pl.col("weight") > 0).group_by("worker_id", "family").agg(
        score=(pl.col("score") * pl.col("weight")).sum() / pl.col("weight").sum(), indicators=pl.len())
    grid = workers.join(pl.DataFrame({"family": rules["families"]}), how="cross")
    return (grid.join(weighted, on=["worker_id", "family"], how="left")
            .with_columns(pl.col("indicators").fill_null(0))
            .with_columns(thin=pl.col("indicators") < rules["min_indicators"]))


def _category_expr() -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """The first category (scorecard.toml order) whose conditions hold: id, name_zh, name_en."""
    conditions = []
    for category in _rules()["category"]:
        parts = [pl.col("overall") >= category["min_overall"]]
        parts += [pl.col(family).fill_null(-1) >= floor for family, floor in category["min_family"].items()]
        conditions.append((pl.all_horizontal(parts), category))
    pick = lambda key: pl.coalesce([pl.when(c).then(pl.lit(cat[key])) for c, cat in conditions])
    return pick("id"), pick("name_zh"), pick("name_en")


def scorecard(table: pl.DataFrame, workers: pl.DataFrame) -> pl.DataFrame:
    """Per worker: family scores, overall score, category and the reasons behind it."""
    families = family_scores(table, workers)
    names = list(_rules()["families"])
    wide = families.pivot("family", index="worker_id", values="score", on_columns=names)
    counts = families.group_by("worker_id").agg(
        thin_families=pl.col("family").filter(pl.col("thin")).sort().str.join(", "))
    flag_at = _rules()["flag_at"]
    top = (table.filter((pl.col("weight") > 0) & (pl.col("score") >= flag_at))
           .sort("score", descending=True).group_by("worker_id", maintain_order=True)
           .agg(shown_zh=pl.format("{}（{}）", "name_zh", pl.col("score").round(2)).head(4).str.join("；"),
                shown_en=pl.format("{} ({})", "name_en", pl.col("score").round(2)).head(4).str.join("; "),
                flagged=pl.len()))
    missing = (workers.join(pl.DataFrame({"indicator": sorted(_specs())}), how="cross")
               .join(table.select("worker_id", "indicator"), on=["worker_id", "indicator"], how="anti")
               .group_by("worker_id").agg(not_measured=pl.col("indicator").sort()))
    category, name_zh, name_en = _category_expr()
    card = (workers.join(wide, on="worker_id", how="left").join(counts, on="worker_id", how="left")
            .join(top, on="worker_id", how="left").join(missing, on="worker_id", how="left")
            .with_columns(overall=pl.mean_horizontal(names), flagged=pl.col("flagged").fill_null(0),
                          not_measured=pl.col("not_measured").fill_null([]))
            .with_columns(category=category, category_zh=name_zh, category_en=name_en))
    fam = lambda f: pl.col(f).round(2).cast(pl.String).fill_null("—")
    return card.with_columns(
        reasons_zh=pl.format("人格从属性 {}、组织从属性 {}、经济从属性 {}，综合 {} → {}。主要依据：{}。{}：{}",
                             fam("personal"), fam("organisational"), fam("economic"), fam("overall"), "category_zh",
                             pl.col("shown_zh").fill_null("无指标达到提示线"), pl.lit(NOT_MEASURABLE_ZH),
                             pl.col("not_measured").list.join("、")),
        reasons_en=pl.format("personal {}, organisational {}, economic {} subordination, overall {} → {}. Driven by: "
                             "{}. {}: {}", fam("personal"), fam("organisational"), fam("economic"), fam("overall"),
                             "category_en", pl.col("shown_en").fill_null("no indicator at the flag level"),
                             pl.lit(NOT_MEASURABLE_EN), pl.col("not_measured").list.join(", ")),
    ).select("worker_id", *names, "overall", "category", "category_zh", "category_en", "flagged",
             pl.col("thin_families").fill_null(""), "not_measured", "reasons_zh", "reasons_en").sort("worker_id")


def views(table: pl.DataFrame, workers: pl.DataFrame, view: str | None = None) -> pl.DataFrame:
    """worker × view × criterion: met / not met / not measurable, the best indicator score, and
    per worker and view whether the view's conclusion holds. ``view`` picks one (e.g. "eu_pwd")."""
    config = law.load_control("views")["view"]
    chosen = {view: config[view]} if view else config
    criteria = pl.DataFrame([
        {"view": name, "primary": bool(v.get("primary")), "criterion": c["id"], "criterion_zh": c["zh"],
         "criterion_en": c["en"], "indicator": ind, "met_at": float(v["met_at"]),
         "conclusion_min_met": int(v["conclusion_min_met"]), "conclusion_zh": v["conclusion_zh"],
         "conclusion_en": v["conclusion_en"], "view_sources": v["sources"]}
        for name, v in chosen.items() for c in v["criteria"] for ind in c["indicators"]]).with_row_index("_order")
    keys = ["view", "primary", "criterion", "criterion_zh", "criterion_en", "met_at", "conclusion_min_met",
            "conclusion_zh", "conclusion_en", "view_sources"]
    per_criterion = (workers.join(criteria, how="cross")
                     .join(table.select("worker_id", "indicator", "score"), on=["worker_id", "indicator"], how="left")
                     .group_by("worker_id", *keys)
                     .agg(pl.col("_order").min(), best=pl.col("score").max(),
                          by=pl.col("indicator").filter(pl.col("score") >= pl.col("met_at"))))
    status = (pl.when(pl.col("best").is_null()).then(pl.lit("not measurable"))
              .when(pl.col("best") >= pl.col("met_at")).then(pl.lit("met")).otherwise(pl.lit("not met")))
    return (per_criterion.with_columns(status=status)
            .with_columns(criteria_met=(pl.col("status") == "met").sum().over("worker_id", "view"))
            .with_columns(conclusion_holds=pl.col("criteria_met") >= pl.col("conclusion_min_met"))
            .sort("worker_id", "_order").drop("_order"))  # each worker's views and criteria as views.toml lists them


def measurability(table: pl.DataFrame, workers: pl.DataFrame) -> pl.DataFrame:
    """Per indicator: workers measured out of all, status, and the input that would make it measurable."""
    counts = table.group_by("indicator").agg(workers_measured=pl.len())
    specs = pl.DataFrame([{"indicator": k, "family": v["family"], "needs": v["needs"]} for k, v in _specs().items()])
    return (specs.join(counts, on="indicator", how="left")
            .with_columns(pl.col("workers_measured").fill_null(0), workers=pl.lit(workers.height))
            .with_columns(status=pl.when(pl.col("workers_measured") == 0).then(pl.lit(NOT_MEASURABLE_EN))
                          .when(pl.col("workers_measured") < pl.col("workers")).then(pl.lit("measurable for some workers"))
                          .otherwise(pl.lit("measurable")))
            .sort("indicator"))


def _group_aggregate(card: pl.DataFrame, table: pl.DataFrame, membership: pl.DataFrame, key: str) -> pl.DataFrame:
    flag_at = _rules()["flag_at"]
    members = card.join(membership, on="worker_id")
    flagged = (table.filter(pl.col("score") >= flag_at).join(membership, on="worker_id")
               .group_by(key, "indicator").agg(riders=pl.col("worker_id").n_unique())
               .sort("indicator")  # the indicators' columns in one order, run after run
               .pivot("indicator", index=key, values="riders"))
    summary = members.group_by(key).agg(
        riders=pl.len(), overall_mean=pl.col("overall").mean(), overall_median=pl.col("overall").median(),
        overall_p90=pl.col("overall").quantile(0.9),
        labour_relationship=(pl.col("category") == "labour_relationship").sum(),
        managed_not_full=(pl.col("category") == "managed_not_full").sum(),
        civil=(pl.col("category") == "civil").sum())
    return (summary.join(flagged, on=key, how="left")
            .with_columns(pl.col(c).fill_null(0) for c in flagged.columns if c != key)
            .sort("overall_mean", key, descending=[True, False])
            .with_columns(risk_rank=pl.int_range(1, pl.len() + 1)))


def stations(card: pl.DataFrame, table: pl.DataFrame, station_of: pl.DataFrame) -> pl.DataFrame:
    """Per station, ranked by mean overall score (1 = highest risk): riders, distribution,
    categories, and per indicator the riders whose score reaches the flag level."""
    return _group_aggregate(card, table, station_of.select("worker_id", "station_id"), "station_id")


def platforms(card: pl.DataFrame, table: pl.DataFrame, orders: pl.DataFrame) -> pl.DataFrame:
    """The same per platform (a multi-apping rider counts on each platform they work for)."""
    return _group_aggregate(card, table, orders.select("worker_id", "platform").unique(), "platform")


def draw(candidates: list[str], size: int, seed: int) -> list[str]:
    """双随机: ``size`` workers drawn without replacement with a recorded seed. Candidates are sorted
    first, so the same seed over the same workers gives the same sample in any later review."""
    pool = sorted(candidates)
    take = min(size, len(pool))
    picked = np.sort(np.random.default_rng(seed).choice(len(pool), size=take, replace=False)) if take else []
    return [pool[i] for i in picked]


def inspection_sample(card: pl.DataFrame, size: int, seed: int) -> pl.DataFrame:
    """The 双随机 sample of riders (``draw``) with their scores; the seed is a column of the output."""
    pool = card.select("worker_id", "overall", "category").sort("worker_id")
    chosen = draw(pool["worker_id"].to_list(), size, seed)
    return pool.filter(pl.col("worker_id").is_in(chosen)).with_columns(
        seed=pl.lit(seed), pool_size=pl.lit(pool.height), sample_size=pl.lit(len(chosen)))


def measures(table: pl.DataFrame, inputs) -> dict[str, pl.DataFrame]:
    """Everything the app shows beside the findings, by name."""
    workers = inputs.workers
    card = scorecard(table, workers)
    settings: Settings = inputs.settings
    return {
        "control_indicators": table.drop("sources").sort("worker_id", "indicator"),
        "measurability": measurability(table, workers),
        "scorecard": card,
        "views": views(table, workers),
        "stations": stations(card, table, inputs.stations),
        "platforms": platforms(card, table, inputs.orders),
        "inspection_sample": inspection_sample(card, max(1, round(card.height * 0.1)), settings.inspection_seed),
    }


def compare_periods(case: Case, settings: Settings, at: date | datetime | str, by: str = "platform") -> pl.DataFrame:
    """Before and after a local date (a rate change, a new dispatch rule): per ``by`` group
    (platform or station_id), the median deadline ratio and promised seconds per km, penalties
    per order and as a share of pay, pay per km, pay per working hour and hours per worker-day,
    with the number of orders or days behind each."""
    from auditor.analyzers.control import deadlines
    from auditor.analyzers.control.common import Inputs

    inputs = Inputs(case, settings)
    cut = pl.lit(at).str.to_date() if isinstance(at, str) else pl.lit(at).cast(pl.Date)
    tz = case.tz
    period = pl.when(pl.col("day") < cut).then(pl.lit("before")).otherwise(pl.lit("after"))
    orders = inputs.orders.with_columns(day=pl.col("dispatched_at").dt.convert_time_zone(tz).dt.date()).with_columns(
        period=period)
    ratios = deadlines.order_ratios(inputs).with_columns(period=period)
    group = inputs.stations if by == "station_id" else orders.select("worker_id", "platform").unique()
    days = inputs.working_days.rename({"date": "day"}).with_columns(period=period).join(group, on="worker_id")
    per_day_pay = orders.group_by("worker_id", "day").agg(pay=pl.col("pay").sum() - pl.col("penalty").fill_null(0).sum())
    hours = days.group_by(by, "period").agg(hours_per_day=pl.col("hours").mean(), worker_days=pl.len())
    hourly = (days.select(by, "period", "worker_id", "day", "hours").unique()
              .join(per_day_pay, on=["worker_id", "day"], how="left")
              .group_by(by, "period").agg(pay_per_hour=pl.col("pay").fill_null(0).sum() / pl.col("hours").sum()))
    money = orders.filter(pl.col("outcome") != "cancelled").group_by(by, "period").agg(
        orders=pl.len(), penalty_per_order=pl.col("penalty").fill_null(0).mean(),
        penalty_share=pl.col("penalty").fill_null(0).sum() / pl.col("pay").sum(),
        pay_per_km=(pl.col("pay").sum() / (pl.col("distance_m").filter(pl.col("pay") > 0).sum() / 1000)))
    deadline = ratios.group_by(by, "period").agg(
        median_deadline_ratio=pl.col("ratio").median(),
        promised_s_per_km=(pl.col("promised_s") / pl.col("distance_m") * 1000).median())
    wide = (money.join(deadline, on=[by, "period"], how="left").join(hours, on=[by, "period"], how="left")
            .join(hourly, on=[by, "period"], how="left"))
    metrics = [c for c in wide.columns if c not in (by, "period")]
    long = wide.unpivot(index=[by, "period"], on=metrics, variable_name="metric")
    return (long.pivot("period", index=[by, "metric"], values="value")
            .with_columns(change=pl.col("after") - pl.col("before"),
                          relative_change=pl.col("after") / pl.col("before") - 1, at=cut)
            .sort(by, "metric"))
