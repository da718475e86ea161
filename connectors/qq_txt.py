"""QQ chat history exported as text (消息管理器 → 导出消息记录 → .txt)::

    消息记录（此消息记录为文本格式，不支持重新导入）

    ================================================================
    消息分组:站点工作群
    ================================================================
    消息对象:配送三站
    ================================================================

    2026-04-27 20:00:00 【管理员】王站长(10001)
    今晚十点前交日报

A file may hold many conversations, each under its ``消息对象:`` title, which names the
conversation. A header is local wall-clock time (hours often without a leading zero), the nickname
with an optional ``【title】`` in groups, and the QQ number in brackets or a mail address in angle
brackets: the number is the sender's id. ``系统消息(10000)`` is QQ itself. The export does not say
which account exported it: the owner is set in ``case.toml`` ``[owners]`` (their QQ number), and
the messages of that number are ``self``."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from connectors import chat_text
from connectors.base import (
    ReadOptions,
    ReadResult,
    decode,
    empty_named,
    finish,
    head_text,
    owner_unknown,
)

NAME = "qq-txt"
TABLES = ("messages",)
HEADER = (r"^(?P<stamp>\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}:\d{2}) (?:【(?P<title>[^】]*)】)?(?P<name>.*?)"
          r"(?:\((?P<number>\d+)\)|<(?P<mail>[^<>]+)>)$")
LAYOUT = r"^(={8,}|消息分组:|消息对象:|消息记录（)"
SECTION = r"^消息对象:\s*(.+?)\s*$"
SYSTEM_NUMBER = "10000"
MEDIA = {"[图片]": "image", "[表情]": "sticker", "[语音]": "voice", "[视频]": "video", "[文件]": "file"}


def sniff(path: Path, head: bytes) -> float:
    text = head_text(head)
    if "消息记录（此消息记录为文本格式" in text or re.search(r"^消息对象:", text, re.MULTILINE):
        return 0.95
    lines = [ln.strip("\r ") for ln in text.split("\n") if ln.strip()][:5]
    if lines and re.match(HEADER, lines[0]):
        return 0.85
    return empty_named(path, head, "qq*.txt")


def read(path: Path, options: ReadOptions) -> ReadResult:
    text, encoding = decode(path)
    if not options.owner:
        raise owner_unknown(path, "a QQ text export does not say which account exported it (the QQ number)",
                            example="12345678")
    frame, rejections, rows_read = chat_text.messages(path, text, HEADER, options.tz, layout=LAYOUT, section=SECTION)
    sender = pl.coalesce("number", "mail")
    system = (pl.col("number") == SYSTEM_NUMBER).fill_null(False)
    kind = pl.lit(None, pl.String)
    for placeholder, media in MEDIA.items():
        kind = pl.when(pl.col("body") == placeholder).then(pl.lit(media)).otherwise(kind)
    frame = frame.with_columns(
        worker_id=pl.lit(options.owner),
        message_id=pl.col("src_row").cast(pl.String),
        conversation_id=pl.coalesce("section", pl.lit(path.stem)),
        sender_id=pl.when(~system).then(sender),
        sender_name=pl.when(~system).then(pl.col("name").str.strip_chars()),
        sender_role=pl.when(system).then(pl.lit("system")).when(sender == options.owner).then(pl.lit("self")),
        text=pl.col("body"),
        attachment_kind=kind,
    )
    sections = frame["section"].drop_nulls().n_unique()
    detected = {"format": "QQ text chat export", "encoding": encoding,
                "time basis": f"local wall-clock time in {options.tz}",
                "conversations": f"{sections} (消息对象 sections)" if sections else f"1 (file name {path.stem})",
                "owner": f"{options.owner} (case.toml [owners]); their messages are self"}
    return ReadResult({"messages": finish("messages", frame)}, rows_read, rejections, detected)
