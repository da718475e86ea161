"""Shared by the plain-text chat exports (WeChat text, QQ text): one header line per message
(``date time name``), the message text on the lines below it.

Not a connector itself. Every line is tested against the header pattern at once (polars
``str.contains``), and only the header lines are read for its groups; a line that is not a header
continues the message above it, and a timestamp is parsed once per run of equal ones. Lines of the
export's own layout (QQ's ``=====`` rules, ``消息对象:`` section titles) are recognised by a second
pattern and never become message text; a section title names the conversation of the messages
below it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from connectors.base import (
    Rejection,
    SourceError,
    check_rows,
    local_time,
    per_run,
    split_lines,
)


def messages(path: Path, text: str, header: str, tz: str, time_format: str = "%Y-%m-%d %H:%M:%S",
             layout: str | None = None, section: str | None = None
             ) -> tuple[pl.DataFrame, list[Rejection], int]:
    """One row per message: ``src_row`` (its header line), ``ts`` (UTC), the header's named groups
    (``stamp`` and e.g. ``name``), ``body`` and ``section`` (the conversation title above it, if any).

    ``header`` must have a ``stamp`` group; ``layout`` matches lines that belong to the export's
    frame; ``section`` (with one group) matches the layout lines that title a conversation."""
    return messages_of_lines(path, *split_lines(text), header, tz, time_format, layout, section)


def messages_of_lines(path: Path, lines: pl.Series, too_long: list[Rejection], header: str, tz: str,
                      time_format: str = "%Y-%m-%d %H:%M:%S", layout: str | None = None, section: str | None = None,
                      fields: dict[str, pl.Expr] | None = None) -> tuple[pl.DataFrame, list[Rejection], int]:
    """``messages`` of a text already split into lines (``base.decode_lines``: UTF-8 split in
    polars), with the rejections of the lines too long to read. ``fields`` are the header's groups
    as expressions over a header line, for a pattern whose groups plain slices find (captures cost
    several times more); by default they are captured, from the header lines only."""
    if lines.str.ends_with("\r").any():
        lines = lines.str.strip_suffix("\r")
    lines = pl.DataFrame({"src_row": pl.int_range(1, len(lines) + 1, dtype=pl.Int64, eager=True), "line": lines})
    frame_line = pl.col("line").str.contains(layout) if layout else pl.lit(False)
    titled = pl.col("line").str.extract(section, 1) if section else pl.lit(None, pl.String)
    lines = lines.with_columns(header=pl.col("line").str.contains(header), _layout=frame_line,
                               section=titled.forward_fill())
    if not lines["header"].any():
        raise SourceError(path, f"no line looks like a message header ({header})", line=1, code="file-unrecognised")
    # a body line belongs to the last header above it (message 0: text above the first header)
    lines = lines.with_columns(message=pl.col("header").cum_sum())
    headers = lines.filter("header")
    headers = (headers.select("src_row", "section", **fields) if fields else
               headers.select("src_row", "section", pl.col("line").str.extract_groups(header)).unnest("line"))
    body = lines.filter(~pl.col("header") & ~pl.col("_layout")).select("src_row", "line", "message")
    orphans = body.filter(pl.col("message") == 0).filter(pl.col("line").str.strip_chars() != "")
    rejections = [Rejection(n, "row-malformed", "text before the first message header") for n in orphans["src_row"]]
    per_message = headers.with_columns(_joined(body.filter(pl.col("message") > 0), headers.height).alias("body"))
    stamp_time = per_run(pl.col("stamp"), lambda stamp: local_time(stamp, time_format, tz))
    parsed, bad = check_rows(per_message, {"ts": (stamp_time, "stamp")}, required=("ts",))
    rejections += too_long
    return parsed, rejections + bad, per_message.height + len(rejections)


def _joined(body: pl.DataFrame, messages: int) -> pl.Series:
    """The text of each of ``messages`` messages, from the body lines in file order: its lines joined
    with newlines, without the empty lines at either end ("" for one without lines). Most messages
    keep one line, which is their text as it is; only the others are joined, as slices of their lines
    (an Arrow list over the same strings), not by a group_by."""
    message = pl.col("message")
    alone = (message != message.shift(1)).fill_null(True) & (message != message.shift(-1)).fill_null(True)
    kept = _trimmed(body).with_columns(_alone=alone)
    single, several = kept.filter("_alone"), kept.filter(~pl.col("_alone"))
    texts = pl.repeat("", messages, dtype=pl.String, eager=True).scatter(single["message"] - 1, single["line"])
    if several.height == 0:
        return texts
    runs = several["message"].rle().struct.unnest()  # len, value: the lines of each message in a row
    offsets = np.concatenate([[0], np.cumsum(runs["len"].to_numpy())])
    lines = several["line"].to_arrow().cast(pa.large_string())
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), lines)
    return texts.scatter(runs["value"] - 1, pl.Series(lists).list.join("\n"))


def _trimmed(body: pl.DataFrame) -> pl.DataFrame:
    """The body lines without the empty ones at either end of their message: an empty line is kept
    only between lines with text of its message."""
    message, filled = pl.col("message"), pl.col("line") != ""
    at = pl.when(filled).then(pl.int_range(pl.len()))
    inner = (message.gather(at.forward_fill()) == message) & (message.gather(at.backward_fill()) == message)
    return body.filter(filled | inner.fill_null(False)).select("message", "line")
