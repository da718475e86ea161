"""Detect the format of each input file, read it with its connector, and build a Case.

Each file's canonical tables are written to Parquet soon after the file is read (``_Spill``: small
files' tables gathered into one Parquet file per table and SPILL_BYTES, in a scratch folder that the
Case owns, see ``auditor.case``), so the Case's tables are lazy scans of those files and a city's
rows are never all in memory. Consecutive files of a connector with ``read_many`` (many small
exports of one kind, such as a city's chat exports) are read together, in one polars pass."""

from __future__ import annotations

import fnmatch
import functools
import importlib
import os
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from types import ModuleType

import numpy as np
import polars as pl

from auditor import schema
from auditor.case import Case, Rejected, Scratch, Source, sha256
from connectors import archives, duplicates, platform_orders, roster_weekly
from connectors.base import HEAD_BYTES, ReadOptions, ReadResult, Rejection, SourceError
from connectors.participants_csv import resolve_messages

# Registered once, here. Order breaks ties between equally confident sniffs.
CONNECTOR_MODULES = (
    "participants_csv",
    "relations_csv",
    "platform_orders",
    "activity_csv",
    "activity_json",
    "roster_csv",
    "roster_xlsx",
    "roster_weekly",
    "gpx",
    "wechat_csv",
    "whatsapp_txt",
    "geojson_zones",
    "wechat_msg_csv",
    "wechat_txt",
    "qq_txt",
    "telegram_json",
    "google_location",
    "slack_json",
    "uber_trips",
    "uber_online",
    "uber_dispatches",
    "location_csv",
    "geojson_points",
    "wkt_zones",
)
MIN_CONFIDENCE = 0.5
CASE_FILE = "case.toml"
# timestamps checked for plausibility; rosters and deadlines may lie ahead of the export, records may not
PLAUSIBLE_COLUMNS = {"orders": ("dispatched_at", "responded_at", "picked_up_at", "delivered_at"),
                     "activity": ("ts",), "messages": ("ts",), "offers": ("window_start",)}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# tables a connector hands to load for a step over the whole case, not canonical: weekly rules become schedules
STAGED = (roster_weekly.RULES,)
PLAUSIBLE_GRACE = timedelta(days=1)
# a table's frames from small files are written together once they hold this much (one Parquet file each)
SPILL_BYTES = 16 << 20
# files read by one ``read_many`` call at most: their text and frames are held together
BATCH_FILES, BATCH_BYTES = 256, 16 << 20


@functools.cache
def _modules() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(f"connectors.{name}") for name in CONNECTOR_MODULES)


def connectors() -> list[ModuleType]:
    return list(_modules())


@dataclass
class CaseConfig:
    """Settings a user writes next to the exports (``case.toml``)."""

    tz: str = "Asia/Shanghai"
    exclude: list[str] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    presets: list[str] = field(default_factory=list)  # the user's own column-mapping files, relative to the case folder
    extra: dict = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> CaseConfig:
        path = folder / CASE_FILE
        if not path.is_file():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise SourceError(path, f"not valid TOML ({err}); expected timezone, exclude and [owners]") from None
        known = {"timezone", "exclude", "owners", "presets"}
        return cls(tz=data.get("timezone", cls.tz), exclude=list(data.get("exclude", [])),
                   owners=dict(data.get("owners", {})), presets=list(data.get("presets", [])),
                   extra={k: v for k, v in data.items() if k not in known})


def detect(path: Path, options: ReadOptions | None = None) -> tuple[ModuleType | None, float]:
    """The connector most confident that it reads ``path`` (None below MIN_CONFIDENCE)."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    best, confidence = None, 0.0
    for module in _modules():
        # a connector whose recognition depends on the case (the user's presets) takes the options as well
        takes_options = module.sniff.__code__.co_argcount > 2
        score = module.sniff(path, head, options) if takes_options else module.sniff(path, head)
        if score > confidence:
            best, confidence = module, score
    return (best, confidence) if confidence >= MIN_CONFIDENCE else (None, confidence)


def discover(paths: list[Path]) -> tuple[Path, list[Path], CaseConfig]:
    """Expand folders into files (sorted, so ids are deterministic) and read the case config."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: no such file or folder")
    root = paths[0] if len(paths) == 1 and paths[0].is_dir() else Path(*_common_parts(paths))
    config = CaseConfig.read(root)
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    settings = {CASE_FILE, *config.presets}  # the case's own settings files are not exports
    base = root.resolve()
    kept = [f for f in files if (rel := _relative_to(f, base)) not in settings and f.name != CASE_FILE
            and not any(fnmatch.fnmatch(rel, pat) for pat in config.exclude)]
    return root, kept, config


def load(paths: list[str | Path] | str | Path, tz: str | None = None, progress=None) -> Case:
    """Read every file under ``paths`` into one Case. Unrecognised and unreadable files are kept in
    the manifest with the reason; they never stop the other files from being read. Zip files are
    opened and each member read as a file of its own (``archive.zip!member``); rows that an earlier
    file of the same worker already holds are removed once (``connectors.duplicates``)."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    root, files, config = discover(paths)
    tz = tz or config.tz
    presets = tuple(root / name for name in config.presets)
    platform_orders.presets(presets)  # a broken mapping file stops here, naming itself, not in every sniff
    tables_folder = Scratch()  # the Case's from here on; extracted archives have a scratch folder of their own
    spill = _Spill(tables_folder)
    sources: list[Source] = []
    batch = _Batch(spill)

    def read(path: Path, rel: str, source: Source) -> None:
        sources.append(source)
        if progress:
            progress(rel)
        batch.add(path, source, ReadOptions(tz=tz, owner=_owner(config.owners, rel), presets=presets))

    base = root.resolve()
    # files are hashed on a thread of their own while others are read (hashlib lets go of the GIL)
    with (ThreadPoolExecutor(max_workers=1) as hasher,
          tempfile.TemporaryDirectory(prefix="auditor-archives-") as scratch):
        hashes = []
        for path in files:
            rel = _relative_to(path, base)
            source = Source(src=_src_id(len(sources) + 1), name=path.name, path=rel, size=path.stat().st_size,
                            sha256="", connector=None)
            if not archives.is_archive(path):
                hashes.append((source, hasher.submit(sha256, path)))
                read(path, rel, source)
                continue
            source.sha256 = sha256(path)  # its members' entries name it
            sources.append(source)
            for entry, extracted in _open_archive(path, rel, source, Path(scratch) / source.src, len(sources) + 1):
                if extracted is None:
                    sources.append(entry)  # refused: listed with the reason, never read
                else:
                    read(extracted, entry.path, entry)
        batch.flush()  # before the extracted members go
        for source, digest in hashes:
            source.sha256 = digest.result()
    case = Case(tables={name: _table(spill, name) for name in schema.TABLES}, tz=tz, sources=sources,
                settings={"case": config.extra}, scratch=tables_folder)
    if rules := spill.staged.get(roster_weekly.RULES):
        _expand_rules(case, pl.concat(rules, how="vertical"), sources, spill)
    case.settings["duplicates_removed"] = _remove_duplicates(case, sources, spill)
    return case


class _Batch:
    """Files waiting to be read: consecutive files of one connector with ``read_many`` are read
    together (up to BATCH_FILES and BATCH_BYTES); any other file is read alone, in its turn."""

    def __init__(self, spill: _Spill):
        self.spill = spill
        self.files: list[tuple[Path, Source, ReadOptions]] = []
        self.module: ModuleType | None = None
        self.bytes = 0

    def add(self, path: Path, source: Source, options: ReadOptions) -> None:
        module = _detected(path, source, options)
        if module is None:
            return
        if (module is not self.module or len(self.files) >= BATCH_FILES or self.bytes >= BATCH_BYTES
                or (self.files and self.files[-1][2].tz != options.tz)):  # read_many takes one time zone
            self.flush()
        self.module = module
        self.files.append((path, source, options))
        self.bytes += source.size
        if not hasattr(module, "read_many"):
            self.flush()

    def flush(self) -> None:
        """Read the waiting files and record what became of each."""
        if not self.files:
            return
        module, files = self.module, self.files
        self.files, self.module, self.bytes = [], None, 0
        if hasattr(module, "read_many"):
            results = module.read_many([path for path, _, _ in files], [options for _, _, options in files])
        else:
            results = [_read(module, files[0][0], files[0][2])]
        _record_all([(path, source, result) for (path, source, _), result in zip(files, results)], self.spill)


def _record_all(read: list[tuple[Path, Source, ReadResult | SourceError]], spill: _Spill) -> None:
    """``_record`` of each file read. Files read together whose rows are all plausible (the usual
    case: ``_plausible`` would change nothing) have their tables validated and spilled as one."""
    if len(read) == 1 or not _all_plausible([(path, result) for path, _, result in read]):
        for path, source, result in read:
            _record(path, source, result, spill)
        return
    frames: dict[str, list[tuple[str, pl.DataFrame]]] = {}
    for path, source, result in read:
        for name, frame in (_accounted(path, source, result, judged=True) or {}).items():
            frames.setdefault(name, []).append((source.src, frame.with_columns(src=pl.lit(source.src))))
    for name, parts in frames.items():
        _spill_together(spill, name, parts)


def _spill_together(spill: _Spill, name: str, parts: list[tuple[str, pl.DataFrame]]) -> None:
    """Several files' frames of a table (with their source ids) validated and spilled as one; where
    they fail together, each is validated alone, so the error is the one its file gives."""
    together = None
    if name not in STAGED:
        try:
            together = schema.validate(name, pl.concat([frame for _, frame in parts], rechunk=False))
        except (schema.SchemaError, pl.exceptions.PolarsError):
            pass
    if together is not None:
        spill.add(name, parts[0][0], together)
        return
    for src, frame in parts:
        spill.add(name, src, frame if name in STAGED else schema.validate(name, frame))


class _Spill:
    """The canonical tables read so far, as Parquet files (per table, in reading order, with their
    row counts); tables a connector stages for a step over the whole case (``STAGED``) stay in memory.
    Small frames wait (``pending``) until a table's hold SPILL_BYTES: one Parquet file per file
    read cost more than reading a small file."""

    def __init__(self, scratch: Scratch):
        self.scratch = scratch
        self.parts: dict[str, list[tuple[Path, int]]] = {}
        self.staged: dict[str, list[pl.DataFrame]] = {}
        self.pending: dict[str, list[tuple[str, pl.DataFrame]]] = {}
        self.pending_bytes: dict[str, int] = {}

    def add(self, table: str, name: str, frame: pl.DataFrame) -> None:
        if table in STAGED:
            self.staged.setdefault(table, []).append(frame)
        elif not frame.is_empty():
            self.pending.setdefault(table, []).append((name, frame))
            self.pending_bytes[table] = self.pending_bytes.get(table, 0) + frame.estimated_size()
            if self.pending_bytes[table] >= SPILL_BYTES:
                self._write(table)

    def _write(self, table: str) -> None:
        """The table's pending frames as one Parquet file, named after the first and last source in it."""
        pending = self.pending.pop(table, [])
        self.pending_bytes.pop(table, None)
        if not pending:
            return
        names = pending[0][0] if len(pending) == 1 else f"{pending[0][0]}-{pending[-1][0]}"
        frame = pl.concat([frame for _, frame in pending], how="vertical", rechunk=False)
        path = self.scratch.write(frame, f"{table}/{names}.parquet")
        self.parts.setdefault(table, []).append((path, frame.height))

    def scan(self, table: str, index: str | None = None) -> pl.LazyFrame:
        """The table's files as one lazy frame; ``index`` names a row number across them (from 0)."""
        self._write(table)
        files = [path for path, _ in self.parts.get(table, [])]
        if not files:
            empty = schema.empty(table).lazy()
            return empty.with_row_index(index) if index else empty
        return pl.scan_parquet(files, row_index_name=index)

    def drop_rows(self, table: str, rows: pl.Series) -> None:
        """Rewrite the files holding ``rows`` (numbered as by ``scan(table, index)``) without them."""
        self._write(table)
        start = 0
        for n, (path, height) in enumerate(self.parts[table]):
            local = rows.filter(rows.is_between(start, start + height - 1)) - start
            if local.len():
                partial = path.with_suffix(".partial")
                (pl.scan_parquet(path).with_row_index("_row").filter(~pl.col("_row").is_in(local.implode()))
                 .drop("_row").sink_parquet(partial, compression="lz4"))
                os.replace(partial, path)
                self.parts[table][n] = (path, height - local.len())
            start += height


def _table(spill: _Spill, name: str, index: str | None = None) -> pl.LazyFrame:
    """A canonical table of the case as read: messages with their workers and sender roles resolved."""
    frame = spill.scan(name, index)
    return resolve_messages(frame, spill.scan("participants")) if name == "messages" else frame


def _src_id(number: int) -> str:
    return f"S{number:03d}"


def _open_archive(path: Path, rel: str, source: Source, scratch: Path, first: int) -> list[tuple[Source, Path | None]]:
    """Record the zip as a source of its own (0 rows); return a source for each member, numbered
    from ``first``, with where it was extracted (None for a refused member, whose error is set)."""
    source.connector = "zip"
    try:
        members, tool_files = archives.extract(path, rel, scratch)
    except SourceError as err:
        source.error, source.error_code = str(err), err.code
        return []
    source.detected = {"format": "zip archive", "members": f"{len(members)}, each read as a source of its own" + (
        f"; {tool_files} archive-tool file(s) (__MACOSX …) skipped" if tool_files else "")}
    entries = []
    for number, member in enumerate(members, start=first):
        entry = Source(src=_src_id(number), name=PurePosixPath(member.rel.split("!", 1)[1]).name, path=member.rel,
                       size=member.size, sha256=sha256(member.path) if member.path else "", connector=None,
                       detected={"archive": f"{rel} (sha256 {source.sha256})"})
        if member.path is None:
            entry.error, entry.error_code = member.error, "file-unsafe-path"
        entries.append((entry, member.path))
    return entries


def _detected(path: Path, source: Source, options: ReadOptions) -> ModuleType | None:
    """The connector that reads ``path``, named in its source; None (the source says why) when none does."""
    try:
        module, _ = detect(path, options)
        if module is None:
            raise SourceError(path, "no connector recognises this file; see the README's supported inputs",
                              code="file-unrecognised")
    except SourceError as err:
        source.error, source.error_code = str(err), err.code
        return None
    source.connector = module.NAME
    return module


def _read(module: ModuleType, path: Path, options: ReadOptions) -> ReadResult | SourceError:
    """What the connector reads from ``path``, or the error saying why the file cannot be read."""
    try:
        return module.read(path, options)
    except SourceError as err:
        return err


def _record(path: Path, source: Source, result: ReadResult | SourceError, spill: _Spill) -> None:
    """What became of a file read (or not: ``result`` is then the error): its source's accounting,
    and its canonical rows spilled."""
    for name, frame in (_accounted(path, source, result) or {}).items():
        frame = frame.with_columns(src=pl.lit(source.src))
        spill.add(name, source.src, frame if name in STAGED else schema.validate(name, frame))


def _accounted(path: Path, source: Source, result: ReadResult | SourceError, judged: bool = False
               ) -> dict[str, pl.DataFrame] | None:
    """The source's accounting (or its error) from what reading it gave; the tables to spill, if
    any. ``judged``: its timestamps are known to be plausible (``_all_plausible``)."""
    try:
        if isinstance(result, SourceError):
            raise result
        result = result if judged else _plausible(result, path)
    except SourceError as err:
        source.error, source.error_code = str(err), err.code
        return None
    source.detected = {**source.detected, **result.detected}
    source.rows_read, source.rows_kept, source.rows_rejected = result.rows_read, result.rows_kept, result.rows_rejected
    source.rejected = [Rejected(r.line, r.code, r.reason) for r in result.rejections]
    source.row_unit = result.row_unit
    if result.rows_read and not result.rows_kept:
        first = result.rejections[0]
        source.error = (f"{path.name}: all {result.rows_read} rows rejected (first: {result.row_unit} {first.line}, "
                        f"{first.reason}); is this the format it looks like?")
        source.error_code = "file-all-rows-rejected"
        return None
    if result.rows_rejected:
        source.detected["warning"] = f"{result.rows_rejected} of {result.rows_read} rows rejected (listed with {result.row_unit} and reason)"
    return result.tables


def _latest(path: Path) -> datetime:
    """The latest plausible time of a record in ``path``: when it was last written (or now), with grace."""
    return datetime.fromtimestamp(min(path.stat().st_mtime, time.time()), UTC) + PLAUSIBLE_GRACE


def _all_plausible(read: list[tuple[Path, ReadResult | SourceError]]) -> bool:
    """Whether ``_plausible`` would reject no row of these files: judged per table at once, each
    row against its own file's time."""
    results = [(_latest(path), result) for path, result in read if isinstance(result, ReadResult)]
    for name, columns in PLAUSIBLE_COLUMNS.items():
        timed = [(latest, result.tables[name]) for latest, result in results
                 if name in result.tables and result.tables[name].height]
        if not timed:
            continue
        try:
            frame = pl.concat([frame for _, frame in timed], how="vertical", rechunk=False).select(columns)
        except pl.exceptions.PolarsError:
            return False
        latest = pl.Series(np.repeat(np.array([t.replace(tzinfo=None) for t, _ in timed], dtype="datetime64[us]"),
                                     [f.height for _, f in timed]))
        if frame.select(_implausible(columns, pl.lit(latest).dt.replace_time_zone("UTC")).any()).item():
            return False
    return True


def _implausible(columns: tuple[str, ...], latest: datetime | pl.Expr) -> pl.Expr:
    """True for a row with a time in ``columns`` before 2000 or after ``latest`` (one file's, or each row's)."""
    return pl.any_horizontal(~pl.col(c).is_between(EARLIEST, latest) for c in columns).fill_null(False)


def _plausible(result: ReadResult, path: Path) -> ReadResult:
    """Reject rows timed before 2000 or after the file was last written (with a day's grace for a
    clock or time zone slip): such a time is a parse or export error, not a record."""
    latest = _latest(path)
    rejections = list(result.rejections)
    tables = {}
    for name, frame in result.tables.items():
        columns = PLAUSIBLE_COLUMNS.get(name, ())
        # the usual case, judged without a copy of the table
        if not columns or not frame.select(_implausible(columns, latest).any()).item():
            tables[name] = frame
            continue
        checks = [pl.when(~pl.col(c).is_between(EARLIEST, latest)).then(
            pl.lit(f"{c} ") + pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S UTC")) for c in columns]
        judged = frame.with_columns(_why=pl.concat_str(checks, separator="; ", ignore_nulls=True))
        bad = judged.filter(pl.col("_why") != "")
        rejections += [Rejection(line, "row-implausible-timestamp", f"{why}: before 2000 or after the file was written"
                                 f" ({latest - PLAUSIBLE_GRACE:%Y-%m-%d %H:%M} UTC)")
                       for line, why in bad.select("src_row", "_why").iter_rows()]
        tables[name] = judged.filter(pl.col("_why") == "").drop("_why")
    return ReadResult(tables, result.rows_read, rejections, result.detected, result.row_unit)


def _expand_rules(case: Case, rules: pl.DataFrame, sources: list[Source], spill: _Spill) -> None:
    """Weekly shift rules become dated schedules over the case's span of dated records; each rules
    file says in its manifest entry how many shifts it gave."""
    shifts, notes = roster_weekly.expand(rules, roster_weekly.record_span(case.tables, case.tz), case.tz)
    spill.add("schedules", "weekly-rules", schema.validate("schedules", shifts))
    case.tables["schedules"] = _table(spill, "schedules")
    for source in sources:
        if source.src in notes:
            source.detected["weekly rules"] = notes[source.src]


def _remove_duplicates(case: Case, sources: list[Source], spill: _Spill) -> dict[str, int]:
    """Remove rows an earlier file of the same worker holds (from their spilled files); each removed
    row is accounted in its source as rejected with code ``row-duplicate``, naming the copy kept."""
    by_src = {s.src: s for s in sources}
    counts = {}
    for table in duplicates.KEYS:
        removed = duplicates.removed(table, _table(spill, table, index="_i"), "_i")
        if removed.height:
            spill.drop_rows(table, removed["_i"])
            case.tables[table] = _table(spill, table)
        counts[table] = removed.height
        for src, line, kept_src, kept_row in removed.sort("src", "src_row").select(
                "src", "src_row", "kept_src", "kept_row").iter_rows():
            source = by_src[src]
            source.rejected.append(Rejected(line, "row-duplicate", f"also in {by_src[kept_src].path} line {kept_row}"
                                            " (same worker; that copy is kept)"))
            source.rows_kept -= 1
            source.rows_rejected += 1
    for source in sources:
        if n := sum(r.code == "row-duplicate" for r in source.rejected):
            source.detected["duplicates removed"] = str(n)
            source.rejected.sort(key=lambda r: r.line)
    return counts


def _owner(owners: dict[str, str], rel: str) -> str | None:
    """The owner set for the file, else for the nearest folder or zip that holds it."""
    while rel:
        if rel in owners:
            return owners[rel]
        cut = max(rel.rfind("/"), rel.rfind("!"))
        rel = rel[:cut] if cut > 0 else ""
    return None


def _relative(path: Path, root: Path) -> str:
    return _relative_to(path, root.resolve())


def _relative_to(path: Path, base: Path) -> str:
    """``path`` relative to the resolved folder ``base`` (its name alone when outside it)."""
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return path.name


def _common_parts(paths: list[Path]) -> list[str]:
    dirs = [(p if p.is_dir() else p.parent).resolve().parts for p in paths]
    common = []
    for level in zip(*dirs):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return common
