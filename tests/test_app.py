"""The Streamlit app driven headless: load the sample, switch language, pick a rider, see a
finding's evidence, export a dossier; and a case with no chats and no GPS says what is missing."""

import io
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).parents[1] / "app.py")
TIMEOUT = 300  # the first run reads the whole sample city


@pytest.fixture(scope="module")
def sample_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_opens_on_the_sample_in_chinese_with_the_ingest_report_first(sample_app):
    assert sample_app.title[0].value == "平台用工审计"
    assert [tab.label for tab in sample_app.tabs][:4] == ["读取报告", "总览", "单个骑手", "导出"]
    ingest = sample_app.tabs[0].dataframe[0].value
    assert "chats/wechat_R0001.csv" in ingest["文件"].to_list() and len(ingest) == 45


def test_language_switch_rider_finding_evidence_and_export(sample_app):
    at = sample_app
    at.sidebar.radio(key="lang").set_value("en").run()
    assert at.title[0].value == "Platform-work auditor"
    assert [tab.label for tab in at.tabs][:4] == ["Ingest report", "Overview", "One rider", "Export"]
    ranking = at.tabs[1].dataframe[0].value
    assert ranking.columns[:3].tolist() == ["Rider", "Category (人社部发〔2021〕56号)", "Overall (scorecard)"]
    assert ranking["Overall (scorecard)"].is_monotonic_decreasing and ranking["Reasons"].str.len().min() > 0
    assert any(s.value.startswith("Seed 20260427: 4 of 40 riders") for s in at.success)  # the recorded sample
    at.selectbox(key="rider").set_value("R0039").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Rider R0039" in [h.value for h in at.subheader]
    metrics = {m.label: m.value for m in at.tabs[2].metric}
    assert "Overall (scorecard)" in metrics and "Overtime pay owed (CNY)" in metrics
    assert any(m.value.startswith("**Category (人社部发〔2021〕56号)") for m in at.tabs[2].markdown)
    factors = next(d.value for d in at.tabs[2].dataframe if "Criterion" in d.value.columns)
    assert len(factors) == 5 and set(factors["Status"]) <= {"met", "not met", "not measurable from these inputs"}
    finding = at.selectbox(key="finding_R0039")
    finding.set_value(next(f for f in finding.options if "daily-hours-over-limit" in f)).run()
    evidence = next(d.value for d in at.tabs[2].dataframe if "Record" in d.value.columns)
    assert len(evidence) > 0 and set(evidence["File"]) <= {"platform_a/activity.csv", "platform_a/orders.csv",
                                                            "platform_b/activity.csv", "platform_b/orders.json"}
    assert evidence["Line / record"].min() >= 1 and evidence["Record"].notna().all()
    at.button(key="build_dossier").click().run()
    assert not at.exception
    assert any("dossier\\_R0039\\.html" in s.value and "manifest\\.json" in s.value for s in at.success)
    _, data, names, folder, size = at.session_state.dossier
    assert data[:2] == b"PK" and "evidence.csv" in names and (folder / "dossier_R0039.html").is_file() and size > 0
    at.button(key="export_sample").click().run()  # the 双随机 sample drawn in the overview as the selection
    drawn = next(s.value for s in at.success if s.value.startswith("Seed 20260427: 4 of 40 riders"))
    sample = drawn.split(" — ")[1].split(", ")
    assert at.multiselect(key="export_workers_R0039").value == sample and len(sample) == 4
    at.button(key="build_dossier").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with zipfile.ZipFile(io.BytesIO(at.session_state.dossier[1])) as archive:
        assert {"index.html", *(f"dossier_{w}.html" for w in sample)} <= set(archive.namelist())


def test_a_case_without_chats_or_gps_says_what_is_missing(small_case, tmp_path):
    small_case.save(tmp_path / "case")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["lang"] = "en"
    at.run()
    at.sidebar.radio(key="input_kind").set_value("folder").run()
    at.sidebar.text_input(key="folder_path").set_value(str(tmp_path / "case")).run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="rider").set_value("R1").run()
    infos = [i.value for i in at.info]
    assert "No chat messages for this rider in these inputs." in infos
    assert "No GPS positions for this rider in these inputs." in infos


def test_a_network_too_big_to_draw_at_once_is_drawn_a_station_at_a_time(sample_app, monkeypatch):
    from auditor import views

    monkeypatch.setattr(views, "NETWORK_DRAWN_NODES", 10)  # the sample's network as a city's
    at = sample_app
    at.run()
    station = at.selectbox(key="network_station")
    assert station.options and station.value == station.options[0]
    at.selectbox(key="network_station").set_value(station.options[-1]).run()
    assert not at.exception, [e.value for e in at.exception]
