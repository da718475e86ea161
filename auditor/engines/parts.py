"""What engines that audit a case in parts (groups of workers) share: how a part's results are
kept, how the case-wide references reach every part, and how the parts become one ``Findings``.

A part is a Case holding some workers' rows (plus whatever of colleagues' rows their analysis
reads). Its run keeps only the results of the workers it is *home* for, so each worker's
results come from exactly one part (``home_results``). Case-wide references (auditor.analyzers.
context) must not be computed from a part: keyed ones are computed from the whole case's orders
before the parts run (``KEYED_REFERENCES``), periods are combined after (``case_spans``) and a
part whose period fell short of the case's runs again (``stale_parts``). Measures about the
population are built once from all parts' per-worker results (``assemble``).

Each result travels as (part, kind, name, frame): kind is findings, evidence, measure, reference
(a period the part computed), station_of or worker_platforms.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import NamedTuple

import polars as pl

from auditor import analyzers, schema
from auditor.analyzers import context, offhours, scorecard, worktime
from auditor.analyzers.control import deadlines, dependence, pay
from auditor.analyzers.control.common import CARRIED, Inputs, carried
from auditor.case import Case
from auditor.findings import Findings
from auditor.settings import Settings

WORKER = "worker_id"
PER_WORKER_TABLES = ("orders", "activity", "messages", "schedules", "offers")
SHARED_TABLES = ("zones", "relations", "participants")  # small, case-wide: every part gets them whole
Result = tuple[int, str, str, pl.DataFrame]
BATCH_ROWS = 1_000_000  # orders per call of a keyed reference's function: ~1,000 riders' month


class Keyed(NamedTuple):
    """A case-wide reference with one row per value of ``column``, computed from the orders with
    that value alone."""

    column: str  # the reference's column, and the orders' value it is computed per
    key: Callable  # pyspark.sql.functions → that value, a Spark column over the orders
    use: Callable[[Inputs], object]  # an analyzer function that builds the reference
    columns: tuple[str, ...]  # the orders' columns ``use`` reads: the whole city's orders, only those


# The case-wide references (auditor.analyzers.context) and how an engine gets the whole case's.
KEYED_REFERENCES = {
    pay.RATE_CHANGES: Keyed("platform", lambda F: F.col("platform"), pay.rate_changes, pay.RATE_COLUMNS),
    # the band exactly as deadlines.order_ratios computes it (same floating-point operations)
    deadlines.ORDER_BANDS: Keyed("band", lambda F: F.floor(F.col("distance_m") / 1000 / deadlines.BAND_KM),
                                 deadlines.order_bands, deadlines.BAND_COLUMNS),
}
# Keyed.key's functions in polars (the band: the same floating-point operations as in Spark)
POLARS_FUNCTIONS = SimpleNamespace(col=pl.col, floor=lambda column: column.floor())
SPAN_REFERENCES = (dependence.CASE_SPAN, worktime.WORKED_PERIOD, offhours.CASE_PERIOD)
# Measures about the population, rebuilt after the parts (everything else has a worker_id).
POPULATION_MEASURES = ("rate_changes", "deadline_weeks", "deadline_compression", "measurability", "stations",
                       "platforms", "inspection_sample")


def whole_case_references(case: Case, settings: Settings) -> dict[str, pl.DataFrame]:
    """What every part is given from the whole case: the keyed references and the kinds of record
    the case carries (``CARRIED``)."""
    references = {name: whole_case_reference(case, name, settings) for name in KEYED_REFERENCES}
    references[CARRIED] = carried(case.table("activity"), case.table("schedules"), case.table("messages"))
    return references


def whole_case_reference(case: Case, name: str, settings: Settings) -> pl.DataFrame:
    """The keyed reference ``name`` of the whole case, a batch of key values at a time (like the
    Spark engine's groups, which take one): the city's orders are read once, in the reference's
    columns only, and no analyzer function sees more than ``BATCH_ROWS`` orders unless one value
    has more."""
    keyed = KEYED_REFERENCES[name]
    orders = case.table("orders").select(keyed.columns).with_columns(_key=keyed.key(POLARS_FUNCTIONS))
    frames = [reference(Case({"orders": group.drop("_key").lazy()}, tz=case.tz), name, keyed.use, settings)
              for group in batches(orders, "_key")]
    return keyed_reference(frames, case.tz, name, settings)


def batches(frame: pl.LazyFrame, key: str) -> Iterator[pl.DataFrame]:
    """The rows of consecutive values of ``key`` (null last), each value whole, about ``BATCH_ROWS``
    at a time, each in the case's order: views into one sorted copy, not a copy per batch. The
    functions run on them work per value, so batching values changes no result, only how many
    calls there are."""
    ordered = frame.sort(key, maintain_order=True, nulls_last=True).collect()
    offset = length = 0
    for size in ordered.group_by(key, maintain_order=True).len()["len"]:
        length += size
        if length >= BATCH_ROWS:
            yield ordered.slice(offset, length)
            offset, length = offset + length, 0
    if length:
        yield ordered.slice(offset, length)


def keyed_reference(frames: list[pl.DataFrame], tz: str, name: str, settings: Settings) -> pl.DataFrame:
    """The groups' parts of the keyed reference ``name`` as one, in the order of its column."""
    keyed = KEYED_REFERENCES[name]
    empty = reference(Case({}, tz=tz), name, keyed.use, settings)  # its columns, also for a case without orders
    # widest first: a group can give fewer columns (rate_changes without a change), which come later
    return concat(sorted([empty, *frames], key=lambda frame: -frame.width), empty).sort(keyed.column)


def reference(case: Case, name: str, use: Callable, settings: Settings) -> pl.DataFrame:
    """The reference ``name`` of ``case``, as the analyzer function ``use`` builds it."""
    with context.shared(case):
        use(Inputs(case, settings))
        return context.built_references(case)[name]


def run_part(case: Case, home: pl.DataFrame, references: dict[str, pl.DataFrame],
             settings: Settings, station_ratios: bool = False) -> list[tuple[str, str, pl.DataFrame]]:
    """Every analyzer over one part with the case-wide ``references`` injected → (kind, name,
    frame) of the workers in ``home`` (one column, worker_id) and the periods the part computed;
    with ``station_ratios``, also its orders' deadline ratios as the stations' measures read them
    (kind station_ratios: a part holds each of its workers' orders, so the parts' ratios are the
    case's, and ``deadlines.station_tables`` over them gives the stations' measures)."""
    with context.shared(case, references=references):
        result = analyzers.run_all(case, settings)
        built = context.built_references(case)
        ratios = (deadlines.order_ratios(Inputs(case, settings)).select(deadlines.STATION_COLUMNS)
                  .filter(pl.col("station_id").is_not_null()) if station_ratios else None)
    if unknown := sorted(set(built) - set(SPAN_REFERENCES)):
        raise ValueError(f"case-wide reference(s) {unknown} unknown to the engines: add each to KEYED_REFERENCES, "
                         "SPAN_REFERENCES in auditor/engines/parts.py, or compute it from the whole case before "
                         "the parts as the engines do the kinds of record carried (control.common.CARRIED)")
    mine = lambda frame: frame.join(home, on=WORKER, how="semi")
    findings = mine(result.findings)
    # millions of rows, copied only if need be; the few findings of colleagues whose chats were
    # copied here are looked up (a join with this part's own findings hashed them all: 0.4 s a part)
    others = result.findings.join(home, on=WORKER, how="anti")["finding_id"]
    evidence = result.evidence.filter(~pl.col("finding_id").is_in(others.implode())) if len(others) else result.evidence
    out = [("findings", "-", findings), ("evidence", "-", evidence),
           ("station_of", "-", mine(station_of(Inputs(case, settings)))),
           ("worker_platforms", "-", mine(worker_platforms(case.table("orders").collect()))),
           *(("reference", name, frame) for name, frame in built.items()),
           *([("station_ratios", "-", ratios)] if station_ratios else [])]
    for name, frame in result.measures.items():
        # an analyzer's "none" as a frame without columns is left out: assemble takes the empty case's
        if name in POPULATION_MEASURES or not frame.width:
            continue
        if WORKER not in frame.columns:
            raise ValueError(f"measure {name!r} has no worker_id: add it to POPULATION_MEASURES in "
                             "auditor/engines/parts.py with how to build it from all workers")
        out.append(("measure", name, mine(frame)))
    return out


def station_of(inputs: Inputs) -> pl.DataFrame:
    return inputs.stations.select(WORKER, "station_id")


def worker_platforms(orders: pl.DataFrame) -> pl.DataFrame:
    return orders.select(WORKER, "platform").unique()


def station_measures(inputs: Inputs) -> dict[str, pl.DataFrame]:
    return deadlines.station_tables(deadlines.order_ratios(inputs))


def case_spans(results: list[Result]) -> dict[str, pl.DataFrame]:
    """Each period the parts computed, over the whole case: the earliest first and latest last day."""
    periods = defaultdict(list)
    for _, kind, name, frame in results:
        if kind == "reference":
            periods[name].append(frame)
    return {name: pl.concat(frames).select(pl.col("first").min(), pl.col("last").max())
            for name, frames in periods.items()}


def stale_parts(results: list[Result], spans: dict[str, pl.DataFrame]) -> list[int]:
    """Parts that computed a period other than the case's (one without any data used none)."""
    return sorted({part for part, kind, name, frame in results
                   if kind == "reference" and frame["first"].is_not_null().all() and not frame.equals(spans[name])})


def grouped(results: list[Result]) -> dict[str, dict[str, list[pl.DataFrame]]]:
    """kind → name → frames, in part order (so a run's output order is reproducible)."""
    parts: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for _, kind, name, frame in sorted(results, key=lambda row: row[:3]):
        if frame.width:
            parts[kind][name].append(frame)
    return parts


def concat(frames: list[pl.DataFrame], empty: pl.DataFrame) -> pl.DataFrame:
    """One part from every group that gave it (a column some group lacks is null there), else
    ``empty``: its columns without rows. Never a frame without columns, whose readers fail to find
    theirs ("unable to find column worker_id; valid columns: []")."""
    return pl.concat(frames, how="diagonal_relaxed") if frames else empty


def assemble(parts: dict[str, dict[str, list[pl.DataFrame]]], references: dict[str, pl.DataFrame], tz: str,
             settings: Settings, evidence: pl.DataFrame | pl.LazyFrame | None = None) -> Findings:
    """The parts' results as one ``Findings``, with the population measures. ``evidence``: the
    parts' evidence when the engine keeps it elsewhere (spilled to disk), else ``parts``'."""
    # A part no group gave (a case without worker rows has no part; a case without stations no
    # station group) is the empty case's: the same functions over no rows, so it keeps its columns.
    blank = Case({}, tz=tz)
    empty = analyzers.run_all(blank, settings)
    measures = {**empty.measures, **{name: pl.concat(frames, how="diagonal_relaxed")
                                     for name, frames in parts["measure"].items()}}
    measures["rate_changes"] = references[pay.RATE_CHANGES]
    measures.update(population_measures(
        measures, concat(parts["station_of"]["-"], station_of(Inputs(blank, settings))),
        concat(parts["worker_platforms"]["-"], worker_platforms(schema.empty("orders"))), settings))
    if evidence is None:
        evidence = concat(parts["evidence"]["-"], empty.evidence)
    return Findings(concat(parts["findings"]["-"], empty.findings), evidence, measures).settled()


def population_measures(measures: dict[str, pl.DataFrame], station_of: pl.DataFrame,
                        worker_platforms: pl.DataFrame, settings: Settings) -> dict[str, pl.DataFrame]:
    """The scorecard's population measures from the per-worker scored table and scorecards."""
    table, card = measures.get("control_indicators"), measures.get("scorecard")
    if table is None or card is None:
        return {}
    card = card.sort(WORKER)
    workers = card.select(WORKER)
    return {
        "measurability": scorecard.measurability(table, workers),
        "stations": scorecard.stations(card, table, station_of),
        "platforms": scorecard.platforms(card, table, worker_platforms),
        "inspection_sample": scorecard.inspection_sample(card, max(1, round(card.height * 0.1)),
                                                         settings.inspection_seed),
    }
