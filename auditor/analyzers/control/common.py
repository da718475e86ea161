"""What every control indicator shares: its inputs, the measured-rows contract, the score
function, confidence intervals, and the step from measured rows to findings with evidence.

An indicator module returns *measured rows*, one per worker it could measure:

    worker_id, indicator, value, n, ci_low, ci_high, detail_zh, detail_en, refs

``n`` is the number of observations behind the value (orders, pings, days …), ``ci_low``/``ci_high``
a 95 % interval where the value is a share or a slope (null otherwise), ``detail_*`` the sentence
that says what was measured, and ``refs`` the canonical rows that support it. A worker the
inputs cannot measure gets no row: the scorecard reports that as "not measurable", never as 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import polars as pl

from auditor import law
from auditor.analyzers.daily_hours import daily_hours
from auditor.analyzers.intervals import REF, online_intervals
from auditor.analyzers.messages import classified
from auditor.case import Case
from auditor.findings import Findings, evidence_rows, render, validate
from auditor.settings import Settings

Z95 = 1.959963984540054
ROWS = {
    "worker_id": pl.String, "indicator": pl.String, "value": pl.Float64, "n": pl.Int64,
    "ci_low": pl.Float64, "ci_high": pl.Float64, "detail_zh": pl.String, "detail_en": pl.String,
    "refs": pl.List(REF),
}


def spec(indicator: str) -> dict:
    return law.load_control("indicators")["indicator"][indicator]


def first_each_hour(ts: str = "ts") -> pl.Expr:
    """True on a worker's first row of each clock hour. Position evidence is cited this way: a
    GPS log holds thousands of rows a day, and one per hour shows the pattern (the value itself is
    computed from every row and can be recomputed from the activity table)."""
    return pl.struct("worker_id", hour=pl.col(ts).dt.truncate("1h")).is_first_distinct()


def rows(frame: pl.DataFrame | pl.LazyFrame, indicator: str) -> pl.LazyFrame:
    """Bring an indicator's output to the ROWS contract (missing optional columns as null)."""
    lazy = frame.lazy().with_columns(indicator=pl.lit(indicator))
    names = lazy.collect_schema().names()
    return lazy.select([pl.col(c).cast(t) if c in names else pl.lit(None, t).alias(c) for c, t in ROWS.items()])


def wilson(k: pl.Expr, n: pl.Expr, z: float = Z95) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score interval for a share k/n: sound for small n and shares near 0 or 1."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)).sqrt() / (1 + z * z / n)
    return (centre - half).clip(0, 1), (centre + half).clip(0, 1)


def theil_sen(points: pl.LazyFrame, keys: list[str], x: str = "x", y: str = "y") -> pl.LazyFrame:
    """Theil–Sen slope per group (median of pairwise slopes) with Sen's rank-based 95 % interval:
    with N pairwise slopes sorted and C = z·√(n(n−1)(2n+5)/18), the interval runs from the
    (N−C)/2-th to the (N+C)/2+1-th slope. Built for a few dozen points per group (days, weeks)."""
    pts = points.select(*keys, x, y).drop_nulls()
    pairs = (pts.join(pts, on=keys, suffix="_b", nulls_equal=True)
             .filter(pl.col(f"{x}_b") > pl.col(x))
             .with_columns(slope=(pl.col(f"{y}_b") - pl.col(y)) / (pl.col(f"{x}_b") - pl.col(x))))
    counts = pts.group_by(keys).agg(n=pl.len())
    c = Z95 * (pl.col("n") * (pl.col("n") - 1) * (2 * pl.col("n") + 5) / 18).sqrt()
    lo_rank = ((pl.col("pairs") - c) / 2).round().clip(1, None).cast(pl.Int64) - 1
    hi_rank = ((pl.col("pairs") + c) / 2 + 1).round().clip(None, pl.col("pairs")).cast(pl.Int64) - 1
    return (pairs.group_by(keys).agg(slopes=pl.col("slope").sort(), pairs=pl.len(), slope=pl.col("slope").median())
            .join(counts, on=keys, nulls_equal=True)
            .with_columns(ci_low=pl.col("slopes").list.get(lo_rank), ci_high=pl.col("slopes").list.get(hi_rank))
            .select(*keys, "n", "slope", "ci_low", "ci_high"))


def threshold(value, settings: Settings) -> float:
    """A threshold from indicators.toml: a number, or a named reference to another law figure."""
    if isinstance(value, (int, float)):
        return float(value)
    hourly = minimum_hourly_wage(settings)
    return {"minimum_hourly": hourly, "half_minimum_hourly": hourly / 2}[value]


def minimum_hourly_wage(settings: Settings) -> float:
    """The latest hourly minimum in minimum_wage.toml for the settings' city."""
    rates = [r for r in law.load("minimum_wage")["rates"] if r["city"] == settings.city]
    if not rates:
        raise ValueError(f"no minimum wage for city {settings.city!r} in auditor/law/minimum_wage.toml")
    return float(max(rates, key=lambda r: r["effective"])["hourly"])


def score() -> pl.Expr:
    """The one score function: linear from zero_at (0) to full_at (1), clipped to [0, 1]."""
    return ((pl.col("value") - pl.col("zero_at")) / (pl.col("full_at") - pl.col("zero_at"))).clip(0, 1)


def scored(measured: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """Measured rows with their thresholds, weight, family, factor and score."""
    specs = law.load_control("indicators")["indicator"]
    table = pl.DataFrame([
        {"indicator": name, "family": s["family"], "factor": s["factor"], "weight": float(s["weight"]),
         "zero_at": threshold(s["zero_at"], settings), "full_at": threshold(s["full_at"], settings),
         "unit": s["unit"], "name_zh": s["name_zh"], "name_en": s["name_en"], "sources": s["sources"]}
        for name, s in specs.items()])
    return (measured.join(table, on="indicator", how="left")
            .with_columns(score=score()))


EXPLAIN_ZH = "{name}：{detail}（n = {n}）。得分 = ({value} − {zero}) ÷ ({full} − {zero})，限定于 0–1，= {score}。"
EXPLAIN_EN = "{name}: {detail} (n = {n}). Score = ({value} − {zero}) ÷ ({full} − {zero}), clipped to 0–1, = {score}."


def findings(table: pl.DataFrame) -> Findings:
    """Findings for every scored row that shows some control (score > 0) and has evidence rows;
    the rest stay in the indicator table as measured values. The explanation carries the score
    formula with the row's own figures, so it can be recomputed by hand."""
    shown = table.filter((pl.col("score") > 0) & (pl.col("refs").list.len() > 0))
    fid = pl.format("{}:{}", "indicator", "worker_id")
    figures = {"n": pl.col("n"), "value": pl.col("value").round(3), "zero": pl.col("zero_at").round(3),
               "full": pl.col("full_at").round(3), "score": pl.col("score").round(3)}
    found = shown.select(
        finding_id=fid, worker_id="worker_id", indicator="indicator", family="family", period=pl.lit("case"),
        value="value", unit="unit", threshold="full_at", score="score", sources="sources",
        explanation_zh=render(EXPLAIN_ZH, name=pl.col("name_zh"), detail=pl.col("detail_zh"), **figures),
        explanation_en=render(EXPLAIN_EN, name=pl.col("name_en"), detail=pl.col("detail_en"), **figures),
        parameters=pl.struct("zero_at", "full_at", "weight", "n", "ci_low", "ci_high").struct.json_encode())
    evidence = evidence_rows(shown, fid)
    return validate(found, evidence)


@dataclass
class Inputs:
    """The canonical tables of a case as the control indicators need them, each derived once."""

    case: Case
    settings: Settings

    def table(self, name: str) -> pl.LazyFrame:
        return self.case.table(name)

    @cached_property
    def orders(self) -> pl.DataFrame:
        return self.table("orders").collect()

    @cached_property
    def activity(self) -> pl.DataFrame:
        """Activity events other than GPS positions (sessions, check-ins, sanctions …). Positions
        are most of the table; they are read, projected, once, for ``pings``."""
        return self.table("activity").filter(pl.col("kind") != "gps").collect()

    @cached_property
    def messages(self) -> pl.DataFrame:
        """Messages with the lexicon's labels and ``is_instruction`` (auditor.analyzers.messages)."""
        return classified(self.case)

    @cached_property
    def working_days(self) -> pl.DataFrame:
        """Hours per worker and local day: app online periods ∪ order time, overlaps once."""
        return daily_hours(self.case).collect()

    @cached_property
    def pings(self) -> pl.DataFrame:
        """GPS positions taken while the worker was online on some app: worker_id, ts, lon, lat,
        app (true for the platform's own log, false for the worker's phone), src, src_row.
        A position outside every online period is not working time and is left out."""
        # Both sides sorted by worker then time, once: the as-of join keeps the left order, so
        # the result comes out in the (worker, ts) order the indicators read it in, with no
        # second sort of millions of rows.
        online = (online_intervals(self.table("activity")).select("worker_id", "start", "end").collect()
                  .sort("worker_id", "start"))
        gps = (self.table("activity")
               .filter((pl.col("kind") == "gps") & pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
               .select("worker_id", "ts", "lon", "lat", "platform", "src", "src_row").collect()
               .sort("worker_id", "ts"))
        return (gps.join_asof(online, left_on="ts", right_on="start", by="worker_id", strategy="backward",
                              check_sortedness=False)
                .filter(pl.col("ts") <= pl.col("end"))
                .select("worker_id", "ts", "lon", "lat", "src", "src_row", app=pl.col("platform").is_not_null(),
                        online_start="start"))

    @cached_property
    def window_days(self) -> int:
        """Days the case's orders and activity span, first to last local date."""
        stamps = pl.concat([self.table("orders").select(ts="dispatched_at"), self.table("activity").select("ts")])
        first, last = stamps.select(first=pl.col("ts").min(), last=pl.col("ts").max()).collect().row(0)
        if first is None:
            return 0
        local = pl.Series([first, last]).dt.convert_time_zone(self.case.tz).dt.date()
        return (local[1] - local[0]).days + 1

    @cached_property
    def stations(self) -> pl.DataFrame:
        """worker_id → station_id: the roster of relations (member_of) first, else the station on
        most of the worker's orders."""
        rel = (self.table("relations").filter(pl.col("relation") == "member_of")
               .select(worker_id="from_party", station_id="to_party", source=pl.lit("relations")).collect())
        modal = (self.orders.filter(pl.col("station_id").is_not_null())
                 .group_by("worker_id", "station_id").len().sort("len", "station_id", descending=[True, False])
                 .group_by("worker_id", maintain_order=True).first()
                 .select("worker_id", "station_id", source=pl.lit("orders")))
        return pl.concat([rel, modal.join(rel, on="worker_id", how="anti")])

    @cached_property
    def workers(self) -> pl.DataFrame:
        """Every worker seen in orders, activity or messages."""
        seen = [self.table("orders").select("worker_id"), self.table("activity").select("worker_id"),
                self.messages.lazy().select("worker_id")]
        return pl.concat(seen).unique().sort("worker_id").collect()
