"""Shared by the Uber-style driver data-access exports (the CSVs a driver receives after asking the
platform for their data: ``driver_lifetime_trips-0.csv``, ``Driver Online Offline.csv``,
``Driver Dispatches Offered and Accepted.csv``). Not a connector itself.

The layout drifts between export years: columns are renamed (``Begin Trip Time (Local)`` →
``begintrip_timestamp_local``), added and dropped, the delimiter is sometimes ``;`` and nulls are
written ``\\N``. So columns are found by their known names (compared loosely, see
``base.map_columns``); a required column missing is an error listing the columns found and
missing; every other difference is reported in the manifest (``columns``: unknown columns not read,
expected columns absent) and no row is skipped for it. A timestamp with an offset (``+0000 UTC``,
``Z``) is read as written; without one it is UTC in a ``*_utc`` column and local time in the case
zone in the others. The UTC column is used when both are there."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    Rejection,
    SourceError,
    decode,
    head_text,
    header_fields,
    iso_time,
    map_columns,
    normalised,
    owner_unknown,
    read_csv_rows,
)

PLATFORM = "Uber"
NULL = r"\N"


def header_names(head: bytes) -> set[str]:
    """The loosely compared names of the first line (for sniffing)."""
    text = head_text(head)
    return {normalised(h) for h in header_fields(Path(), text)[0]} if text.strip() else set()


def read_table(path: Path, aliases: dict[str, tuple[str, ...]], required: tuple[tuple[str, ...], ...]
               ) -> tuple[pl.DataFrame, list[Rejection], int, dict[str, str]]:
    """Rows of ``path`` with one String column per field found (``\\N`` and empty as null) and
    ``src_row``. ``required`` lists groups of fields of which at least one must be present.

    Returns (frame, rejections, rows_read, detected)."""
    text, encoding = decode(path)
    header, delimiter = header_fields(path, text)
    mapped = map_columns(header, aliases)
    absent = [group for group in required if not any(f in mapped for f in group)]
    if absent:
        wanted = " and ".join(" or ".join(repr(aliases[f][0]) for f in group) for group in absent)
        raise SourceError(path, f"missing column(s) {wanted}; found {header}", line=1, code="file-missing-columns")
    raw, rejections, rows_read = read_csv_rows(path, text, required=(), delimiter=delimiter)
    frame = raw.select(*[pl.when(pl.col(c).str.strip_chars() != NULL).then(pl.col(c)).alias(f)
                         for f, c in mapped.items()], "src_row")
    unknown = [h for h in header if h not in mapped.values()]
    missing = [names[0] for f, names in aliases.items() if f not in mapped]
    detected = {"encoding": encoding, "delimiter": repr(delimiter),
                "columns": (f"unknown, not read: {unknown}" if unknown else "no unknown column") + "; "
                + (f"expected but absent: {missing}" if missing else "all expected columns present")}
    return frame, rejections, rows_read, detected


def when(frame: pl.DataFrame, field: str, tz: str) -> tuple[pl.Expr, str]:
    """The UTC time of ``field`` from ``<field>_utc``, else ``<field>_local`` in ``tz``; with the
    raw column the rejection should name. A date alone is local midnight."""
    for suffix, zone in (("_utc", "UTC"), ("_local", tz)):
        raw = field + suffix
        if raw in frame.columns:
            text = (pl.col(raw).str.strip_chars().str.replace(r"\s*UTC$", "")
                    .str.replace(r"\s+([+-]\d{2}:?\d{2})$", "$1"))
            day = (text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
                   .dt.replace_time_zone(zone, non_existent="null").dt.convert_time_zone("UTC"))
            return pl.coalesce(iso_time(text, zone), day), raw
    return pl.lit(None, pl.Datetime("us", "UTC")), field + "_local"


def owner(path: Path, options: ReadOptions, frame: pl.DataFrame) -> tuple[pl.Expr, str]:
    """The driver: ``case.toml`` ``[owners]``, else the export's ``driver_uuid`` column."""
    if options.owner:
        return pl.lit(options.owner), f"{options.owner} (case.toml [owners])"
    if "worker_id" in frame.columns:
        return pl.col("worker_id").str.strip_chars(), "driver_uuid column of the export"
    raise owner_unknown(path, "the export does not name the driver (no driver_uuid column)", "uber")
