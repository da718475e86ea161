"""Shared by the plain-text chat exports (WeChat text, QQ text): one header line per message
(``date time name``), the message text on the lines below it.

Not a connector itself. Every line is matched against the header pattern at once (polars
``str.extract_groups``); a line that is not a header continues the message above it. Lines of the
export's own layout (QQ's ``=====`` rules, ``消息对象:`` section titles) are recognised by a second
pattern and never become message text; a section title names the conversation of the messages
below it."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors.base import Rejection, SourceError, check_rows, local_time, long_lines


def messages(path: Path, text: str, header: str, tz: str, time_format: str = "%Y-%m-%d %H:%M:%S",
             layout: str | None = None, section: str | None = None
             ) -> tuple[pl.DataFrame, list[Rejection], int]:
    """One row per message: ``src_row`` (its header line), ``ts`` (UTC), the header's named groups
    (``stamp`` and e.g. ``name``), ``body`` and ``section`` (the conversation title above it, if any).

    ``header`` must have a ``stamp`` group; ``layout`` matches lines that belong to the export's
    frame; ``section`` (with one group) matches the layout lines that title a conversation."""
    text, too_long = long_lines(text)
    lines = pl.DataFrame({"line": [text]}).select(pl.col("line").str.split("\n").explode()).with_row_index(
        "src_row", offset=1).with_columns(
        pl.col("src_row").cast(pl.Int64), pl.col("line").str.strip_suffix("\r"))
    frame_line = pl.col("line").str.contains(layout) if layout else pl.lit(False)
    titled = pl.col("line").str.extract(section, 1) if section else pl.lit(None, pl.String)
    lines = lines.with_columns(pl.col("line").str.extract_groups(header).alias("h"), _layout=frame_line,
                               section=titled.forward_fill()).unnest("h").with_columns(
        header=pl.col("stamp").is_not_null())
    if not lines["header"].any():
        raise SourceError(path, f"no line looks like a message header ({header})", line=1, code="file-unrecognised")
    lines = lines.with_columns(message=pl.col("header").cum_sum())
    orphans = lines.filter((pl.col("message") == 0) & ~pl.col("_layout") & (pl.col("line").str.strip_chars() != ""))
    rejections = [Rejection(n, "row-malformed", "text before the first message header") for n in orphans["src_row"]]
    groups = [c for c in lines.columns if c not in ("src_row", "line", "_layout", "section", "header", "message")]
    body = pl.when(~pl.col("header") & ~pl.col("_layout")).then(pl.col("line"))
    per_message = (lines.filter(pl.col("message") > 0).with_columns(_body=body)
                   .group_by("message", maintain_order=True)
                   .agg(pl.col("src_row", "section", *groups).first(),
                        pl.col("_body").drop_nulls().str.join("\n").str.strip_chars("\n").alias("body")))
    parsed, bad = check_rows(per_message, {"ts": (local_time("stamp", time_format, tz), "stamp")}, required=("ts",))
    rejections += too_long
    return parsed.drop("message"), rejections + bad, per_message.height + len(rejections)
