"""The ``auditor`` command: a thin shell over the library (simulate, ingest, audit)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from auditor import views
from auditor.case import Case
from auditor.engines import local
from auditor.export import is_audit, read_audit, write_audit
from auditor.findings import Findings
from auditor.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Audit platform work: what the algorithm and the station made each worker do.")
# Piped or redirected output (a log, a CI job) gets wide tables rather than rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)
CONSOLE_FILES = 60  # files listed in the printed ingest report, those with a problem first
CONSOLE_WORKERS = 50  # workers listed in the printed summaries, the most affected first
AUDIT_OR_CASE = "An audit's folder (`auditor audit --out`), a saved case folder, or export files/folders."
JURISDICTION_OF_AUDIT = ("Law parameter set in auditor/law/ (default: a saved audit's own, else cn_standard; "
                         "another than the audit's runs it again).")


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _read_case(paths: list[Path], tz: str | None = None) -> Case:
    """A saved case as it is (also an audit's), or exports read with a progress bar and their
    ingest table printed."""
    import connectors

    if len(paths) == 1 and is_audit(paths[0]):
        return Case.load(paths[0] / "case")
    if len(paths) == 1 and Case.is_saved(paths[0]):
        return Case.load(paths[0])
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("reading", total=None)
        case = connectors.load(paths, tz=tz, progress=lambda name: progress.update(task, description=f"reading {name}"))
    _print_ingest(case)
    return case


def _print_ingest(case: Case) -> None:
    table = Table(title="Ingest: rows read = kept + rejected", title_justify="left")
    for col in ("source", "file", "format", "read", "kept", "rejected", "problem"):
        table.add_column(col, justify="right" if col in ("read", "kept", "rejected") else "left")
    # a city's thousands of files: those with a problem first, then the others in order, up to a screen
    shown = sorted(case.sources, key=lambda s: (not s.error, not s.rows_rejected, not s.detected.get("warning")))
    for s in shown[:CONSOLE_FILES]:
        # duplicates are counted, not listed: the first rejection shown is one the file itself holds
        first = next((f"first: {s.row_unit} {r.line}, {r.reason}" for r in s.rejected if r.code != "row-duplicate"), "")
        removed = s.detected.get("duplicates removed")
        notes = [s.detected.get("warning", ""), f"{removed} duplicate(s) removed" if removed else "", first]
        table.add_row(s.src, s.path, s.connector or "—", str(s.rows_read), str(s.rows_kept), str(s.rows_rejected),
                      s.error or "; ".join(n for n in notes if n), style="red" if s.error else None)
    console.print(table)
    read, kept, rejected = (sum(getattr(s, f) for s in case.sources) for f in ("rows_read", "rows_kept", "rows_rejected"))
    console.print(f"{len(case.sources):,} files: {read:,} rows read = {kept:,} kept + {rejected:,} rejected"
                  + (f"; the first {CONSOLE_FILES} shown, every file in the manifest" if len(shown) > CONSOLE_FILES else ""))
    if unread := [s for s in case.sources if s.error]:
        err.print(f"[yellow]{len(unread)} file(s) not read[/]; the others were. Details in the manifest.")


def _print_summary(result: Findings, case: Case) -> None:
    days = result.measures.get("daily_hours")
    if days is None or days.is_empty():
        console.print("No working time found in these inputs.")
        return
    daily = result.findings.filter(pl.col("indicator") == "daily-hours-over-limit")
    limit = daily["threshold"].max() if daily.height else 8.0
    per_worker = (days.group_by("worker_id").agg(
        days=pl.len(), hours=pl.col("hours").sum(), longest=pl.col("hours").max(),
        over=(pl.col("hours") > limit).sum())
        .join(result.findings.group_by("worker_id").agg(findings=pl.len()), on="worker_id", how="left")
        .with_columns(pl.col("findings").fill_null(0))
        .sort(["over", "hours"], descending=True))
    table = Table(title=f"Per worker ({case.tz} days)", title_justify="left")
    for col in ("worker", "days worked", "hours", "longest day (h)", f"days over {limit:g} h", "findings"):
        table.add_column(col, justify="left" if col == "worker" else "right")
    for w, n, hours, longest, over, findings in per_worker.head(CONSOLE_WORKERS).iter_rows():
        table.add_row(w, str(n), f"{hours:.1f}", f"{longest:.2f}", str(over), str(findings),
                      style="bold" if over else None)
    console.print(table)
    _print_more(per_worker.height, "worker_days.parquet and daily_hours.parquet")
    _print_overtime(result)


def _print_more(rows: int, where: str) -> None:
    """A city's thousands of workers are for the report's files, not the terminal."""
    if rows > CONSOLE_WORKERS:
        console.print(f"… the first {CONSOLE_WORKERS} of {rows:,} workers; every worker in {where}")


def _print_overtime(result: Findings) -> None:
    """Overtime owed by premium band and off-hours chat work, per worker with either."""
    owed = result.measures.get("overtime")
    if owed is None or owed.is_empty():
        return
    off = result.measures.get("offhours_summary")
    off = (off.select("worker_id", off_hours="hours", conservative="conservative", pattern="pattern_en")
           if off is not None and off.height else
           pl.DataFrame(schema={"worker_id": pl.String, "off_hours": pl.Float64, "conservative": pl.Float64,
                                "pattern": pl.String}))
    rows = (owed.join(off, on="worker_id", how="left").filter((pl.col("pay_owed") > 0) | pl.col("off_hours").is_not_null())
            .sort("pay_owed", descending=True))
    table = Table(title="Overtime owed (assuming none paid) and off-hours chat work (隐形加班)", title_justify="left")
    for col in ("worker", "h 150 %", "h 200 %", "h 300 %", "wage / month", "owed (CNY)", "off-hours h",
                "conservative h", "pattern"):
        table.add_column(col, justify="left" if col in ("worker", "pattern") else "right")
    for r in rows.head(CONSOLE_WORKERS).iter_rows(named=True):
        assumed = "*" if r["wage_basis"].startswith("assumption") else ""
        off_hours = "" if r["off_hours"] is None else f"{r['off_hours']:.2f}"
        conservative = "" if r["conservative"] is None else f"{r['conservative']:.2f}"
        table.add_row(r["worker_id"], f"{r['hours_150']:.1f}", f"{r['hours_200']:.1f}", f"{r['hours_300']:.1f}",
                      f"{r['monthly_wage']:.0f}{assumed}", f"{r['pay_owed']:.2f}", off_hours, conservative,
                      r["pattern"] or "")
    console.print(table)
    _print_more(rows.height, "overtime.parquet and offhours_summary.parquet")
    console.print("* wage assumed at the local minimum wage (auditor/law/minimum_wage.toml); set the real wage to "
                  "replace it.")


def _print_written(message: str, files: list[Path]) -> None:
    """What an export wrote, and each CSV its manifest (the last file) says it left out and why."""
    console.print(message)
    for note in json.loads(files[-1].read_text(encoding="utf-8")).get("not_written", []):
        console.print(note)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder to write the synthetic city into.")] = Path("sample_logs"),
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives byte-identical files.")] = 20260427,
    riders: Annotated[int, typer.Option(help="Number of riders.")] = 40,
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD).")] = "2026-04-27",
    days: Annotated[int, typer.Option(help="Number of days.")] = 28,
    order_rate: Annotated[float, typer.Option(help="Demand: 1.0 is the sample's density; a higher rate shortens the "
                                                   "idle gaps between trips and batches more orders per trip, and "
                                                   "above 1 orders also stack and relay (4.0: a busy city).")] = 1.0,
) -> None:
    """Write a seeded synthetic city in raw export formats, with its ground truth."""
    from auditor.simulate import simulate as run_simulation

    try:
        first = date.fromisoformat(start)
    except ValueError:
        _fail(f"--start {start!r} is not a date; expected YYYY-MM-DD")
    if not order_rate > 0:
        _fail(f"--order-rate {order_rate:g}: expected a positive number (1.0: the sample's density)")
    with Progress(console=err, transient=True) as progress:
        progress.add_task(f"simulating {riders} riders × {days} days", total=None)
        summary = run_simulation(out, seed=seed, riders=riders, start=first, days=days, order_rate=order_rate)
    table = Table(title=f"Wrote {out} (seed {seed}, {riders} riders × {days} days, order rate {order_rate:g})",
                  title_justify="left")
    table.add_column("file", overflow="fold")
    table.add_column("rows", justify="right")
    for name, rows in summary["rows"].items():
        table.add_row(name, str(rows))
    console.print(table)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Export files or folders.")],
    out: Annotated[Path, typer.Option(help="Folder for the canonical case (Parquet + manifest.json).")],
    tz: Annotated[str | None, typer.Option(help="Time zone of timestamps without offset (default: case.toml or Asia/Shanghai).")] = None,
) -> None:
    """Read exports into a canonical case and print the row accounting of every file."""
    try:
        case = _read_case(paths, tz)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    case.save(out)
    console.print(f"case written to {out}")


@app.command()
def audit(
    paths: Annotated[list[Path], typer.Argument(help="A saved case or audit folder, or export files/folders.")],
    out: Annotated[Path, typer.Option(help="Folder for findings, evidence and the manifest.")] = Path("report"),
    jurisdiction: Annotated[str, typer.Option(help="Law parameter set in auditor/law/.")] = "cn_standard",
    engine: Annotated[str, typer.Option(help="local (polars, this machine) or spark (pip install -e '.[spark]'; "
                                             "see README, Spark engine).")] = "local",
    evidence_csv: Annotated[bool | None, typer.Option(
        help="Write evidence.csv too (default: only when a spreadsheet can open all its rows; "
             "evidence/ always holds every row, as Parquet).")] = None,
    rows_per_part: Annotated[int | None, typer.Option(
        min=1, help="Local engine: a case with more rows of orders, activity and messages is audited in parts "
                    "of at most this many (memory follows the parts running; the results are the same). "
                    f"Default: one run up to {local.ROWS_AT_ONCE:,} rows; beyond, parts sharing "
                    f"{local.ROWS_IN_FLIGHT:,} rows between those running side by side.")] = None,
    workers_per_part: Annotated[int | None, typer.Option(
        min=1, help="Local engine: at most this many workers in a part as well.")] = None,
    processes: Annotated[int | None, typer.Option(
        min=1, help=f"Local engine: parts audited at once, each in a process of its own (default "
                    f"{local.PROCESSES}; 1: one after another in this process).")] = None,
) -> None:
    """Run every analyzer; write findings and evidence (Parquet + CSV) and print a per-worker summary."""
    from auditor.engines import ENGINES

    if engine not in ENGINES:
        _fail(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    settings = Settings(jurisdiction=jurisdiction)
    try:
        case = _read_case(paths)
        if engine == "spark":
            result = _audit_on_spark(case, out, settings)
        else:
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("analysing", total=None)
                result = local.audit(case, settings, workers_per_part,
                                     progress=lambda name: progress.update(task, description=name),
                                     rows_per_part=rows_per_part, processes=processes)
    except (FileNotFoundError, ValueError, ImportError) as e:
        _fail(str(e))
    _print_summary(result, case)
    written = write_audit(result, case, out, {**settings.to_dict(), "engine": engine,
                                              "inputs": [str(p) for p in paths]}, evidence_csv)
    console.print(f"{result.findings.height} findings with {result.evidence_count()} evidence rows written to {out}/")
    for note in written.get("not_written", []):
        console.print(note)


def _audit_on_spark(case: Case, out: Path, settings: Settings) -> Findings:
    """Spark reads a saved case's Parquet files: the one read (also an audit's), else the case
    saved into ``out``."""
    from auditor.engines import spark

    case_dir = case.origin if case.origin is not None else case.save(out / "case")
    return spark.audit(str(case_dir.resolve()), settings)


def _analyse(paths: list[Path], jurisdiction: str | None) -> tuple[Case, Findings, dict]:
    """The case, its findings and the settings to record with what is written from them. An audit
    ``auditor audit`` wrote is taken as written when it ran under the jurisdiction asked (or none
    is asked): a city's dossier in seconds. Otherwise the case is audited here, in parts as
    ``auditor audit`` runs it."""
    inputs = {"inputs": [str(p) for p in paths]}
    try:
        saved = read_audit(paths[0]) if len(paths) == 1 and is_audit(paths[0]) else None
        if saved and jurisdiction in (None, saved.settings.jurisdiction):
            run_at = saved.manifest.get("run_at", "(time not recorded)")
            console.print(f"the audit in {paths[0]} of {run_at}, as written (not run again)")
            audit = {"run_at": run_at, "inputs": saved.manifest.get("settings", {}).get("inputs")}
            return saved.case, saved.result, {**saved.settings.to_dict(), **inputs, "audit": audit}
        settings = Settings(jurisdiction=jurisdiction or Settings.jurisdiction)
        case = saved.case if saved else _read_case(paths)  # the audit's case, read once
        return case, local.audit(case, settings), {**settings.to_dict(), **inputs}
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))


@app.command()
def report(
    paths: Annotated[list[Path], typer.Argument(help=AUDIT_OR_CASE)],
    worker: Annotated[list[str] | None, typer.Option(help="Worker id; repeat for a selection.")] = None,
    sample: Annotated[bool, typer.Option("--sample", help="The audit's 双随机 random sample of riders (the "
                                         "scorecard's recorded draw), with any --worker.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for the dossier.")] = Path("dossier"),
    lang: Annotated[str, typer.Option(help="Language of the HTML report: zh or en.")] = "zh",
    jurisdiction: Annotated[str | None, typer.Option(help=JURISDICTION_OF_AUDIT)] = None,
) -> None:
    """Write the evidence dossier of one or more workers: an HTML page per worker (and an index for
    several), findings and evidence (CSV, Parquet), manifest."""
    from auditor.report import listed, write_dossier

    if lang not in ("zh", "en"):
        _fail(f"--lang {lang!r}: expected zh or en")
    if not worker and not sample:
        _fail("name the workers: --worker ID (repeat for a selection) or --sample")
    case, result, recorded = _analyse(paths, jurisdiction)
    worker = list(worker or [])
    if sample:
        drawn = result.measures.get("inspection_sample")
        if drawn is None or drawn.is_empty():
            _fail("these inputs have no 双随机 sample: the control scorecard found no riders to draw from")
        worker += drawn["worker_id"].sort().to_list()
        console.print(f"the 双随机 sample: {drawn.height:,} of {drawn['pool_size'][0]:,} riders, "
                      f"seed {drawn['seed'][0]}")
    if unknown := sorted(set(worker) - set(views.workers(case, result))):
        _fail(f"worker(s) {unknown} appear nowhere in these inputs")
    files = write_dossier(result, case, worker, out, recorded, lang)
    _print_written(f"dossier written to {out}/: {listed(files)}", files)


@app.command("research-export")
def research_export(
    paths: Annotated[list[Path], typer.Argument(help=AUDIT_OR_CASE)],
    salt: Annotated[str, typer.Option(envvar="AUDITOR_SALT", help="Secret salt for the pseudonyms (or AUDITOR_SALT); never written out.")],
    out: Annotated[Path, typer.Option(help="Folder for the export.")] = Path("research"),
    include_text: Annotated[bool, typer.Option(help="Keep message text (removed by default).")] = False,
    jurisdiction: Annotated[str | None, typer.Option(help=JURISDICTION_OF_AUDIT)] = None,
) -> None:
    """Write a pseudonymised per-rider indicator table (and classified messages) for researchers."""
    from auditor.research import Pseudonymisation, write_research

    case, result, recorded = _analyse(paths, jurisdiction)
    files = write_research(result, case, out, Pseudonymisation(salt, include_text=include_text), recorded)
    _print_written(f"research export written to {out}/: " + ", ".join(p.name for p in files), files)


if __name__ == "__main__":
    app()
