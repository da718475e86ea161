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
from auditor.findings import Findings
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
    simulate(root / "exports", seed=7, riders=12, start=date(2026, 4, 27), days=7)
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


def test_one_bucket_gives_every_finding_and_evidence_row_of_the_local_engine(city, spark):
    case_dir, local = city
    result = engine.audit(case_dir, Settings(), spark)
    assert result.measures["spark_engine"]["buckets"][0] == 1
    _assert_same(local, result)
    for name in ("daily_hours", "worker_days", "overtime", "offhours_summary", "scorecard"):
        frame = local.measures[name]
        keys = ["worker_id"] + (["date"] if "date" in frame.columns else [])
        assert_frame_equal(frame.sort(keys), result.measures[name].select(frame.columns).sort(keys), rel_tol=1e-9)
    assert_frame_equal(local.measures["rate_changes"], result.measures["rate_changes"].sort("platform"))
    assert_frame_equal(local.measures["measurability"], result.measures["measurability"])


def test_workers_split_over_buckets_keep_every_finding_but_the_population_referenced(city, spark):
    case_dir, local = city
    result = engine.audit(case_dir, Settings(), spark, buckets=3)
    assert result.measures["spark_engine"]["buckets"][0] == 3
    _assert_same(local, result, leave_out=set(engine.POPULATION_INDICATORS))
    # each worker's findings come from one bucket only: no partial copies of a colleague
    assert result.findings["finding_id"].is_unique().all()
    assert set(result.findings["worker_id"]) == set(local.findings["worker_id"])


def test_cli_runs_the_spark_engine_and_records_it(city, spark, tmp_path):
    case_dir, local = city
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["audit", case_dir, "--out", str(out), "--engine", "spark"])
    assert result.exit_code == 0, result.output
    written = pl.read_parquet(out / "findings.parquet")
    assert_frame_equal(_comparable(local.findings), _comparable(written), rel_tol=1e-9)
    assert '"engine": "spark"' in (out / "manifest.json").read_text(encoding="utf-8")


def test_without_pyspark_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[spark\]'"):
        engine.require_spark()
