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
from auditor.case import Case, Scratch
from auditor.engines.local import part_members
from auditor.evidence import RESOLVED, resolve
from auditor.export import csv_note, hashes, run_stamp, write_manifest, write_tables
from auditor.findings import EVIDENCE, FAMILIES, Findings
from auditor.i18n import strings, t
from auditor.views import for_worker, ranking, worker_views

STATUSES = ("met", "not met", "not measurable")  # the criterion statuses of the ``views`` measure
EVIDENCE_ROWS_PER_BATCH = 2_000_000  # resolved evidence rows held at once while a selection's pages are written
HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}  # as html.escape
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


def _finding(row: dict, rows_html: str, rows: int, lang: str) -> str:
    """One finding with its evidence table (``rows_html``: its rows as ``evidence_rows_html`` made them)."""
    other = "en" if lang == "zh" else "zh"
    value = f"{_esc(row['value'])} {_esc(row['unit'])}"
    head = "".join(f"<th>{_esc(t(k, lang))}</th>" for k in ("file", "line", "local_time", "record"))
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>" if rows else ""
    return (f'<div class="finding"><h3>{_esc(row["indicator"])} · {_esc(row["period"])}</h3>'
            f'<p>{t("value", lang)}: <b>{value}</b> · {t("threshold", lang)}: {_esc(row["threshold"])} · '
            f'{t("score", lang)}: <span class="score">{_esc(row["score"])}</span> · '
            f'{t("family", lang)}: {_esc(t("family_" + row["family"], lang))}</p>'
            f'<p class="explain">{_esc(row["explanation_" + lang])}</p>'
            f'<p class="explain muted">{_esc(row["explanation_" + other])}</p>'
            f'<p class="muted">{t("legal_sources", lang)}: {_esc(row["sources"])}<br>'
            f'{t("parameters", lang)}: <code>{_esc(row["parameters"])}</code></p>'
            f'<p>{t("evidence_rows", lang, n=rows)}</p>{table}</div>')


def _escaped(column: str) -> pl.Expr:
    """``_esc`` of a text or integer column as one expression (null as a dash)."""
    return pl.col(column).cast(pl.String).str.replace_many(list(HTML_ESCAPES), list(HTML_ESCAPES.values())) \
        .fill_null("—")


def evidence_rows_html(evidence: pl.DataFrame) -> dict[str, tuple[str, int]]:
    """finding_id → (its resolved evidence rows as HTML table rows, their count): made for all
    findings at once — a selection of a city's riders holds millions of rows."""
    row = pl.concat_str(pl.lit("<tr><td>"), _escaped("file"), pl.lit('</td><td class="num">'), _escaped("src_row"),
                        pl.lit("</td><td>"), _escaped("time"), pl.lit("</td><td>"), _escaped("record"),
                        pl.lit("</td></tr>"))
    grouped = evidence.group_by("finding_id", maintain_order=True).agg(row.str.join(""), pl.len())
    return {finding: (html_rows, n) for finding, html_rows, n in grouped.iter_rows()}


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


def _worker_section(worker: str, result: Findings, evidence_html: dict[str, tuple[str, int]], lang: str) -> str:
    findings = (result.findings.filter(pl.col("worker_id") == worker)
                .sort("score", "period", "finding_id", descending=[True, False, False]))
    parts = [f"<h2>{t('worker', lang)} {_esc(worker)}</h2>", _scorecard(result, worker, lang),
             _overtime(result, worker, lang)]
    if findings.is_empty():
        parts.append(f"<p>{t('no_findings', lang)}</p>")
    parts.extend(_finding(row, *evidence_html.get(row["finding_id"], ("", 0)), lang)
                 for row in findings.iter_rows(named=True))
    for name, frame in sorted(result.measures.items()):
        if name in SKIPPED_MEASURES or "worker_id" not in frame.columns:
            continue
        rows = for_worker(frame, worker)
        if not 0 < rows.height <= MAX_MEASURE_ROWS:
            continue
        shown = rows.select(c for c, dt in rows.schema.items() if not isinstance(dt, (pl.List, pl.Struct, pl.Binary)))
        shown = shown.sort(shown.columns)  # one order, however the measure was assembled
        parts.append(f"<h3>{t('measure', lang)}: {_esc(name)}</h3>" + _table(shown))
    return "".join(parts)


def input_files(case: Case) -> pl.DataFrame:
    """The case's input files with their row accounting and sha256, as the dossier lists them."""
    return pl.DataFrame([{"src": s.src, "file": s.path, "connector": s.connector, "row numbers": s.row_unit,
                          "read": s.rows_read, "kept": s.rows_kept, "rejected": s.rows_rejected, "sha256": s.sha256,
                          "problem": s.error} for s in case.sources],
                        schema={"src": pl.String, "file": pl.String, "connector": pl.String, "row numbers": pl.String,
                                "read": pl.Int64, "kept": pl.Int64, "rejected": pl.Int64, "sha256": pl.String,
                                "problem": pl.String})


def _inputs_section(inputs: pl.DataFrame, lang: str, cited: set[str] | None = None) -> str:
    """The case's row accounting and its input files (``input_files``) with their sha256: all of
    them, or (a worker's page) those ``cited`` by its evidence and every file with rejected rows or
    a problem — a city has thousands; manifest.json lists every one."""
    totals = t("inputs_totals", lang, files=f"{inputs.height:,}", read=f"{inputs['read'].sum():,}",
               kept=f"{inputs['kept'].sum():,}", rejected=f"{inputs['rejected'].sum():,}")
    if cited is not None:
        inputs = inputs.filter(pl.col("src").is_in(sorted(cited)) | (pl.col("rejected") > 0) | pl.col("problem").is_not_null())
        totals += " " + t("inputs_listed", lang, n=f"{inputs.height:,}")
    return f"<h2>{t('inputs', lang)}</h2><p>{_esc(totals)}</p>" + _table(inputs)


def _page(title: str, body: list[str], lang: str) -> str:
    """A dossier page: inline CSS, no scripts, no external fonts or images."""
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">'
            f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>")


def _head(case: Case, workers: str, run_at: str, lang: str) -> list[str]:
    meta = pl.DataFrame({"k": [t("workers", lang), t("timezone", lang), t("tool_version", lang), t("run_at", lang)],
                         "v": [workers, case.tz, __version__, run_at]})
    return [f"<h1>{t('dossier_title', lang)}</h1><p class='muted'>{t('dossier_intro', lang)}</p>",
            _table(meta, [t("item", lang), t("value", lang)])]


def _settings_section(settings: dict, lang: str) -> str:
    return f"<h2>{t('settings', lang)}</h2><pre>{_esc(json.dumps(settings, ensure_ascii=False, indent=2))}</pre>"


def render_worker(result: Findings, case: Case, worker: str, evidence: pl.DataFrame, inputs: pl.DataFrame,
                  settings: dict, run_at: str, lang: str = "zh", index: str | None = None) -> str:
    """A worker's dossier page: scorecard, overtime, every finding with its evidence rows
    (``evidence``: the worker's resolved rows), measures, the inputs cited (of ``inputs``,
    ``input_files``: made once for all pages, a city has thousands) and the settings; ``index``:
    the selection's index page it links back to."""
    body = _head(case, worker, run_at, lang)
    if index:
        body.append(f'<p><a href="{html.escape(index)}">{t("dossier_index", lang)}</a></p>')
    body += [_worker_section(worker, result, evidence_rows_html(evidence), lang),
             _inputs_section(inputs, lang, set(evidence["src"].unique())), _settings_section(settings, lang)]
    return _page(f"{t('dossier_title', lang)} — {worker}", body, lang)


def render_index(result: Findings, case: Case, pages: dict[str, str], evidence_rows: dict[str, int],
                 inputs: pl.DataFrame, settings: dict, run_at: str, lang: str = "zh") -> str:
    """The index of a selection's dossier: each worker's category, scores and counts with a link to
    their page, every input file with its sha256, and the settings."""
    ranked = ranking(result, list(pages)).sort("worker_id")
    category = [f"category_{lang}", "overall"] if f"category_{lang}" in ranked.columns else []
    columns = [*category, "risk", "findings"]
    head = "".join(f"<th>{_esc(h)}</th>" for h in
                   [t("worker", lang), *(t(c if c != f"category_{lang}" else "category", lang) for c in columns),
                    t("evidence_rows_column", lang)])
    rows = "".join(f'<tr><td><a href="{html.escape(pages[row["worker_id"]])}">{_esc(row["worker_id"])}</a></td>'
                   + "".join(f"<td>{_esc(row[c])}</td>" for c in columns)
                   + f'<td class="num">{evidence_rows.get(row["worker_id"], 0):,}</td></tr>'
                   for row in ranked.iter_rows(named=True))
    body = [*_head(case, t("dossier_workers", lang, n=f"{len(pages):,}"), run_at, lang),
            f"<h2>{t('workers', lang)}</h2><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>",
            _inputs_section(inputs, lang), _settings_section(settings, lang)]
    return _page(f"{t('dossier_title', lang)} — {t('dossier_workers', lang, n=f'{len(pages):,}')}", body, lang)


def page_names(workers: list[str]) -> dict[str, str]:
    """Each worker's page file: ``dossier_<safe name>.html``, numbered where two names would meet
    (also on a file system that ignores case)."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for worker in workers:
        base = name = f"dossier_{safe_name(worker)}"
        number = 1
        while name.lower() in used:
            number += 1
            name = f"{base}-{number}"
        used.add(name.lower())
        names[worker] = f"{name}.html"
    return names


def _each_worker(result: Findings, findings: pl.DataFrame, workers: list[str]) -> dict[str, Findings]:
    """``result`` cut into one small Findings per worker of ``workers`` (findings and per-worker
    measures; no evidence), by one partition of each table: a page then reads its own rows, not
    the city's."""
    keep = pl.col("worker_id").is_in(workers)
    tables = {"": findings, **result.measures}
    parts = {name: frame.filter(keep).partition_by("worker_id", as_dict=True)
             for name, frame in tables.items() if "worker_id" in frame.columns}
    shared = {name: frame for name, frame in result.measures.items() if name not in parts}

    def mine(name: str, worker: str) -> pl.DataFrame:
        return parts[name].get((worker,), tables[name].clear())

    return {w: Findings(mine("", w), pl.DataFrame(schema=EVIDENCE),
                        {**shared, **{name: mine(name, w) for name in parts if name}}) for w in workers}


def _batches(workers: list[str], evidence_rows: dict[str, int]) -> list[list[str]]:
    """Consecutive runs of ``workers`` within ``EVIDENCE_ROWS_PER_BATCH`` evidence rows."""
    rows = pl.DataFrame({"worker_id": workers, "rows": [evidence_rows.get(w, 0) for w in workers]},
                        schema={"worker_id": pl.String, "rows": pl.Int64})
    return part_members(rows, None, EVIDENCE_ROWS_PER_BATCH)


def _resolved(refs: pl.DataFrame, owners: pl.DataFrame, case: Case) -> pl.DataFrame:
    """Evidence references (with worker_id) resolved to file, time and record, worker by worker."""
    return (resolve(refs.drop("worker_id"), case).join(owners, on="finding_id", maintain_order="left")
            .select("worker_id", *RESOLVED).sort("worker_id", "finding_id", "time", "file", "src_row", nulls_last=True))


def write_dossier(result: Findings, case: Case, workers: list[str], out: str | Path, settings: dict,
                  lang: str = "zh") -> list[Path]:
    """Write the dossier of ``workers`` into ``out``: a page per worker (and ``index.html`` for a
    selection of several), findings and evidence of them all as tables, the manifest; returns the
    files written (manifest last). Pages are written a batch of workers at a time, within
    ``EVIDENCE_ROWS_PER_BATCH`` resolved evidence rows: a city's 双随机 sample holds millions."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    workers = list(dict.fromkeys(workers))
    stamp = run_stamp()
    # in one order whichever way the result was made (an engine's parts, a saved audit): the same
    # case gives the same dossier
    findings = result.findings.filter(pl.col("worker_id").is_in(workers)).sort("worker_id", "finding_id")
    owners = findings.select("finding_id", "worker_id")
    refs = result.evidence_of(findings).join(owners, on="finding_id", maintain_order="left")
    counts = dict(refs.group_by("worker_id").len().iter_rows())
    pages = page_names(workers)
    index = "index.html" if len(workers) > 1 else None
    inputs = input_files(case)
    scratch = Scratch(prefix="auditor-dossier-")
    for number, batch in enumerate(_batches(sorted(workers), counts)):
        evidence = _resolved(refs.filter(pl.col("worker_id").is_in(batch)), owners, case)
        scratch.write(evidence, f"evidence-{number:06d}.parquet")
        by_worker = evidence.partition_by("worker_id", as_dict=True)
        for worker, own in _each_worker(result, findings, batch).items():
            mine = by_worker.get((worker,), evidence.clear())
            inside(out, pages[worker]).write_text(render_worker(own, case, worker, mine, inputs, settings,
                                                                stamp["run_at"], lang, index), encoding="utf-8")
    written = [inside(out, pages[w]) for w in workers]
    if index:
        (out / index).write_text(render_index(result, case, pages, counts, inputs, settings, stamp["run_at"], lang),
                                 encoding="utf-8")
        written.insert(0, out / index)
    resolved = pl.scan_parquet(sorted(scratch.path.glob("evidence-*.parquet")))
    tables, left_out = write_tables({"findings": findings, "evidence": resolved}, out,
                                    {"evidence": csv_note("evidence", refs.height)})
    scratch.remove()
    written += [out / name for name in tables]
    manifest = {
        **stamp, "workers": workers, "language": lang, "settings": settings,
        "pages": {w: pages[w] for w in workers}, **({"index": index} if index else {}),
        # the case's manifest as the audit's holds it: every input file, its sha256 and row accounting
        "case": case.manifest,
        "outputs": hashes(out, [p.name for p in written]),
        **({"not_written": left_out} if left_out else {}),
    }
    return [*written, write_manifest(out, manifest)]


def listed(files: list[Path], lang: str = "en", shown: int = 3) -> str:
    """The files a dossier wrote, for a message: more than ``shown`` worker pages as their count,
    first and last, not a thousand names."""
    names = [p.name for p in files]
    pages = [n for n in names if n.startswith("dossier_")]
    if len(pages) <= shown:
        return ", ".join(names)
    first = names.index(pages[0])  # the pages are written one after another
    summary = t("dossier_pages", lang, n=f"{len(pages):,}", first=pages[0], last=pages[-1])
    return ", ".join([*names[:first], summary, *names[first + len(pages):]])


def zip_folder(files: list[Path], limit: int | None = None) -> bytes | None:
    """The written dossier files as one zip (flat, by file name), for a download button; None when
    they hold more than ``limit`` bytes (a city's sample: gigabytes, built in memory)."""
    if limit is not None and sum(f.stat().st_size for f in files) > limit:
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, arcname=path.name)
    return buffer.getvalue()
