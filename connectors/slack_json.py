"""Slack workspace export (Workspace settings → Import/Export Data → Export; a zip or its
unpacked folder)::

    users.json  channels.json  (groups.json dms.json mpims.json)  integration_logs.json
    station-3/2026-04-27.json  station-3/2026-04-28.json  …

Each day file is a JSON list of messages of one channel (the folder name) on one day:
``{"type": "message", "user": "U01…", "text": "…", "ts": "1777291200.000100"}``. ``ts`` is epoch
seconds with microseconds (UTC) and also the message's id within its channel. A message with a
``subtype`` that is a channel event (``channel_join``, ``channel_leave``, topic, purpose, …) is
a system message; ``bot_message`` is a bot's, other subtypes (``thread_broadcast``,
``file_share``, ``me_message``) are ordinary messages. ``<@U01…>`` mentions are written as
``@name`` from users.json, so a message addressed to someone says so.

users.json, channels.json and the other lists are read alongside the day files (0 rows of their
own). The export does not say which worker it belongs to: set the owner in ``case.toml``
``[owners]`` for the export folder or zip (``"slack_export.zip" = "R0007"``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    ReadResult,
    SourceError,
    check_rows,
    finish,
    head_text,
    load_json,
    record_rows,
)

NAME = "slack-json"
TABLES = ("messages",)
LISTS = ("users.json", "channels.json", "groups.json", "dms.json", "mpims.json", "integration_logs.json")
DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
SYSTEM_SUBTYPES = ("channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name",
                   "channel_archive", "channel_unarchive", "group_join", "group_leave", "group_topic", "group_purpose",
                   "group_name", "group_archive", "group_unarchive", "pinned_item", "unpinned_item", "bot_add",
                   "bot_remove", "channel_convert_to_private", "tombstone")
FIELDS = ("ts_text", "type", "subtype", "user", "name", "text", "attachment")
TS = r"^\s*(\d{9,11})(?:\.(\d{1,6}))?\s*$"
MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def sniff(path: Path, head: bytes) -> float:
    text = head_text(head).lstrip()
    if not text.startswith("["):
        return 0.0
    if DAY_FILE.match(path.name) and re.search(r'"ts"\s*:\s*"\d{9,11}\.\d+"', text):
        return 0.9
    if path.name in LISTS and (path.name == "integration_logs.json" or re.search(r'"id"\s*:\s*"[UCGD][A-Z0-9]+"', text)
                               or text.rstrip() in ("[", "[]")):
        return 0.85
    return 0.0


def read(path: Path, options: ReadOptions) -> ReadResult:
    data, encoding = load_json(path)
    if not isinstance(data, list):
        raise SourceError(path, f"expected a JSON list (a Slack export's {path.name}); found {type(data).__name__}",
                          code="file-unreadable")
    if path.name in LISTS:
        return ReadResult({}, 0, [], {"format": f"Slack export list {path.name} ({len(data)} entries), read with the day"
                                      " files", "encoding": encoding})
    if not options.owner:
        raise SourceError(path, "a Slack export does not say whose it is: set its owner in case.toml [owners] for the"
                          ' export folder or zip (e.g. "slack_export.zip" = "R0007")', code="file-owner-unknown")
    users = _users(path.parent.parent / "users.json")
    raw, rejections = record_rows([_fields(m, users) if isinstance(m, dict) else None for m in data], FIELDS, "message")
    parts = pl.col("ts_text").str.extract_groups(TS)
    micros = (parts.struct.field("1").cast(pl.Int64) * 1_000_000
              + parts.struct.field("2").str.pad_end(6, "0").cast(pl.Int64).fill_null(0))
    ts = pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    frame, bad = check_rows(raw, {"ts": (ts, "ts_text")}, required=("ts",))
    system = pl.col("subtype").is_in(SYSTEM_SUBTYPES).fill_null(False)
    channel = path.parent.name
    frame = frame.with_columns(
        worker_id=pl.lit(options.owner),
        message_id=pl.lit(f"{channel}:") + pl.col("ts_text").str.strip_chars(),
        conversation_id=pl.lit(channel),
        sender_id=pl.when(~system).then("user"),
        sender_name=pl.when(~system).then("name"),
        sender_role=pl.when(system).then(pl.lit("system")),
        text=pl.col("text").fill_null(""),
        attachment_kind=pl.col("attachment"),
    )
    detected = {"format": "Slack export day file", "encoding": encoding, "channel": channel,
                "users": f"{len(users)} from users.json" if users else "no users.json beside the channel folder",
                "time basis": "ts, epoch seconds (UTC)", "owner": f"{options.owner} (case.toml [owners])"}
    return ReadResult({"messages": finish("messages", frame)}, len(data), rejections + bad, detected, "message")


def _users(path: Path) -> dict[str, str]:
    """User id -> the name people see (display name, else real name, else the handle)."""
    try:
        users = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return {}
    names = {}
    for user in users if isinstance(users, list) else []:
        if isinstance(user, dict) and user.get("id"):
            profile = user.get("profile") or {}
            names[user["id"]] = (profile.get("display_name") or user.get("real_name") or profile.get("real_name")
                                 or user.get("name") or user["id"])
    return names


def _fields(message: dict, users: dict[str, str]) -> dict[str, str | None]:
    user = message.get("user") or message.get("bot_id")
    profile = message.get("user_profile") or {}
    text = message.get("text")
    text = MENTION.sub(lambda m: "@" + users.get(m.group(1), m.group(1)), text) if isinstance(text, str) else None
    return {"ts_text": message.get("ts") if isinstance(message.get("ts"), str) else None,
            "type": message.get("type"), "subtype": message.get("subtype"), "user": user,
            "name": users.get(user) or profile.get("display_name") or profile.get("real_name") or message.get("username"),
            "text": text, "attachment": _attachment(message.get("files"))}


def _attachment(files) -> str | None:
    if not isinstance(files, list) or not files or not isinstance(files[0], dict):
        return None
    mime = str(files[0].get("mimetype") or "")
    return {"image": "image", "audio": "voice", "video": "video"}.get(mime.split("/")[0], "file")
