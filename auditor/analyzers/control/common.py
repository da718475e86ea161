"""What every control indicator shares: its inputs, the measured-rows contract, the score
function, confidence intervals, and the step from measured rows to findings with evidence.

An indicator module returns ``Measured``: *measured rows*, one per worker it could measure,

    worker_id, indicator, value, n, ci_low, ci_high, detail_zh, detail_en

and its *evidence*, the canonical rows that support each worker's value, one row each:

    worker_id, indicator, table, src, src_row

``n`` is the number of observations behind the value (orders, pings, days …), ``ci_low``/``ci_high``
a 95 % interval where the value is a share or a slope (null otherwise), ``detail_*`` the sentence
that says what was measured. The evidence stays a lazy query of the rows it cites (``cited``):
an indicator that cites every order of a worker does not build a list of them, and only the
rows of findings shown are ever collected. A worker the inputs cannot measure gets no row: the
scorecard reports that as "not measurable", never as 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import polars as pl

from auditor import law
from auditor.analyzers import context
from auditor.analyzers.control import positions
from auditor.analyzers.daily_hours import daily_hours
from auditor.analyzers.messages import classified
from auditor.case import Case
from auditor.findings import Findings, render, validate
from auditor.settings import Settings

T = TypeVar("T")
CARRIED = "kinds of record carried"  # the case-wide reference of Inputs.carried
Z95 = 1.959963984540054
ROWS = {
    "worker_id": pl.String, "indicator": pl.String, "value": pl.Float64, "n": pl.Int64,
    "ci_low": pl.Float64, "ci_high": pl.Float64, "detail_zh": pl.String, "detail_en": pl.String,
}
CITED = {"worker_id": pl.String, "table": pl.String, "src": pl.String, "src_row": pl.Int64}


def spec(indicator: str) -> dict:
    return law.load_control("indicators")["indicator"][indicator]


@dataclass
class Measured:
    """An indicator's measured rows (ROWS) and its evidence (worker_id, indicator, table, src, src_row)."""

    rows: pl.LazyFrame
    evidence: pl.LazyFrame


def rows(frame: pl.DataFrame | pl.LazyFrame, indicator: str, *evidence: pl.LazyFrame) -> Measured:
    """Bring an indicator's output to the ROWS contract (missing optional columns as null), with
    its evidence: frames of worker_id, table, src, src_row (``cited``, ``listed``, ``referenced``)."""
    lazy = frame.lazy().with_columns(indicator=pl.lit(indicator))
    names = lazy.collect_schema().names()
    measured = lazy.select([pl.col(c).cast(t) if c in names else pl.lit(None, t).alias(c) for c, t in ROWS.items()])
    cites = pl.concat([e.select(list(CITED)) for e in evidence]) if evidence else pl.LazyFrame(schema=CITED)
    return Measured(measured, cites.with_columns(indicator=pl.lit(indicator)))


def cited(frame: pl.DataFrame | pl.LazyFrame, table: str) -> pl.LazyFrame:
    """Each row of ``frame`` (worker_id, src, src_row) as evidence from canonical ``table``."""
    return frame.lazy().select("worker_id", pl.lit(table).alias("table"), "src", "src_row")


def referenced(frame: pl.DataFrame | pl.LazyFrame, column: str) -> pl.LazyFrame:
    """The references in ``column`` (one {table, src, src_row} each, or null) as evidence."""
    return frame.lazy().select("worker_id", column).drop_nulls(column).unnest(column)


def listed(frame: pl.DataFrame | pl.LazyFrame, column: str = "refs") -> pl.LazyFrame:
    """The references in the list column ``column`` as evidence, one row each."""
    return referenced(frame.lazy().select("worker_id", column).explode(column), column)


def summed(query: pl.LazyFrame) -> pl.DataFrame:
    """Collect an aggregation that sums floats (money, hours) on polars' in-memory engine, which
    adds them in the same order on every run: the streaming engine's partial sums land a last
    digit away, enough to flip a rounded figure in a finding's text (projection pushdown applies
    either way)."""
    return query.collect(engine="in-memory")


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


def findings(table: pl.DataFrame, evidence: pl.LazyFrame) -> Findings:
    """Findings for every scored row that shows some control (score > 0) and has evidence rows;
    the rest stay in the indicator table as measured values. The explanation carries the score
    formula with the row's own figures, so it can be recomputed by hand. Only the evidence of the
    rows shown is collected."""
    scored_above_zero = table.filter(pl.col("score") > 0).with_columns(
        finding_id=pl.format("{}:{}", "indicator", "worker_id"))
    # the finding id joined on, not formatted per evidence row: the rows then share the findings'
    # strings (tens of bytes less on each of millions of rows); the findings are the hash table
    cites = (evidence.join(scored_above_zero.lazy().select("worker_id", "indicator", "finding_id"),
                           on=["worker_id", "indicator"], build_side="force_right")
             .select("finding_id", "table", "src", "src_row").collect())
    shown = scored_above_zero.filter(pl.col("finding_id").is_in(cites["finding_id"].unique().implode()))
    figures = {"n": pl.col("n"), "value": pl.col("value").round(3), "zero": pl.col("zero_at").round(3),
               "full": pl.col("full_at").round(3), "score": pl.col("score").round(3)}
    found = shown.select(
        "finding_id", worker_id="worker_id", indicator="indicator", family="family", period=pl.lit("case"),
        value="value", unit="unit", threshold="full_at", score="score", sources="sources",
        explanation_zh=render(EXPLAIN_ZH, name=pl.col("name_zh"), detail=pl.col("detail_zh"), **figures),
        explanation_en=render(EXPLAIN_EN, name=pl.col("name_en"), detail=pl.col("detail_en"), **figures),
        parameters=pl.struct("zero_at", "full_at", "weight", "n", "ci_low", "ci_high").struct.json_encode())
    return validate(found, cites)


@dataclass
class Inputs:
    """The canonical tables of a case as the control indicators need them, each derived once."""

    case: Case
    settings: Settings
    _built: dict[str, object] = field(default_factory=dict, init=False, repr=False)

    def table(self, name: str) -> pl.LazyFrame:
        return self.case.table(name)

    @cached_property
    def orders(self) -> pl.DataFrame:
        return self.table("orders").collect()

    @cached_property
    def activity(self) -> pl.DataFrame:
        """Activity events other than GPS positions (sessions, check-ins, sanctions …). Positions
        are most of the table: they are streamed, never held (``positions``)."""
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
    def online_spans(self) -> pl.DataFrame:
        """Online periods as the disjoint spans positions are matched to (``positions.spans``)."""
        return positions.spans(self.table("activity"))

    def once(self, name: str, build: Callable[[], T]) -> T:
        """``build()`` the first time ``name`` is asked for: what several indicators read."""
        if name not in self._built:
            self._built[name] = build()
        return self._built[name]

    @cached_property
    def stations(self) -> pl.DataFrame:
        """worker_id → station_id: the roster of relations (member_of) first, else the station on
        most of the worker's orders."""
        rel = (self.table("relations").filter(pl.col("relation") == "member_of")
               .select(worker_id="from_party", station_id="to_party", source=pl.lit("relations")).collect())
        modal = (self.orders.lazy().filter(pl.col("station_id").is_not_null())
                 .group_by("worker_id", "station_id").len().sort("len", "station_id", descending=[True, False])
                 .group_by("worker_id", maintain_order=True).first()
                 .select("worker_id", "station_id", source=pl.lit("orders")).collect())
        return pl.concat([rel, modal.join(rel, on="worker_id", how="anti")])

    @cached_property
    def carried(self) -> dict[str, bool]:
        """Which kinds of record the case's exports carry at all (``CARRIED``): an indicator whose
        records the case lacks altogether is not measurable, not 0, since the export may simply
        leave them out. A case-wide reference: a part of a case without a sanction still measures
        its workers' sanctions as 0 when the case has some (auditor.engines inject the whole case's)."""
        return context.reference(self.case, CARRIED, lambda: carried(
            self.table("activity"), self.table("schedules"), self.table("messages"))).row(0, named=True)

    @cached_property
    def workers(self) -> pl.DataFrame:
        """Every worker seen in orders, activity or messages."""
        seen = [self.table("orders").select("worker_id"), self.table("activity").select("worker_id"),
                self.messages.lazy().select("worker_id")]
        return pl.concat(seen).unique().sort("worker_id").collect()


def carried(activity: pl.LazyFrame, schedules: pl.LazyFrame, messages: pl.LazyFrame) -> pl.DataFrame:
    """One row (``Inputs.carried``): does the case hold any account sanction, any sanction tied to
    acceptance (acceptance-pressure's keywords), any check-in, any schedule, any message. Reads
    the activity's kind and detail only."""
    kind, words = pl.col("kind"), spec("acceptance-pressure")["keywords"]
    tied = pl.col("detail").fill_null("").str.contains_any(words, ascii_case_insensitive=True)
    events = activity.select(sanction=(kind == "sanction").any(), check_in=(kind == "check_in").any(),
                             pressure_sanction=((kind == "sanction") & tied).any())
    return pl.concat([events, schedules.select(schedules=pl.len() > 0), messages.select(messages=pl.len() > 0)],
                     how="horizontal").collect()
