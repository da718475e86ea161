"""Control indicators: what the algorithm and the station made each rider do (DOMAIN.md §4–5).

One module per indicator family; each turns canonical tables into *measured rows* (see
``common``), scored here by the one documented function of ``auditor/law/control/indicators.toml``
and turned into findings with evidence. The scorecard, the jurisdiction views, the station and
platform aggregates and the inspection sample are built from the same scored table
(``auditor.analyzers.scorecard``) and returned as measures.

Needs, across indicators: orders, activity, messages, schedules, zones, relations. An indicator
whose inputs are missing is listed in ``measures["measurability"]`` as not measurable, with the
input that would make it measurable.
"""

from __future__ import annotations

import polars as pl

from auditor.analyzers import context, scorecard
from auditor.analyzers.control import (
    assignment,
    deadlines,
    dependence,
    geofence,
    monitoring,
    network,
    pay,
    penalties,
    presence,
    sanctions,
)
from auditor.analyzers.control.common import Inputs, findings, scored
from auditor.case import Case
from auditor.findings import Findings
from auditor.settings import Settings

ID = "control"


def measure(case: Case, settings: Settings) -> tuple[pl.DataFrame, pl.LazyFrame, dict[str, pl.DataFrame], Inputs]:
    """Every indicator's measured rows, their evidence (a lazy query: ``common.findings`` collects
    the rows it shows) and the tables behind them."""
    inputs = Inputs(case, settings)
    ratios = deadlines.order_ratios(inputs)
    changes = pay.rate_changes(inputs)
    directions = network.direction(inputs)
    parts = [
        deadlines.tightness(ratios), deadlines.compression(ratios), penalties.penalty_share(inputs, ratios),
        assignment.auto_assignment(inputs), assignment.rejection_consequence(inputs),
        sanctions.acceptance_pressure(inputs), sanctions.account_sanctions(inputs),
        presence.required_presence(inputs), monitoring.ping_interval(inputs), monitoring.check_ins(inputs),
        geofence.confinement(inputs), network.supervisor_instructions(inputs), network.mismatch(directions),
        pay.rate_cut(inputs, changes), pay.earnings_per_hour(inputs),
        dependence.dependence(inputs), dependence.continuity(inputs),
    ]
    measured = pl.concat(pl.collect_all([part.rows for part in parts]))
    evidence = pl.concat([part.evidence for part in parts])
    tables = {
        **deadlines.station_tables(ratios),
        "penalty_reasons": penalties.reasons(inputs),
        "rejection_followup": assignment.followup(inputs),
        "rate_changes": changes,
        "direction": directions.drop("refs"),
        "platform_shares": dependence.platform_shares(inputs),
    }
    return measured, evidence, tables, inputs


@context.sharing
def run(case: Case, settings: Settings) -> Findings:
    measured, evidence, tables, inputs = measure(case, settings)
    table = scored(measured, settings)
    result = findings(table, evidence)
    result.measures.update(tables)
    result.measures.update(scorecard.measures(table, inputs))
    return result
