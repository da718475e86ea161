"""The evidence dossier, its escaping and CSV safety, evidence resolution, the research export,
uploads and the views the app draws, on small hand-built cases."""

import html
import io
import json
import zipfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from conftest import TZ, activity_rows, local
from typer.testing import CliRunner

from auditor import export, report, research, uploads, views
from auditor.analyzers import run_all
from auditor.case import Case, Source, sha256
from auditor.cli import app
from auditor.evidence import resolve
from auditor.findings import Findings, validate
from auditor.i18n import LANGUAGES, strings

SAMPLE = Path(__file__).parents[1] / "sample_logs"


@pytest.fixture(scope="module")
def sample_result() -> tuple[Case, Findings]:
    import connectors

    case = connectors.load([SAMPLE])
    return case, run_all(case)

HOSTILE_TEXT = "<script>alert('x')</script> 今晚22点前把日报发我"
HOSTILE_NAME = '=HYPERLINK("http://evil.example","click")'
HOSTILE_FILE = "<img src=x onerror=alert(1)>.csv"


def hostile_case() -> tuple[Case, Findings]:
    """One worker whose id climbs directories, one chat message with markup and a formula as the
    sender's name, a file name with markup, and one finding citing that message."""
    worker = "../../evil"
    messages = pl.DataFrame({
        "worker_id": [worker], "message_id": ["1"], "conversation_id": ["c1"], "sender_id": ["wxid_boss"],
        "sender_name": [HOSTILE_NAME], "sender_role": ["supervisor"], "ts": [local("2026-04-27 22:00:00")],
        "text": [HOSTILE_TEXT], "attachment_kind": [None], "src": ["S001"], "src_row": [7]},
        schema_overrides={"ts": pl.Datetime("us", "UTC"), "attachment_kind": pl.String})
    sources = [Source("S001", HOSTILE_FILE, f"chats/{HOSTILE_FILE}", 10, "a" * 64, "wechat-csv", rows_read=1, rows_kept=1)]
    case = Case(tables={"messages": messages.lazy()}, tz=TZ, sources=sources)
    findings = pl.DataFrame({
        "finding_id": ["f1"], "worker_id": [worker], "indicator": ["offhours-test"], "family": ["working_time"],
        "period": ["2026-04-27"], "value": [1.0], "unit": ["h"], "threshold": [0.0], "score": [0.5],
        "sources": [["<b>law</b>"]], "explanation_zh": ["=1+1 说明"], "explanation_en": ["-2+3 <i>explained</i>"],
        "parameters": ["{}"]})
    evidence = pl.DataFrame({"finding_id": ["f1"], "table": ["messages"], "src": ["S001"], "src_row": [7]})
    return case, validate(findings, evidence)


def test_dossier_escapes_untrusted_text_and_names(tmp_path):
    case, result = hostile_case()
    files = report.write_dossier(result, case, ["../../evil"], tmp_path / "out", {"jurisdiction": "cn_standard"}, "en")
    assert all(f.parent == (tmp_path / "out") for f in files)  # nothing written outside the folder
    assert not (tmp_path / "evil.html").exists() and not list(tmp_path.glob("dossier*"))
    page = next(f for f in files if f.suffix == ".html")
    assert page.name == "dossier_evil.html"
    text = page.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in text
    lowered = text.lower()
    for tag in ("<script", "<img", "<link", "<iframe", "<b>law", "<i>explained"):
        assert tag not in lowered
    assert "http://evil.example" not in lowered.replace("&quot;http://evil.example&quot;", "")  # only as text
    assert "src=" not in lowered.replace("src=x onerror", "")  # no attribute loads anything


def test_dossier_csv_neutralises_formulas(tmp_path):
    case, result = hostile_case()
    report.write_dossier(result, case, ["../../evil"], tmp_path, {}, "zh")
    findings = pl.read_csv(tmp_path / "findings.csv")
    assert findings["explanation_zh"][0] == "'=1+1 说明" and findings["explanation_en"][0].startswith("'-2+3")
    evidence = pl.read_csv(tmp_path / "evidence.csv")
    assert evidence["record"][0].startswith("'=HYPERLINK(")
    assert evidence["file"][0] == f"chats/{HOSTILE_FILE}" and evidence["src_row"][0] == 7
    assert pl.read_parquet(tmp_path / "evidence.parquet")["record"][0].startswith("=HYPERLINK(")  # data kept as is


def test_output_names_cannot_leave_the_folder(tmp_path):
    assert report.safe_name("../../etc/passwd") == "etc_passwd"
    assert report.safe_name("..") == "selection" and report.safe_name("R0001") == "R0001"
    with pytest.raises(ValueError, match="outside"):
        report.inside(tmp_path, "../escape.html")


def test_dossier_of_the_small_case_lists_findings_evidence_and_manifest(small_case, tmp_path):
    result = run_all(small_case)
    files = report.write_dossier(result, small_case, ["R1"], tmp_path, {"jurisdiction": "cn_standard"}, "zh")
    page = (tmp_path / "dossier_R1.html").read_text(encoding="utf-8")
    assert "证据材料" in page and "daily-hours-over-limit" in page and "2026-04-27" in page
    assert "activity.csv" in page and "R2" not in page.split("<h2>")[1]  # only the chosen worker
    assert page.count('class="finding"') == result.findings.filter(pl.col("worker_id") == "R1").height >= 1
    evidence = pl.read_parquet(tmp_path / "evidence.parquet")
    assert set(evidence["file"]) <= {"activity.csv", "orders.csv"} and evidence["record"].null_count() == 0
    assert set(evidence["finding_id"]) == set(result.findings.filter(pl.col("worker_id") == "R1")["finding_id"])
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["case"] == json.loads(json.dumps(small_case.manifest))  # every input, as the audit's has it
    assert [i["sha256"] for i in manifest["case"]["sources"]] == ["0" * 64, "1" * 64]
    assert manifest["workers"] == ["R1"] and manifest["settings"]["jurisdiction"] == "cn_standard"
    assert datetime.fromisoformat(manifest["run_at"]).tzinfo is not None and manifest["version"]
    for f in files[:-1]:
        assert manifest["outputs"][f.name] == sha256(f)
    with zipfile.ZipFile(io.BytesIO(report.zip_folder(files))) as archive:
        assert sorted(archive.namelist()) == sorted(f.name for f in files)
    size = sum(f.stat().st_size for f in files)
    assert report.zip_folder(files, limit=size) is not None and report.zip_folder(files, limit=size - 1) is None


def _without_run_time(text: str, run_at: str) -> str:
    return text.replace(run_at, "RUN_AT")


def test_a_selection_has_an_index_and_a_page_per_worker_with_only_its_own_findings(sample_result, tmp_path, monkeypatch):
    case, result = sample_result
    chosen = ["R0031", "R0004", "R0022", "R0031"]  # a repeat is one page
    files = report.write_dossier(result, case, chosen, tmp_path / "one", {}, "en")
    names = [f.name for f in files]
    assert names[:4] == ["index.html", "dossier_R0031.html", "dossier_R0004.html", "dossier_R0022.html"]
    assert names[-1] == "manifest.json" and "evidence.csv" in names and "findings.parquet" in names
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["workers"] == ["R0031", "R0004", "R0022"] and manifest["index"] == "index.html"
    assert manifest["pages"] == {w: f"dossier_{w}.html" for w in ("R0031", "R0004", "R0022")}
    assert set(manifest["outputs"]) == set(names[:-1])
    index = (tmp_path / "one" / "index.html").read_text(encoding="utf-8")
    evidence = pl.read_parquet(tmp_path / "one" / "evidence.parquet")
    for worker in ("R0004", "R0022", "R0031"):
        page = (tmp_path / "one" / f"dossier_{worker}.html").read_text(encoding="utf-8")
        own = result.findings.filter(pl.col("worker_id") == worker)
        assert page.count('class="finding"') == own.height > 0
        assert f'href="dossier_{worker}.html"' in index and 'href="index.html"' in page
        rows = evidence.filter(pl.col("worker_id") == worker)
        assert set(rows["finding_id"]) == set(own["finding_id"])
        assert page.count("<tr><td>") >= rows.height  # every evidence row is a table row of the page
        assert f"{rows.height:,}</td></tr>" in index
    # evidence resolved a few workers at a time gives the same files as all at once
    monkeypatch.setattr(report, "EVIDENCE_ROWS_PER_BATCH", 1)
    again = report.write_dossier(result, case, chosen, tmp_path / "batched", {}, "en")
    run_at = [json.loads(f.read_text(encoding="utf-8"))["run_at"] for f in (files[-1], again[-1])]
    for first, second in zip(files[:-1], again[:-1]):
        if first.suffix == ".html":
            assert _without_run_time(first.read_text(encoding="utf-8"), run_at[0]) == \
                   _without_run_time(second.read_text(encoding="utf-8"), run_at[1])
        else:
            assert first.read_bytes() == second.read_bytes(), first.name


def test_page_names_never_meet_and_a_worker_page_lists_the_inputs_it_cites(sample_result, tmp_path):
    assert report.page_names(["a/b", "a_b", "A_B", "R1"]) == {
        "a/b": "dossier_a_b.html", "a_b": "dossier_a_b-2.html", "A_B": "dossier_A_B-3.html", "R1": "dossier_R1.html"}
    case, result = sample_result
    uncited = next(s for s in case.sources if s.path == "gps/R0014.gpx")
    damaged = replace(uncited, rows_rejected=1, rows_kept=uncited.rows_kept - 1)
    case = replace(case, sources=[damaged if s is uncited else s for s in case.sources])
    report.write_dossier(result, case, ["R0031"], tmp_path, {}, "en")
    page = (tmp_path / "dossier_R0031.html").read_text(encoding="utf-8")
    cited = set(pl.read_parquet(tmp_path / "evidence.parquet")["file"])
    assert "chats/wechat_R0031.csv" in cited and all(f">{file}<" in page for file in cited)
    assert "gps/R0014.gpx" in page  # not cited, but it has a rejected row
    assert "gps/R0015.gpx" not in page and f"{len(case.sources)} input files" in page
    assert "index.html" not in page  # one worker: no index


def test_the_files_written_are_named_in_short(tmp_path):
    files = [tmp_path / n for n in ("index.html", *(f"dossier_R{i}.html" for i in range(5)), "evidence.csv",
                                     "manifest.json")]
    assert report.listed(files) == ("index.html, 5 worker pages (dossier_R0.html … dossier_R4.html), evidence.csv, "
                                    "manifest.json")
    assert report.listed(files[1:3]) == "dossier_R0.html, dossier_R1.html"
    assert "5 个劳动者页面（dossier_R0.html … dossier_R4.html）" in report.listed(files, "zh")


def test_evidence_resolves_file_line_time_and_record(small_case):
    result = run_all(small_case)
    resolved = resolve(result.evidence, small_case)
    first = resolved.filter(pl.col("finding_id").str.contains("R1")).row(0, named=True)
    assert first["file"] == "activity.csv" and first["time"] == "2026-04-27 09:00:00"
    assert first["record"] == "A online" and first["src_row"] == 3
    unknown = pl.DataFrame({"finding_id": ["x"], "table": ["sessions"], "src": ["S001"], "src_row": [1]})
    assert resolve(unknown, small_case).row(0, named=True)["record"] is None  # kept, not dropped


def test_research_export_is_pseudonymised(tmp_path):
    case, result = hostile_case()
    gps = activity_rows([("../../evil", "A", "2026-04-27 10:00:00", "gps")]).with_columns(
        lon=pl.lit(121.4737), lat=pl.lit(31.2304))
    case.tables["activity"] = gps.lazy()
    result.measures["messages"] = case.table("messages").collect().with_columns(
        label=pl.lit("substantive"), rule=pl.lit("r"), is_instruction=pl.lit(True))
    options = research.Pseudonymisation("salt-1")
    research.write_research(result, case, tmp_path, options, {})
    riders = pl.read_parquet(tmp_path / "riders.parquet")
    assert riders["worker_id"][0] == research.pseudonymise(pl.Series(["../../evil"]), "salt-1")[0]
    assert research.pseudonymise(pl.Series(["../../evil"]), "salt-2")[0] != riders["worker_id"][0]
    assert (riders["lon"][0], riders["lat"][0]) == (121.47, 31.23)
    messages = pl.read_parquet(tmp_path / "messages.parquet")
    assert "text" not in messages.columns and "wxid_boss" not in messages["sender_id"].to_list()
    everything = "".join(p.read_text(encoding="utf-8", errors="ignore") for p in tmp_path.glob("*.csv"))
    manifest = (tmp_path / "manifest.json").read_text(encoding="utf-8")
    assert "evil" not in everything and "salt-1" not in manifest and HOSTILE_FILE not in manifest
    assert json.loads(manifest)["pseudonymisation"]["grid_degrees"] == 0.01
    research.write_research(result, case, tmp_path / "t", research.Pseudonymisation("salt-1", include_text=True), {})
    assert pl.read_parquet(tmp_path / "t" / "messages.parquet")["text"][0] == HOSTILE_TEXT


def test_research_medians_taken_a_share_of_workers_at_a_time_equal_one_pass(monkeypatch):
    rows = [(f"R{i % 7}", "A", f"2026-04-27 {10 + i % 9:02d}:00:00", "gps") for i in range(60)]
    activity = activity_rows(rows).with_columns(lon=120 + pl.int_range(60) * 0.013 % 1.7, lat=30 + pl.int_range(60) * 0.07 % 0.9)
    one_pass = research.median_positions(activity.lazy())
    monkeypatch.setattr(research, "POSITIONS_PER_PASS", 10)
    in_passes = research.median_positions(activity.lazy())
    assert one_pass.sort("worker_id").equals(in_passes.sort("worker_id")) and in_passes.height == 7


def test_a_research_table_beyond_a_spreadsheet_goes_to_parquet_only_and_the_manifest_says_why(tmp_path, monkeypatch):
    case, result = hostile_case()
    one = case.table("messages").collect().with_columns(
        label=pl.lit("substantive"), rule=pl.lit("r"), is_instruction=pl.lit(True))
    result.measures["messages"] = pl.concat([one] * 3)
    messages = 3
    monkeypatch.setattr(export, "SPREADSHEET_ROWS", 2)  # the rider (one row) fits, the three messages not
    files = research.write_research(result, case, tmp_path, research.Pseudonymisation("salt-1"), {})
    assert [f.name for f in files] == ["riders.csv", "riders.parquet", "messages.parquet", "manifest.json"]
    assert not (tmp_path / "messages.csv").exists()
    assert pl.read_parquet(tmp_path / "messages.parquet").height == messages
    (note,) = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))["not_written"]
    assert note.startswith(f"messages.csv not written: its {messages:,} rows exceed")


def test_uploads_stay_in_their_folder_and_under_the_limit(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("chats/a.csv", "x")
        archive.writestr("../../escape.csv", "x")
        archive.writestr("/abs.csv", "x")
    skipped = uploads.unpack([("case.zip", buffer.getvalue()), ("../b.txt", b"y")], tmp_path / "up")
    assert sorted(skipped) == ["../../escape.csv", "/abs.csv"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "up/b.txt", "up/chats/a.csv"]
    with pytest.raises(uploads.UploadError, match="limit"):
        uploads.unpack([("big.csv", b"x" * (2 * 1024 * 1024))], tmp_path / "big", limit_mb=1)


def test_views_flag_off_hours_messages_and_rank_every_worker(small_case):
    messages = pl.DataFrame({
        "worker_id": ["R1", "R1"], "message_id": ["1", "2"], "conversation_id": ["c", "c"],
        "sender_id": ["me", "me"], "sender_name": ["me", "me"], "sender_role": ["self", "self"],
        "ts": [local("2026-04-27 10:00:00"), local("2026-04-27 22:30:00")], "text": ["在路上", "日报：今日完成32单"],
        "attachment_kind": [None, None], "src": ["S003", "S003"], "src_row": [2, 3]},
        schema_overrides={"ts": pl.Datetime("us", "UTC"), "attachment_kind": pl.String})
    small_case.tables["messages"] = messages.lazy()
    result = run_all(small_case)
    mine = views.worker_messages(small_case, result, "R1")
    assert mine["off_hours"].to_list() == [False, True]  # 10:00 is inside the online period, 22:30 is not
    heat = views.offhours_heatmap(mine)
    assert heat.rows() == [(1, 22, 1, 1)]  # Monday 22 h: one message, substantive
    timeline = views.timeline(small_case, result, "R2")
    assert timeline.filter(pl.col("lane") == "online").select("date", "from_h", "to_h").rows()[:2] == [
        (datetime(2026, 4, 27).date(), 22.0, 24.0), (datetime(2026, 4, 28).date(), 0.0, 2.0)]
    ranking = views.risk_ranking(result.findings, ["R1", "R2", "R9"])
    assert ranking["worker_id"].to_list()[-1] == "R9" and ranking.filter(pl.col("worker_id") == "R9")["risk"][0] == 0
    assert views.random_sample(["a", "b", "c", "d"], 2, seed=1) == views.random_sample(["a", "b", "c", "d"], 2, seed=1)
    assert views.map_points(small_case, "R1").is_empty() and views.zone_polygons(small_case).is_empty()


def test_every_ui_string_exists_in_every_language():
    keys = [set(strings(lang)) for lang in LANGUAGES]
    assert all(k == keys[0] for k in keys) and len(keys[0]) > 50


def test_cli_report_writes_the_dossier(small_case, tmp_path):
    small_case.save(tmp_path / "case")
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(tmp_path / "case"), "--worker", "R1", "--out", str(tmp_path / "d"),
                                 "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "dossier_R1.html").is_file() and (tmp_path / "d" / "manifest.json").is_file()
    missing = runner.invoke(app, ["report", str(tmp_path / "case"), "--worker", "NOPE", "--out", str(tmp_path / "e")])
    assert missing.exit_code == 2 and "NOPE" in missing.output
    research_run = runner.invoke(app, ["research-export", str(tmp_path / "case"), "--salt", "s", "--out",
                                       str(tmp_path / "r")])
    assert research_run.exit_code == 0 and (tmp_path / "r" / "riders.parquet").is_file()


def test_dossier_of_a_station_rider_has_scorecard_category_overtime_and_offhours_criteria(sample_result, tmp_path):
    case, result = sample_result
    files = report.write_dossier(result, case, ["R0031"], tmp_path, {}, "en")
    page = next(f for f in files if f.suffix == ".html").read_text(encoding="utf-8")
    card = result.measures["scorecard"].filter(pl.col("worker_id") == "R0031").row(0, named=True)
    owed = result.measures["overtime"].filter(pl.col("worker_id") == "R0031").row(0, named=True)
    assert "Control scorecard and category" in page and card["category_en"] in page
    assert html.escape(card["reasons_en"]) in page
    assert "Supreme People&#x27;s Court factors" in page or "Supreme People's Court factors" in page
    assert "Overtime pay owed by band" in page and f"{owed['pay_owed']:,.2f}" in page
    assert html.escape(owed["wage_basis"]) in page  # the wage assumption is stated
    for criterion in ("Criterion 1", "criterion 2", "criterion 3"):
        assert criterion in page
    assert "chats/wechat_R0031.csv" in page
    assert "<h3>Measure: scorecard</h3>" not in page  # shown once, in its own section


def test_ranking_uses_the_scorecard_and_the_sample_matches_the_recorded_one(sample_result):
    case, result = sample_result
    ranked = views.ranking(result, views.workers(case, result))
    assert ranked["overall"].is_sorted(descending=True)
    card = result.measures["scorecard"]
    first = card.sort("overall", descending=True).row(0, named=True)
    assert ranked.row(0, named=True)["worker_id"] == first["worker_id"] and ranked["category"][0] == first["category"]
    assert ranked["personal"].to_list() == ranked.join(card, on="worker_id", maintain_order="left")["personal_right"].to_list()
    recorded = result.measures["inspection_sample"]
    picked = views.random_sample(ranked["worker_id"].to_list(), recorded.height, recorded["seed"][0])
    assert picked == sorted(recorded["worker_id"].to_list())
    assert views.worker_views(result, "R0031")["view"].unique().to_list() == ["cn_spc"]


def test_a_family_no_analyzer_measured_is_empty_and_left_out_of_risk(small_case):
    from auditor.analyzers import daily_hours
    from auditor.settings import Settings

    findings = daily_hours.run(small_case, Settings()).findings  # working time only
    ranked = views.risk_ranking(findings, ["R1", "R2"])
    assert ranked["algorithmic"].is_null().all() and ranked["personal"].is_null().all()
    assert ranked["risk"].to_list() == ranked["working_time"].to_list()
