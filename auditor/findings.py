"""Findings and their evidence.

A finding is one row per worker × indicator × period: the measured value, the threshold it is
compared with, a score in [0, 1], the legal sources, a bilingual explanation. Its evidence is a
separate long table (finding_id, table, src, src_row): one row per canonical record that supports
it, so the app and the dossier can show the original line of the original file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

FINDINGS = {
    "finding_id": pl.String,
    "worker_id": pl.String,
    "indicator": pl.String,
    "family": pl.String,
    "period": pl.String,
    "value": pl.Float64,
    "unit": pl.String,
    "threshold": pl.Float64,
    "score": pl.Float64,
    "sources": pl.List(pl.String),
    "explanation_zh": pl.String,
    "explanation_en": pl.String,
    "parameters": pl.String,
}
EVIDENCE = {
    "finding_id": pl.String,
    "table": pl.String,
    "src": pl.String,
    "src_row": pl.Int64,
}
DECIMALS = 9  # of value, threshold and score
FAMILIES = ("working_time", "personal", "organisational", "economic", "algorithmic")


class FindingError(ValueError):
    def __init__(self, violations: list[str]):
        self.violations = violations
        super().__init__("findings violate the contract:\n- " + "\n- ".join(violations))


@dataclass
class Findings:
    """Findings of one or more analyzers with their evidence (and supporting measure tables).

    ``evidence`` is in memory, or a LazyFrame over Parquet files when an engine spilled a city's
    tens of millions of rows to disk (``auditor.engines.local``; ``scratch`` holds those files):
    read it through ``evidence_of`` and ``evidence_count``, or stream it. ``evidence_files``
    (worker_id, path), where an engine wrote each worker's evidence rows into one file of such a
    folder, in the audit's output form (``EVIDENCE`` and file): a worker's evidence is read from
    that file alone, not from the city's."""

    findings: pl.DataFrame
    evidence: pl.DataFrame | pl.LazyFrame
    measures: dict[str, pl.DataFrame] = field(default_factory=dict)  # e.g. hours per worker-day
    scratch: object | None = field(default=None, compare=False, repr=False)  # a case.Scratch the evidence reads
    evidence_files: pl.DataFrame | None = field(default=None, compare=False, repr=False)

    @classmethod
    def empty(cls) -> Findings:
        return cls(pl.DataFrame(schema=FINDINGS), pl.DataFrame(schema=EVIDENCE))

    @classmethod
    def concat(cls, parts: list[Findings]) -> Findings:
        if not parts:
            return cls.empty()
        measures = {name: frame for p in parts for name, frame in p.measures.items()}
        return cls(pl.concat([p.findings for p in parts]), pl.concat([p.evidence for p in parts]), measures)

    def for_worker(self, worker_id: str) -> Findings:
        f = self.findings.filter(pl.col("worker_id") == worker_id)
        return Findings(f, self.evidence_of(f))

    def evidence_of(self, findings: pl.DataFrame) -> pl.DataFrame:
        """The evidence rows of ``findings`` (a frame with finding_id), in memory, in their order."""
        return (self._evidence_holding(findings).join(findings.lazy().select("finding_id"), on="finding_id",
                                                      how="semi", maintain_order="left").collect())

    def _evidence_holding(self, findings: pl.DataFrame) -> pl.LazyFrame:
        """The evidence, or only the files that hold the evidence of ``findings``' workers."""
        if self.evidence_files is None or "worker_id" not in findings.columns:
            return self.evidence.lazy()
        workers = findings.select("worker_id").unique()
        if workers.join(self.evidence_files, on="worker_id", how="anti").height:  # a worker the files do not list
            return self.evidence.lazy()
        return scan_evidence_files(self.evidence_files.join(workers, on="worker_id", how="semi")["path"].unique()
                                   .sort().to_list())

    def evidence_count(self) -> int:
        return self.evidence.lazy().select(pl.len()).collect().item()

    def settled(self) -> Findings:
        """The findings in finding_id order and every measure's floating-point figures rounded
        as the findings' are (``DECIMALS``), so that two runs over the same case write the same
        findings and measures. A sum taken over rows in another order (threads, or a hash join's
        order, which differs from process to process) differs in the last binary digit."""
        measures = {name: _rounded(frame) for name, frame in self.measures.items()}
        return Findings(self.findings.sort("finding_id"), self.evidence, measures, self.scratch, self.evidence_files)


def scan_evidence_files(paths: list[str]) -> pl.LazyFrame:
    """Evidence files an engine wrote (the contract's columns and any more, such as the original
    file) as the contract's ``EVIDENCE`` table; none: no rows."""
    return pl.scan_parquet(paths, schema=EVIDENCE, extra_columns="ignore") if paths else pl.LazyFrame(schema=EVIDENCE)


def validate(findings: pl.DataFrame, evidence: pl.DataFrame, measures: dict | None = None) -> Findings:
    """Reject findings that break the contract: wrong columns, scores outside [0, 1], unknown
    family, duplicate ids, no legal source, and above all a finding with no evidence rows."""
    problems = []
    for name, frame, want in (("findings", findings, FINDINGS), ("evidence", evidence, EVIDENCE)):
        for col, dtype in want.items():
            if col not in frame.columns:
                problems.append(f"{name}: missing column {col!r}")
            elif frame.schema[col] != dtype:
                problems.append(f"{name}: column {col!r} is {frame.schema[col]}, expected {dtype}")
    if problems:
        raise FindingError(problems)
    unsupported = findings.join(evidence, on="finding_id", how="anti")["finding_id"]
    if len(unsupported):
        problems.append(f"{len(unsupported)} finding(s) without evidence rows, e.g. {unsupported[:3].to_list()}")
    if (bad := findings.filter(~pl.col("score").is_between(0, 1) | pl.col("score").is_null())).height:
        problems.append(f"score outside [0, 1] for {bad['finding_id'][:3].to_list()}")
    if (bad := findings.filter(~pl.col("family").is_in(FAMILIES))).height:
        problems.append(f"unknown family {bad['family'].unique().to_list()}; expected one of {FAMILIES}")
    if (bad := findings.filter(pl.col("sources").list.len().fill_null(0) == 0)).height:
        problems.append(f"no legal source cited for {bad['finding_id'][:3].to_list()}")
    if findings["finding_id"].is_duplicated().any():
        problems.append("duplicate finding_id values")
    if evidence.select(pl.sum_horizontal(pl.col("src", "src_row").null_count())).item():
        problems.append("evidence rows without src/src_row")
    if problems:
        raise FindingError(problems)
    # parallel sums differ in the last binary digit from run to run; a figure cited in a hearing must not
    figures = [pl.col(c).round(DECIMALS) for c in ("value", "threshold", "score")]
    return Findings(findings.select(list(FINDINGS)).with_columns(figures),
                    _distinct(evidence.select(list(EVIDENCE))), measures or {})


def _rounded(frame: pl.DataFrame) -> pl.DataFrame:
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    return frame.with_columns(pl.col(floats).round(DECIMALS)) if floats else frame


def _distinct(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows.unique(maintain_order=True)`` at a fraction of the cost on millions of evidence rows:
    a row whose hash no other row shares is distinct already; only rows sharing one are compared."""
    hashes = rows.hash_rows()
    ordered = hashes.sort()  # sorting u64 and comparing neighbours: several times faster than a hash set
    collided = ordered.filter(ordered == ordered.shift(1))
    if collided.is_empty():
        return rows
    shared = hashes.is_in(collided.unique().implode())
    numbered = rows.with_row_index("_row")
    firsts = numbered.filter(shared).filter(pl.struct(rows.columns).is_first_distinct())["_row"]
    return rows.filter((~shared).scatter(firsts, True))


def ref(table: str, src: str = "src", src_row: str = "src_row") -> pl.Expr:
    """The canonical row a record came from, as one evidence reference."""
    return pl.struct(table=pl.lit(table), src=pl.col(src), src_row=pl.col(src_row))


def evidence_rows(frame: pl.DataFrame, finding_id: pl.Expr, refs: str = "refs") -> pl.DataFrame:
    """One evidence row per reference in the list column ``refs`` of each finding's row."""
    return frame.select(finding_id=finding_id, ref=refs).explode("ref").drop_nulls("ref").unnest("ref")


def render(template: str, **columns: pl.Expr) -> pl.Expr:
    """A bilingual template such as ``"{worker} worked {hours} h"`` as one vectorised expression."""
    names = re.findall(r"{(\w+)}", template)
    return pl.format(re.sub(r"{\w+}", "{}", template), *(columns[n].cast(pl.String) for n in names))
