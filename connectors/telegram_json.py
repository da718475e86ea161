"""Telegram Desktop chat export, machine-readable JSON (Settings → Advanced → Export Telegram data,
or a chat's ⋮ → Export chat history, format "JSON"): ``result.json``.

Either one chat (``{"name", "type", "id", "messages": [...]}``) or the whole account
(``{"personal_information": {"user_id"}, "chats": {"list": [chat, ...]}}``). A message has ``id``,
``type`` (``message`` or ``service``: joins, pins, calls, kept as system messages), ``date`` (local
time of the exporting computer) and, in exports since 2021, ``date_unixtime`` (epoch seconds, used
first), ``from``/``from_id`` (or ``actor``/``actor_id`` for a service message), and ``text``: a
string or a list of strings and entity objects (``{"type": "bold", "text": …}``), joined here.

``src_row`` is the message's position in the file (1-based, over all chats in file order). The
exporting account is ``self``: its ``from_id`` is ``user<personal_information.user_id>`` in an
account export; for a single chat, set it in ``case.toml`` ``[owners]`` (``user123…``)."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    ReadResult,
    SourceError,
    check_rows,
    empty_named,
    finish,
    head_text,
    load_json,
    local_time,
    owner_unknown,
    record_rows,
)

NAME = "telegram-json"
TABLES = ("messages",)
FIELDS = ("chat", "chat_name", "id", "type", "date", "date_unixtime", "from", "from_id", "text", "media")
CHAT_TYPES = ("personal_chat", "private_group", "private_supergroup", "public_supergroup", "private_channel",
              "public_channel", "saved_messages", "bot_chat")
MEDIA = {"photo": "image", "sticker": "sticker", "voice_message": "voice", "audio_file": "voice",
         "video_message": "video", "video_file": "video", "animation": "video"}


def sniff(path: Path, head: bytes) -> float:
    text = head_text(head)
    if not text.lstrip().startswith("{"):
        return 0.0
    if re.search(r'"personal_information"\s*:', text) or re.search(r'"date_unixtime"\s*:', text):
        return 0.95
    if re.search(r'"messages"\s*:', text) and re.search(rf'"type"\s*:\s*"({"|".join(CHAT_TYPES)})"', text):
        return 0.9
    return empty_named(path, head, "result.json")


def read(path: Path, options: ReadOptions) -> ReadResult:
    data, encoding = load_json(path)
    chats = _chats(path, data)
    records = [_fields(chat, message) if isinstance(message, dict) else None
               for chat in chats for message in chat.get("messages") or []]
    raw, rejections = record_rows(records, FIELDS, "message")
    epoch = pl.from_epoch(pl.col("date_unixtime").str.strip_chars().cast(pl.Int64, strict=False), time_unit="s")
    epoch = epoch.dt.cast_time_unit("us").dt.replace_time_zone("UTC")
    shown = local_time("date", "%Y-%m-%dT%H:%M:%S", options.tz)
    frame, bad = check_rows(raw, {"ts": (pl.coalesce(epoch, shown), "date")}, required=("chat", "ts"))
    owner, whence = _owner(path, options, data)
    service = pl.col("type") == "service"
    frame = frame.with_columns(
        worker_id=pl.lit(owner),
        message_id=pl.concat_str("chat", pl.lit(":"), "id"),
        conversation_id=pl.col("chat"),
        sender_id=pl.col("from_id"),
        sender_name=pl.col("from"),
        sender_role=pl.when(service).then(pl.lit("system")).when(pl.col("from_id") == owner).then(pl.lit("self")),
        text=pl.col("text").fill_null(""),
        attachment_kind=pl.col("media"),
    )
    local = frame.filter(pl.col("date_unixtime").is_null()).height
    detected = {"format": "Telegram Desktop export (result.json)", "encoding": encoding,
                "chats": str(len(chats)), "owner": f"{owner} ({whence})",
                "time basis": "date_unixtime, epoch seconds (UTC)" + (
                    f"; {local} message(s) without it read from date in {options.tz}" if local else "")}
    return ReadResult({"messages": finish("messages", frame)}, len(records), rejections + bad, detected, "message")


def _chats(path: Path, data) -> list[dict]:
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        return [data]
    chats = data.get("chats", {}).get("list") if isinstance(data, dict) and isinstance(data.get("chats"), dict) else None
    if not isinstance(chats, list):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise SourceError(path, f"expected a chat with \"messages\" or an account export with \"chats\": {{\"list\"}};"
                          f" found {found}", code="file-missing-columns")
    return [c for c in chats if isinstance(c, dict)]


def _fields(chat: dict, message: dict) -> dict[str, str | None]:
    chat_id = chat.get("id")
    media = MEDIA.get(message.get("media_type")) or ("image" if message.get("photo") else None) or (
        "file" if message.get("file") else None)
    return {"chat": None if chat_id is None else str(chat_id), "chat_name": chat.get("name"),
            "id": _text(message.get("id")), "type": message.get("type"), "date": message.get("date"),
            "date_unixtime": _text(message.get("date_unixtime")),
            "from": message.get("from") or message.get("actor"),
            "from_id": _text(message.get("from_id") or message.get("actor_id")),
            "text": _joined(message.get("text")) or (message.get("action") if message.get("type") == "service" else None),
            "media": media}


def _joined(text) -> str | None:
    """``text`` as written: a string, or a list of strings and entity objects (bold, links …)."""
    if isinstance(text, list):
        return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in text)
    return text if isinstance(text, str) else None


def _text(value) -> str | None:
    return None if value is None else str(value)


def _owner(path: Path, options: ReadOptions, data) -> tuple[str, str]:
    if options.owner:
        return options.owner, "case.toml [owners]"
    user = (data.get("personal_information") or {}).get("user_id") if isinstance(data, dict) else None
    if user is not None:
        return f"user{user}", "personal_information.user_id of the account export"
    raise owner_unknown(path, "a single-chat Telegram export does not say which account exported it",
                        example="user123456789")
