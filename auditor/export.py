"""Writing results where a person opens them: safe CSV, Parquet, and the run manifest; and
reading an audit written so back (``read_audit``), so the app and the dossier open a city's audit
in seconds instead of running it again."""

from __future__ import annotations

import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from auditor import __version__
from auditor.case import Case, link_or_copy, readable_json, sha256
from auditor.findings import EVIDENCE, FINDINGS, Findings
from auditor.settings import Settings

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Excel and LibreOffice Calc open at most 1,048,576 rows (the header is one) and drop the rest.
SPREADSHEET_ROWS = 1_048_575
# An audit's evidence: Parquet files in a folder (an engine's parts write theirs in this form, and
# the audit's folder takes them as they are: rewriting a city's 84.7 M rows into one file took
# 6-8 s), and an index naming the file that holds each worker's rows, so that one worker's
# evidence is read from that file alone.
EVIDENCE_DIR = "evidence"
EVIDENCE_INDEX = "evidence_files.parquet"
# as written: the original file next to the source id
OUTPUT_EVIDENCE = {"finding_id": pl.String, "table": pl.String, "src": pl.String, "file": pl.String,
                   "src_row": pl.Int64}


def spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that a spreadsheet would execute with an apostrophe; text lists become one cell."""
    lists = [c for c, t in frame.schema.items() if t == pl.List(pl.String)]
    frame = frame.with_columns(pl.col(c).list.join(" | ") for c in lists)
    text = [c for c, t in frame.schema.items() if t == pl.String]
    starts = "^[" + "".join(FORMULA_START).replace("-", r"\-") + "]"
    # One pass finds the columns that hold such a cell at all (usually none: ids, table names, paths);
    # only those are rewritten, so a table of millions of rows is not copied to change nothing.
    found = frame.select(pl.col(c).str.contains(starts).any() for c in text) if text and frame.height else None
    risky = [c for c, hit in found.row(0, named=True).items() if hit] if found is not None else []
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(starts)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in risky)


def write_table(frame: pl.DataFrame | pl.LazyFrame, out: Path, name: str, csv: bool = True) -> None:
    """``name``.parquet, and ``name``.csv made safe for spreadsheets. A LazyFrame (spilled
    evidence) is streamed into the Parquet file and read whole only for the CSV."""
    if isinstance(frame, pl.LazyFrame):
        frame.sink_parquet(out / f"{name}.parquet")
        frame = pl.scan_parquet(out / f"{name}.parquet").collect() if csv else None
    else:
        frame.write_parquet(out / f"{name}.parquet")
    if csv:
        spreadsheet_safe(frame).write_csv(out / f"{name}.csv")


def write_evidence_file(evidence: pl.DataFrame | pl.LazyFrame, case: Case, path: Path) -> Path:
    """Evidence rows in the Parquet file ``path`` as an audit writes them (``OUTPUT_EVIDENCE``: the
    original file next to the source id, as a reader needs it; zstd): an engine's parts write
    theirs so, and an audit's folder takes those files as they are."""
    files = pl.LazyFrame({"src": [s.src for s in case.sources], "file": [s.path for s in case.sources]},
                         schema={"src": pl.String, "file": pl.String})
    # a join, not replace_strict: the streaming sink runs it part by part, while a replace_strict
    # made it gather all the rows first (84.7 M rows: 9 GB against 0.4 GB)
    (evidence.lazy().join(files, on="src", how="left", maintain_order="left")
     .select(list(OUTPUT_EVIDENCE)).sink_parquet(path, compression="zstd", mkdir=True))
    return path


def write_tables(tables: dict[str, pl.DataFrame | pl.LazyFrame], out: Path,
                 notes_given: dict[str, str | None] | None = None) -> tuple[list[str], list[str]]:
    """Each table as ``name``.parquet, and ``name``.csv where a spreadsheet opens every row (or as
    ``notes_given`` says, a None note meaning write it): the files written, and a note for each CSV
    left out (``csv_note``). Two tables at a time: a file's encoding leaves a core idle (a city's
    audit: 3.4 → 2.4 s)."""
    notes_given = notes_given or {}
    notes = {name: notes_given[name] if name in notes_given else csv_note(name, frame.height)
             for name, frame in tables.items()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda name: write_table(tables[name], out, name, csv=notes[name] is None), tables))
    written = [file for name, note in notes.items()
               for file in ([f"{name}.csv"] if note is None else []) + [f"{name}.parquet"]]
    return written, [note for note in notes.values() if note is not None]


def run_stamp() -> dict:
    """Who wrote an output and when: the head of every manifest (全程留痕)."""
    return {"tool": "platform-work-auditor", "version": __version__,
            "run_at": datetime.now(UTC).isoformat(timespec="seconds")}


def write_manifest(out: Path, manifest: dict) -> Path:
    path = out / "manifest.json"
    path.write_text(readable_json(manifest), encoding="utf-8")
    return path


def csv_note(name: str, rows: int, holder: str | None = None) -> str | None:
    """Why ``name``.csv was not written, or None when a spreadsheet can open all its rows (one
    that cannot silently cuts them: a city's classified messages or evidence are millions);
    ``holder``: what holds every row instead (by default ``name``.parquet)."""
    if rows <= SPREADSHEET_ROWS:
        return None
    return (f"{name}.csv not written: its {rows:,} rows exceed the {SPREADSHEET_ROWS:,} a spreadsheet opens; "
            f"{holder or f'{name}.parquet'} holds every row")


def evidence_csv_note(rows: int, csv: bool | None) -> str | None:
    """Why evidence.csv was not written, or None when it is: by default (``csv`` None) only when a
    spreadsheet can open it whole; a city's tens of millions of rows are for evidence/ and
    each worker's dossier (``auditor report``), not for a spreadsheet that silently cuts them."""
    if csv or (csv is None and rows <= SPREADSHEET_ROWS):
        return None
    if csv is None:
        return (f"{csv_note('evidence', rows, f'{EVIDENCE_DIR}/ (Parquet)')}, and `auditor report <this folder> "
                "--worker ID` writes a worker's evidence as CSV from it (`auditor audit --evidence-csv` writes it anyway)")
    return f"evidence.csv not written (--no-evidence-csv); {EVIDENCE_DIR}/ (Parquet) holds every row"


def write_audit(result: Findings, case: Case, out: Path, settings: dict, evidence_csv: bool | None = None) -> dict:
    """Findings, evidence and measures (Parquet, and CSV where a spreadsheet can open it), the
    case's canonical tables and the manifest, which it returns (``not_written``: each CSV left out
    and why). ``evidence_csv``: None = when it fits a spreadsheet."""
    out.mkdir(parents=True, exist_ok=True)
    written, left_out = write_evidence(result, case, out, evidence_csv_note(result.evidence_count(), evidence_csv))
    tables, notes = write_tables({"findings": result.findings, **result.measures}, out)
    written, left_out = written + tables, left_out + notes
    case.save(out / "case")
    # the case's tables too: every record a dossier or the app shows from the audit is read from them
    written += [f"case/{path.name}" for path in (out / "case").iterdir() if path.is_file()]
    manifest = {**run_stamp(), "settings": settings, "case": case.manifest,
                # what this run wrote, each with its sha256: read_audit checks them before it shows them
                "outputs": hashes(out, sorted(written)),
                **({"not_written": left_out} if left_out else {})}
    write_manifest(out, manifest)
    return manifest


def write_evidence(result: Findings, case: Case, out: Path, csv_note: str | None) -> tuple[list[str], list[str]]:
    """The evidence rows in ``out``/evidence/ (``OUTPUT_EVIDENCE``): an engine's part files as they
    are, linked or copied, with the index of each worker's file (``EVIDENCE_INDEX``); else one
    file. evidence.csv too when ``csv_note`` is None, else the note. The files written, the notes."""
    # written beside the folder first: the evidence may be read from the files it replaces
    staging = Path(tempfile.mkdtemp(prefix=".evidence-", dir=out))
    if result.evidence_files is not None:
        names = {path: f"part-{n:06d}.parquet" for n, path in enumerate(sorted(result.evidence_files["path"].unique()))}
        for path, name in names.items():
            link_or_copy(Path(path), staging / name)
        index = result.evidence_files.select("worker_id", file=pl.lit(f"{EVIDENCE_DIR}/") + pl.col("path").replace_strict(names))
    else:
        names = {None: "part-000000.parquet"}
        write_evidence_file(result.evidence, case, staging / names[None])
        index = None
    folder = out / EVIDENCE_DIR
    # a former audit's evidence in this folder goes: no reader should take its rows for this one's
    for stale in [out / "evidence.parquet", out / EVIDENCE_INDEX, out / "evidence.csv", *folder.glob("part-*.parquet")]:
        stale.unlink(missing_ok=True)
    folder.mkdir(exist_ok=True)
    for name in names.values():
        (staging / name).replace(folder / name)
    staging.rmdir()
    written = [f"{EVIDENCE_DIR}/{name}" for name in names.values()]
    if index is not None:
        index.write_parquet(out / EVIDENCE_INDEX)
        written.append(EVIDENCE_INDEX)
    if csv_note is not None:
        return written, [csv_note]
    spreadsheet_safe(scan_evidence(out, written).collect()).write_csv(out / "evidence.csv")
    return [*written, "evidence.csv"], []


def scan_evidence(folder: Path, names: list[str]) -> pl.LazyFrame:
    """The evidence files ``names`` (of an audit's folder) as one table (``OUTPUT_EVIDENCE``); a
    file without the contract's columns is an error naming it."""
    paths = [_with_columns(folder / name, EVIDENCE) for name in names if name.endswith(".parquet")
             and name != EVIDENCE_INDEX]
    return pl.scan_parquet(paths, schema=OUTPUT_EVIDENCE, missing_columns="insert")


def evidence_files(outputs: list[str] | dict[str, str]) -> list[str]:
    """The evidence files among an audit's outputs: evidence/ (an audit written before holds one
    evidence.parquet)."""
    return [name for name in outputs if name.startswith(f"{EVIDENCE_DIR}/")] or ["evidence.parquet"]


def audit_evidence(folder: str | Path) -> pl.LazyFrame:
    """Every evidence row of the audit in ``folder`` as written (``OUTPUT_EVIDENCE``), from the
    files its manifest lists (without checking their sha256, as ``read_audit`` does)."""
    folder = Path(folder)
    outputs = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("outputs", [])
    return scan_evidence(folder, evidence_files(outputs))


def hashes(folder: Path, names: list[str]) -> dict[str, str]:
    """sha256 of each file ``names`` in ``folder``, two or more at a time (hashlib lets go of the
    interpreter while it hashes: a city's case is 2.3 GB)."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        return dict(zip(names, pool.map(lambda name: sha256(folder / name), names)))


@dataclass
class SavedAudit:
    """An audit ``write_audit`` wrote, read back: its case, findings (evidence stays on disk,
    scanned where shown), measures, the settings it ran with and its manifest."""

    case: Case
    result: Findings
    settings: Settings
    manifest: dict


def is_audit(folder: str | Path) -> bool:
    """Whether ``folder`` holds an audit ``write_audit`` wrote (findings, evidence, its case)."""
    folder = Path(folder)
    evidence = (folder / EVIDENCE_DIR).is_dir() or (folder / "evidence.parquet").is_file()  # the latter: written before evidence/
    return evidence and all((folder / name).is_file() for name in ("manifest.json", "findings.parquet")) \
        and Case.is_saved(folder / "case")


def read_audit(folder: str | Path) -> SavedAudit:
    """The audit in ``folder``; a file its manifest lists but the folder lacks or holds changed, or
    findings or evidence without the contract's columns, is an error naming the file."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{folder / 'manifest.json'}: not the JSON manifest an audit writes ({err})") from None
    outputs = manifest.get("outputs", [])
    read_back = [name for name in outputs if name.endswith(".parquet") or name.startswith("case/")]
    if missing := [name for name in read_back if not (folder / name).is_file()]:
        raise FileNotFoundError(f"{folder}: the audit's manifest.json lists {', '.join(missing)}, not in the folder")
    # each with its sha256 (an audit written before they were recorded lists its outputs' names only)
    hashed = outputs if isinstance(outputs, dict) else {}
    found = hashes(folder, [name for name in read_back if name in hashed])
    if changed := [name for name, digest in found.items() if digest != hashed[name]]:
        raise ValueError(f"{folder}: {', '.join(changed)} changed since the audit wrote it (its sha256 is not "
                         "the one in manifest.json)")
    findings = pl.read_parquet(_with_columns(folder / "findings.parquet", FINDINGS))
    evidence = scan_evidence(folder, evidence_files(read_back)).select(list(EVIDENCE))
    index = (pl.read_parquet(folder / EVIDENCE_INDEX).select("worker_id", path=pl.lit(f"{folder}/") + pl.col("file"))
             if EVIDENCE_INDEX in read_back else None)
    measures = {Path(name).stem: pl.read_parquet(folder / name) for name in read_back
                if "/" not in name and name not in ("findings.parquet", "evidence.parquet", EVIDENCE_INDEX)}
    return SavedAudit(Case.load(folder / "case"), Findings(findings, evidence, measures, evidence_files=index),
                      Settings.from_dict(manifest.get("settings", {})), manifest)


def _with_columns(path: Path, contract: dict) -> Path:
    found = pl.read_parquet_schema(path)
    if wrong := [f"{col} ({dtype})" for col, dtype in contract.items() if found.get(col) != dtype]:
        raise ValueError(f"{path}: expected the columns {', '.join(f'{c} ({t})' for c, t in contract.items())}; "
                         f"missing or of another type: {', '.join(wrong)}")
    return path
