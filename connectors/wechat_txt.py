"""WeChat chats exported as plain text (one conversation per file), as the common export tools
write them::

    2026-04-27 20:00:00 王站长
    今晚十点前交日报

    2026-04-27 20:01:00 我
    收到

A header line is local wall-clock time and the sender's display name; the message is on the lines
below it. The conversation is the file name; a group chat keeps every sender. ``我`` ("me") is the
exporting account, i.e. ``self``; the file does not say whose phone that is, so the owner is set
in ``case.toml`` ``[owners]``. Everyone else is ``unknown`` until participants.csv maps them."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from connectors import chat_text
from connectors.base import (
    ReadOptions,
    ReadResult,
    decode_lines,
    empty_named,
    finish,
    head_text,
    owner_unknown,
)

NAME = "wechat-txt"
TABLES = ("messages",)
HEADER = r"^(?P<stamp>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?P<name>\S.{0,79})$"
# HEADER's groups of a line it matches: the stamp is 19 characters, then a space (slices cost less than captures)
FIELDS = {"stamp": pl.col("line").str.head(19), "name": pl.col("line").str.slice(20)}
SELF_NAMES = ("我",)
# WeChat's own notices, as the export tools write them in place of a sender
SYSTEM_NAMES = ("系统消息", "系统通知")
# the placeholders export tools write for media ([图片] …) -> attachment kind
ATTACHMENTS = {"图片": "image", "语音": "voice", "视频": "video", "文件": "file", "动画表情": "sticker", "链接": "link"}
MEDIA = rf"^\[({'|'.join(ATTACHMENTS)})\]"
QQ_LOOK = r"\(\d{5,}\)$|<[^<>@]+@[^<>]+>$"  # a QQ header names the number or mail after the nickname


def sniff(path: Path, head: bytes) -> float:
    lines = [ln.strip("\r ") for ln in head_text(head).split("\n") if ln.strip()][:5]
    headers = [bool(re.match(HEADER, ln)) and not re.search(QQ_LOOK, ln) for ln in lines]
    if headers and headers[0]:
        return 0.8
    if any(headers):  # a title or stray line above the first message
        return 0.7
    return empty_named(path, head, "wechat*.txt", "微信*.txt")


def read(path: Path, options: ReadOptions) -> ReadResult:
    lines, too_long, encoding = decode_lines(path)
    if not options.owner:
        raise owner_unknown(path, "a WeChat text export does not say whose phone it came from")
    frame, rejections, rows_read = chat_text.messages_of_lines(path, lines, too_long, HEADER, options.tz,
                                                                 fields=FIELDS)
    frame = frame.with_columns(_name=pl.col("name").str.strip_chars())
    name = pl.col("_name")
    frame = frame.with_columns(_me=name.is_in(SELF_NAMES), _system=name.is_in(SYSTEM_NAMES))
    me, system = pl.col("_me"), pl.col("_system")
    frame = frame.with_columns(
        worker_id=pl.lit(options.owner),
        message_id=pl.col("src_row").cast(pl.String),
        conversation_id=pl.lit(path.stem),
        sender_id=pl.when(me).then(pl.lit(options.owner)).when(~system).then(name),
        sender_name=pl.when(~me & ~system).then(name),
        sender_role=pl.when(me).then(pl.lit("self")).when(system).then(pl.lit("system")),
        text=pl.col("body"),
        attachment_kind=_attachment_kinds(frame["body"]),
    )
    detected = {"format": "WeChat plain-text chat export", "encoding": encoding,
                "time basis": f"local wall-clock time in {options.tz}",
                "owner": f"{options.owner} (case.toml [owners]); sender 我 is self"}
    return ReadResult({"messages": finish("messages", frame)}, rows_read, rejections, detected)


def _attachment_kinds(body: pl.Series) -> pl.Series:
    """The attachment kind of each message from its placeholder: only the few that start with ``[``
    are matched against MEDIA."""
    at = body.str.starts_with("[").arg_true()
    kinds = body.gather(at).str.extract(MEDIA, 1).replace_strict(ATTACHMENTS, default=None, return_dtype=pl.String)
    return pl.repeat(None, len(body), dtype=pl.String, eager=True).scatter(at, kinds)
