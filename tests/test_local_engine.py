"""The local engine audits a city part by part (memory follows the part) and gives the same
findings, evidence and measures as one run over the whole case."""

from __future__ import annotations

import gc

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
from auditor.case import Case
from auditor.cli import app
from auditor.engines import local, parts
from auditor.findings import EVIDENCE, Findings
from auditor.report import write_dossier
from auditor.settings import Settings


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> tuple[str, Findings]:
    return build_city(tmp_path_factory.mktemp("city"))


@pytest.fixture(scope="module")
def in_parts(city) -> Findings:
    return local.audit(Case.load(city[0]), Settings(), workers_per_part=5)


def test_workers_split_over_parts_get_every_finding_of_one_run(city, in_parts):
    _, whole = city
    run = in_parts.measures["local_engine"].row(0, named=True)
    assert run == {"parts": 3, "workers": 12, "workers_per_part": 5, "rows_per_part": local.ROWS_IN_FLIGHT // local.PROCESSES,
                   "parts_run_again": 2, "processes": min(local.PROCESSES, 3)}  # R0001's part is on time
    assert whole.measures["offhours_sessions"].filter(pl.col("worker_id") == "R0007").height > 0  # routed copy
    assert COMPARED_WITH_THE_CASE <= set(whole.findings["indicator"])
    assert_same(whole, in_parts)
    assert in_parts.findings["finding_id"].is_unique().all()  # each worker's findings from one part only
    assert_same_measures(whole, in_parts)


def test_a_parts_evidence_waits_on_disk_until_the_result_goes(city):
    result = local.audit(Case.load(city[0]), Settings(), workers_per_part=6)
    assert isinstance(result.evidence, pl.LazyFrame)
    folder = result.scratch.path
    assert len(list(folder.glob("evidence-*.parquet"))) == 2
    assert result.evidence_count() == city[1].evidence_count()
    del result
    gc.collect()
    assert not folder.exists()


def test_a_case_within_one_part_is_one_run(city):
    result = local.audit(Case.load(city[0]), Settings(), workers_per_part=12)
    assert "local_engine" not in result.measures and isinstance(result.evidence, pl.DataFrame)
    assert_same(city[1], result)


def test_cli_in_parts_writes_every_finding_and_evidence_row_of_one_run(city, tmp_path):
    case_dir, whole = city
    out = tmp_path / "report"
    run = CliRunner().invoke(app, ["audit", case_dir, "--out", str(out), "--workers-per-part", "4"])
    assert run.exit_code == 0, run.output
    assert pl.read_parquet(out / "local_engine.parquet")["parts"].to_list() == [3]
    written = Findings(pl.read_parquet(out / "findings.parquet"),
                       export.audit_evidence(out).select(list(EVIDENCE)).collect())
    assert_same(whole, written)
    assert pl.read_csv(out / "evidence.csv").height == whole.evidence_count()  # fits a spreadsheet: written
    assert f"with {whole.evidence_count()} evidence rows" in run.output
    # the parts' evidence files as the parts wrote them, and which holds each worker's rows
    assert sorted(path.name for path in (out / "evidence").iterdir()) == [f"part-00000{n}.parquet" for n in range(3)]
    saved = export.read_audit(out).result
    assert saved.evidence_files["worker_id"].n_unique() == 12 and saved.evidence_files["path"].n_unique() == 3
    for worker in ("R0003", "R0011"):  # read from the worker's file: as from every file, in the same order
        theirs = saved.findings.filter(pl.col("worker_id") == worker)
        assert_frame_equal(saved.evidence_of(theirs), Findings(saved.findings, saved.evidence).evidence_of(theirs))
        assert saved.evidence_of(theirs).height > 100
    rows = saved.evidence.collect()
    export.write_audit(saved, Case.load(out / "case"), out, {})  # its part files written over themselves
    assert_frame_equal(export.read_audit(out).result.evidence.collect(), rows)


def test_a_dossier_reads_the_spilled_evidence_of_its_worker(city, in_parts, tmp_path):
    case_dir, whole = city
    case = Case.load(case_dir)
    settings = Settings().to_dict()
    write_dossier(in_parts, case, ["R0003"], tmp_path / "parts", settings)
    write_dossier(whole, case, ["R0003"], tmp_path / "whole", settings)
    read = lambda folder: pl.read_parquet(folder / "evidence.parquet").sort(pl.all())
    assert read(tmp_path / "parts").height > 100
    assert read(tmp_path / "parts").equals(read(tmp_path / "whole"))


def test_one_run_and_parts_agree_on_an_empty_case(city):
    case = Case.load(city[0])
    for name in ("orders", "activity", "messages", "schedules", "offers"):
        case.tables[name] = case.table(name).head(0)
    assert local.audit(case, Settings(), workers_per_part=1).findings.equals(analyzers.run_all(case).findings)


def test_a_part_without_check_ins_or_rosters_still_measures_them_as_the_case_does(city):
    # only R0001 has check-ins and shifts (nobody here has a sanction): in one run every other
    # worker measures 0 on those indicators; a part without R0001 must not call them "not
    # measurable" (the case has them)
    case = Case.load(city[0])
    others = pl.col("worker_id") != "R0001"
    case.tables["activity"] = case.table("activity").filter(~(pl.col("kind").is_in(["sanction", "check_in"]) & others))
    case.tables["schedules"] = case.table("schedules").filter(~others)
    whole, in_parts = analyzers.run_all(case, Settings()), local.audit(case, Settings(), workers_per_part=4)
    measured = lambda result: result.measures["control_indicators"].filter(pl.col("indicator").is_in(
        ["photo-check-ins", "required-presence"]))
    assert measured(whole).height == 2 * 12 and measured(whole)["value"].min() == 0
    assert_same_measures(whole, in_parts, ("control_indicators", "measurability", "scorecard"))
    assert_same(whole, in_parts)


def test_parts_are_runs_of_workers_within_the_row_budget():
    workers = pl.DataFrame({"worker_id": ["a", "b", "c", "d", "e"], "rows": [5, 5, 20, 1, 1]})
    assert local.part_members(workers, None, 10) == [["a", "b"], ["c"], ["d", "e"]]  # c alone: over the budget
    assert local.part_members(workers, 1, 100) == [["a"], ["b"], ["c"], ["d"], ["e"]]
    assert local.part_members(workers, None, 100) == [["a", "b", "c", "d", "e"]]
    assert local.part_members(workers.head(0), None, 10) == []


def test_a_row_budget_splits_the_case_by_its_rows_with_the_results_of_one_run(city):
    case_dir, whole = city
    case = Case.load(case_dir)
    counted = local.ordered_workers(case, local.shared_conversations(case))
    held = sum(case.table(name).select(pl.len()).collect().item() for name in local.COUNTED_TABLES)
    assert counted["rows"].sum() == held and counted.height == 12
    budget = held // 3
    result = local.audit(case, Settings(), rows_per_part=budget)
    run = result.measures["local_engine"].row(0, named=True)
    assert run["parts"] >= 3 and run["workers"] == 12 and run["rows_per_part"] == budget
    assert_same(whole, result)
    assert_same_measures(whole, result)


def test_parts_in_processes_equal_parts_one_after_another(city, in_parts):
    one_by_one = local.audit(Case.load(city[0]), Settings(), workers_per_part=5, processes=1)
    assert one_by_one.measures["local_engine"]["processes"][0] == 1
    assert_same(one_by_one, in_parts)
    assert_same_measures(one_by_one, in_parts)


def test_worker_processes_start_with_one_polars_thread_and_the_allocator_settings():
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    before = {name: os.environ.get(name) for name in local.WORKER_ENVIRONMENT}
    with local._runner(2):  # what the workers it spawns inherit
        assert {name: os.environ[name] for name in before} == local.WORKER_ENVIRONMENT
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            threads = pool.submit(pl.thread_pool_size).result()
            allocator = pool.submit(os.getenv, "_RJEM_MALLOC_CONF").result()
    # polars puts its own defaults first when it starts; the later settings win
    assert threads == 1 and allocator.endswith(local.WORKER_ENVIRONMENT["_RJEM_MALLOC_CONF"])
    assert {name: os.environ.get(name) for name in before} == before  # this process's own as they were


def test_a_case_sent_to_a_part_s_process_does_not_take_its_folder_along(tmp_path):
    import pickle

    from auditor.case import Scratch

    scratch = Scratch()
    pl.DataFrame({"worker_id": ["R1"]}).write_parquet(scratch.path / "t.parquet")
    case = Case({"orders": pl.scan_parquet(scratch.path / "t.parquet")}, scratch=scratch)
    copy = pickle.loads(pickle.dumps(case))
    assert copy.scratch is None and case.scratch is scratch  # only the sender removes the folder
    del copy
    gc.collect()
    assert scratch.path.is_dir() and case.table("orders").collect().height == 1


def test_the_default_budget_is_one_run_or_parts_sharing_it(city, monkeypatch):
    case_dir, whole = city
    case = Case.load(case_dir)
    held = sum(case.table(name).select(pl.len()).collect().item() for name in local.COUNTED_TABLES)
    monkeypatch.setattr(local, "ROWS_AT_ONCE", held)
    assert "local_engine" not in local.audit(case, Settings(), processes=2).measures  # within the budget: one run
    monkeypatch.setattr(local, "ROWS_AT_ONCE", held // 2)
    monkeypatch.setattr(local, "ROWS_IN_FLIGHT", held // 2)
    result = local.audit(case, Settings(), processes=2)
    run = result.measures["local_engine"].row(0, named=True)
    assert run["rows_per_part"] == held // 4 and run["parts"] >= 4 and run["processes"] == 2
    assert_same(whole, result)


def test_a_part_keeps_the_findings_and_evidence_of_its_home_workers_only(city):
    case_dir, whole = city
    home = pl.DataFrame({"worker_id": ["R0001", "R0004", "R0011"]})  # the rest of the case is someone else's
    case = Case.load(case_dir)
    kept = {kind: frame for kind, _, frame in parts.run_part(case, home, parts.whole_case_references(case, Settings()),
                                                             Settings())
            if kind in ("findings", "evidence")}
    theirs = whole.findings.join(home, on="worker_id", how="semi")
    assert 0 < theirs.height < whole.findings.height
    assert sorted(kept["findings"]["finding_id"]) == sorted(theirs["finding_id"])
    assert_frame_equal(kept["evidence"].sort(pl.all()), whole.evidence_of(theirs).sort(pl.all()))
