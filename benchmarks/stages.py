"""One benchmarked stage per process, so its peak RSS is its own.

``python -m benchmarks.stages STAGE DATA_DIR CASE_DIR OUT_DIR`` prints one JSON line:
``{"stage", "wall_s", "peak_rss_mb", ...counts}``.

Stages: ``ingest`` (raw exports → saved case), ``floor`` (scan every table and group it by
worker once: the least any audit must do), ``audit`` (every analyzer, findings written),
``worktime`` and ``control`` (one family of analyzers each, chosen by module name from
``STAGE_ANALYZERS``), ``app`` (what the app's overview computes: the audit plus the ranking,
station, network and zone views of auditor.views), ``app_saved`` (the same overview of the audit
the ``audit`` stage wrote, read back as the app opens a saved audit), ``dossier_sample`` (the
dossier of the saved audit's 双随机 sample of riders), ``spark`` (the full audit on the Spark engine in
local mode, findings written; its peak RSS counts the Python driver and the JVM and Python workers
it starts, as children)."""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import polars as pl

# Analyzer modules (the last part of the module name) behind each family stage. Every
# registered analyzer must belong to one family: family() fails on a new, unplaced one.
STAGE_ANALYZERS = {
    "worktime": {"daily_hours", "messages", "sessions", "platform_time", "worktime", "offhours", "overtime"},
    "control": {"control"},
}


def family(module_name: str) -> str:
    short = module_name.rsplit(".", 1)[-1]
    found = [stage for stage, names in STAGE_ANALYZERS.items() if short in names]
    if len(found) != 1:
        raise ValueError(f"analyzer module {module_name!r} is in no benchmark stage; add it to STAGE_ANALYZERS")
    return found[0]


def ingest(data: Path, case_dir: Path, out: Path) -> dict:
    import connectors

    case = connectors.load(data)
    case.save(case_dir)
    return {"rows_read": sum(s.rows_read for s in case.sources), "files": len(case.sources)}


def _analyse(case_dir: Path, stage: str | None):
    from auditor import analyzers
    from auditor.analyzers import context
    from auditor.case import Case
    from auditor.findings import Findings
    from auditor.settings import Settings

    case, settings = Case.load(case_dir), Settings()
    chosen = [a for a in analyzers.ANALYZERS if stage is None or family(a.__name__) == stage]
    with context.shared(case):
        result = Findings.concat([a.run(case, settings) for a in chosen])
    return case, settings, result, {"analyzers": [a.ID for a in chosen], "findings": result.findings.height,
                                    "evidence_rows": result.evidence.height}


def audit(data: Path, case_dir: Path, out: Path) -> dict:
    """The full audit of a saved case as ``auditor audit`` runs it (the local engine: one run up to
    ``local.ROWS_AT_ONCE`` rows, parts side by side beyond): every analyzer, findings and evidence written."""
    from auditor.case import Case
    from auditor.engines import local
    from auditor.export import write_audit
    from auditor.settings import Settings

    case, settings = Case.load(case_dir), Settings()
    result = local.audit(case, settings)
    write_audit(result, case, out, settings.to_dict())
    parts = result.measures.get("local_engine")
    return {"findings": result.findings.height, "evidence_rows": result.evidence_count(),
            "parts": parts["parts"][0] if parts is not None else 1}


def worktime(data: Path, case_dir: Path, out: Path) -> dict:
    return _analyse(case_dir, "worktime")[3]


def control(data: Path, case_dir: Path, out: Path) -> dict:
    return _analyse(case_dir, "control")[3]


def app(data: Path, case_dir: Path, out: Path) -> dict:
    """The app's overview of a saved case: the audit (as ``analyse`` caches it) and the case
    views the overview tab draws (``views.overview``)."""
    from auditor.case import Case
    from auditor.engines import local
    from auditor.settings import Settings

    case = Case.load(case_dir)
    result = local.audit(case, Settings())  # as app.py's analyse
    return _overview(case, result)


def app_saved(data: Path, case_dir: Path, out: Path) -> dict:
    """The app's overview of the audit the ``audit`` stage wrote (its report folder beside
    ``out``), opened as the app opens a saved audit: read back, not run again."""
    saved = _saved_audit(out)
    return _overview(saved.case, saved.result)


def dossier_sample(data: Path, case_dir: Path, out: Path) -> dict:
    """The dossier of the audit's 双随机 sample (a tenth of the riders) from the audit the ``audit``
    stage wrote, as ``auditor report AUDIT_DIR --sample`` writes it: a page per rider, an index,
    findings and evidence resolved to file, line and record."""
    from auditor.report import write_dossier

    saved = _saved_audit(out)
    sample = saved.result.measures["inspection_sample"]["worker_id"].sort().to_list()
    files = write_dossier(saved.result, saved.case, sample, out, saved.settings.to_dict())
    manifest = json.loads(files[-1].read_text(encoding="utf-8"))
    return {"riders": len(sample), "pages": len(manifest["pages"]),
            "evidence_rows": pl.scan_parquet(out / "evidence.parquet").select(pl.len()).collect().item(),
            "html_mb": round(sum(f.stat().st_size for f in files if f.suffix == ".html") / 2**20, 1)}


def _saved_audit(out: Path):
    from auditor.export import is_audit, read_audit

    report = out.with_name("report-audit")
    if not is_audit(report):
        raise FileNotFoundError(f"{report}: no audit written; measure the audit stage first")
    return read_audit(report)


def _overview(case, result) -> dict:
    from auditor import views

    shown = views.overview(case, result)
    return {"findings": result.findings.height, "evidence_rows": result.evidence_count(),
            "ranked_workers": shown["ranking"].height, "stations": shown["stations"].height,
            "network_nodes": shown["nodes"].height, "network_edges": shown["edges"].height,
            "zones": shown["zones"].height}


def floor(data: Path, case_dir: Path, out: Path) -> dict:
    """The least any audit must do: scan every table of the case and group it by worker once."""
    rows = 0
    for path in sorted(case_dir.glob("*.parquet")):
        frame = pl.scan_parquet(path)
        if "worker_id" in frame.collect_schema().names():
            rows += frame.group_by("worker_id").agg(n=pl.len()).select(pl.col("n").sum()).collect().item() or 0
    return {"rows_grouped": rows}


def spark(data: Path, case_dir: Path, out: Path) -> dict:
    """The full audit on ``--engine spark`` in local mode (all cores of this machine), findings written."""
    from auditor.case import Case
    from auditor.engines import spark as engine
    from auditor.export import write_audit
    from auditor.settings import Settings

    settings = Settings()
    result = engine.audit(str(case_dir.resolve()), settings)
    write_audit(result, Case.load(case_dir), out, {**settings.to_dict(), "engine": "spark"})
    figures = result.measures["spark_engine"].row(0, named=True)
    return {"findings": result.findings.height, "evidence_rows": result.evidence_count(),
            "buckets": figures["buckets"], "buckets_run_again": figures["buckets_run_again"]}


STAGES = {"ingest": ingest, "floor": floor, "audit": audit, "worktime": worktime, "control": control, "app": app,
          "app_saved": app_saved, "dossier_sample": dossier_sample, "spark": spark}


class TreeMemory(threading.Thread):
    """Peak resident memory of this process and every process it started (the Spark JVM and its
    Python workers), summed, sampled from /proc every 0.2 s while the block runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb, self._done = 0.0, threading.Event()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        while not self._done.wait(0.2):
            self.peak_mb = max(self.peak_mb, sum(_rss_pages(p) for p in _tree(os.getpid())) * page_mb)


def own_peak_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries that across
    fork and exec, so a stage would report the benchmark driver's peak (the simulated city)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tree(root: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:  # the command name may hold spaces: the parent pid is the 2nd field after its ")"
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _rss_pages(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def main() -> None:
    stage, data, case_dir, out = sys.argv[1], *map(Path, sys.argv[2:5])
    tree = TreeMemory()
    started = time.perf_counter()
    with tree:
        counts = STAGES[stage](data, case_dir, out)
    wall = time.perf_counter() - started
    peak = max(own_peak_mb(), tree.peak_mb)
    print(json.dumps({"stage": stage, "wall_s": round(wall, 3), "peak_rss_mb": round(peak, 1), **counts}))


if __name__ == "__main__":
    main()
