"""An audit written by ``auditor audit`` opened again — by the dossier, the research export and
the app — as written, not run again: a city's audit takes minutes, reading it back seconds."""

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from auditor import law
from auditor.case import Case, sha256
from auditor.cli import app
from auditor.engines import local
from auditor.export import is_audit, read_audit, write_audit
from auditor.settings import Settings

APP = str(Path(__file__).parents[1] / "app.py")
SETTINGS = Settings(working_window=("08:00", "17:00"), chat_gap_minutes=30.0)  # not the defaults
runner = CliRunner()


@pytest.fixture
def audit_folder(small_case, tmp_path) -> Path:
    result = local.audit(small_case, SETTINGS)
    write_audit(result, small_case, tmp_path / "report", {**SETTINGS.to_dict(), "engine": "local",
                                                          "inputs": ["activity.csv", "orders.csv"]})
    return tmp_path / "report"


def not_run_again(*args, **kwargs):
    raise AssertionError("the saved audit was run again")


def test_an_audit_read_back_is_the_audit_written(small_case, tmp_path):
    written = local.audit(small_case, SETTINGS)
    audit_folder = tmp_path / "report"
    write_audit(written, small_case, audit_folder, {**SETTINGS.to_dict(), "engine": "local"})
    saved = read_audit(audit_folder)
    assert is_audit(audit_folder) and not is_audit(audit_folder / "case")
    assert saved.settings == SETTINGS and saved.manifest["settings"]["engine"] == "local"
    assert_frame_equal(saved.result.findings, written.findings)
    assert_frame_equal(saved.result.evidence.collect(), written.evidence.lazy().collect())
    assert saved.result.measures.keys() == written.measures.keys()
    for name, frame in written.measures.items():
        assert_frame_equal(saved.result.measures[name], frame, check_dtypes=frame.height > 0)
    for name in ("activity", "orders"):
        assert_frame_equal(saved.case.table(name).collect(), small_case.table(name).collect())
    assert [s.sha256 for s in saved.case.sources] == [s.sha256 for s in small_case.sources]


def test_a_case_table_changed_inside_an_audit_is_named(audit_folder):
    manifest = json.loads((audit_folder / "manifest.json").read_text(encoding="utf-8"))
    assert {"case/orders.parquet", "case/activity.parquet", "case/manifest.json"} <= set(manifest["outputs"])
    orders = pl.read_parquet(audit_folder / "case" / "orders.parquet")
    orders.with_columns(pay=pl.col("pay") * 2).write_parquet(audit_folder / "case" / "orders.parquet")  # records altered
    with pytest.raises(ValueError, match=r"case/orders\.parquet changed since the audit wrote it"):
        read_audit(audit_folder)
    (audit_folder / "case" / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"lists case/manifest\.json, not in the folder"):
        read_audit(audit_folder)


def test_a_damaged_audit_is_an_error_naming_the_file(audit_folder):
    manifest_text = (audit_folder / "manifest.json").read_text(encoding="utf-8")
    (audit_folder / "manifest.json").write_text(manifest_text[:40], encoding="utf-8")  # cut short
    with pytest.raises(ValueError, match=r"manifest\.json: not the JSON manifest an audit writes"):
        read_audit(audit_folder)
    (audit_folder / "manifest.json").write_text(manifest_text, encoding="utf-8")
    (audit_folder / "daily_hours.parquet").unlink()
    with pytest.raises(FileNotFoundError, match=r"manifest\.json lists daily_hours\.parquet, not in the folder"):
        read_audit(audit_folder)
    findings = pl.read_parquet(audit_folder / "findings.parquet")
    findings.with_columns(score=pl.lit(0.0)).write_parquet(audit_folder / "findings.parquet")  # scores altered
    manifest = json.loads((audit_folder / "manifest.json").read_text(encoding="utf-8"))
    del manifest["outputs"]["daily_hours.parquet"]
    (audit_folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ValueError, match=r"findings\.parquet changed since the audit wrote it"):
        read_audit(audit_folder)
    pl.DataFrame({"finding_id": ["x"]}).write_parquet(audit_folder / "findings.parquet")
    manifest["outputs"]["findings.parquet"] = sha256(audit_folder / "findings.parquet")  # a manifest made to match
    (audit_folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ValueError, match=r"findings\.parquet: expected the columns .* missing or of another type: "
                                         r"worker_id \(String\)"):
        read_audit(audit_folder)


def test_an_audit_folder_is_not_taken_for_a_case_and_can_be_audited_again(audit_folder, tmp_path):
    with pytest.raises(ValueError, match=r"manifest\.json is not a saved case's \(its case is in case/\)"):
        Case.load(audit_folder)
    again = runner.invoke(app, ["audit", str(audit_folder), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert pl.read_parquet(tmp_path / "again" / "findings.parquet").height == \
        pl.read_parquet(audit_folder / "findings.parquet").height


def test_a_dossier_from_the_saved_audit_equals_one_run_again(small_case, tmp_path, monkeypatch):
    write_audit(local.audit(small_case, Settings()), small_case, tmp_path / "report",
                {**Settings().to_dict(), "inputs": ["activity.csv", "orders.csv"]})
    rerun = runner.invoke(app, ["report", str(tmp_path / "report" / "case"), "--worker", "R2", "--out",
                                str(tmp_path / "rerun")])
    assert rerun.exit_code == 0, rerun.output
    monkeypatch.setattr(local, "audit", not_run_again)
    saved = runner.invoke(app, ["report", str(tmp_path / "report"), "--worker", "R2", "--out",
                                str(tmp_path / "saved")])
    assert saved.exit_code == 0, saved.output
    assert "as written (not run again)" in saved.output
    for name in ("findings.csv", "evidence.csv"):
        assert (tmp_path / "saved" / name).read_bytes() == (tmp_path / "rerun" / name).read_bytes()
    assert pl.read_csv(tmp_path / "saved" / "findings.csv")["worker_id"].unique().to_list() == ["R2"]
    manifest = json.loads((tmp_path / "saved" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["settings"]["audit"]["inputs"] == ["activity.csv", "orders.csv"]


def test_the_research_export_reads_the_saved_audit_with_its_settings(audit_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(local, "audit", not_run_again)
    run = runner.invoke(app, ["research-export", str(audit_folder), "--salt", "s3cret", "--out", str(tmp_path / "r")])
    assert run.exit_code == 0, run.output
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["settings"]["chat_gap_minutes"] == 30.0


def test_another_jurisdiction_than_the_audit_s_runs_it_again(audit_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(law, "HERE", tmp_path / "law")  # a second parameter set an audit can apply
    shutil.copytree(Path(law.__file__).parent, law.HERE)
    shutil.copy(law.HERE / "cn_standard.toml", law.HERE / "cn_comprehensive_test.toml")
    run = runner.invoke(app, ["report", str(audit_folder), "--worker", "R2", "--jurisdiction",
                              "cn_comprehensive_test", "--out", str(tmp_path / "other")])
    assert run.exit_code == 0, run.output
    assert "not run again" not in run.output
    manifest = json.loads((tmp_path / "other" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["settings"]["jurisdiction"] == "cn_comprehensive_test" and "audit" not in manifest["settings"]
    comparison = runner.invoke(app, ["report", str(audit_folder), "--worker", "R2", "--jurisdiction", "eu_wtd"])
    assert comparison.exit_code == 2
    assert "unknown jurisdiction 'eu_wtd'; an audit applies: cn_comprehensive_test, cn_standard" in comparison.output


def test_the_app_opens_a_saved_audit_as_written_and_runs_it_again_when_a_setting_changes(audit_folder, monkeypatch):
    findings = pl.read_parquet(audit_folder / "findings.parquet").height
    monkeypatch.setattr(local, "audit", not_run_again)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["lang"] = "en"
    at.run()
    at.sidebar.radio(key="input_kind").set_value("folder").run()
    at.sidebar.text_input(key="folder_path").set_value(str(audit_folder)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("opened as written" in s.value for s in at.sidebar.success)
    assert at.sidebar.number_input(key="chat_gap").value == 30.0  # the audit's own settings
    assert any(f"{findings} findings" in c.value for c in at.sidebar.caption)
    at.selectbox(key="rider").set_value("R2").run()
    assert not at.exception, [e.value for e in at.exception]
    monkeypatch.undo()
    at.sidebar.number_input(key="chat_gap").set_value(45.0).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("run again with them" in i.value for i in at.sidebar.info)
    assert not at.sidebar.success


def test_a_dossier_of_a_worker_the_inputs_never_mention_is_a_clear_error(audit_folder, tmp_path):
    run = runner.invoke(app, ["report", str(audit_folder), "--worker", "R2", "--worker", "R9", "--worker", "R0",
                              "--out", str(tmp_path / "d")])
    assert run.exit_code == 2 and "worker(s) ['R0', 'R9'] appear nowhere in these inputs" in run.output
    assert not (tmp_path / "d").exists()


def test_a_saved_audit_opened_after_another_input_opens_with_its_own_settings(audit_folder, small_case, tmp_path):
    small_case.save(tmp_path / "case")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["lang"] = "en"
    at.run()
    at.sidebar.radio(key="input_kind").set_value("folder").run()
    at.sidebar.text_input(key="folder_path").set_value(str(tmp_path / "case")).run()  # default settings
    assert at.sidebar.number_input(key="chat_gap").value == 60.0
    at.sidebar.text_input(key="folder_path").set_value(str(audit_folder)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.number_input(key="chat_gap").value == 30.0
    assert any("opened as written" in s.value for s in at.sidebar.success)


def test_the_dossier_of_the_audit_s_random_sample(audit_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(local, "audit", not_run_again)
    drawn = pl.read_parquet(audit_folder / "inspection_sample.parquet")["worker_id"].sort().to_list()
    run = runner.invoke(app, ["report", str(audit_folder), "--sample", "--worker", "R2", "--out", str(tmp_path / "d")])
    assert run.exit_code == 0, run.output
    assert f"the 双随机 sample: {len(drawn)} of" in run.output
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["workers"] == list(dict.fromkeys(["R2", *drawn]))
    assert all((tmp_path / "d" / page).is_file() for page in manifest["pages"].values())
    nobody = runner.invoke(app, ["report", str(audit_folder), "--out", str(tmp_path / "e")])
    assert nobody.exit_code == 2 and "--worker ID" in nobody.output and "--sample" in nobody.output


def test_an_audit_written_before_evidence_was_a_folder_still_reads(audit_folder):
    expected = read_audit(audit_folder).result.evidence.collect()
    manifest = json.loads((audit_folder / "manifest.json").read_text(encoding="utf-8"))
    shutil.move(audit_folder / "evidence" / "part-000000.parquet", audit_folder / "evidence.parquet")
    (audit_folder / "evidence").rmdir()
    outputs = manifest["outputs"]
    outputs["evidence.parquet"] = outputs.pop("evidence/part-000000.parquet")
    (audit_folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert is_audit(audit_folder)
    assert_frame_equal(read_audit(audit_folder).result.evidence.collect(), expected)


def test_writing_an_audit_again_into_its_folder_leaves_no_former_evidence(audit_folder, small_case):
    (audit_folder / "evidence" / "part-000007.parquet").write_bytes(b"from an earlier, larger audit")
    result = local.audit(small_case, SETTINGS)
    write_audit(result, small_case, audit_folder, SETTINGS.to_dict())
    assert sorted(path.name for path in (audit_folder / "evidence").iterdir()) == ["part-000000.parquet"]
    assert read_audit(audit_folder).result.evidence.collect().height == result.evidence.height


def test_a_saved_audit_written_again_into_its_own_folder_keeps_its_evidence(audit_folder):
    saved = read_audit(audit_folder)
    rows = saved.result.evidence.collect()
    write_audit(saved.result, saved.case, audit_folder, saved.settings.to_dict())  # its evidence read from there
    assert_frame_equal(read_audit(audit_folder).result.evidence.collect(), rows)
    assert not [path for path in audit_folder.iterdir() if path.name.startswith(".evidence-")]
