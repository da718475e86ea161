"""Shared by the plain-text chat exports (WeChat text, QQ text): one header line per message
(``date time name``), the message text on the lines below it.

Not a connector itself. Every line is matched against the header pattern at once (polars
``str.extract_groups``); a line that is not a header continues the message above it. Lines of the
export's own layout (QQ's ``=====`` rules, ``消息对象:`` section titles) are recognised by a second
pattern and never become message text; a section title names the conversation of the messages
below it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from connectors.base import Rejection, SourceError, check_rows, local_time, split_lines


def messages(path: Path, text: str, header: str, tz: str, time_format: str = "%Y-%m-%d %H:%M:%S",
             layout: str | None = None, section: str | None = None
             ) -> tuple[pl.DataFrame, list[Rejection], int]:
    """One row per message: ``src_row`` (its header line), ``ts`` (UTC), the header's named groups
    (``stamp`` and e.g. ``name``), ``body`` and ``section`` (the conversation title above it, if any).

    ``header`` must have a ``stamp`` group; ``layout`` matches lines that belong to the export's
    frame; ``section`` (with one group) matches the layout lines that title a conversation."""
    return messages_of_lines(path, *split_lines(text), header, tz, time_format, layout, section)


def messages_of_lines(path: Path, lines: pl.Series, too_long: list[Rejection], header: str, tz: str,
                      time_format: str = "%Y-%m-%d %H:%M:%S", layout: str | None = None, section: str | None = None
                      ) -> tuple[pl.DataFrame, list[Rejection], int]:
    """``messages`` of a text already split into lines (``base.decode_lines``: UTF-8 split in
    polars), with the rejections of the lines too long to read."""
    lines = pl.DataFrame({"src_row": pl.int_range(1, len(lines) + 1, dtype=pl.Int64, eager=True),
                          "line": lines.str.strip_suffix("\r")})
    frame_line = pl.col("line").str.contains(layout) if layout else pl.lit(False)
    titled = pl.col("line").str.extract(section, 1) if section else pl.lit(None, pl.String)
    lines = lines.with_columns(pl.col("line").str.extract_groups(header).alias("h"), _layout=frame_line,
                               section=titled.forward_fill()).unnest("h").with_columns(
        header=pl.col("stamp").is_not_null())
    if not lines["header"].any():
        raise SourceError(path, f"no line looks like a message header ({header})", line=1, code="file-unrecognised")
    headers = lines.filter("header")
    # a body line belongs to the last header above it (message 0: text above the first header)
    body = lines.filter(~pl.col("header") & ~pl.col("_layout")).select("src_row", "line")
    body = body.with_columns(message=headers["src_row"].search_sorted(body["src_row"], side="left"))
    orphans = body.filter((pl.col("message") == 0) & (pl.col("line").str.strip_chars() != ""))
    rejections = [Rejection(n, "row-malformed", "text before the first message header") for n in orphans["src_row"]]
    groups = [c for c in lines.columns if c not in ("src_row", "line", "_layout", "section", "header")]
    per_message = headers.select("src_row", "section", *groups).with_columns(
        _joined(body.filter(pl.col("message") > 0), headers.height).str.strip_chars("\n").alias("body"))
    parsed, bad = check_rows(per_message, {"ts": (local_time("stamp", time_format, tz), "stamp")}, required=("ts",))
    rejections += too_long
    return parsed, rejections + bad, per_message.height + len(rejections)


def _joined(body: pl.DataFrame, messages: int) -> pl.Series:
    """The lines of each of ``messages`` messages joined with newlines ("" for one without lines),
    from the body lines in file order: each message's lines are one slice of them, so the slices
    become a list column at once (an Arrow list over the same strings), not a group_by."""
    offsets = np.searchsorted(body["message"].to_numpy(), np.arange(1, messages + 2), side="left")
    lines = body["line"].to_arrow().cast(pa.large_string())
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), lines)
    return pl.Series(lists).list.join("\n")
