"""Analyzers: pure functions from a Case (and the jurisdiction's law) to Findings."""

from __future__ import annotations

from auditor import law as law_data
from auditor.analyzers import daily_hours
from auditor.case import Case
from auditor.findings import Findings

ANALYZERS = (daily_hours,)


def run_all(case: Case, jurisdiction: str = "cn_standard", progress=None) -> Findings:
    law = law_data.load(jurisdiction)
    parts = []
    for analyzer in ANALYZERS:
        if progress:
            progress(analyzer.ID)
        parts.append(analyzer.run(case, law))
    return Findings.concat(parts)
