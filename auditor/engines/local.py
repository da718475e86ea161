"""The local engine: every analyzer over the whole case at once or, beyond ``ROWS_AT_ONCE`` rows
of orders, activity and messages, over parts of it, ``PROCESSES`` at a time in worker processes of
their own, so that memory follows the parts running and not the city.

A part holds its workers' rows of every per-worker table (in the case's own order) and, like a
Spark bucket, every conversation in which a colleague mapped to one of its workers wrote in
another worker's export (``auditor.engines.parts`` has what both engines share: the home results,
the case-wide references, the assembly). A part's rows are read from the case into memory while
it runs. Workers who share conversations go to one part where they can (``ordered_workers``):
a station's group chat exported by forty riders would otherwise be copied into every part that
holds one of them. Each part's results go to Parquet files in a scratch folder as soon as the part
is done, so the parts never pile up in memory; at the end the findings and measures are read back
and the evidence stays on disk (the result's ``evidence`` is a LazyFrame over those files). Parts
are consecutive runs of ``ordered_workers`` within a row budget (a part's memory follows its rows:
a city's casual riders hold a tenth of a full-time rider's), so a run depends on the data and the
bounds only, and every finding, evidence row and measure equals ``analyzers.run_all``'s on the whole
case (tests/test_local_engine.py).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from auditor import analyzers
from auditor.analyzers.control import deadlines
from auditor.case import Case, Scratch, spill
from auditor.engines.parts import (
    PER_WORKER_TABLES,
    WORKER,
    Result,
    assemble,
    case_spans,
    grouped,
    run_part,
    stale_parts,
    whole_case_references,
)
from auditor.export import write_evidence_file
from auditor.findings import Findings, scan_evidence_files
from auditor.settings import Settings

# rows of orders, activity and messages audited in one run: a busy month of 1,000 riders is 5.7 M
# and audits in ~1.6 GB at once
ROWS_AT_ONCE = 6_000_000
# beyond, rows held by the parts running side by side, together: parts of this many ÷ PROCESSES
# rows (the 10,000-rider city: 2 × 2.5 M peaked at 3.4 GB, 2 × 3 M at 3.9 GB, in about the same
# time); the part count follows the data and the bounds only
ROWS_IN_FLIGHT = 5_000_000
# parts audited at once, each in a process of its own with one polars thread: polars spreads one
# part's many small queries thinly over two cores (164 %), two single-threaded parts use both (the
# 10,000-rider city: 98-103 s two at a time, 105-112 s in parts of 6 M rows one by one)
PROCESSES = min(2, os.cpu_count() or 1)
# what a worker process starts with: one polars thread; and for the allocator polars links on Linux
# (jemalloc, read when the process starts, ignored elsewhere) one arena, as there is one thread,
# and freed pages kept 5 s, not polars' 0.5 s, so the next query reuses them instead of faulting
# fresh ones in. The 10,000-rider city: 82 → 71 s and 3.4 → 3.3 GB; one arena alone 78.5 s and
# 3.1 GB; pages kept 10 s 72 s and 3.5 GB, kept for good 73 s and 4.3 GB.
WORKER_ENVIRONMENT = {"POLARS_MAX_THREADS": "1",
                      "_RJEM_MALLOC_CONF": "narenas:1,dirty_decay_ms:5000,muzzy_decay_ms:5000"}
COUNTED_TABLES = ("orders", "activity", "messages")  # most of a case: what a part's memory follows
SPILLED = ("findings", "evidence", "measure", "station_ratios")  # per-worker results: to disk as each part ends
KEPT_ON_DISK = ("evidence", "station_ratios")  # read from the scratch folder where used, never all at once


def audit(case: Case, settings: Settings | None = None, workers_per_part: int | None = None,
          progress: Callable[[str], None] | None = None, rows_per_part: int | None = None,
          processes: int | None = None) -> Findings:
    """Every analyzer over ``case``: at once (``analyzers.run_all``) when it holds at most
    ``rows_per_part`` rows of orders, activity and messages (by default ``ROWS_AT_ONCE``) and at
    most ``workers_per_part`` workers, if given; else part by part within those bounds (by default
    parts of ``ROWS_IN_FLIGHT`` ÷ ``processes`` rows), ``processes`` parts at a time (1: one after
    another in this process; by default ``PROCESSES``), with the same results."""
    settings = settings or Settings()
    settings.law  # noqa: B018 — fail early and clearly on an unknown jurisdiction
    processes = processes or PROCESSES
    copies = shared_conversations(case)
    workers = ordered_workers(case, copies)
    members = part_members(workers, workers_per_part, rows_per_part or ROWS_AT_ONCE)
    if len(members) <= 1:
        return analyzers.run_all(case, settings, progress)
    if rows_per_part is None:  # the parts running side by side share one budget
        rows_per_part = ROWS_IN_FLIGHT // processes
        members = part_members(workers, workers_per_part, rows_per_part)
    references = whole_case_references(case, settings)
    scratch = Scratch(prefix="auditor-parts-")
    with _runner(min(processes, len(members))) as run_parts:
        def run(parts: list[int], injected: dict[str, pl.DataFrame]) -> list[Result]:
            tasks = [(case, part, members[part], copies, injected, settings, scratch.path) for part in parts]
            results = []
            for done, rows in enumerate(run_parts(tasks), start=1):
                if progress:
                    progress(f"part {done} of {len(tasks)} done")
                results += rows
            return results

        results = run(list(range(len(members))), references)
        spans = case_spans(results)
        if stale := stale_parts(results, spans):  # a part's period short of the case's: run it again
            results = [row for row in results if row[0] not in stale] + run(sorted(stale), {**references, **spans})
    ratios = pl.read_parquet(sorted(scratch.path.glob("station_ratios-*.parquet")))
    stations = deadlines.station_tables(ratios)  # before the parts' results are read back: less at once
    del ratios
    parts = grouped(_read_back(results))
    parts["measure"].update({name: [frame] for name, frame in stations.items()})
    files = {part: frame["path"][0] for part, kind, _, frame in results if kind == "evidence"}
    evidence = scan_evidence_files(sorted(files.values()))
    result = assemble(parts, references, case.tz, settings, evidence=evidence)
    result.scratch = scratch
    result.evidence_files = pl.DataFrame({WORKER: [w for part in files for w in members[part]],
                                          "path": [files[part] for part in files for _ in members[part]]})
    result.measures["local_engine"] = pl.DataFrame(
        {"parts": len(members), "workers": sum(map(len, members)), "workers_per_part": workers_per_part,
         "rows_per_part": rows_per_part, "parts_run_again": len(stale), "processes": min(processes, len(members))},
        schema_overrides={"workers_per_part": pl.Int64})
    return result


def shared_conversations(case: Case) -> pl.DataFrame:
    """worker_id, conversation_id, _for: a conversation in worker_id's export in which a colleague
    mapped to another worker (_for) wrote; it goes to _for's part as well, whole."""
    riders = (case.table("participants").filter(pl.col(WORKER).is_not_null())
              .select(sender_id="participant_id", _for=WORKER).unique())
    return (case.table("messages").filter(pl.col("sender_role") == "colleague")
            .join(riders, on="sender_id").filter(pl.col("_for") != pl.col(WORKER))
            .select(WORKER, "conversation_id", "_for").unique().collect())


def ordered_workers(case: Case, copies: pl.DataFrame) -> pl.DataFrame:
    """worker_id and rows (the worker's own rows of ``COUNTED_TABLES``): every worker id of the
    per-worker tables, those who share a conversation next to each other: sorted by the least id
    among each worker and the colleagues they share one with (a station's group chat makes its
    riders one run), then by id."""
    ids = pl.concat([case.table(name).select(WORKER) for name in PER_WORKER_TABLES]).unique().drop_nulls()
    rows = pl.concat([case.table(name).group_by(WORKER).len() for name in COUNTED_TABLES]).group_by(WORKER).agg(
        rows=pl.col("len").sum())
    pairs = pl.concat([copies.lazy().select(WORKER, mate="_for"), copies.lazy().select(pl.col("_for").alias(WORKER),
                                                                                      mate=WORKER)])
    least = pairs.group_by(WORKER).agg(pl.col("mate").min())
    return (ids.join(least, on=WORKER, how="left").join(rows, on=WORKER, how="left")
            .with_columns(_group=pl.min_horizontal(WORKER, pl.col("mate").fill_null(pl.col(WORKER))))
            .sort("_group", WORKER).select(WORKER, pl.col("rows").fill_null(0)).collect())


def part_members(workers: pl.DataFrame, workers_per_part: int | None, rows_per_part: int) -> list[list[str]]:
    """Consecutive runs of ``workers`` (worker_id, rows), each as long as it stays within
    ``rows_per_part`` rows and ``workers_per_part`` workers (a worker with more rows alone). Packing
    is sequential, so a loop over the workers: once per audit, milliseconds for 10,000."""
    members: list[list[str]] = [[]]
    held = 0
    for worker, rows in workers.iter_rows():
        if members[-1] and (held + rows > rows_per_part or len(members[-1]) == workers_per_part):
            members.append([])
            held = 0
        members[-1].append(worker)
        held += rows
    return [part for part in members if part]


def part_case(case: Case, workers: list[str], copies: pl.DataFrame) -> Case:
    """The rows of ``workers`` (and the conversations copied to them) as a Case held in memory."""
    mine = pl.col(WORKER).is_in(pl.Series(workers).implode())
    tables = {name: case.table(name).filter(mine) for name in PER_WORKER_TABLES}
    copied = copies.filter(pl.col("_for").is_in(workers)).select(WORKER, "conversation_id", _copy=pl.lit(True)).unique()
    # the copied conversations' ids first narrow the city's messages; the join on (worker, conversation) decides
    maybe = mine | pl.col("conversation_id").is_in(copied["conversation_id"].implode())
    tables["messages"] = (case.table("messages").filter(maybe)
                          .join(copied.lazy(), on=[WORKER, "conversation_id"], how="left", maintain_order="left")
                          .filter(mine | pl.col("_copy").fill_null(False)).drop("_copy"))
    frames = pl.collect_all(list(tables.values()))
    held = {name: frame.lazy() for name, frame in zip(tables, frames)}
    shared = {name: frame for name, frame in case.tables.items() if name not in held}
    return Case({**shared, **held}, tz=case.tz, sources=case.sources)


@contextmanager
def _runner(processes: int) -> Iterator[Callable[[list[tuple]], Iterator[list[Result]]]]:
    """A function from parts' tasks (``_run``'s arguments) to their results, in the parts' order:
    ``processes`` worker processes, each with one polars thread, or this process for 1. A worker
    that dies (killed for memory) is an error, not a wait."""
    if processes <= 1:
        yield lambda tasks: (_run(*task) for task in tasks)
        return
    # spawned, not forked: a fork copies polars' thread pool mid-use. A process reads the variables
    # when it starts; this one runs already, the workers start with WORKER_ENVIRONMENT
    with _environment(WORKER_ENVIRONMENT):
        pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
        try:
            yield lambda tasks: pool.map(_run_task, tasks)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_task(task: tuple) -> list[Result]:
    return _run(*task)


def _run(case: Case, part: int, workers: list[str], copies: pl.DataFrame, references: dict[str, pl.DataFrame],
         settings: Settings, scratch: Path) -> list[Result]:
    """One part's results; its per-worker results written to the ``scratch`` folder, (part, kind,
    name, path) in their place."""
    home = pl.DataFrame({WORKER: workers})
    results = []
    for kind, name, frame in run_part(part_case(case, workers, copies), home, references, settings,
                                      station_ratios=True):
        path = scratch / f"{kind}-{name}-{part:06d}.parquet"
        if kind == "evidence":  # in the audit's output form: an audit's folder takes the file as it is
            frame = pl.DataFrame({"path": [str(write_evidence_file(frame, case, path))]})
        elif kind in SPILLED and frame.width:
            frame = pl.DataFrame({"path": [str(spill(frame, path))]})
        results.append((part, kind, name, frame))
    return results


def _read_back(results: list[Result]) -> list[Result]:
    """The spilled findings and measures read back (evidence and station ratios stay on disk)."""
    return [(part, kind, name, pl.read_parquet(frame["path"][0]) if kind in SPILLED else frame)
            for part, kind, name, frame in results if kind not in KEPT_ON_DISK]
