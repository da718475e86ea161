"""Detect the format of each input file, read it with its connector, and build a Case."""

from __future__ import annotations

import fnmatch
import importlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import polars as pl

from auditor.case import Case, Rejected, Source, sha256
from connectors.base import HEAD_BYTES, ReadOptions, SourceError
from auditor import schema
from connectors import platform_orders
from connectors.participants_csv import resolve_messages

# Registered once, here. Order breaks ties between equally confident sniffs.
CONNECTOR_MODULES = (
    "participants_csv",
    "relations_csv",
    "platform_orders",
    "activity_csv",
    "roster_csv",
    "gpx",
    "wechat_csv",
    "whatsapp_txt",
    "geojson_zones",
    "wechat_msg_csv",
    "wechat_txt",
    "qq_txt",
    "telegram_json",
    "google_location",
)
MIN_CONFIDENCE = 0.5
CASE_FILE = "case.toml"


def connectors() -> list[ModuleType]:
    return [importlib.import_module(f"connectors.{name}") for name in CONNECTOR_MODULES]


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
    for module in connectors():
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
    kept = [f for f in files if _relative(f, root) not in settings and f.name != CASE_FILE
            and not _excluded(f, root, config.exclude)]
    return root, kept, config


def load(paths: list[str | Path] | str | Path, tz: str | None = None, progress=None) -> Case:
    """Read every file under ``paths`` into one Case. Unrecognised and unreadable files are kept in
    the manifest with the reason; they never stop the other files from being read."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    root, files, config = discover(paths)
    tz = tz or config.tz
    presets = tuple(root / name for name in config.presets)
    platform_orders.presets(presets)  # a broken mapping file stops here, naming itself, not in every sniff
    parts: dict[str, list[pl.DataFrame]] = {}
    sources: list[Source] = []
    for number, path in enumerate(files, start=1):
        rel = _relative(path, root)
        source = Source(src=f"S{number:03d}", name=path.name, path=rel, size=path.stat().st_size,
                        sha256=sha256(path), connector=None)
        sources.append(source)
        if progress:
            progress(rel)
        _read_one(path, source, ReadOptions(tz=tz, owner=config.owners.get(rel), presets=presets), parts)
    tables = {name: pl.concat(frames, how="vertical").lazy() for name, frames in parts.items()}
    case = Case(tables=tables, tz=tz, sources=sources, settings={"case": config.extra})
    case.tables["messages"] = resolve_messages(case.tables["messages"], case.tables["participants"])
    return case


def _read_one(path: Path, source: Source, options: ReadOptions, parts: dict[str, list[pl.DataFrame]]) -> None:
    try:
        module, _ = detect(path, options)
        if module is None:
            raise SourceError(path, "no connector recognises this file; see the README's supported inputs",
                              code="file-unrecognised")
        source.connector = module.NAME
        result = module.read(path, options)
    except SourceError as err:
        source.error, source.error_code = str(err), err.code
        return
    source.detected = result.detected
    source.rows_read, source.rows_kept, source.rows_rejected = result.rows_read, result.rows_kept, result.rows_rejected
    source.rejected = [Rejected(r.line, r.code, r.reason) for r in result.rejections]
    for name, frame in result.tables.items():
        parts.setdefault(name, []).append(schema.validate(name, frame.with_columns(src=pl.lit(source.src))))


def _excluded(path: Path, root: Path, patterns: list[str]) -> bool:
    rel = _relative(path, root)
    return any(fnmatch.fnmatch(rel, pat) for pat in patterns)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
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
