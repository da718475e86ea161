"""What materialising the evidence rows costs a part of an audit.

``python -m benchmarks.evidence_cost CASE_DIR [--part N] [--runs N]`` takes one part of a saved
case, as the local engine cuts it, and runs it in a process of its own set up like the engine's
workers (``local.WORKER_ENVIRONMENT``). It runs the part twice over. The first time is as the
auditor runs it. The second time every finding cites only its first evidence row; the reference
lists and the control evidence query still run. Each time it measures the analyzers
(``parts.run_part``) and the writing of the part's evidence in the audit's output form, and keeps
the best of ``--runs`` warm runs. The results go to ``benchmarks/results/evidence_cost.json``.

The difference between the two bounds what a compact evidence form could save. The second way
is a measurement only, never a mode of the auditor: a finding must cite every row behind it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

RESULTS = Path(__file__).parent / "results" / "evidence_cost.json"
VARIANTS = ("as_audited", "one_row_a_finding")


def cite_first_row_only() -> None:
    """Every finding cites its first evidence row: the worktime family's list explode and the
    control family's evidence, each cut to one row per finding."""
    from auditor import findings
    from auditor.analyzers import (
        control,
        daily_hours,
        offhours,
        overtime,
        platform_time,
        worktime,
    )
    from auditor.analyzers.control import common

    def first_row(frame, finding_id, refs="refs"):
        # a finding over several rows of ``frame`` (the days of a week) keeps one of them
        return (frame.select(finding_id=finding_id, ref=pl.col(refs).list.first()).drop_nulls("ref")
                .unique("finding_id", keep="any").unnest("ref"))

    for module in (findings, worktime, offhours, daily_hours, platform_time, overtime):
        if not hasattr(module, "evidence_rows"):  # renamed: this measurement must follow, not pass silently
            raise SystemExit(f"{module.__name__} has no evidence_rows to replace")
        module.evidence_rows = first_row
    control.findings = lambda table, evidence: common.findings(
        table, evidence.group_by("worker_id", "indicator").agg(pl.all().first()))


def run_variant(case_dir: Path, part: int, runs: int, variant: str) -> dict:
    """The best of ``runs`` warm runs of one part: analyzers and evidence writing, seconds."""
    from auditor.case import Case
    from auditor.engines import local
    from auditor.engines.parts import run_part, whole_case_references
    from auditor.export import write_evidence_file
    from auditor.settings import Settings

    if variant == "one_row_a_finding":
        cite_first_row_only()
    case, settings = Case.load(case_dir), Settings()
    copies = local.shared_conversations(case)
    members = local.part_members(local.ordered_workers(case, copies), None, local.ROWS_IN_FLIGHT // local.PROCESSES)
    references = whole_case_references(case, settings)
    home = pl.DataFrame({"worker_id": members[part]})
    held = local.part_case(case, members[part], copies)
    best = {"analyzers_s": float("inf"), "evidence_write_s": float("inf")}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(runs + 1):  # the first run warms the process up
            started = time.perf_counter()
            out = run_part(held, home, references, settings, station_ratios=True)
            ran = time.perf_counter()
            evidence = next(frame for kind, _, frame in out if kind == "evidence")
            found = next(frame for kind, _, frame in out if kind == "findings")
            if variant == "one_row_a_finding" and evidence.height > found.height:
                raise SystemExit(f"{evidence.height} evidence rows for {found.height} findings: not one row a finding")
            write_evidence_file(evidence, case, Path(scratch) / "evidence.parquet")
            written = time.perf_counter()
            best = {"analyzers_s": min(best["analyzers_s"], ran - started),
                    "evidence_write_s": min(best["evidence_write_s"], written - ran)}
    return {**{k: round(v, 3) for k, v in best.items()}, "evidence_rows": evidence.height,
            "parts": len(members), "part_workers": len(members[part])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", type=Path, help="a saved case (auditor ingest --out)")
    parser.add_argument("--part", type=int, default=4, help="which part, in the engine's order")
    parser.add_argument("--runs", type=int, default=2, help="warm runs of each variant (best kept)")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one variant, in this process
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.case, args.part, args.runs, args.variant)))
        return
    from auditor.engines.local import WORKER_ENVIRONMENT

    figures = {}
    for variant in VARIANTS:  # each in a new process, started as the engine starts its workers
        proc = subprocess.run([sys.executable, "-m", "benchmarks.evidence_cost", str(args.case), "--part",
                               str(args.part), "--runs", str(args.runs), "--variant", variant],
                              env={**os.environ, **WORKER_ENVIRONMENT}, capture_output=True, text=True, check=True)
        figures[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(variant, figures[variant], flush=True)
    full, lean = (figures[v] for v in VARIANTS)
    cost = lambda f: f["analyzers_s"] + f["evidence_write_s"]
    figures["evidence_share"] = round((cost(full) - cost(lean)) / cost(full), 3)
    RESULTS.parent.mkdir(exist_ok=True)
    earlier = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    earlier[str(args.case)] = {"date": date.today().isoformat(), "part": args.part, **figures}
    RESULTS.write_text(json.dumps(earlier, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"evidence_share": figures["evidence_share"]}))


if __name__ == "__main__":
    main()
