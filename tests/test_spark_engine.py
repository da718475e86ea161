"""The Spark engine gives the local engine's findings, with one bucket and with several: Spark
local mode on a small simulated city."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from types import SimpleNamespace

import polars as pl
import pytest
from engine_city import (
    COMPARED_WITH_THE_CASE,
    assert_same,
    assert_same_measures,
    build_city,
)
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from auditor import analyzers, export
from auditor.analyzers import context, worktime
from auditor.analyzers.control import pay
from auditor.analyzers.control.common import CARRIED, Inputs, carried
from auditor.case import Case
from auditor.cli import app
from auditor.engines import spark as engine
from auditor.findings import EVIDENCE, Findings
from auditor.settings import Settings


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> tuple[str, Findings]:
    return build_city(tmp_path_factory.mktemp("city"))


@pytest.fixture(scope="module")
def spark():
    return engine.session("local[2]")


def test_cli_on_spark_gives_every_finding_and_evidence_row_of_the_local_engine(city, spark, tmp_path):
    case_dir, local = city
    out = tmp_path / "report"
    run = CliRunner().invoke(app, ["audit", case_dir, "--out", str(out), "--engine", "spark"])
    assert run.exit_code == 0, run.output
    assert '"engine": "spark"' in (out / "manifest.json").read_text(encoding="utf-8")
    assert pl.read_parquet(out / "spark_engine.parquet")["buckets"].to_list() == [1]  # 12 workers: one bucket
    written = Findings(pl.read_parquet(out / "findings.parquet"),
                       export.audit_evidence(out).select(list(EVIDENCE)).collect())
    assert_same(local, written)
    for name in ("daily_hours", "worker_days", "overtime", "offhours_summary", "scorecard", "measurability"):
        frame = local.measures[name]
        keys = [c for c in ("worker_id", "date", "indicator") if c in frame.columns]
        assert_frame_equal(frame.sort(keys), pl.read_parquet(out / f"{name}.parquet").sort(keys), rel_tol=1e-9)
    assert_frame_equal(local.measures["rate_changes"], pl.read_parquet(out / "rate_changes.parquet").sort("platform"))


def test_workers_split_over_buckets_get_every_finding_of_the_local_engine(city, spark):
    case_dir, local = city
    result = engine.audit(case_dir, Settings(), spark, buckets=4)
    run = result.measures["spark_engine"]
    assert run["buckets"][0] == 4
    assert run["buckets_run_again"][0] > 0  # the buckets without R0001 started a day late
    assert local.measures["offhours_sessions"].filter(pl.col("worker_id") == "R0007").height > 0
    # the indicators compared with the case (median time per distance band, the platform's rate
    # change, the case period) are among them (every rider here has a weekly rest: no
    # weekly-rest-missing, which shares working-time-total's period)
    assert COMPARED_WITH_THE_CASE <= set(local.findings["indicator"])
    assert_same(local, result)
    # each worker's findings come from one bucket only: no partial copies of a colleague
    assert result.findings["finding_id"].is_unique().all()
    assert_same_measures(local, result)
    # each bucket's evidence file holds its workers' rows: a worker's evidence is read from it alone
    assert result.evidence_files["path"].n_unique() == 4
    for worker in ("R0003", "R0011"):
        theirs = result.findings.filter(pl.col("worker_id") == worker)
        assert_frame_equal(result.evidence_of(theirs), Findings(result.findings, result.evidence).evidence_of(theirs))


def test_a_case_without_worker_rows_gives_the_local_engines_empty_tables(city, spark, tmp_path):
    # no bucket runs, so no bucket gives any part: each keeps its columns all the same (a part
    # without them failed the population measures: 'unable to find column "worker_id"; valid columns: []')
    case = Case.load(city[0])
    for name in engine.PER_WORKER_TABLES:
        case.tables[name] = case.table(name).head(0)
    case_dir = str(case.save(tmp_path / "case"))
    local, result = analyzers.run_all(Case.load(case_dir), Settings()), engine.audit(case_dir, Settings(), spark)
    assert result.measures["spark_engine"]["workers"][0] == 0
    assert_frame_equal(local.findings, result.findings)
    assert_frame_equal(local.evidence, result.evidence)
    assert set(local.measures) == set(result.measures) - {"spark_engine"}
    for name, frame in local.measures.items():
        assert_frame_equal(frame, result.measures[name], check_column_order=False)


def test_results_come_back_through_a_scratch_folder_removed_after_reading(spark, tmp_path):
    frames = {(1, "measure", "overtime"): pl.DataFrame({"worker_id": ["R0002"]}),
              (0, "finding", "findings"): pl.DataFrame({"worker_id": ["R0001"], "hours": [9.5]})}
    payloads = spark.createDataFrame([(*key, engine._ipc(frame)) for key, frame in frames.items()], engine.PAYLOAD)
    results = engine._collect(payloads, str(tmp_path))
    assert [result[:3] for result in results] == sorted(frames)  # by bucket, kind and name
    for bucket, kind, name, frame in results:
        assert_frame_equal(frame, frames[bucket, kind, name])
    assert not any(tmp_path.iterdir())


def test_on_a_cluster_the_scratch_folder_must_be_shared():
    on_yarn = SimpleNamespace(sparkContext=SimpleNamespace(master="yarn"))
    with pytest.raises(ValueError, match="scratch="):
        engine._scratch_on_driver(on_yarn, None)
    assert not engine._scratch_on_driver(on_yarn, "s3a://inspection/scratch")


def test_a_bucket_leaves_out_a_measure_without_columns(city, monkeypatch):
    # an analyzer's "none" built as pl.DataFrame() has no worker_id to keep the bucket's workers by
    case, settings = Case.load(city[0]), Settings()
    run_all = analyzers.run_all

    def with_a_blank_measure(case, settings):
        result = run_all(case, settings)
        return Findings(result.findings, result.evidence, {**result.measures, "overtime": pl.DataFrame()})

    monkeypatch.setattr(analyzers, "run_all", with_a_blank_measure)
    rows = pl.concat([case.table(name).collect().with_columns(_table=pl.lit(name), _for=pl.col("worker_id"),
                                                              _bucket=pl.lit(0)) for name in engine.PER_WORKER_TABLES],
                     how="diagonal_relaxed")
    shipped = lambda frames: SimpleNamespace(value={name: engine._ipc(frame) for name, frame in frames.items()})
    references = {name: engine.reference(case, name, keyed.use, settings)
                  for name, keyed in engine.KEYED_REFERENCES.items()}
    references[CARRIED] = carried(case.table("activity"), case.table("schedules"), case.table("messages"))
    small = {name: case.table(name).collect() for name in engine.SHARED_TABLES}
    payloads = engine._analyse_bucket(rows.to_arrow(), shipped(small), shipped(references), case.tz, settings)
    measures = {name for kind, name in zip(payloads["kind"].to_pylist(), payloads["name"].to_pylist())
                if kind == "measure"}
    assert "worker_days" in measures and "overtime" not in measures


def test_an_injected_reference_replaces_the_one_the_case_would_give(city):
    case, settings = Case.load(city[0]), Settings()
    own = pay.rate_changes(Inputs(case, settings))
    told = own.with_columns(pl.col("change_date") + timedelta(days=1))
    with context.shared(case, references={pay.RATE_CHANGES: told}):
        assert_frame_equal(pay.rate_changes(Inputs(case, settings)), told)
        assert worktime.case_period(case, settings) == (date(2026, 4, 27), date(2026, 5, 3))
        assert set(context.built_references(case)) == {worktime.WORKED_PERIOD}  # built here, not injected
    assert own.height and not own.equals(told)


def test_without_pyspark_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[spark\]'"):
        engine.require_spark()


def test_the_kinds_of_record_carried_are_the_whole_case_s(city, spark):
    case = Case.load(city[0])
    tables = {name: engine._read(spark, city[0], name) for name in ("activity", "schedules", "messages")}
    from pyspark.sql import functions as F

    assert_frame_equal(engine._carried(tables, F), carried(*(case.table(name) for name in tables)))
    assert engine._carried(tables, F).row(0, named=True) == {  # this small city fines but never sanctions
        "sanction": False, "check_in": True, "pressure_sanction": False, "schedules": True, "messages": True}
