"""Two audits of the same case, each in a process of its own, write the same findings and
measures byte for byte: whoever audits a case again gets files with the same sha256 in the
manifest, whatever order threads and hash tables (seeded per process) gave the rows in. The
evidence files hold the same rows; their order within a file is the analyzers' (README,
"Reproducible outputs")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"


def audited(out: Path, *options: str) -> dict[str, str]:
    """The outputs (name → sha256) of ``auditor audit`` on the sample, run in a new process."""
    subprocess.run([sys.executable, "-c", "from auditor.cli import app; app()", "audit", str(SAMPLE),
                    "--out", str(out), *options], check=True, capture_output=True)
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["outputs"]


@pytest.mark.parametrize("options", [(), ("--rows-per-part", "40000")], ids=["one run", "in parts"])
def test_two_audits_of_a_case_write_the_same_findings_and_measures(tmp_path, options):
    first, second = audited(tmp_path / "a", *options), audited(tmp_path / "b", *options)
    assert first.keys() == second.keys()
    assert {"findings.parquet", "findings.csv", "scorecard.parquet", "control_indicators.csv",
            "work_sessions.parquet", "views.parquet", "platform_shares.parquet"} <= first.keys()
    assert [name for name in first if first[name] != second[name] and not name.startswith("evidence")] == []
    rows = lambda folder: pl.read_parquet(folder / "evidence" / "*.parquet").sort(pl.all())
    assert rows(tmp_path / "a").height > 100_000
    assert rows(tmp_path / "a").equals(rows(tmp_path / "b"))
    if options:
        assert len(list((tmp_path / "a" / "evidence").glob("*.parquet"))) > 1  # it did run in parts
