"""participants.csv: who is who in the chat exports (id or display name → role, worker).

Which participant is "self" and which are supervisors is data the user can edit, not a guess
in code. Columns: ``participant_id,display_name,role,worker_id``."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    ReadResult,
    check_rows,
    decode,
    finish,
    header_is,
    read_csv_rows,
)

NAME = "participants-csv"
TABLES = ("participants",)
COLUMNS = ("participant_id", "display_name", "role", "worker_id")
ROLES = ("worker", "supervisor", "colleague", "customer", "system", "unknown")


def sniff(path: Path, head: bytes) -> float:
    return 0.95 if header_is(head, COLUMNS) else 0.0


def read(path: Path, options: ReadOptions) -> ReadResult:
    text, encoding = decode(path)
    raw, rejections, rows_read = read_csv_rows(path, text, required=COLUMNS)
    parsed = {"role": (pl.when(pl.col("role").str.strip_chars().str.to_lowercase().is_in(ROLES))
                       .then(pl.col("role").str.strip_chars().str.to_lowercase()), "role")}
    frame, bad = check_rows(raw, parsed, required=("participant_id", "role"))
    frame = frame.with_columns(pl.col("participant_id", "display_name", "worker_id").str.strip_chars()
                               .replace("", None))
    return ReadResult({"participants": finish("participants", frame)}, rows_read, rejections + bad,
                      {"format": "participants CSV", "encoding": encoding})


def resolve_messages(messages: pl.LazyFrame, participants: pl.LazyFrame) -> pl.LazyFrame:
    """Map export-local ids to workers and fill sender roles from the participants table.

    A message's ``worker_id`` (the export's owner, as the connector saw it) becomes the mapped
    worker id; a sender who maps to that same worker is ``self``, another worker a ``colleague``;
    other senders take their declared role. Roles a connector already knew are kept."""
    people = participants.select("participant_id", "display_name", "role", p_worker="worker_id")
    by_id = people.select(pl.col("participant_id").alias("_key"), "role", "p_worker")
    by_name = (people.filter(pl.col("display_name").is_not_null())
               .select(pl.col("display_name").alias("_key"), "role", "p_worker")
               .unique("_key", keep="first"))
    owner = by_id.select(pl.col("_key").alias("worker_id"), owner_worker="p_worker").unique("worker_id")
    sender_id = by_id.rename({"_key": "sender_id", "role": "id_role", "p_worker": "id_worker"}).unique("sender_id")
    sender_name = by_name.rename({"_key": "sender_name", "role": "name_role", "p_worker": "name_worker"})
    resolved = (messages.join(owner, on="worker_id", how="left", maintain_order="left")
                .with_columns(worker_id=pl.coalesce("owner_worker", "worker_id"))
                .join(sender_id, on="sender_id", how="left", maintain_order="left")
                .join(sender_name, on="sender_name", how="left", maintain_order="left")
                .with_columns(_role=pl.coalesce("id_role", "name_role"),
                              _worker=pl.coalesce("id_worker", "name_worker")))
    role = (pl.when(pl.col("sender_role").is_not_null() & (pl.col("sender_role") != "unknown")).then("sender_role")
            .when(pl.col("_role") == "worker")
            .then(pl.when(pl.col("_worker") == pl.col("worker_id")).then(pl.lit("self")).otherwise(pl.lit("colleague")))
            .when(pl.col("_role").is_not_null()).then("_role")
            .otherwise(pl.lit("unknown")))
    return resolved.with_columns(sender_role=role).select(messages.collect_schema().names())
