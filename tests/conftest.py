"""Small hand-built canonical frames with round numbers, so expected values are obvious."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from auditor import schema
from auditor.case import Case, Rejected, Source

TZ = "Asia/Shanghai"


def local(text: str) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return pl.Series([text]).str.to_datetime().dt.replace_time_zone(TZ).dt.convert_time_zone("UTC")[0]


def activity_rows(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    """rows: (worker, platform, local time, kind); src_row counts from 2 like a CSV with a header."""
    frame = pl.DataFrame(
        {"worker_id": [r[0] for r in rows], "platform": [r[1] for r in rows],
         "ts": [local(r[2]) for r in rows], "kind": [r[3] for r in rows],
         "src": ["S001"] * len(rows), "src_row": list(range(2, len(rows) + 2))},
        schema_overrides={"ts": schema.UTC})
    return schema.validate("activity", schema.conform("activity", frame))


def order_rows(rows: list[tuple[str, str, str, str, str]]) -> pl.DataFrame:
    """rows: (worker, order id, accepted local time, delivered local time, outcome)."""
    frame = pl.DataFrame(
        {"worker_id": [r[0] for r in rows], "order_id": [r[1] for r in rows], "platform": ["A"] * len(rows),
         "dispatched_at": [local(r[2]) for r in rows], "responded_at": [local(r[2]) for r in rows],
         "delivered_at": [local(r[3]) if r[3] else None for r in rows], "outcome": [r[4] for r in rows],
         "src": ["S002"] * len(rows), "src_row": list(range(2, len(rows) + 2))},
        schema_overrides={c: schema.UTC for c in ("dispatched_at", "responded_at", "delivered_at")})
    return schema.validate("orders", schema.conform("orders", frame))


@pytest.fixture
def small_case() -> Case:
    activity = activity_rows([
        ("R1", "A", "2026-04-27 09:00:00", "login"),
        ("R1", "A", "2026-04-27 09:00:00", "online"),
        ("R1", "A", "2026-04-27 19:00:00", "offline"),   # 10 h online
        ("R1", "A", "2026-04-27 19:00:00", "logout"),
        ("R1", "B", "2026-04-27 18:00:00", "online"),    # overlaps A: counted once
        ("R1", "B", "2026-04-27 20:00:00", "offline"),   # → 11 h on the 27th
        ("R2", "A", "2026-04-27 22:00:00", "online"),
        ("R2", "A", "2026-04-28 02:00:00", "offline"),   # crosses midnight: 2 h + 2 h
        ("R2", "A", "2026-04-28 10:00:00", "online"),
        ("R2", "A", "2026-04-28 16:00:00", "offline"),   # 28th: 2 + 6 = 8 h, not over
    ])
    orders = order_rows([
        ("R2", "o1", "2026-04-28 16:00:00", "2026-04-28 16:30:00", "accepted"),   # after offline: +0.5 h
        ("R2", "o2", "2026-04-28 12:00:00", "2026-04-28 12:20:00", "auto_assigned"),  # inside online
        ("R2", "o3", "2026-04-28 17:00:00", None, "rejected"),                       # no work time
    ])
    sources = [Source("S001", "activity.csv", "activity.csv", 100, "0" * 64, "activity-csv", rows_read=11,
                      rows_kept=10, rows_rejected=1, rejected=[Rejected(5, "row-unparseable-timestamp", "bad")]),
               Source("S002", "orders.csv", "orders.csv", 50, "1" * 64, "platform-orders", rows_read=3, rows_kept=3)]
    return Case(tables={"activity": activity.lazy(), "orders": orders.lazy()}, tz=TZ, sources=sources)
