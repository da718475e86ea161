"""Platform dispatch/order exports, read through column-mapping presets (``presets/*.toml``).

A preset is data: which source column (CSV header) or dotted path (JSON record) holds each
canonical ``orders`` column, the time format, and how the dispatch mode and the rider's response
map to an outcome (an accepted automatic dispatch is ``auto_assigned``: the rider could not
refuse it). A new platform export is a new preset file, not new code: a user with a layout no
preset knows writes one (see the README) and names it in ``case.toml`` ``presets``.

A ``table`` preset (``format = "csv"``) names column headers and reads CSV, Excel ``.xlsx`` and
Parquet files; a ``json`` preset names dotted paths and reads JSON (a list of records, or records
nested under a key) and JSON Lines (one record a line, ``src_row`` = the line; ``json_records``
reads both). Every layout becomes one all-String frame keyed by source names, then one vectorised
parse applies to any of them."""

from __future__ import annotations

import codecs
import csv
import io
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import polars as pl

from auditor import schema
from connectors import json_records
from connectors.base import (
    BINARY,
    HEAD_BYTES,
    ReadOptions,
    ReadResult,
    Rejection,
    SourceError,
    check_rows,
    decode,
    empty_named,
    finish,
    head_text,
    iso_time,
    local_time,
    number,
    read_csv_file,
    table_header,
    table_rows,
)

NAME = "platform-orders"
TABLES = ("orders",)
PRESET_DIR = Path(__file__).parent / "presets"
JSON_LINES = (".jsonl", ".ndjson")
TIMES = ("dispatched_at", "responded_at", "picked_up_at", "delivered_at", "deadline_at")
NUMBERS = ("pickup_lon", "pickup_lat", "dropoff_lon", "dropoff_lat", "distance_m", "pay", "penalty")
TEXTS = ("order_id", "worker_id", "station_id", "zone_id", "penalty_reason")
# the columns without which a dispatch cannot be attributed or placed in time (platform comes from the preset)
REQUIRED = tuple(c for c in schema.KEYS["orders"] if c not in ("platform", "outcome"))
ROW_UNIT = {"csv": "line", "jsonl": "line", "json": "record", ".xlsx": "sheet row", ".parquet": "record"}  # by layout
SCORED_CHARS = 20000  # the start of a file a preset is picked by


@dataclass(frozen=True)
class Preset:
    id: str
    title: str
    platform: str
    format: str  # "csv" or "json"
    columns: dict  # canonical column -> source name / dotted path, or {list, sum|join} for JSON lists
    mode: str
    result: str
    auto_modes: tuple[str, ...]
    offer_modes: tuple[str, ...]
    results: dict[str, str]
    time_format: str  # strftime pattern of local wall-clock time, or "iso8601"
    delimiter: str = ","
    records: str = ""
    scale: dict = field(default_factory=dict)  # numeric column -> factor to canonical units (km -> m: 1000)
    fixed_mode: str = ""  # the dispatch mode when the export has no column for it (every ride-hail trip is an offer)

    def source(self, column: str) -> str:
        """The source name of a column; a folded list is named ``list[].field``."""
        spec = self.columns[column]
        return spec if isinstance(spec, str) else f"{spec['list']}[].{spec.get('sum') or spec.get('join')}"

    def required_sources(self) -> list[str]:
        return [self.source(c) for c in REQUIRED] + self.outcome_sources()

    def sources(self) -> list[str]:
        return list(dict.fromkeys([self.source(c) for c in self.columns] + self.outcome_sources()))

    def outcome_sources(self) -> list[str]:
        return [self.result] if self.fixed_mode else [self.mode, self.result]

    def fields(self) -> dict:
        """Source name -> dotted path or list fold, for reading JSON records."""
        return {**{self.source(c): spec for c, spec in self.columns.items()}, **{s: s for s in self.outcome_sources()}}

    def numeric_sources(self) -> frozenset[str]:
        return frozenset(self.source(c) for c in NUMBERS if c in self.columns)


def load_preset(path: Path) -> Preset:
    """One mapping file; a mistake in it names the file and what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        outcome = data["outcome"]
        preset = Preset(id=path.stem, title=data["title"], platform=data["platform"], format=data["format"],
                        columns=data["columns"], mode=outcome.get("mode", ""), result=outcome["result"],
                        auto_modes=tuple(outcome.get("auto_modes", ())), offer_modes=tuple(outcome.get("offer_modes", ())),
                        results=dict(outcome["results"]), time_format=data["time_format"],
                        delimiter=data.get("delimiter", ","), records=data.get("records", ""),
                        scale=dict(data.get("scale", {})), fixed_mode=outcome.get("fixed_mode", ""))
    except (OSError, tomllib.TOMLDecodeError, KeyError) as err:
        raise SourceError(path, f"not a usable column-mapping preset ({type(err).__name__}: {err}); see the README's"
                          " supported inputs for the keys", code="file-preset") from None
    unknown = set(preset.columns) - set(TIMES + NUMBERS + TEXTS)
    bad_outcomes = set(preset.results.values()) - set(schema.ORDER_OUTCOMES)
    unmapped = [c for c in REQUIRED if c not in preset.columns] + (
        [] if preset.mode or preset.fixed_mode in preset.auto_modes + preset.offer_modes else ["mode"])
    if unknown or bad_outcomes or unmapped or preset.format not in ("csv", "json") or set(preset.scale) - set(NUMBERS):
        raise SourceError(path, f"unknown columns {sorted(unknown)}, outcomes {sorted(bad_outcomes)}, unmapped required "
                          f"{unmapped}, format {preset.format!r} (csv or json) or scaled {sorted(preset.scale)} (numbers"
                          f" only); canonical columns are {list(TIMES + NUMBERS + TEXTS)}", code="file-preset")
    return preset


@cache
def presets(extra: tuple[Path, ...] = ()) -> tuple[Preset, ...]:
    """The shipped presets, then the user's own (``case.toml`` ``presets``)."""
    return tuple(load_preset(path) for path in (*sorted(PRESET_DIR.glob("*.toml")), *extra))


def sniff(path: Path, head: bytes, options: ReadOptions | None = None) -> float:
    extra = options.presets if options else ()
    try:
        kind, header = _layout(path, head)
    except (OSError, ValueError):
        return 0.0
    if kind in BINARY:
        return max((_header_score(p, header) for p in presets(extra) if p.format == "csv"), default=0.0)
    return max((_score(p, head_text(head)) for p in presets(extra)), default=0.0) or empty_named(
        path, head, "*orders*.csv", "*orders*.json")


def _layout(path: Path, head: bytes) -> tuple[str, list[str]]:
    """The file's kind (csv, json, jsonl, xlsx, parquet) and, for the binary ones, their column names."""
    suffix = path.suffix.lower()
    if suffix in BINARY:
        return suffix, table_header(path, head)
    if suffix in JSON_LINES:
        return "jsonl", []
    return ("json" if head_text(head).lstrip().startswith(("{", "[")) else "csv"), []


def _header_score(preset: Preset, header) -> float:
    wanted = preset.sources()
    return 0.95 * sum(s in set(header) for s in wanted) / len(wanted)


def _score(preset: Preset, text: str) -> float:
    """How much of the preset's vocabulary the start of the file shows."""
    if preset.format == "csv":
        try:
            first = next(csv.reader(io.StringIO(text), delimiter=preset.delimiter), [])
        except csv.Error:  # not CSV at all (binary, NUL bytes)
            return 0.0
        return _header_score(preset, [h.strip() for h in first])
    if not text.lstrip().startswith(("{", "[")):
        return 0.0
    keys = {part.removesuffix("[]") for s in preset.sources() + [preset.records] for part in s.split(".") if part}
    return 0.9 * sum(bool(re.search(rf'"{re.escape(k)}"\s*:', text)) for k in keys) / len(keys)


def read(path: Path, options: ReadOptions) -> ReadResult:
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    try:
        kind, header = _layout(path, head)
    except ValueError as err:
        raise SourceError(path, f"cannot open it as {path.suffix} ({err})", code="file-unreadable") from None
    family = "csv" if kind in ("csv", *BINARY) else "json"
    preset, encoding, (raw, rejections, rows_read, found) = _raw_frame(path, kind, header, family, options)
    missing = [s for s in preset.required_sources() if s not in found]
    if missing and (family == "csv" or raw.height):  # an export with no orders at all is empty, not wrong
        raise SourceError(path, f"preset {preset.id} ({preset.title}) needs column(s) {missing}, which the file "
                          f"does not have; found {sorted(found)}", line=1 if kind == "csv" else None,
                          code="file-missing-columns")
    absent = [s for s in preset.sources() if s not in found]
    raw = raw.with_columns(pl.lit(None, pl.String).alias(s) for s in absent)
    frame, bad = check_rows(raw, _parsers(preset, options.tz), required=(*REQUIRED, "outcome", "dispatch_mode"))
    frame = frame.with_columns(platform=pl.lit(preset.platform))
    detected = {"format": f"{preset.title}", "preset": preset.id, "encoding": encoding, "layout": kind,
                "time basis": ("ISO 8601 with offset" if preset.time_format == "iso8601"
                               else f"local wall-clock time ({preset.time_format}) in {options.tz}")}
    if absent:
        detected["columns absent (left empty)"] = ", ".join(absent)
    return ReadResult({"orders": finish("orders", frame)}, rows_read, rejections + bad, detected, ROW_UNIT[kind])


def _raw_frame(path: Path, kind: str, header: list[str], family: str, options: ReadOptions
               ) -> tuple[Preset, str, tuple[pl.DataFrame, list[Rejection], int, set[str]]]:
    """The preset that fits the file, its encoding, and its rows as the all-String frame (with the
    rejections, rows read and source names found). The decoded text ends here: a large export's
    text need not be held while its rows are parsed."""
    if kind == "csv" and (guessed := _utf8_csv_frame(path, options)) is not None:
        return guessed
    text, encoding = ("", kind.lstrip(".")) if kind in BINARY else decode(path)
    candidates = [p for p in presets(options.presets) if p.format == family]
    if not candidates:
        raise SourceError(path, f"no {family} preset in {PRESET_DIR.name}/ or case.toml presets", code="file-unrecognised")
    preset = max(candidates, key=lambda p: _header_score(p, header) if header else _score(p, text[:SCORED_CHARS]))
    if kind in BINARY:
        return preset, encoding, _binary_frame(path, preset)
    if kind == "csv":
        return preset, encoding, _csv_frame(path, preset)
    return preset, encoding, json_records.read_records(path, text, kind, preset.records, preset.fields(),
                                                       preset.numeric_sources())


def _utf8_csv_frame(path: Path, options: ReadOptions
                    ) -> tuple[Preset, str, tuple[pl.DataFrame, list[Rejection], int, set[str]]] | None:
    """``_raw_frame`` of a CSV whose preset its first characters pick, read as UTF-8, without decoding
    the whole file first (a city's export is a gigabyte): right when the file reads as UTF-8, as
    nearly every export does; None (``_raw_frame`` decodes it first) for any other file."""
    with path.open("rb") as fh:
        head = fh.read(4 * SCORED_CHARS + len(codecs.BOM_UTF8))  # a character has at most 4 bytes
    candidates = [p for p in presets(options.presets) if p.format == "csv"]
    if head.isspace() or not head or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or not candidates:
        return None
    try:
        # an incremental decoder keeps a character cut at the end back instead of failing on it
        text = codecs.getincrementaldecoder("utf-8")().decode(head.removeprefix(codecs.BOM_UTF8))
    except UnicodeDecodeError:
        return None
    preset = max(candidates, key=lambda p: _score(p, text[:SCORED_CHARS]))
    try:
        raw, rejections, rows_read, encoding = read_csv_file(path, required=(), delimiter=preset.delimiter)
    except SourceError:
        return None
    if encoding not in ("utf-8", "utf-8-sig"):
        return None
    return preset, encoding, (raw, rejections, rows_read, set(raw.columns) - {"src_row"})


def _parsers(preset: Preset, tz: str) -> dict[str, tuple[pl.Expr, str]]:
    def when_time(src: str) -> pl.Expr:
        return iso_time(src, tz) if preset.time_format == "iso8601" else local_time(src, preset.time_format, tz)

    mode = pl.lit(preset.fixed_mode) if preset.fixed_mode else pl.col(preset.mode).str.strip_chars()
    result = pl.col(preset.result).str.strip_chars()
    response = result.replace_strict(preset.results, default=None, return_dtype=pl.String)
    outcome = (pl.when((response == "accepted") & mode.is_in(preset.auto_modes)).then(pl.lit("auto_assigned"))
               .otherwise(response))
    parsers = {"outcome": (outcome, preset.result),
               "dispatch_mode": (pl.when(mode.is_in(preset.auto_modes + preset.offer_modes)).then(mode),
                                 preset.mode or preset.result)}
    for column in preset.columns:
        src = preset.source(column)
        if column in TIMES:
            parsers[column] = (when_time(src), src)
        elif column in NUMBERS:
            parsers[column] = (number(src) * preset.scale.get(column, 1), src)
        else:
            parsers[column] = (pl.col(src).str.strip_chars().replace("", None), src)
    return parsers


def _csv_frame(path: Path, preset: Preset) -> tuple[pl.DataFrame, list[Rejection], int, set[str]]:
    raw, rejections, rows_read, _ = read_csv_file(path, required=(), delimiter=preset.delimiter)
    return raw, rejections, rows_read, set(raw.columns) - {"src_row"}


def _binary_frame(path: Path, preset: Preset) -> tuple[pl.DataFrame, list[Rejection], int, set[str]]:
    """A Parquet or Excel table as all-String columns; real date cells are written in the preset's
    time format, so the one parse applies."""
    raw = table_rows(path, "%Y-%m-%dT%H:%M:%S%.f" if preset.time_format == "iso8601" else preset.time_format)
    return raw, [], raw.height, set(raw.columns) - {"src_row"}
