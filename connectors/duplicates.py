"""Overlapping exports, removed once at load time.

The same worker's records often arrive twice: a group chat exported from two of their phones, last
month's export and this month's, the same GPS fix in a GPX track and in the app's log. A row is a
duplicate when an earlier file holds a row of the **same worker** with the same key:

- messages: conversation, sender (id, else name), time, text and attachment kind;
- activity: time, kind, and the position to six decimals (about 0.1 m).

The same message in two workers' exports is *not* a duplicate: it is one message seen by two
workers, and each keeps it (the working-time analyzers count a message once per worker). Within one
file nothing is removed: two identical "ok"s in the same minute are two messages. Between files the
n-th copy matches the n-th copy, so a file with two "ok"s and one with three keep three. The copy
kept is the one in the earliest file; for activity a copy that names its platform wins over one
that does not (a GPX track does not know the platform, the app log does)."""

from __future__ import annotations

import polars as pl

KEYS: dict[str, list[pl.Expr]] = {
    "messages": [pl.col("worker_id"), pl.col("conversation_id"), pl.coalesce("sender_id", "sender_name").alias("_sender"),
                 pl.col("ts"), pl.col("text"), pl.col("attachment_kind")],
    "activity": [pl.col("worker_id"), pl.col("ts"), pl.col("kind"), pl.col("lon").round(6).alias("_lon"),
                 pl.col("lat").round(6).alias("_lat")],
}
PREFER = {"activity": pl.col("platform").is_null()}  # False (platform known) sorts first


def remove(table: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the frame without duplicates, the removed rows as ``src, src_row, kept_src, kept_row``)."""
    if table not in KEYS or frame.is_empty():
        return frame, pl.DataFrame(schema={"src": pl.String, "src_row": pl.Int64, "kept_src": pl.String,
                                           "kept_row": pl.Int64})
    keys = [e.meta.output_name() for e in KEYS[table]]
    source_order = pl.col("src").str.strip_prefix("S").cast(pl.Int64)
    marked = (frame.with_row_index("_i").with_columns(*KEYS[table], _order=source_order)
              .sort("_order", "src_row")
              .with_columns(_copy=pl.int_range(pl.len()).over([*keys, "src"])))
    winner = (marked.with_columns(_later=PREFER.get(table, pl.lit(False))).sort("_later", "_order", "src_row")
              .group_by([*keys, "_copy"], maintain_order=True)
              .agg(kept_src=pl.col("src").first(), kept_row=pl.col("src_row").first()))
    judged = marked.join(winner, on=[*keys, "_copy"], how="left", nulls_equal=True, maintain_order="left")
    duplicate = pl.col("src") != pl.col("kept_src")
    removed = judged.filter(duplicate).select("src", "src_row", "kept_src", "kept_row")
    kept = judged.filter(~duplicate).sort("_i").select(frame.columns)
    return kept, removed
