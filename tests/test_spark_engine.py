"""The Spark engine gives the local engine's findings: Spark local mode on a small simulated city."""

from __future__ import annotations

import sys
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import connectors
from auditor import analyzers
from auditor.case import Case
from auditor.cli import app
from auditor.engines import spark as engine
from auditor.findings import EVIDENCE, Findings
from auditor.settings import Settings
from auditor.simulate import simulate

# Where two runs of the local engine already differ, only what they agree on is compared: a day's
# first evidence row for work-continuity is whichever row polars lists first for the day (two
# days may then cite one row, so even their number varies), and penalty-share lists reasons fined
# equally often in any order (its value and score are stable).
CITED_IN_ANY_ORDER = {"work-continuity"}
REASONS_IN_ANY_ORDER = {"penalty-share"}


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> tuple[str, Findings]:
    root = tmp_path_factory.mktemp("city")
    # every station rider sends a nightly report (off-hours chat work in a week); fewer GPS pings
    simulate(root / "exports", seed=7, riders=12, start=date(2026, 4, 27), days=7, nightly_share=1.0, gps_scale=3.0)
    # R0007's phone export is missing: what R0007 wrote is known only from R0011's export of their
    # shared group, so R0007's off-hours work needs rows routed from R0011's bucket (with 4
    # buckets, R0007 is in bucket 0 and R0011 in bucket 1)
    (root / "exports" / "chats" / "wechat_R0007.csv").unlink()
    case_dir = connectors.load([root / "exports"]).save(root / "case")
    return str(case_dir), analyzers.run_all(Case.load(case_dir), Settings())


@pytest.fixture(scope="module")
def spark():
    return engine.session("local[2]")


def _comparable(findings: pl.DataFrame) -> pl.DataFrame:
    # the last digit of a float summed in another order, also inside the JSON parameters
    tied = pl.col("indicator").is_in(sorted(REASONS_IN_ANY_ORDER))
    return findings.with_columns(
        pl.col("parameters").str.replace_all(r"(\d\.\d{9})\d+", "$1"),
        *(pl.when(tied).then(None).otherwise(pl.col(c)).alias(c) for c in ("explanation_zh", "explanation_en")),
    ).sort("finding_id")


def _assert_same(local: Findings, distributed: Findings, leave_out: set[str] = frozenset()) -> None:
    keep = ~pl.col("indicator").is_in(sorted(leave_out))
    expected, got = local.findings.filter(keep), distributed.findings.filter(keep)
    assert expected.height > 100 and expected["indicator"].n_unique() > 10  # a real comparison
    assert_frame_equal(_comparable(expected), _comparable(got), rel_tol=1e-9)
    ordered = ~pl.col("finding_id").str.split(":").list.first().is_in(sorted(CITED_IN_ANY_ORDER))
    cited = lambda result, frame: result.evidence.join(frame.select("finding_id"), on="finding_id", how="semi")
    assert_frame_equal(cited(local, expected).filter(ordered).sort(pl.all()),
                       cited(distributed, got).filter(ordered).sort(pl.all()))


def test_cli_on_spark_gives_every_finding_and_evidence_row_of_the_local_engine(city, spark, tmp_path):
    case_dir, local = city
    out = tmp_path / "report"
    run = CliRunner().invoke(app, ["audit", case_dir, "--out", str(out), "--engine", "spark"])
    assert run.exit_code == 0, run.output
    assert '"engine": "spark"' in (out / "manifest.json").read_text(encoding="utf-8")
    assert pl.read_parquet(out / "spark_engine.parquet")["buckets"].to_list() == [1]  # 12 workers: one bucket
    written = Findings(pl.read_parquet(out / "findings.parquet"),
                       pl.read_parquet(out / "evidence.parquet").select(list(EVIDENCE)))
    _assert_same(local, written)
    for name in ("daily_hours", "worker_days", "overtime", "offhours_summary", "scorecard", "measurability"):
        frame = local.measures[name]
        keys = [c for c in ("worker_id", "date", "indicator") if c in frame.columns]
        assert_frame_equal(frame.sort(keys), pl.read_parquet(out / f"{name}.parquet").sort(keys), rel_tol=1e-9)
    assert_frame_equal(local.measures["rate_changes"], pl.read_parquet(out / "rate_changes.parquet").sort("platform"))


def test_workers_split_over_buckets_keep_every_finding_but_the_population_referenced(city, spark):
    case_dir, local = city
    result = engine.audit(case_dir, Settings(), spark, buckets=4)
    assert result.measures["spark_engine"]["buckets"][0] == 4
    assert local.measures["offhours_sessions"].filter(pl.col("worker_id") == "R0007").height > 0
    _assert_same(local, result, leave_out=set(engine.POPULATION_INDICATORS))
    # each worker's findings come from one bucket only: no partial copies of a colleague
    assert result.findings["finding_id"].is_unique().all()
    assert set(result.findings["worker_id"]) == set(local.findings["worker_id"])


def test_without_pyspark_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[spark\]'"):
        engine.require_spark()
