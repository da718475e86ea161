"""Does the Spark engine's report equal the local engine's audit of the same saved case?

    python -m benchmarks.engines_equal CASE_DIR SPARK_REPORT_DIR

Runs the local engine (``auditor.engines.local``: part by part for a city, its evidence on disk)
and compares its findings, evidence and per-worker measures with those the ``spark`` benchmark
stage wrote. Evidence is compared per finding, as the count and an order-free fingerprint (the sum
of its rows' 32-bit hashes), streamed from both sides: a city's 85 M rows twice in memory do not
fit beside the audit. Prints one JSON line: ``equal`` and, per part, the rows compared and the
indicators or measures that differ. Not timed: a check, run after the stage, so the figure it
stands beside is the Spark run alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from auditor.case import Case
from auditor.engines import local as local_engine
from auditor.export import audit_evidence
from auditor.findings import EVIDENCE


def same(local: pl.DataFrame, other: pl.DataFrame) -> bool:
    """Equal as sets of rows in the local frame's columns (row order is not part of a result);
    floats to a relative 1e-9 (a sum over other partitions differs in its last binary digits)."""
    if set(local.columns) != set(other.columns):
        return False
    try:
        assert_frame_equal(local, other.select(local.columns), check_row_order=False, rel_tol=1e-9, abs_tol=1e-12)
    except AssertionError:
        return False
    return True


def indicators_differing(local: pl.DataFrame, other: pl.DataFrame, by: str) -> list[str]:
    differing = pl.concat([local.join(other, on=local.columns, how="anti", nulls_equal=True),
                           other.select(local.columns).join(local, on=local.columns, how="anti", nulls_equal=True)])
    return sorted(differing[by].unique().to_list())


def fingerprints(evidence: pl.LazyFrame) -> pl.DataFrame:
    """Per finding: its evidence rows' count and the sum of their 32-bit row hashes (order-free)."""
    row_hash = pl.struct(*EVIDENCE).hash() % (1 << 32)
    return (evidence.select(list(EVIDENCE)).group_by("finding_id")
            .agg(rows=pl.len(), fingerprint=row_hash.cast(pl.Int64).sum()).collect(engine="streaming"))


def compare(case_dir: Path, report: Path) -> dict:
    local = local_engine.audit(Case.load(case_dir))
    findings = pl.read_parquet(report / "findings.parquet")
    ok_findings = same(local.findings, findings)
    ours, theirs = fingerprints(local.evidence.lazy()), fingerprints(audit_evidence(report))
    ok_evidence = same(ours, theirs)
    measures = {name: same(frame, pl.read_parquet(report / f"{name}.parquet"))
                for name, frame in local.measures.items()
                if frame.width and name != "local_engine" and (report / f"{name}.parquet").is_file()}
    result = {"equal": ok_findings and ok_evidence and all(measures.values()),
              "findings": local.findings.height, "evidence_rows": int(ours["rows"].sum()),
              "measures_compared": len(measures), "measures_differing": sorted(n for n, ok in measures.items() if not ok)}
    if not ok_findings:
        result["findings_differing_in"] = indicators_differing(
            local.findings.drop("sources"), findings.drop("sources"), "indicator")
    if not ok_evidence:
        ind = pl.col("finding_id").str.split(":").list.first().alias("indicator")
        result["evidence_differing_in"] = indicators_differing(ours.with_columns(ind), theirs.with_columns(ind),
                                                               "indicator")
    return result


if __name__ == "__main__":
    print(json.dumps(compare(Path(sys.argv[1]), Path(sys.argv[2]))))
