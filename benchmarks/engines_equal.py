"""Does the Spark engine's report equal the local engine's audit of the same saved case?

    python -m benchmarks.engines_equal CASE_DIR SPARK_REPORT_DIR

Runs the local engine (``analyzers.run_all``) and compares its findings, evidence and per-worker
measures with those the ``spark`` benchmark stage wrote. Prints one JSON line: ``equal`` and, per
part, the rows compared and the indicators or measures that differ. Not timed: a check, run after
the stage, so the figure it stands beside is the Spark run alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from auditor import analyzers
from auditor.case import Case
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


def compare(case_dir: Path, report: Path) -> dict:
    local = analyzers.run_all(Case.load(case_dir))
    findings = pl.read_parquet(report / "findings.parquet")
    evidence = pl.read_parquet(report / "evidence.parquet").select(list(EVIDENCE))
    ok_findings = same(local.findings, findings)
    ok_evidence = same(local.evidence, evidence)
    measures = {name: same(frame, pl.read_parquet(report / f"{name}.parquet"))
                for name, frame in local.measures.items() if frame.width and (report / f"{name}.parquet").is_file()}
    result = {"equal": ok_findings and ok_evidence and all(measures.values()),
              "findings": local.findings.height, "evidence_rows": local.evidence.height,
              "measures_compared": len(measures), "measures_differing": sorted(n for n, ok in measures.items() if not ok)}
    if not ok_findings:
        result["findings_differing_in"] = indicators_differing(
            local.findings.drop("sources"), findings.drop("sources"), "indicator")
    if not ok_evidence:
        ind = pl.col("finding_id").str.split(":").list.first().alias("indicator")
        result["evidence_differing_in"] = indicators_differing(local.evidence.with_columns(ind),
                                                               evidence.with_columns(ind), "indicator")
    return result


if __name__ == "__main__":
    print(json.dumps(compare(Path(sys.argv[1]), Path(sys.argv[2]))))
