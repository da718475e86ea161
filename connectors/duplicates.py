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
that does not (a GPX track does not know the platform, the app log does).

A city's table is not held to find them: only a hash of each row's key is (``removed``)."""

from __future__ import annotations

import polars as pl

KEYS: dict[str, list[pl.Expr]] = {
    "messages": [pl.col("worker_id"), pl.col("conversation_id"), pl.coalesce("sender_id", "sender_name").alias("_sender"),
                 pl.col("ts"), pl.col("text"), pl.col("attachment_kind")],
    "activity": [pl.col("worker_id"), pl.col("ts"), pl.col("kind"), pl.col("lon").round(6).alias("_lon"),
                 pl.col("lat").round(6).alias("_lat")],
}
PREFER = {"activity": pl.col("platform").is_null()}  # False (platform known) sorts first
REMOVED = {"src": pl.String, "src_row": pl.Int64, "kept_src": pl.String, "kept_row": pl.Int64}


def removed(table: str, frame: pl.LazyFrame, index: str) -> pl.DataFrame:
    """The rows of ``frame`` to remove, as ``index, src, src_row, kept_src, kept_row`` (``index``
    numbers the rows). Streamed: a 64-bit hash of each row's key is collected and sorted, and only
    rows whose hash occurs more than once (every group of equal keys among them) are collected and
    judged on their real keys, so a hash collision costs a look, never a row."""
    empty = pl.DataFrame(schema={index: pl.UInt32, **REMOVED})
    if table not in KEYS:
        return empty
    key_hash = pl.struct(KEYS[table]).hash()
    hashes = frame.select(key_hash.alias("_h")).collect(engine="streaming").to_series().sort()
    repeated = hashes.filter(hashes == hashes.shift(1)).unique()
    del hashes  # one word a row of the whole table: gone before the candidates are read
    if repeated.is_empty():
        return empty
    candidates = frame.filter(key_hash.is_in(repeated.implode())).collect(engine="streaming")
    return _judge(table, candidates).select(pl.col(index).cast(pl.UInt32), *REMOVED)


def _judge(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``frame`` that another file's copy replaces, with that copy (``kept_src``, ``kept_row``):
    the n-th copy in a file matches the n-th copy in each other file, and the earliest file (for
    activity, the earliest naming the platform) keeps it."""
    keys = [e.meta.output_name() for e in KEYS[table]]
    source_order = pl.col("src").str.strip_prefix("S").cast(pl.Int64)
    marked = (frame.with_columns(*KEYS[table], _order=source_order)
              .sort("_order", "src_row")
              .with_columns(_copy=pl.int_range(pl.len()).over([*keys, "src"])))
    winner = (marked.with_columns(_later=PREFER.get(table, pl.lit(False))).sort("_later", "_order", "src_row")
              .group_by([*keys, "_copy"], maintain_order=True)
              .agg(kept_src=pl.col("src").first(), kept_row=pl.col("src_row").first()))
    judged = marked.join(winner, on=[*keys, "_copy"], how="left", nulls_equal=True, maintain_order="left")
    return judged.filter(pl.col("src") != pl.col("kept_src"))
