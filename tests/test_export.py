import json

import polars as pl
from typer.testing import CliRunner

from auditor import analyzers, export
from auditor.cli import app


def test_evidence_beyond_a_spreadsheet_goes_to_parquet_only_and_the_manifest_says_why(small_case, tmp_path, monkeypatch):
    result = analyzers.run_all(small_case)
    monkeypatch.setattr(export, "SPREADSHEET_ROWS", result.evidence.height - 1)
    export.write_audit(result, small_case, tmp_path / "auto", {})
    assert not (tmp_path / "auto" / "evidence.csv").exists()
    assert export.audit_evidence(tmp_path / "auto").collect().height == result.evidence.height
    assert (tmp_path / "auto" / "findings.csv").exists()
    manifest = json.loads((tmp_path / "auto" / "manifest.json").read_text(encoding="utf-8"))
    (note,) = [note for note in manifest["not_written"] if note.startswith("evidence.csv")]
    assert f"{result.evidence.height:,} rows" in note and "evidence/ (Parquet) holds every row" in note

    export.write_audit(result, small_case, tmp_path / "asked", {}, evidence_csv=True)
    assert pl.read_csv(tmp_path / "asked" / "evidence.csv").height == result.evidence.height
    notes = json.loads((tmp_path / "asked" / "manifest.json").read_text(encoding="utf-8")).get("not_written", [])
    assert not [note for note in notes if note.startswith("evidence.csv")]


def test_a_measure_beyond_a_spreadsheet_goes_to_parquet_only_and_the_cli_says_why(small_case, tmp_path, monkeypatch):
    result = analyzers.run_all(small_case)
    messages = result.measures["messages"].height
    monkeypatch.setattr(export, "SPREADSHEET_ROWS", messages - 1)
    manifest = export.write_audit(result, small_case, tmp_path, {}, evidence_csv=True)
    assert not (tmp_path / "messages.csv").exists() and (tmp_path / "evidence.csv").exists()
    assert pl.read_parquet(tmp_path / "messages.parquet").height == messages
    assert f"messages.csv not written: its {messages:,} rows exceed the {messages - 1:,}" in " ".join(
        manifest["not_written"])
    small_case.save(tmp_path / "case")
    run = CliRunner().invoke(app, ["audit", str(tmp_path / "case"), "--out", str(tmp_path / "cli")])
    assert run.exit_code == 0 and "messages.csv not written" in run.output, run.output


def test_evidence_that_fits_a_spreadsheet_is_written_as_csv_unless_declined(small_case, tmp_path):
    small_case.save(tmp_path / "case")
    runner = CliRunner()
    fits = runner.invoke(app, ["audit", str(tmp_path / "case"), "--out", str(tmp_path / "fits")])
    assert fits.exit_code == 0, fits.output
    assert (tmp_path / "fits" / "evidence.csv").exists()
    declined = runner.invoke(app, ["audit", str(tmp_path / "case"), "--out", str(tmp_path / "no"),
                                   "--no-evidence-csv"])
    assert declined.exit_code == 0, declined.output
    assert not (tmp_path / "no" / "evidence.csv").exists() and "--no-evidence-csv" in declined.output
