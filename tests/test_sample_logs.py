"""The bundled sample city: reproducible from its seed, fully read, and audited against its ground truth."""

import tomllib
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import connectors
from auditor.analyzers import daily_hours
from auditor.settings import Settings
from auditor.simulate import simulate

SAMPLE = Path(__file__).parents[1] / "sample_logs"


@pytest.fixture(scope="module")
def sample_case():
    return connectors.load(SAMPLE)


def test_regenerating_with_the_recorded_seed_is_byte_identical(tmp_path):
    params = tomllib.loads((SAMPLE / "case.toml").read_text(encoding="utf-8"))["simulation"]
    simulate(tmp_path, seed=params["seed"], riders=params["riders"], start=date.fromisoformat(params["start"]),
             days=params["days"])
    committed = sorted(p.relative_to(SAMPLE) for p in SAMPLE.rglob("*") if p.is_file())
    regenerated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert regenerated == committed
    differing = [str(p) for p in committed if (SAMPLE / p).read_bytes() != (tmp_path / p).read_bytes()]
    assert differing == []


def test_every_sample_file_is_read_and_every_row_accounted(sample_case):
    assert [s.path for s in sample_case.sources if s.error] == []
    for s in sample_case.sources:
        assert s.rows_read == s.rows_kept + s.rows_rejected, s.path
        assert s.rows_read > 0, s.path
    assert not any(s.path.startswith("ground_truth/") for s in sample_case.sources)


def test_over_8_hour_days_match_the_ground_truth_exactly(sample_case):
    truth = pl.read_parquet(SAMPLE / "ground_truth" / "daily_hours.parquet")
    found = daily_hours.run(sample_case, Settings()).findings
    planted = set(truth.filter("over_8h").select("worker_id", pl.col("date").cast(pl.String)).rows())
    assert planted, "the sample city must plant over-8-hour days"
    assert set(found.select("worker_id", "period").rows()) == planted


def test_daily_hours_equal_planted_hours(sample_case):
    truth = pl.read_parquet(SAMPLE / "ground_truth" / "daily_hours.parquet").filter(pl.col("app_hours") > 0)
    measured = daily_hours.daily_hours(sample_case).collect()
    both = truth.join(measured, on=["worker_id", "date"], how="full", coalesce=True)
    assert both.filter(pl.col("hours").is_null() | pl.col("app_hours").is_null()).height == 0
    assert (both["hours"] - both["app_hours"]).abs().max() < 1 / 3600


def test_auditing_twice_gives_identical_findings_and_evidence(sample_case):
    from auditor.analyzers import run_all

    first, second = run_all(sample_case), run_all(sample_case)
    assert first.findings.sort("finding_id").equals(second.findings.sort("finding_id"))
    assert first.evidence.sort(pl.all()).equals(second.evidence.sort(pl.all()))
