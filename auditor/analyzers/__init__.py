"""Analyzers: pure functions from a Case and the run's Settings to Findings.

Each analyzer module has ``ID`` and ``run(case, settings) -> Findings``; its docstring names the
canonical columns it needs. Register it once, here."""

from __future__ import annotations

from auditor.analyzers import (
    context,
    control,
    daily_hours,
    messages,
    offhours,
    overtime,
    platform_time,
    sessions,
    worktime,
)
from auditor.case import Case
from auditor.findings import Findings
from auditor.settings import Settings

ANALYZERS = (daily_hours, messages, control, platform_time, sessions, worktime, offhours, overtime)


def run_all(case: Case, settings: Settings | None = None, progress=None) -> Findings:
    settings = settings or Settings()
    settings.law  # noqa: B018 — fail early and clearly on an unknown jurisdiction
    parts = []
    with context.shared(case):  # each intermediate frame derived once for all analyzers
        for analyzer in ANALYZERS:
            if progress:
                progress(analyzer.ID)
            parts.append(analyzer.run(case, settings))
    return Findings.concat(parts).settled()
