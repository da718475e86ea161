"""Hand-built cases for the working-time tests: a rider's app blocks, chats and roster in local time."""

from __future__ import annotations

import polars as pl
from conftest import TZ, activity_rows

from auditor import schema
from auditor.case import Case


def at(text: str, tz: str = TZ):
    return pl.Series([text]).str.to_datetime().dt.replace_time_zone(tz).dt.convert_time_zone("UTC")[0]


def blocks(rows: list[tuple[str, str, str]], platform: str = "A") -> pl.DataFrame:
    """rows: (worker, online local time, offline local time)."""
    events = [(w, platform, t, kind) for w, on, off in rows for t, kind in ((on, "online"), (off, "offline"))]
    return activity_rows(events)


def messages(rows: list[tuple], tz: str = TZ, src: str = "S010") -> pl.DataFrame:
    """rows: (export owner, local time, sender_id, sender_role, text[, attachment, conversation])."""
    frame = pl.DataFrame(
        {"worker_id": [r[0] for r in rows], "ts": [at(r[1], tz) for r in rows], "sender_id": [r[2] for r in rows],
         "sender_role": [r[3] for r in rows], "text": [r[4] for r in rows],
         "attachment_kind": [r[5] if len(r) > 5 else None for r in rows],
         "conversation_id": [r[6] if len(r) > 6 else "group" for r in rows],
         "message_id": [str(i) for i in range(1, len(rows) + 1)],
         "src": [src] * len(rows), "src_row": list(range(2, len(rows) + 2))},
        schema_overrides={"ts": schema.UTC, "text": pl.String, "attachment_kind": pl.String})
    return schema.validate("messages", schema.conform("messages", frame))


def participants(rows: list[tuple[str, str, str, str | None]]) -> pl.DataFrame:
    """rows: (participant id, display name, role, worker id)."""
    frame = pl.DataFrame({"participant_id": [r[0] for r in rows], "display_name": [r[1] for r in rows],
                          "role": [r[2] for r in rows], "worker_id": [r[3] for r in rows],
                          "src": ["S020"] * len(rows), "src_row": list(range(2, len(rows) + 2))},
                         schema_overrides={"worker_id": pl.String})
    return schema.validate("participants", schema.conform("participants", frame))


def roster(rows: list[tuple[str, str, str]], tz: str = TZ) -> pl.DataFrame:
    """rows: (worker, shift start local, shift end local)."""
    frame = pl.DataFrame({"worker_id": [r[0] for r in rows], "start": [at(r[1], tz) for r in rows],
                          "end": [at(r[2], tz) for r in rows], "kind": ["roster"] * len(rows),
                          "src": ["S030"] * len(rows), "src_row": list(range(2, len(rows) + 2))},
                         schema_overrides={"start": schema.UTC, "end": schema.UTC})
    return schema.validate("schedules", schema.conform("schedules", frame))


def case(tz: str = TZ, **tables: pl.DataFrame) -> Case:
    return Case(tables={name: frame.lazy() for name, frame in tables.items()}, tz=tz)


BOSS = ("wxid_boss", "王站长", "supervisor", None)
RIDER = ("wxid_r1", "李骑手", "worker", "R1")
COLLEAGUE = ("wxid_r2", "赵同事", "worker", "R2")
