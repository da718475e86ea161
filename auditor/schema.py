"""Canonical tables: the contract between connectors and analyzers.

Every timestamp is ``Datetime("us", "UTC")``; the case's local time zone is data on the Case.
Every row carries provenance: ``src`` (source id in the manifest) and ``src_row`` (the line or
record number in that file, 1-based, as a person would count it in an editor or viewer).
"""

from __future__ import annotations

import polars as pl

UTC = pl.Datetime("us", "UTC")
PROVENANCE = {"src": pl.String, "src_row": pl.Int64}

ORDER_OUTCOMES = ("accepted", "rejected", "timed_out", "auto_assigned", "reassigned", "cancelled")
ACTIVITY_KINDS = ("login", "logout", "online", "offline", "break", "gps", "check_in", "sanction")
SENDER_ROLES = ("self", "supervisor", "colleague", "customer", "system", "unknown")
ATTACHMENT_KINDS = ("image", "voice", "video", "file", "sticker", "link", "other")

TABLES: dict[str, dict[str, pl.DataType]] = {
    "orders": {
        "worker_id": pl.String,
        "order_id": pl.String,
        "platform": pl.String,
        "station_id": pl.String,
        "zone_id": pl.String,
        "dispatched_at": UTC,
        "responded_at": UTC,
        "outcome": pl.String,
        "picked_up_at": UTC,
        "delivered_at": UTC,
        "deadline_at": UTC,
        "pickup_lon": pl.Float64,
        "pickup_lat": pl.Float64,
        "dropoff_lon": pl.Float64,
        "dropoff_lat": pl.Float64,
        "distance_m": pl.Float64,
        "pay": pl.Float64,
        "penalty": pl.Float64,
        "penalty_reason": pl.String,
        **PROVENANCE,
    },
    "activity": {
        "worker_id": pl.String,
        "platform": pl.String,
        "ts": UTC,
        "kind": pl.String,
        "lon": pl.Float64,
        "lat": pl.Float64,
        "detail": pl.String,
        **PROVENANCE,
    },
    "messages": {
        "worker_id": pl.String,
        "message_id": pl.String,
        "conversation_id": pl.String,
        "sender_id": pl.String,
        "sender_name": pl.String,
        "sender_role": pl.String,
        "ts": UTC,
        "text": pl.String,
        "attachment_kind": pl.String,
        **PROVENANCE,
    },
    "schedules": {
        "worker_id": pl.String,
        "start": UTC,
        "end": UTC,
        "kind": pl.String,
        **PROVENANCE,
    },
    "zones": {
        "zone_id": pl.String,
        "name": pl.String,
        "station_id": pl.String,
        "platform": pl.String,
        "geometry": pl.Binary,
        **PROVENANCE,
    },
    "relations": {
        "from_party": pl.String,
        "from_kind": pl.String,
        "to_party": pl.String,
        "to_kind": pl.String,
        "relation": pl.String,
        "evidence": pl.String,
        **PROVENANCE,
    },
    # dispatch counts per time window, where an export gives counts rather than single dispatches
    "offers": {
        "worker_id": pl.String,
        "platform": pl.String,
        "window_start": UTC,
        "window_end": UTC,
        "offered": pl.Int64,
        "accepted": pl.Int64,
        "rejected": pl.Int64,
        "expired": pl.Int64,
        "minutes_online": pl.Float64,
        **PROVENANCE,
    },
    "participants": {
        "participant_id": pl.String,
        "display_name": pl.String,
        "role": pl.String,
        "worker_id": pl.String,
        **PROVENANCE,
    },
}

# Columns that may never be null: a row without them cannot be attributed or placed in time.
KEYS: dict[str, tuple[str, ...]] = {
    "orders": ("worker_id", "order_id", "platform", "dispatched_at", "outcome"),
    "activity": ("worker_id", "ts", "kind"),
    "messages": ("worker_id", "conversation_id", "ts"),
    "schedules": ("worker_id", "start", "end", "kind"),
    "zones": ("zone_id", "geometry"),
    "relations": ("from_party", "to_party", "relation"),
    "participants": ("participant_id", "role"),
    "offers": ("worker_id", "window_start", "offered", "accepted"),
}

ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("orders", "outcome"): ORDER_OUTCOMES,
    ("activity", "kind"): ACTIVITY_KINDS,
    ("messages", "sender_role"): SENDER_ROLES,
    ("participants", "role"): SENDER_ROLES + ("worker",),
}


class SchemaError(ValueError):
    """All violations of one table, listed together so a connector author fixes them in one go."""

    def __init__(self, table: str, violations: list[str]):
        self.table = table
        self.violations = violations
        super().__init__(f"table {table!r} violates the canonical schema:\n- " + "\n- ".join(violations))


def empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=TABLES[table])


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Add missing optional columns as nulls and order columns canonically (no casting)."""
    schema = TABLES[table]
    missing = [pl.lit(None, dtype=dt).alias(c) for c, dt in schema.items() if c not in frame.columns]
    return frame.with_columns(missing).select(list(schema))


def validate(table: str, frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Check ``frame`` against the canonical schema of ``table``; raise one SchemaError listing
    every violation (unknown table, missing column, wrong dtype, naive or non-UTC timestamp,
    null keys, missing provenance, values outside an enumeration). Returns the frame collected."""
    if table not in TABLES:
        raise SchemaError(table, [f"unknown table; expected one of {sorted(TABLES)}"])
    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    schema = TABLES[table]
    problems: list[str] = []
    for col, want in schema.items():
        if col not in df.columns:
            what = "provenance column" if col in PROVENANCE else "column"
            problems.append(f"missing {what} {col!r} ({want})")
            continue
        got = df.schema[col]
        if isinstance(want, pl.Datetime):
            if not isinstance(got, pl.Datetime):
                problems.append(f"column {col!r} is {got}, expected {want}")
            elif got.time_zone is None:
                problems.append(f"column {col!r} holds naive timestamps; expected UTC (convert from the local zone)")
            elif got.time_zone != "UTC":
                problems.append(f"column {col!r} is in time zone {got.time_zone}; expected UTC")
            elif got.time_unit != "us":
                problems.append(f"column {col!r} has time unit {got.time_unit}; expected us")
        elif got != want:
            problems.append(f"column {col!r} is {got}, expected {want}")
    for col in (*KEYS[table], *PROVENANCE):
        if col in df.columns and (n := df[col].null_count()):
            problems.append(f"column {col!r} has {n} null value(s); it identifies the row and may not be null")
    for (tab, col), allowed in ENUMS.items():
        if tab == table and col in df.columns and df.schema[col] == pl.String:
            bad = df.filter(pl.col(col).is_not_null() & ~pl.col(col).is_in(allowed))[col].unique().sort()
            if len(bad):
                problems.append(f"column {col!r} has values {bad.to_list()[:5]} outside {list(allowed)}")
    if problems:
        raise SchemaError(table, problems)
    return df
