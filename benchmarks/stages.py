"""One benchmarked stage per process, so its peak RSS is its own.

``python -m benchmarks.stages STAGE DATA_DIR CASE_DIR OUT_DIR`` prints one JSON line:
``{"stage", "wall_s", "peak_rss_mb", ...counts}``."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import polars as pl


def ingest(data: Path, case_dir: Path, out: Path) -> dict:
    import connectors

    case = connectors.load(data)
    case.save(case_dir)
    return {"rows_read": sum(s.rows_read for s in case.sources), "files": len(case.sources)}


def _audit(case_dir: Path, out: Path, keep) -> dict:
    from auditor import analyzers
    from auditor.case import Case
    from auditor.export import write_audit
    from auditor.findings import Findings
    from auditor.settings import Settings

    case, settings = Case.load(case_dir), Settings()
    chosen = [a for a in analyzers.ANALYZERS if keep(a.__name__)]
    result = Findings.concat([a.run(case, settings) for a in chosen])
    if keep("*"):
        write_audit(result, case, out, settings.to_dict())
    return {"analyzers": [a.ID for a in chosen], "findings": result.findings.height,
            "evidence_rows": result.evidence.height}


def audit(data: Path, case_dir: Path, out: Path) -> dict:
    """The full audit of a saved case: every analyzer, findings and evidence written."""
    return _audit(case_dir, out, lambda name: True)


def worktime(data: Path, case_dir: Path, out: Path) -> dict:
    return _audit(case_dir, out, lambda name: name != "*" and any(
        k in name for k in ("daily_hours", "worktime", "offhours", "sessions", "messages")))


def control(data: Path, case_dir: Path, out: Path) -> dict:
    return _audit(case_dir, out, lambda name: name != "*" and any(k in name for k in ("control", "scorecard")))


def floor(data: Path, case_dir: Path, out: Path) -> dict:
    """The least any audit must do: scan every table of the case and group it by worker once."""
    rows = 0
    for path in sorted(case_dir.glob("*.parquet")):
        frame = pl.scan_parquet(path)
        if "worker_id" in frame.collect_schema().names():
            rows += pl.scan_parquet(path).group_by("worker_id").agg(n=pl.len()).select(pl.col("n").sum()).collect().item() or 0
    return {"rows_grouped": rows}


STAGES = {"ingest": ingest, "audit": audit, "worktime": worktime, "control": control, "floor": floor}


def main() -> None:
    stage, data, case_dir, out = sys.argv[1], *map(Path, sys.argv[2:5])
    started = time.perf_counter()
    counts = STAGES[stage](data, case_dir, out)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"stage": stage, "wall_s": round(wall, 3), "peak_rss_mb": round(peak, 1), **counts}))


if __name__ == "__main__":
    main()
