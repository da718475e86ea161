"""Case: the canonical tables of one audit, its local time zone, and the manifest of its sources."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from auditor import schema

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


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

    @classmethod
    def from_dict(cls, d: dict) -> Source:
        return cls(**{**d, "rejected": [Rejected(**r) for r in d.get("rejected", [])]})


@dataclass
class Case:
    tables: dict[str, pl.LazyFrame]
    tz: str = "Asia/Shanghai"
    sources: list[Source] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    origin: Path | None = field(default=None, compare=False, repr=False)  # the saved case it was loaded from

    def __post_init__(self) -> None:
        for name in schema.TABLES:
            self.tables.setdefault(name, schema.empty(name).lazy())
        self._as_loaded = dict(self.tables) if self.origin else {}

    def table(self, name: str) -> pl.LazyFrame:
        return self.tables[name]

    @property
    def manifest(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "timezone": self.tz,
            "settings": self.settings,
            "sources": [asdict(s) for s in self.sources],
        }

    def source(self, src: str) -> Source:
        return next(s for s in self.sources if s.src == src)

    def save(self, directory: str | Path) -> Path:
        """Write Parquet + manifest. A table still as loaded from a saved case is linked (or copied)
        from there instead of rewritten: saving a city-sized case again would cost most of an audit."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, frame in self.tables.items():
            target = directory / f"{name}.parquet"
            source = self.origin / f"{name}.parquet" if self.origin else None
            if source and frame is self._as_loaded.get(name) and source.is_file():
                _link_or_copy(source, target)
            else:
                schema.validate(name, frame).write_parquet(target)
        (directory / MANIFEST).write_text(json.dumps(self.manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Case:
        directory = Path(directory)
        path = directory / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"{directory}: not a saved case (no {MANIFEST}); run `auditor ingest` first")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        tables = {name: pl.scan_parquet(directory / f"{name}.parquet") for name in schema.TABLES
                  if (directory / f"{name}.parquet").is_file()}
        return cls(tables=tables, tz=manifest["timezone"], settings=manifest.get("settings", {}),
                   sources=[Source.from_dict(s) for s in manifest["sources"]], origin=directory)

    @staticmethod
    def is_saved(directory: str | Path) -> bool:
        return (Path(directory) / MANIFEST).is_file()


def _link_or_copy(source: Path, target: Path) -> None:
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
