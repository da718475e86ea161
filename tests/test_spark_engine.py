"""The Spark engine gives the local engine's findings, with one bucket and with several: Spark
local mode on a small simulated city."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from types import SimpleNamespace

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import connectors
from auditor import analyzers
from auditor.analyzers import context, worktime
from auditor.analyzers.control import pay
from auditor.analyzers.control.common import Inputs
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
    case = connectors.load([root / "exports"])
    # only R0001 worked on the first day: the buckets without R0001 see a shorter period than the
    # case's, so with several buckets those run again with the case's period injected
    for table, ts in (("orders", "dispatched_at"), ("activity", "ts"), ("messages", "ts")):
        first_day = pl.col(ts).dt.convert_time_zone(case.tz).dt.date() == date(2026, 4, 27)
        case.tables[table] = case.table(table).filter(~first_day | (pl.col("worker_id") == "R0001"))
    case_dir = case.save(root / "case")
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


def _assert_same(local: Findings, distributed: Findings) -> None:
    expected, got = local.findings, distributed.findings
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
    compared_with_the_case = {"deadline-tightness", "deadline-compression", "penalty-share", "pay-rate-cut",
                              "work-continuity", "working-time-total", "offhours-substantive-work",
                              "overtime-pay-owed"}
    assert compared_with_the_case <= set(local.findings["indicator"])
    _assert_same(local, result)
    # each worker's findings come from one bucket only: no partial copies of a colleague
    assert result.findings["finding_id"].is_unique().all()
    for name in ("worker_days", "overtime", "offhours_summary", "scorecard", "rate_changes", "deadline_weeks",
                 "deadline_compression", "measurability", "inspection_sample"):
        frame = local.measures[name]
        keys = [c for c in ("worker_id", "station_id", "platform", "week", "date", "indicator") if c in frame.columns]
        assert_frame_equal(frame.sort(keys), result.measures[name].select(frame.columns).sort(keys), rel_tol=1e-9)


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
