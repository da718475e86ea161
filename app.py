"""Streamlit app: load exports, check the ingest report, see findings and their evidence, export a
dossier. A thin shell: every computation is in ``auditor/`` and cached per case and settings.

Run: ``streamlit run app.py`` (opens on the bundled sample city)."""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from datetime import datetime
from pathlib import Path

import polars as pl
import streamlit as st

import connectors
from auditor import charts, law, report, research, uploads, views
from auditor.case import Case
from auditor.engines import local
from auditor.evidence import resolve
from auditor.export import SavedAudit, is_audit, read_audit
from auditor.findings import FAMILIES, Findings
from auditor.i18n import LANGUAGES, strings, t
from auditor.settings import Settings

SAMPLE = Path(__file__).parent / "sample_logs"
STATUSES = ("met", "not met", "not measurable")  # the criterion statuses of the ``views`` measure
MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]()<>#+\-.!|~$:]")
SETTINGS_WIDGETS = ("jurisdiction", "hours_system", "window_start", "window_end", "use_roster", "chat_gap",
                    "device_gap", "monthly_wage", "roles")  # the sidebar's settings, by widget key
DOWNLOAD_LIMIT_MB = 200  # a larger dossier is left in its folder instead of a zip held in memory
SAMPLE_LISTED = 30  # riders of a 双随机 sample named in its message
UPLOAD_TYPES = ["csv", "json", "txt", "gpx", "geojson", "toml", "zip"]

st.set_page_config(page_title="Platform-work auditor", page_icon="⚖️", layout="wide")
lang = st.sidebar.radio("语言 · Language", LANGUAGES, key="lang", horizontal=True,
                        format_func=lambda code: {"zh": "中文", "en": "English"}[code])


def T(key: str, **values) -> str:
    """A UI string; values from the inputs (names, paths, ids) are escaped because Streamlit reads
    most labels as Markdown, where ``![x](http://…)`` would fetch from the network."""
    return t(key, lang, **{k: md(str(v)) for k, v in values.items()})


TRANSLATED = set(strings("en"))


def md(text: str) -> str:
    return MARKDOWN_SPECIAL.sub(r"\\\g<0>", text)


@st.cache_resource(show_spinner=False, max_entries=4)
def load_case(folder: str, fingerprint: str) -> Case:
    return Case.load(folder) if Case.is_saved(folder) else connectors.load([Path(folder)])


@st.cache_resource(show_spinner=False, max_entries=2)
def load_audit(folder: str, fingerprint: str) -> SavedAudit:
    return read_audit(folder)


@st.cache_resource(show_spinner=False, max_entries=8)
def analyse(case_key: str, settings_key: str, _case: Case, _settings: Settings) -> Findings:
    # a city beyond local.ROWS_AT_ONCE rows part by part, its evidence on disk: a laptop's memory
    return local.audit(_case, _settings)


@st.cache_data(show_spinner=False, max_entries=64)
def rider_views(case_key: str, settings_key: str, worker: str, _case: Case, _result: Findings) -> dict:
    messages = views.worker_messages(_case, _result, worker)
    # every finding's evidence of the rider at once, read (from the rider's file of a city audit's
    # evidence) and resolved once per rider, not once per finding shown
    evidence = resolve(_result.evidence_of(_result.findings.filter(pl.col("worker_id") == worker)), _case)
    return {"timeline": views.timeline(_case, _result, worker), "messages": messages,
            "heatmap": views.offhours_heatmap(messages), "points": views.map_points(_case, worker),
            "evidence": evidence}


@st.cache_data(show_spinner=False, max_entries=8)
def case_views(case_key: str, settings_key: str, _case: Case, _result: Findings) -> dict:
    return views.overview(_case, _result)


@st.cache_data(show_spinner=False, max_entries=16)
def station_network(keys: tuple[str, str], station: str, _case: Case, _result: Findings) -> tuple:
    return views.network(_case, _result, focus=station)


def choose_folder() -> Path | None:
    """The sidebar's input choice: the bundled sample, a folder on this machine, or uploads."""
    kind = st.sidebar.radio(T("input"), ["sample", "folder", "upload"], key="input_kind",
                            format_func=lambda k: T("input_" + k))
    if kind == "sample":
        return SAMPLE
    if kind == "folder":
        text = st.sidebar.text_input(T("folder_path"), key="folder_path")
        folder = Path(text).expanduser() if text else None
        if folder is not None and not folder.is_dir():
            st.sidebar.error(T("folder_missing", path=text))
            return None
        return folder
    files = st.sidebar.file_uploader(T("upload_help", mb=uploads.MAX_UPLOAD_MB), type=UPLOAD_TYPES,
                                     accept_multiple_files=True, key="uploads")
    if not files:
        return None
    if "upload_dir" not in st.session_state:
        st.session_state.upload_dir = tempfile.mkdtemp(prefix="auditor-upload-")
    folder = Path(st.session_state.upload_dir)
    try:
        skipped = uploads.unpack([(f.name, f.getvalue()) for f in files], folder)
    except (uploads.UploadError, OSError, ValueError) as err:
        st.sidebar.error(md(str(err)))
        return None
    if skipped:
        st.sidebar.warning(T("upload_skipped", names=", ".join(skipped)))
    return folder


def choose_settings(case: Case, recorded: Settings) -> Settings:
    """Settings that change results, in the sidebar, starting from ``recorded`` (a saved audit's,
    else the defaults); they are recorded with every export."""
    box = st.sidebar.expander(T("settings"), expanded=False)
    jurisdictions = law.jurisdictions()
    jurisdiction = box.selectbox(T("jurisdiction"), jurisdictions, key="jurisdiction",
                                 index=_index(jurisdictions, recorded.jurisdiction))
    systems = [k for k, v in law.load(jurisdiction).get("hours_systems", {}).items() if isinstance(v, dict)] \
        or ["standard"]
    hours_system = box.selectbox(T("hours_system"), systems, key="hours_system",
                                 index=_index(systems, recorded.hours_system))
    window = [datetime.strptime(clock, "%H:%M").time() for clock in recorded.working_window]
    start = box.time_input(T("window_start"), window[0], key="window_start")
    end = box.time_input(T("window_end"), window[1], key="window_end")
    use_roster = box.checkbox(T("use_roster"), recorded.use_roster, key="use_roster")
    chat_gap = box.number_input(T("chat_gap"), 1.0, 600.0, recorded.chat_gap_minutes, step=5.0, key="chat_gap")
    device_gap = box.number_input(T("device_gap"), 1.0, 240.0, recorded.device_gap_minutes, step=1.0,
                                  key="device_gap")
    wage = box.number_input(T("monthly_wage"), 0.0, 1e6, recorded.monthly_wage or 0.0, step=100.0,
                            key="monthly_wage")
    participants = case.table("participants").select("participant_id", "display_name", "role").collect()
    roles: dict[str, str] = {}
    if participants.height:
        box.caption(T("roles_help"))
        shown = participants.with_columns(pl.col("participant_id").replace_strict(
            recorded.roles, default=pl.col("role"), return_dtype=pl.String).alias("role"))
        edited = box.data_editor(shown.to_pandas(), key="roles", disabled=["participant_id", "display_name"],
                                 column_config={"role": st.column_config.SelectboxColumn(
                                     options=["worker", "supervisor", "colleague", "customer", "system", "unknown"])})
        changed = pl.from_pandas(edited).join(participants, on=["participant_id", "role"], how="anti")
        roles = dict(changed.select("participant_id", "role").iter_rows())
    return dataclasses.replace(recorded, jurisdiction=jurisdiction, hours_system=hours_system,
                               working_window=(start.strftime("%H:%M"), end.strftime("%H:%M")),
                               use_roster=use_roster, chat_gap_minutes=chat_gap, device_gap_minutes=device_gap,
                               monthly_wage=wage or None, roles=roles)


def _index(options: list[str], chosen: str) -> int:
    return options.index(chosen) if chosen in options else 0


def ingest_tab(case: Case) -> None:
    st.subheader(T("ingest_title"))
    st.caption(T("ingest_help"))
    rows = [{T("file"): s.path, T("format"): s.connector or "—", T("row_unit"): T("unit_" + s.row_unit.replace(" ", "_")),
             T("rows_read"): s.rows_read,
             T("rows_kept"): s.rows_kept, T("rows_rejected"): s.rows_rejected, T("problem"): s.error or "",
             T("detected"): ", ".join(f"{k}={v}" for k, v in s.detected.items())}
            for s in case.sources]
    st.dataframe(pl.DataFrame(rows), hide_index=True, width="stretch")
    rejected = [{T("file"): s.path, T("line"): r.line, T("code"): r.code, T("reason"): r.reason}
                for s in case.sources for r in s.rejected]
    st.markdown(f"**{T('rejected_rows', n=len(rejected))}**")
    if rejected:
        st.dataframe(pl.DataFrame(rejected), hide_index=True, width="stretch")


def headings() -> dict[str, str]:
    """Column names of the app's frames → their label in the chosen language."""
    keys = ["risk", "findings", "overall", "category", "station", "riders", "mean_risk", "max_risk", "risk_rank",
            "overall_mean", "overall_median", "overall_p90", "labour_relationship", "managed_not_full", "civil",
            "hours_150", "hours_200", "hours_300", "chat_hours", "hourly_wage", "pay_owed", "best", "status"]
    return ({k: T(k) for k in keys} | {"family_" + f: T("family_" + f) for f in FAMILIES}
            | {f: T("family_" + f) for f in FAMILIES} | {"worker_id": T("rider"), "station_id": T("station"),
                                                          "category_" + lang: T("category"), "reasons_" + lang: T("reasons"),
                                                          "criterion_" + lang: T("criterion"), "by": T("indicators")})


def labelled(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``columns`` of ``frame`` (those it has) under their labels in the chosen language."""
    names = headings()
    return frame.select(c for c in columns if c in frame.columns).rename(lambda c: names.get(c, c))


def overview_tab(case: Case, result: Findings, cv: dict, keys: tuple[str, str]) -> list[str]:
    """The city at a glance; returns the 双随机 sample drawn at its end."""
    ranking = cv["ranking"]
    scored = "overall" in ranking.columns
    st.subheader(T("ranking_title"))
    st.caption(T("ranking_help_scorecard" if scored else "ranking_help"))
    st.dataframe(labelled(ranking, ["worker_id", "category_" + lang, "overall", "risk", *FAMILIES, "findings",
                                      "reasons_" + lang]),
                   hide_index=True, width="stretch", height=420, column_config={T("reasons"): st.column_config.TextColumn(
                       width="large"), T("category"): st.column_config.TextColumn(width="medium")})
    st.altair_chart(charts.family_chart(ranking, lang), width="stretch")  # below: the table needs the width
    st.subheader(T("stations_title"))
    stations = cv["stations"]
    if "risk_rank" in stations.columns:
        st.caption(T("stations_help"))
        main = ["risk_rank", "station_id", "riders", "overall_mean", "overall_median", "overall_p90",
                "labour_relationship", "managed_not_full", "civil"]
        stations = labelled(stations, [*main, *(c for c in stations.columns if c not in main)])
    else:
        stations = labelled(stations, stations.columns)
    st.dataframe(stations, hide_index=True, width="stretch")
    case_level = {name: frame for name, frame in result.measures.items() if "worker_id" not in frame.columns}
    with st.expander(T("case_measures", n=len(case_level))):
        for name, frame in sorted(case_level.items()):
            st.markdown(f"**{md(name)}**")
            st.dataframe(frame, hide_index=True, width="stretch")
    st.subheader(T("network_title"))
    nodes, edges = cv["nodes"], cv["edges"]
    if not nodes.height:
        st.info(T("missing_relations"))
    else:
        st.caption(T("network_help"))
        if nodes.height > views.NETWORK_DRAWN_NODES and (stations := views.network_stations(nodes, cv["stations"])):
            station = st.selectbox(T("network_station", n=nodes.height), stations, key="network_station")
            nodes, edges = station_network(keys, station, case, result)
        st.altair_chart(charts.network_chart(nodes, edges, lang), width="stretch")
    return sample_section(ranking, result)


def sample_section(ranking: pl.DataFrame, result: Findings) -> list[str]:
    """双随机: drawn the way the scorecard's ``inspection_sample`` is, so the default size and seed
    give the sample the analyzers recorded."""
    st.subheader(T("sample_title"))
    recorded = result.measures.get("inspection_sample")
    size = recorded["sample_size"][0] if recorded is not None and recorded.height else min(5, ranking.height)
    seed = recorded["seed"][0] if recorded is not None and recorded.height else Settings().inspection_seed
    n_col, seed_col = st.columns(2)
    n = n_col.number_input(T("sample_size"), 1, max(1, ranking.height), max(1, int(size)), key="sample_n")
    seed = seed_col.number_input(T("sample_seed"), 0, 2**31 - 1, int(seed), key="sample_seed")
    picked = views.random_sample(ranking["worker_id"].to_list(), int(n), int(seed))
    # a city's sample is hundreds of riders: the message names the first, the table below all
    listed = ", ".join(picked[:SAMPLE_LISTED]) + (" …" if len(picked) > SAMPLE_LISTED else "")
    st.success(T("sample_result", seed=int(seed), n=len(picked), pool=ranking.height, workers=listed))
    st.dataframe(labelled(ranking.filter(pl.col("worker_id").is_in(picked)).sort("worker_id"),
                          ["worker_id", "category_" + lang, "overall", "risk", "findings"]), hide_index=True)
    return picked


def show_finding(result: Findings, evidence: pl.DataFrame, finding_id: str) -> None:
    """A finding with its evidence rows (``evidence``: the rider's, resolved)."""
    row = result.findings.filter(pl.col("finding_id") == finding_id).row(0, named=True)
    cols = st.columns([1, 1, 1, 2])  # the family name is the longest value
    cols[0].metric(T("value"), f"{row['value']:.2f} {row['unit'] or ''}")
    cols[1].metric(T("threshold"), "—" if row["threshold"] is None else f"{row['threshold']:g}")
    cols[2].metric(T("score"), f"{row['score']:.2f}")
    cols[3].metric(T("family"), T("family_" + row["family"]))
    st.text(row["explanation_" + lang])  # st.text: chat-derived text is never read as Markdown or HTML
    st.caption(T("legal_sources") + ": " + "; ".join(row["sources"] or []))
    evidence = evidence.filter(pl.col("finding_id") == finding_id)
    st.markdown(f"**{T('evidence_rows', n=evidence.height)}**")
    st.dataframe(evidence.select("file", "src_row", "time", "record", "table").rename(
        {"file": T("file"), "src_row": T("line"), "time": T("local_time"), "record": T("record"),
         "table": T("table")}), hide_index=True, width="stretch")


def rider_tab(case: Case, result: Findings, cv: dict, keys: tuple[str, str]) -> str | None:
    ranking = cv["ranking"]
    if ranking.is_empty():
        st.info(T("no_workers"))
        return None
    worker = st.selectbox(T("rider"), ranking["worker_id"].to_list(), key="rider")
    rv = rider_views(*keys, worker, case, result)
    mine = result.findings.filter(pl.col("worker_id") == worker).sort("score", "period", descending=[True, False])
    st.subheader(T("rider_title", worker=worker))
    rank_row = ranking.filter(pl.col("worker_id") == worker).row(0, named=True)
    scorecard_section(result, rank_row, worker)
    if rv["timeline"].height:
        st.altair_chart(charts.timeline_chart(rv["timeline"], rv["messages"], lang), width="stretch")
    else:
        st.info(T("missing_timeline"))
    heat, place = st.columns(2)
    with heat:
        if rv["messages"].is_empty():
            st.info(T("missing_chats"))
        elif rv["heatmap"].is_empty():
            st.info(T("no_offhours_messages"))
        else:
            st.altair_chart(charts.heatmap_chart(rv["heatmap"], lang), width="stretch")
    with place:
        st.markdown(f"**{T('map_title')}**")
        if rv["points"].is_empty() and cv["zones"].is_empty():
            st.info(T("missing_gps"))
        else:
            if rv["points"].is_empty():
                st.caption(T("missing_gps"))
            st.pydeck_chart(charts.map_deck(rv["points"], cv["zones"]), height=300)
    st.markdown(f"### {T('findings_title', n=mine.height)}")
    if mine.is_empty():
        st.info(T("no_findings"))
    else:
        st.dataframe(mine.select("indicator", "period", "value", "unit", "threshold", "score"),
                     hide_index=True, width="stretch", height=240)
        # numbered labels as the options themselves: unique, and readable in tests and in the widget
        ids = {f"{n}. {ind} · {period} · {score:.2f}": fid for n, (fid, ind, period, score)
               in enumerate(mine.select("finding_id", "indicator", "period", "score").iter_rows(), start=1)}
        chosen = st.selectbox(T("finding"), list(ids), key=f"finding_{worker}")
        show_finding(result, rv["evidence"], ids[chosen])
    overtime_section(result, worker)
    per_worker = {name: views.for_worker(frame, worker) for name, frame in result.measures.items()
                  if "worker_id" in frame.columns and name != "messages"}
    with st.expander(T("worker_measures", n=len(per_worker))):
        for name, frame in sorted(per_worker.items()):
            st.markdown(f"**{md(name)}** ({frame.height})")
            st.dataframe(frame, hide_index=True, width="stretch")
    with st.expander(T("messages_title", n=rv["messages"].height)):
        if rv["messages"].height:
            st.dataframe(rv["messages"].drop("ts", "src").rename({"src_row": T("line")}), hide_index=True,
                         width="stretch")
        else:
            st.info(T("missing_chats"))
    return worker


def scorecard_section(result: Findings, rank_row: dict, worker: str) -> None:
    """Family scores, the 56号 category with its reasons, and the factor-by-factor view (the SPC
    list by default, any other view in ``views.toml`` on request)."""
    cols = [*st.columns(3), *st.columns(3)]  # two rows: the family names are long
    if rank_row.get("overall") is not None:
        cols[0].metric(T("overall"), f"{rank_row['overall']:.2f}", help=T("overall_help"))
    else:
        cols[0].metric(T("risk"), "—" if rank_row["risk"] is None else f"{rank_row['risk']:.2f}")
    for col, family in zip(cols[1:], FAMILIES):
        value = rank_row[family]
        col.metric(T("family_" + family), "—" if value is None else f"{value:.2f}")
    if rank_row.get("category") is None:
        st.info(T("not_available", what=T("category")))
        return
    st.markdown(f"**{T('category')}: {md(rank_row['category_' + lang])}**")
    st.caption(md(rank_row["reasons_" + lang]))
    all_views = result.measures["views"]["view"].unique().sort().to_list() if "views" in result.measures else []
    if not all_views:
        return
    primary = result.measures["views"].filter(pl.col("primary"))["view"].first()
    view = st.selectbox(T("view"), all_views, index=all_views.index(primary) if primary in all_views else 0,
                        key="view", format_func=lambda v: T("view_" + v) if "view_" + v in TRANSLATED else v)
    rows = views.worker_views(result, worker, view)
    if rows.height:
        st.markdown(f"**{T('view_' + view) if 'view_' + view in TRANSLATED else md(view)}** — "
                    f"{md(rows['conclusion_' + lang][0]) if rows['conclusion_holds'][0] else T('conclusion_not_reached')}"
                    f" ({T('criteria_met', n=rows['criteria_met'][0], of=rows.height)})")
        st.dataframe(labelled(rows.with_columns(pl.col("status").replace_strict(
            {s: T("status_" + s.replace(" ", "_")) for s in STATUSES}, default=pl.col("status"))),
            ["criterion_" + lang, "status", "best", "by"]), hide_index=True, width="stretch")
        st.caption(T("legal_sources") + ": " + md(rows["view_sources"].list.join("; ")[0] or ""))


def overtime_section(result: Findings, worker: str) -> None:
    st.markdown(f"### {T('overtime_title')}")
    frame = result.measures.get("overtime")
    mine = views.for_worker(frame, worker) if frame is not None else pl.DataFrame()
    if mine.is_empty():
        st.info(T("not_available", what=T("overtime_title")))
        return
    row = mine.row(0, named=True)
    cols = st.columns(5)
    for col, band in zip(cols, ("hours_150", "hours_200", "hours_300")):
        col.metric(T(band), f"{row[band]:.1f} h")
    cols[3].metric(T("hourly_wage"), f"{row['hourly_wage']:.2f}")
    cols[4].metric(T("pay_owed"), f"{row['pay_owed']:,.2f}")
    st.caption(T("overtime_help", wage=f"{row['monthly_wage']:,.0f}", basis=row["wage_basis"],
                 chat=f"{row['chat_hours']:.1f}"))


def export_tab(case: Case, result: Findings, settings: Settings, worker: str | None, all_workers: list[str],
               sample: list[str]) -> None:
    st.subheader(T("export_title"))
    st.caption(T("export_help"))
    key = f"export_workers_{worker}"  # a new rider picked: start from that rider
    if sample:  # the inspection's random sample as the dossier's selection: a page per rider and an index
        st.button(T("export_sample", n=len(sample)), key="export_sample",
                  on_click=lambda: st.session_state.update({key: sorted(sample)}))
    chosen = st.multiselect(T("export_workers"), all_workers, default=[worker] if worker else [], key=key)
    dossier_lang = st.radio(T("dossier_language"), LANGUAGES, index=LANGUAGES.index(lang), horizontal=True,
                            key="dossier_lang", format_func=lambda c: {"zh": "中文", "en": "English"}[c])
    recorded = {**settings.to_dict(), "inputs": [s.path for s in case.sources]}
    if st.button(T("build_dossier"), key="build_dossier", disabled=not chosen):
        out = Path(tempfile.mkdtemp(prefix="auditor-dossier-"))
        with st.spinner(T("building_dossier", n=len(chosen))):
            files = report.write_dossier(result, case, chosen, out, recorded, lang=dossier_lang)
        size = sum(f.stat().st_size for f in files)
        # a city's sample is gigabytes: it stays in its folder on this machine, not zipped into memory
        data = report.zip_folder(files, limit=DOWNLOAD_LIMIT_MB * 2**20)
        st.session_state.dossier = (report.safe_name("_".join(chosen)) + ".zip", data, report.listed(files, lang), out, size)
    if "dossier" in st.session_state:
        name, data, names, out, size = st.session_state.dossier
        st.success(T("dossier_ready", files=names, folder=str(out), mb=f"{size / 2**20:,.1f}"))
        if data is None:
            st.info(T("dossier_too_large", limit=DOWNLOAD_LIMIT_MB))
        else:
            st.download_button(T("download"), data, file_name=f"dossier_{name}", mime="application/zip",
                               key="download_dossier")
    st.subheader(T("research_title"))
    st.caption(T("research_help"))
    salt = st.text_input(T("salt"), type="password", key="salt")
    include_text = st.checkbox(T("include_text"), False, key="include_text")
    if st.button(T("build_research"), key="build_research", disabled=not salt):
        out = Path(tempfile.mkdtemp(prefix="auditor-research-"))
        files = research.write_research(result, case, out, research.Pseudonymisation(salt, include_text=include_text),
                                        recorded)
        st.download_button(T("download"), report.zip_folder(files), file_name="research_export.zip",
                           mime="application/zip", key="download_research")


def main() -> None:
    st.title(T("app_title"))
    st.caption(T("app_subtitle"))
    folder = choose_folder()
    if folder is None:
        st.info(T("choose_input"))
        return
    case_key = uploads.fingerprint(folder)
    with st.spinner(T("reading")):
        try:
            saved = load_audit(str(folder.resolve()), case_key) if is_audit(folder) else None
            case = saved.case if saved else load_case(str(folder.resolve()), case_key)
        except (FileNotFoundError, ValueError) as err:
            st.error(md(str(err)))
            return
    if st.session_state.get("settings_of") != case_key:  # another input: its own settings, not the last one's
        for key in SETTINGS_WIDGETS:
            st.session_state.pop(key, None)
        st.session_state.settings_of = case_key
    settings = choose_settings(case, saved.settings if saved else Settings())
    settings_key = json.dumps(settings.to_dict(), sort_keys=True, default=str)
    if saved and settings == saved.settings:  # a city's audit opens in seconds, not run again
        result = saved.result
        st.sidebar.success(T("saved_audit", run_at=saved.manifest.get("run_at", "?")))
    else:
        with st.spinner(T("analysing")):
            result = analyse(case_key, settings_key, case, settings)
        if saved:
            st.sidebar.info(T("audit_rerun", run_at=saved.manifest.get("run_at", "?")))
    cv = case_views(case_key, settings_key, case, result)
    st.sidebar.caption(T("case_summary", files=len(case.sources), findings=result.findings.height,
                         evidence=result.evidence_count(), tz=case.tz))
    ingest, overview, rider, export = st.tabs([T("tab_ingest"), T("tab_overview"), T("tab_rider"), T("tab_export")])
    with ingest:
        ingest_tab(case)
    with overview:
        sample = overview_tab(case, result, cv, (case_key, settings_key))
    with rider:
        worker = rider_tab(case, result, cv, (case_key, settings_key))
    with export:
        export_tab(case, result, settings, worker, cv["ranking"]["worker_id"].sort().to_list(), sample)


main()
