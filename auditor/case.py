"""Case: the canonical tables of one audit, its local time zone, and the manifest of its sources.

A Case's tables are lazy. A case read from exports (``connectors.load``) scans Parquet files in a
private scratch folder (``Scratch``: each input file's tables, written as the file was read), so a
city never sits in memory whole. ``save`` streams every table into the case folder and then points
the tables at hard links to the saved files inside a new scratch folder, removing the spilled ones:
the case reads the same rows afterwards even if the saved folder is deleted. A scratch folder goes
when its Case is saved, collected or the process ends. A LazyFrame taken from ``case.tables``
reads those files: keep the Case while you use it, and take tables again after ``save``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from auditor import schema

MANIFEST = "manifest.json"
# The tables are saved with Parquet's dictionary and run-length encodings but no page compression:
# an audit in parts reads every page of the order and activity tables once per part, and
# decompressing them was most of that (10,000 riders: 1.4 s → 0.3 s a part, 117.9 → 109.2 s in
# all); the city's case takes 2.3 GB instead of 1.0 GB (its raw exports: 4.4 GB).
TABLE_COMPRESSION = "uncompressed"
FORMAT_VERSION = 1


def readable_json(value: object, levels: int = 2, indent: str = "") -> str:
    """``value`` as JSON laid out as ``json.dumps(indent=2)`` lays out its first ``levels``
    levels, each deeper value compact on one line: a manifest's sources one a line. Pretty-printing
    every level runs json's Python encoder, not its C one: 1.1 s for a city's 8,511 sources."""
    inner = indent + "  "
    if levels and isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(key, ensure_ascii=False)}: {readable_json(item, levels - 1, inner)}"
                 for key, item in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if levels and isinstance(value, list) and value:
        return "[\n" + ",\n".join(inner + readable_json(item, levels - 1, inner) for item in value) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Rejected:
    line: int
    code: str
    reason: str


@dataclass
class Source:
    """One input file: what it was, who read it, and what became of each of its rows."""

    src: str  # short id carried on every canonical row
    name: str  # original file name
    path: str  # path relative to the case folder it was loaded from
    size: int
    sha256: str
    connector: str | None
    detected: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    error: str | None = None  # why the whole file was not read (unrecognised, empty, encoding …)
    error_code: str | None = None
    row_unit: str = "line"  # what ``line`` and ``src_row`` count in this file (connectors.base.ROW_UNITS)

    @classmethod
    def from_dict(cls, d: dict) -> Source:
        return cls(**{**d, "rejected": [Rejected(**r) for r in d.get("rejected", [])]})

    def to_dict(self) -> dict:
        """As ``dataclasses.asdict`` gives it, without its deep copy of every value (a city's 8,511
        sources: 0.7 s -> ms, twice in each audit written)."""
        return {**vars(self), "detected": dict(self.detected), "rejected": [vars(r).copy() for r in self.rejected]}


class Scratch:
    """A private temporary folder whose Parquet files a Case's tables read; removed with ``remove``,
    when the object is garbage-collected (with the Case that holds it), or at exit."""

    def __init__(self, prefix: str = "auditor-case-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def remove(self) -> None:
        self._finalizer()

    def write(self, frame: pl.DataFrame, name: str) -> Path:
        """``frame`` as the Parquet file ``name`` (a path inside the folder)."""
        return spill(frame, self.path / name)


def spill(frame: pl.DataFrame, path: Path) -> Path:
    """``frame`` as the Parquet file ``path``, in lz4: a spilled file is read back soon, once or
    twice, so speed counts over size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="lz4")
    return path


@dataclass
class Case:
    tables: dict[str, pl.LazyFrame]
    tz: str = "Asia/Shanghai"
    sources: list[Source] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    origin: Path | None = field(default=None, compare=False, repr=False)  # the saved case it was loaded from
    scratch: Scratch | None = field(default=None, compare=False, repr=False)  # the files its tables scan, if spilled

    def __post_init__(self) -> None:
        for name in schema.TABLES:
            self.tables.setdefault(name, schema.empty(name).lazy())
        self._read_from(self.origin, dict(self.tables) if self.origin else {})

    def _read_from(self, folder: Path | None, tables: dict[str, pl.LazyFrame]) -> None:
        """Remember which tables are still plain scans of ``folder/<name>.parquet``, so that save links them."""
        self._as_loaded = tables
        self._files = {name: folder / f"{name}.parquet" for name in tables}

    def __getstate__(self) -> dict:
        # a copy sent to another process (an engine's part) reads the scratch folder's files but
        # does not own them: only this process removes the folder
        return {**self.__dict__, "scratch": None}

    def table(self, name: str) -> pl.LazyFrame:
        return self.tables[name]

    @property
    def manifest(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "timezone": self.tz,
            "settings": self.settings,
            "sources": [s.to_dict() for s in self.sources],
        }

    def source(self, src: str) -> Source:
        return next(s for s in self.sources if s.src == src)

    def save(self, directory: str | Path) -> Path:
        """Write Parquet + manifest, each table streamed (never collected whole). A table still as
        loaded from a saved case is linked (or copied) from there instead of rewritten: saving a
        city-sized case again would cost most of an audit. A spilled case then reads the saved files
        (module docstring)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, frame in self.tables.items():
            target = directory / f"{name}.parquet"
            source = self._files.get(name)
            if source and frame is self._as_loaded.get(name) and source.is_file():
                link_or_copy(source, target)
            else:
                _write(name, frame, target)
        (directory / MANIFEST).write_text(readable_json(self.manifest), encoding="utf-8")
        if self.scratch is not None:
            self._read_saved(directory)
        return directory

    def _read_saved(self, directory: Path) -> None:
        """Point the tables at hard links to the saved files in a new scratch folder and drop the old
        one (the spilled files). Where links are impossible (another file system) the tables stay as they are."""
        kept = Scratch()
        try:
            for name in self.tables:
                os.link(directory / f"{name}.parquet", kept.path / f"{name}.parquet")
        except OSError:
            kept.remove()
            return
        self.tables.update({name: pl.scan_parquet(kept.path / f"{name}.parquet") for name in self.tables})
        self._read_from(kept.path, dict(self.tables))
        self.scratch.remove()
        self.scratch = kept

    @classmethod
    def load(cls, directory: str | Path) -> Case:
        directory = Path(directory)
        path = directory / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"{directory}: not a saved case (no {MANIFEST}); run `auditor ingest` first")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if "sources" not in manifest:  # e.g. an audit's folder: its case is in case/
            inner = " (its case is in case/)" if (directory / "case" / MANIFEST).is_file() else ""
            raise ValueError(f"{directory}: {MANIFEST} is not a saved case's{inner}")
        tables = {name: pl.scan_parquet(directory / f"{name}.parquet") for name in schema.TABLES
                  if (directory / f"{name}.parquet").is_file()}
        return cls(tables=tables, tz=manifest["timezone"], settings=manifest.get("settings", {}),
                   sources=[Source.from_dict(s) for s in manifest["sources"]], origin=directory)

    @staticmethod
    def is_saved(directory: str | Path) -> bool:
        return (Path(directory) / MANIFEST).is_file()


def _write(name: str, frame: pl.LazyFrame | pl.DataFrame, target: Path) -> None:
    """Stream ``frame`` into ``target`` through a new file renamed over it: a table read from
    ``target`` itself, or a target hard-linked into another case, is never written through."""
    frame = _checked(name, frame.lazy())
    partial = target.with_name(f".{target.name}.partial")
    try:
        frame.sink_parquet(partial, compression=TABLE_COMPRESSION)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _checked(name: str, frame: pl.LazyFrame) -> pl.LazyFrame:
    """``schema.validate`` without holding the table: columns and types from the plan, null keys and
    values outside an enumeration counted in one streamed pass; only a table that breaks the schema
    is collected, by ``schema.validate`` itself, for its full error."""
    present = frame.collect_schema()
    schema.validate(name, pl.DataFrame(schema=present))
    counts = [pl.col(c).null_count().alias(f"null {c}") for c in (*schema.KEYS[name], *schema.PROVENANCE)
              if c in present]
    counts += [(pl.col(c).is_not_null() & ~pl.col(c).is_in(allowed)).sum().alias(f"outside {c}")
               for (table, c), allowed in schema.ENUMS.items() if table == name and present.get(c) == pl.String]
    if counts and any(frame.select(counts).collect(engine="streaming").row(0)):
        schema.validate(name, frame)
    return frame


def link_or_copy(source: Path, target: Path) -> None:
    if target.exists() and target.samefile(source):
        return
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(source, target)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
