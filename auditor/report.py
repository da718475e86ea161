"""The evidence dossier for one worker or a selection: a self-contained, printable HTML report,
CSV and Parquet of the findings and their resolved evidence, and ``manifest.json`` with the
sha256 of every input file, the settings, the tool version and the time of the run (全程留痕).

Everything that came from the inputs (chat text, names, file names) is untrusted: the HTML escapes
every value, the CSV neutralises spreadsheet formulas, and no input value decides where a file is
written outside the output folder.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from pathlib import Path

import polars as pl

from auditor import __version__
from auditor.case import Case
from auditor.case import sha256 as _sha256
from auditor.evidence import resolve
from auditor.export import run_stamp, write_manifest, write_table
from auditor.findings import FAMILIES, Findings
from auditor.i18n import strings, t
from auditor.views import for_worker, ranking, worker_views

STATUSES = ("met", "not met", "not measurable")  # the criterion statuses of the ``views`` measure
EVIDENCE_ORDER = ["finding_id", "table", "src", "src_row"]
MAX_MEASURE_ROWS = 200  # a per-worker measure longer than this stays in the CSV, not the HTML page
SKIPPED_MEASURES = ("messages", "scorecard", "overtime", "views")  # messages: in the evidence where they matter;
# the others have their own section at the top of the worker's part
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","Microsoft YaHei",sans-serif;
 margin:2em;color:#111;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #333;margin-top:2em}
h3{margin:1.4em 0 .3em}table{border-collapse:collapse;width:100%;margin:.5em 0 1em;font-size:.86em}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top;word-break:break-word}
th{background:#eee}.num{text-align:right;white-space:nowrap}.muted{color:#555}
.finding{border-left:4px solid #b33;padding-left:.8em;margin:1.2em 0;page-break-inside:avoid}
.score{font-weight:bold}.explain{margin:.3em 0}code{font-size:.9em}
@media print{body{margin:1cm}h2{page-break-before:always}h2:first-of-type{page-break-before:avoid}}
"""


def safe_name(text: str, fallback: str = "selection") -> str:
    """A file-name part made only of ASCII letters, digits, ``_``, ``-`` and ``.``, never starting
    with a dot: no separators, so no value can climb out of the output folder."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).lstrip("._")[:80]
    return name or fallback


def inside(out: Path, name: str) -> Path:
    """``out / name`` after checking that it resolves to a direct child of ``out``."""
    path = (out / name).resolve()
    if path.parent != out.resolve():
        raise ValueError(f"output name {name!r} would be written outside {out}")
    return path


def _esc(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list):
        value = "; ".join(map(str, value))
    return html.escape(str(value), quote=True)


def _table(frame: pl.DataFrame, headers: list[str] | None = None) -> str:
    if frame.is_empty():
        return ""
    numeric = [dt.is_numeric() for dt in frame.dtypes]
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers or frame.columns)
    body = "".join("<tr>" + "".join(f'<td class="num">{_esc(v)}</td>' if num else f"<td>{_esc(v)}</td>"
                                    for v, num in zip(row, numeric)) + "</tr>" for row in frame.iter_rows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _finding(row: dict, evidence: pl.DataFrame, lang: str) -> str:
    own = evidence.filter(pl.col("finding_id") == row["finding_id"]).select("file", "src_row", "time", "record")
    other = "en" if lang == "zh" else "zh"
    value = f"{_esc(row['value'])} {_esc(row['unit'])}"
    return (f'<div class="finding"><h3>{_esc(row["indicator"])} · {_esc(row["period"])}</h3>'
            f'<p>{t("value", lang)}: <b>{value}</b> · {t("threshold", lang)}: {_esc(row["threshold"])} · '
            f'{t("score", lang)}: <span class="score">{_esc(row["score"])}</span> · '
            f'{t("family", lang)}: {_esc(t("family_" + row["family"], lang))}</p>'
            f'<p class="explain">{_esc(row["explanation_" + lang])}</p>'
            f'<p class="explain muted">{_esc(row["explanation_" + other])}</p>'
            f'<p class="muted">{t("legal_sources", lang)}: {_esc(row["sources"])}<br>'
            f'{t("parameters", lang)}: <code>{_esc(row["parameters"])}</code></p>'
            f'<p>{t("evidence_rows", lang, n=own.height)}</p>'
            + _table(own, [t("file", lang), t("line", lang), t("local_time", lang), t("record", lang)]) + "</div>")


def _scorecard(result: Findings, worker: str, lang: str) -> str:
    """Family scores; with the control scorecard, the 56号 category, its reasons and the primary
    view's factors (the SPC list for China) with their status."""
    row = ranking(result, [worker]).row(0, named=True)
    scored = row.get("overall") is not None
    head = [*(["overall"] if scored else []), "risk", *FAMILIES, "findings"]
    frame = pl.DataFrame([{k: row[k] for k in head}])
    parts = [f"<h3>{t('scorecard_heading', lang)}</h3>",
             _table(frame, [t(k, lang) if k in ("overall", "risk", "findings") else t("family_" + k, lang) for k in head])]
    if not scored:
        return "".join(parts)
    parts.append(f'<p><b>{t("category", lang)}: {_esc(row["category_" + lang])}</b></p>'
                 f'<p class="explain">{_esc(row["reasons_" + lang])}</p>')
    factors = worker_views(result, worker)
    if factors.height:
        status = factors["status"].replace_strict({s: t("status_" + s.replace(" ", "_"), lang) for s in STATUSES},
                                                  default=factors["status"])
        conclusion = factors["conclusion_" + lang][0] if factors["conclusion_holds"][0] else t("conclusion_not_reached", lang)
        view = factors["view"][0]
        name = t("view_" + view, lang) if "view_" + view in strings(lang) else _esc(view)
        met = t("criteria_met", lang, n=factors["criteria_met"][0], of=factors.height)
        parts.append(f"<p><b>{name}</b> — {_esc(conclusion)} ({met})</p>"
                     + _table(factors.select(pl.col("criterion_" + lang), status, "best", "by"),
                              [t("criterion", lang), t("status", lang), t("best", lang), t("indicators", lang)])
                     + f'<p class="muted">{t("legal_sources", lang)}: {_esc(factors["view_sources"][0].to_list())}</p>')
    return "".join(parts)


def _overtime(result: Findings, worker: str, lang: str) -> str:
    """Overtime pay owed by premium band, with the monthly wage and whether it is an assumption."""
    frame = result.measures.get("overtime")
    mine = for_worker(frame, worker) if frame is not None else pl.DataFrame()
    if mine.is_empty():
        return ""
    bands = ["hours_150", "hours_200", "hours_300", "hourly_wage", "pay_owed"]
    row = mine.row(0, named=True)
    wage = t("overtime_help", lang, wage=f"{row['monthly_wage']:,.0f}", basis=row["wage_basis"],
             chat=f"{row['chat_hours']:.1f}")
    return (f"<h3>{t('overtime_title', lang)}</h3>" + _table(mine.select(bands), [t(b, lang) for b in bands])
            + f'<p class="muted">{_esc(wage)}</p>')


def _worker_section(worker: str, result: Findings, evidence: pl.DataFrame, lang: str) -> str:
    findings = (result.findings.filter(pl.col("worker_id") == worker)
                .sort("score", "period", "finding_id", descending=[True, False, False]))
    parts = [f"<h2>{t('worker', lang)} {_esc(worker)}</h2>", _scorecard(result, worker, lang),
             _overtime(result, worker, lang)]
    if findings.is_empty():
        parts.append(f"<p>{t('no_findings', lang)}</p>")
    parts.extend(_finding(row, evidence, lang) for row in findings.iter_rows(named=True))
    for name, frame in sorted(result.measures.items()):
        rows = for_worker(frame, worker)
        if name in SKIPPED_MEASURES or "worker_id" not in frame.columns or not 0 < rows.height <= MAX_MEASURE_ROWS:
            continue
        shown = rows.select(c for c, dt in rows.schema.items() if not isinstance(dt, (pl.List, pl.Struct, pl.Binary)))
        shown = shown.sort(shown.columns)  # one order, however the measure was assembled
        parts.append(f"<h3>{t('measure', lang)}: {_esc(name)}</h3>" + _table(shown))
    return "".join(parts)


def render_html(result: Findings, case: Case, evidence: pl.DataFrame, workers: list[str], settings: dict,
                run_at: str, lang: str = "zh") -> str:
    """The dossier as one HTML page: inline CSS, no scripts, no external fonts or images."""
    sources = pl.DataFrame([{"src": s.src, "file": s.path, "connector": s.connector, "row numbers": s.row_unit,
                             "read": s.rows_read, "kept": s.rows_kept, "rejected": s.rows_rejected, "sha256": s.sha256,
                             "problem": s.error} for s in case.sources],
                           schema={"src": pl.String, "file": pl.String, "connector": pl.String, "row numbers": pl.String,
                                   "read": pl.Int64, "kept": pl.Int64, "rejected": pl.Int64, "sha256": pl.String,
                                   "problem": pl.String})
    meta = pl.DataFrame({"k": [t("workers", lang), t("timezone", lang), t("tool_version", lang), t("run_at", lang)],
                         "v": [", ".join(workers), case.tz, __version__, run_at]})
    body = [f"<h1>{t('dossier_title', lang)}</h1><p class='muted'>{t('dossier_intro', lang)}</p>",
            _table(meta, [t("item", lang), t("value", lang)])]
    body.extend(_worker_section(w, result, evidence, lang) for w in workers)
    body.append(f"<h2>{t('inputs', lang)}</h2>" + _table(sources))
    body.append(f"<h2>{t('settings', lang)}</h2><pre>{_esc(json.dumps(settings, ensure_ascii=False, indent=2))}</pre>")
    title = _esc(f"{t('dossier_title', lang)} — {', '.join(workers)}")
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">'
            f"<title>{title}</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>")


def write_dossier(result: Findings, case: Case, workers: list[str], out: str | Path, settings: dict,
                  lang: str = "zh") -> list[Path]:
    """Write the dossier of ``workers`` into ``out``; returns the files written (manifest last)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = run_stamp()
    run_at = stamp["run_at"]
    # in one order whichever way the result was made (an engine's parts, a saved audit): the same
    # case gives the same dossier
    findings = result.findings.filter(pl.col("worker_id").is_in(workers)).sort("worker_id", "finding_id")
    selected = Findings(findings, result.evidence_of(findings).sort(EVIDENCE_ORDER), result.measures)
    evidence = resolve(selected.evidence, case)
    write_table(findings, out, "findings")
    write_table(evidence, out, "evidence")
    page = inside(out, f"dossier_{safe_name(workers[0]) if len(workers) == 1 else 'selection'}.html")
    page.write_text(render_html(selected, case, evidence, workers, settings, run_at, lang), encoding="utf-8")
    written = [page, *(out / f"{n}.{ext}" for n in ("findings", "evidence") for ext in ("csv", "parquet"))]
    manifest = {
        **stamp, "workers": workers, "language": lang, "settings": settings,
        "inputs": [{"src": s.src, "path": s.path, "size": s.size, "sha256": s.sha256, "connector": s.connector,
                    "rows_read": s.rows_read, "rows_kept": s.rows_kept, "rows_rejected": s.rows_rejected}
                   for s in case.sources],
        "outputs": {p.name: _sha256(p) for p in written},
    }
    return [*written, write_manifest(out, manifest)]


def zip_folder(files: list[Path]) -> bytes:
    """The written dossier files as one zip (flat, by file name), for a download button."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, arcname=path.name)
    return buffer.getvalue()
