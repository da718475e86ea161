"""A small simulated city for the engines that audit a case in parts (Spark buckets, local
parts), and the comparison of their results with ``analyzers.run_all`` on the whole case."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

import connectors
from auditor import analyzers
from auditor.case import Case
from auditor.findings import Findings
from auditor.settings import Settings
from auditor.simulate import simulate

# Where two runs of the local engine already differ, only what they agree on is compared: a day's
# first evidence row for work-continuity is whichever row polars lists first for the day (two
# days may then cite one row, so even their number varies), and penalty-share lists reasons fined
# equally often in any order (its value and score are stable).
CITED_IN_ANY_ORDER = {"work-continuity"}
REASONS_IN_ANY_ORDER = {"penalty-share"}
# indicators that compare a worker with the case (the median time per distance band, the
# platform's rate change, the case period): a part must get the whole case's references
COMPARED_WITH_THE_CASE = {"deadline-tightness", "deadline-compression", "penalty-share", "pay-rate-cut",
                          "work-continuity", "working-time-total", "offhours-substantive-work", "overtime-pay-owed"}
POPULATION_AND_WORKER_MEASURES = ("worker_days", "overtime", "offhours_summary", "scorecard", "rate_changes",
                                  "deadline_weeks", "deadline_compression", "measurability", "inspection_sample")


def build_city(root: Path) -> tuple[str, Findings]:
    """The saved case (its folder) of 12 riders over a week, and run_all's result on it."""
    # every station rider sends a nightly report (off-hours chat work in a week); fewer GPS pings
    simulate(root / "exports", seed=7, riders=12, start=date(2026, 4, 27), days=7, nightly_share=1.0, gps_scale=3.0)
    # R0007's phone export is missing: what R0007 wrote is known only from R0011's export of their
    # shared group, so R0007's off-hours work needs rows routed from R0011's part
    (root / "exports" / "chats" / "wechat_R0007.csv").unlink()
    case = connectors.load([root / "exports"])
    # only R0001 worked on the first day: the parts without R0001 see a shorter period than the
    # case's, so with several parts those run again with the case's period injected
    for table, ts in (("orders", "dispatched_at"), ("activity", "ts"), ("messages", "ts")):
        first_day = pl.col(ts).dt.convert_time_zone(case.tz).dt.date() == date(2026, 4, 27)
        case.tables[table] = case.table(table).filter(~first_day | (pl.col("worker_id") == "R0001"))
    case_dir = case.save(root / "case")
    return str(case_dir), analyzers.run_all(Case.load(case_dir), Settings())


def comparable(findings: pl.DataFrame) -> pl.DataFrame:
    # the last digit of a float summed in another order, also inside the JSON parameters
    tied = pl.col("indicator").is_in(sorted(REASONS_IN_ANY_ORDER))
    return findings.with_columns(
        pl.col("parameters").str.replace_all(r"(\d\.\d{9})\d+", "$1"),
        *(pl.when(tied).then(None).otherwise(pl.col(c)).alias(c) for c in ("explanation_zh", "explanation_en")),
    ).sort("finding_id")


def assert_same(local: Findings, other: Findings) -> None:
    """Every finding and evidence row of ``other`` is ``local``'s (evidence in memory or spilled)."""
    expected, got = local.findings, other.findings
    assert expected.height > 100 and expected["indicator"].n_unique() > 10  # a real comparison
    assert_frame_equal(comparable(expected), comparable(got), rel_tol=1e-9)
    ordered = ~pl.col("finding_id").str.split(":").list.first().is_in(sorted(CITED_IN_ANY_ORDER))
    assert_frame_equal(local.evidence_of(expected).filter(ordered).sort(pl.all()),
                       other.evidence_of(got).filter(ordered).sort(pl.all()))


def assert_same_measures(local: Findings, other: Findings, names=POPULATION_AND_WORKER_MEASURES) -> None:
    for name in names:
        frame = local.measures[name]
        keys = [c for c in ("worker_id", "station_id", "platform", "week", "date", "indicator") if c in frame.columns]
        assert_frame_equal(frame.sort(keys), other.measures[name].select(frame.columns).sort(keys), rel_tol=1e-9)
