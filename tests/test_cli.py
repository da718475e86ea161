import inspect
import json

import polars as pl
from typer.testing import CliRunner

from auditor.cli import app, simulate
from auditor.simulate import Knobs

runner = CliRunner()


def test_audit_of_a_saved_case_writes_findings_evidence_and_manifest(small_case, tmp_path):
    small_case.save(tmp_path / "case")
    result = runner.invoke(app, ["audit", str(tmp_path / "case"), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "R1" in result.output and "days over 8 h" in result.output
    report = tmp_path / "report"
    findings = pl.read_parquet(report / "findings.parquet")
    assert findings.filter(pl.col("indicator") == "daily-hours-over-limit").height == 2
    assert {"overtime-pay-owed", "working-time-total"} <= set(findings["indicator"])
    evidence = pl.read_csv(report / "evidence.csv")
    assert set(evidence["file"]) <= {"activity.csv", "orders.csv"}
    manifest = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["case"]["sources"][0]["sha256"] == "0" * 64
    assert manifest["settings"]["jurisdiction"] == "cn_standard" and manifest["run_at"]


def test_missing_path_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["audit", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "nowhere" in result.output and "no such file" in result.output


def test_unknown_jurisdiction_is_a_clear_error(small_case, tmp_path):
    small_case.save(tmp_path / "case")
    result = runner.invoke(app, ["audit", str(tmp_path / "case"), "--jurisdiction", "mars"])
    assert result.exit_code == 2 and "unknown jurisdiction 'mars'" in result.output


def test_every_command_has_help_and_is_in_the_readme():
    readme = (__import__("pathlib").Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        assert command.callback.__doc__, f"auditor {name} has no help text"
        assert f"auditor {name}" in readme, f"auditor {name} is not documented in the README"


def test_ingest_of_a_folder_with_bad_files_reads_the_rest_and_names_each_problem(tmp_path):
    folder = tmp_path / "exports"
    (folder / "platform_a").mkdir(parents=True)
    (folder / "relations.csv").write_text(
        "from_party,from_kind,to_party,to_kind,relation,evidence\nA,platform,AG1,agency,contracts,contract p.1\n",
        encoding="utf-8")
    (folder / "platform_a" / "activity.csv").write_text(
        "rider_id,event_time,event,lon,lat,detail\n"
        "R1,1777250400000,online,,,\n"
        "R1,not-a-time,offline,,,\n"
        "R1,1777286400000,offline\n", encoding="utf-8")      # truncated row: 3 fields of 6
    (folder / "notes.bin").write_bytes(b"\x00\x01\x02 no known export")
    (folder / "empty.gpx").write_bytes(b"")
    out = tmp_path / "case"
    result = runner.invoke(app, ["ingest", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    by_path = {s["path"]: s for s in manifest["sources"]}
    assert by_path["relations.csv"]["rows_kept"] == 1
    activity = by_path["platform_a/activity.csv"]
    assert (activity["rows_read"], activity["rows_kept"], activity["rows_rejected"]) == (3, 1, 2)
    assert {(r["line"], r["code"]) for r in activity["rejected"]} == {
        (3, "row-unparseable-timestamp"), (4, "row-wrong-field-count")}
    assert by_path["notes.bin"]["error_code"] == "file-unrecognised"
    assert by_path["empty.gpx"]["error_code"] == "file-empty"
    assert "notes.bin" in result.output and "2 file(s) not read" in result.output
    assert "4 files: 4 rows read = 2 kept + 2 rejected" in result.output


def test_a_city_s_ingest_report_shows_the_files_with_a_problem_first_and_counts_them_all(tmp_path, monkeypatch):
    from auditor import cli

    monkeypatch.setattr(cli, "CONSOLE_FILES", 1)
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a_relations.csv").write_text(
        "from_party,from_kind,to_party,to_kind,relation,evidence\nA,platform,AG1,agency,contracts,p.1\n", encoding="utf-8")
    (folder / "b_relations.csv").write_text(
        "from_party,from_kind,to_party,to_kind,relation,evidence\nA,platform,AG1,agency,contracts,p.1\nbroken\n",
        encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(folder), "--out", str(tmp_path / "case")])
    assert result.exit_code == 0, result.output
    assert "b_relations.csv" in result.output and "a_relations.csv" not in result.output
    assert "2 files: 3 rows read = 2 kept + 1 rejected; the first 1 shown, every file in the manifest" in result.output


def dispatch_records(city) -> int:
    b = json.loads((city / "platform_b" / "orders.json").read_text(encoding="utf-8"))
    return pl.read_csv(city / "platform_a" / "orders.csv").height + len(b["orders"])


def test_simulate_order_rate_makes_a_busier_city(tmp_path):
    assert inspect.signature(simulate).parameters["order_rate"].default == Knobs().order_rate
    small = ["simulate", "--seed", "3", "--riders", "4", "--days", "2"]
    for rate in ("1.0", "3.0"):
        result = runner.invoke(app, [*small, "--out", str(tmp_path / rate), "--order-rate", rate])
        assert result.exit_code == 0, result.output
    assert dispatch_records(tmp_path / "3.0") > dispatch_records(tmp_path / "1.0")
    refused = runner.invoke(app, [*small, "--out", str(tmp_path / "none"), "--order-rate", "0"])
    assert refused.exit_code == 2 and "--order-rate 0" in refused.output


def test_a_city_s_workers_are_summarised_in_the_terminal_and_listed_in_full_in_the_report(small_case, tmp_path,
                                                                                          monkeypatch):
    from auditor import cli

    monkeypatch.setattr(cli, "CONSOLE_WORKERS", 1)
    small_case.save(tmp_path / "case")
    result = runner.invoke(app, ["audit", str(tmp_path / "case"), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "… the first 1 of 2 workers; every worker in worker_days.parquet and daily_hours.parquet" in result.output
    assert pl.read_parquet(tmp_path / "report" / "daily_hours.parquet")["worker_id"].n_unique() == 2


def test_the_ingest_report_counts_a_gpx_track_s_rows_in_points_not_lines(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    points = "".join(f'<trkpt lat="31.2{i}" lon="121.4{i}"><time>2026-04-27T0{i}:00:00Z</time></trkpt>\n' for i in range(3))
    (folder / "track.gpx").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">\n'
        f'<trk><name>R0001</name><trkseg>\n{points}<trkpt lat="x" lon="121.4"><time>2026-04-27T05:00:00Z</time></trkpt>\n'
        "</trkseg></trk></gpx>\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(folder), "--out", str(tmp_path / "case")])
    assert result.exit_code == 0, result.output
    assert "first: point 4," in result.output  # the 4th track point, on the file's 6th line
    manifest = json.loads((tmp_path / "case" / "manifest.json").read_text(encoding="utf-8"))
    (source,) = manifest["sources"]
    assert source["row_unit"] == "point" and source["rejected"][0]["line"] == 4
