"""Platform app event logs as JSON: a list of event records, or the list nested under ``events``
(``{"rider_id": …, "events": [...]}`` or ``{"data": {"events": [...]}}``).

A record names the worker (``rider_id``, ``worker_id``, ``driver_id``, ``courier_id``, ``骑手编号``;
else the export's top-level id), the time (``event_time``, ``ts``, ``timestamp``, ``time``,
``时间``: epoch seconds or milliseconds, or ISO 8601), the event or status (``event``, ``status``,
``type``, ``事件``), ``lon``/``lng``/``longitude`` and ``lat``/``latitude``, and ``detail``. Events
map to activity kinds and the time basis is decided once per file exactly as for the CSV log
(``activity_csv.events``). ``src_row`` is the record's 1-based position in the list; the
platform is the export's folder (``platform_b/activity.json`` → ``B``)."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from connectors.activity_csv import COLUMNS, EVENTS, events, platform_note
from connectors.base import (
    ReadOptions,
    ReadResult,
    SourceError,
    cell_text,
    empty_named,
    finish,
    head_text,
    load_json,
    map_columns,
    record_rows,
)

NAME = "activity-json"
TABLES = ("activity",)
ALIASES = {
    "rider_id": ("rider_id", "worker_id", "driver_id", "courier_id", "骑手编号"),
    "event_time": ("event_time", "ts", "timestamp", "time", "时间"),
    "event": ("event", "status", "type", "事件"),
    "lon": ("lon", "lng", "longitude", "经度"),
    "lat": ("lat", "latitude", "纬度"),
    "detail": ("detail", "details", "备注"),
}
EVENT_VALUES = rf'"({"|".join(re.escape(e) for e in EVENTS)})"'


def sniff(path: Path, head: bytes) -> float:
    text = head_text(head).lstrip()
    if not text.startswith(("[", "{")):
        return 0.0
    keys = set(re.findall(r'"([^"]+)"\s*:', text))
    mapped = map_columns(sorted(keys), ALIASES)
    # the event field must hold the app's event words: "type" and "time" alone are in many JSON exports
    if {"event_time", "event"} <= set(mapped) and re.search(rf'"{re.escape(mapped["event"])}"\s*:\s*{EVENT_VALUES}',
                                                            text, re.IGNORECASE):
        return 0.85
    return empty_named(path, head, "*activity*.json")


def read(path: Path, options: ReadOptions) -> ReadResult:
    data, encoding = load_json(path)
    records, owner = _events(path, data)
    owner = owner or options.owner
    keys = sorted({k for r in records if isinstance(r, dict) for k in r})
    mapped = map_columns(keys, ALIASES)
    if missing := [f for f in ("event_time", "event") if f not in mapped] + (
            [] if "rider_id" in mapped or owner else ["rider_id"]):
        raise SourceError(path, f"the events have no {missing} field; found {keys}", code="file-missing-columns")
    fields = [{f: cell_text(r.get(k)) for f, k in mapped.items()} if isinstance(r, dict) else None for r in records]
    raw, rejections = record_rows(fields, tuple(mapped), "event")
    raw = raw.with_columns(pl.lit(None, pl.String).alias(c) for c in COLUMNS if c not in mapped)
    if "rider_id" not in mapped:
        raw = raw.with_columns(rider_id=pl.lit(owner))
    frame, bad, basis = events(raw, path, options.tz)
    detected = {"format": "platform activity JSON", "encoding": encoding, "time basis": basis,
                "fields": ", ".join(f"{k} as {f}" for f, k in mapped.items()), **platform_note(path)}
    return ReadResult({"activity": finish("activity", frame)}, len(records), rejections + bad, detected, "record")


def _events(path: Path, data) -> tuple[list, str | None]:
    """The list of event records and, for a nested export, the worker its top level names."""
    if isinstance(data, list):
        return data, None
    holder = data.get("data") if isinstance(data, dict) and isinstance(data.get("data"), dict) else data
    if not isinstance(holder, dict) or not isinstance(holder.get("events"), list):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise SourceError(path, f'expected a list of events or {{"events": [...]}}; found {found}',
                          code="file-missing-columns")
    owner = map_columns([k for k, v in holder.items() if isinstance(v, (str, int))], {"id": ALIASES["rider_id"]})
    return holder["events"], cell_text(holder[owner["id"]]) if owner else None

