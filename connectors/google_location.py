"""Google location history, in the three shapes people get from Google:

- Takeout ``Records.json``: ``{"locations": [{"latitudeE7", "longitudeE7", "timestamp" (ISO 8601)
  or "timestampMs" (epoch milliseconds), "accuracy", …}]}`` — raw pings;
- Takeout Semantic Location History, one file a month (``2026_APRIL.json``):
  ``{"timelineObjects": [{"placeVisit": {"location", "duration"}} | {"activitySegment":
  {"startLocation", "endLocation", "duration", "activityType", "distance"}}]}``;
- the on-device Timeline export (``Timeline.json``, 2024 on): ``{"semanticSegments": [{"startTime",
  "endTime", "visit" | "activity" | "timelinePath"}], "rawSignals": [{"position": {"LatLng",
  "timestamp"}}]}``, coordinates written as ``"31.2000000°, 121.4000000°"``.

Every dated position becomes one ``gps`` activity row: a visit gives its arrival and its departure,
an activity segment its start and end, a timeline path each of its points. ``src_row`` numbers
these positions in file order (1-based) and ``detail`` names where in the JSON each one is
(``timelineObjects[3].placeVisit start: Depot``), so a reader can find it. Times carry ``Z`` or
an offset; epoch milliseconds are UTC. Whose phone it was is set in ``case.toml`` ``[owners]``."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    ReadResult,
    Rejection,
    SourceError,
    check_rows,
    empty_named,
    finish,
    head_text,
    iso_time,
    load_json,
    owner_unknown,
)

NAME = "google-location"
TABLES = ("activity",)
SHAPES = {"locations": "Google Takeout Records.json", "timelineObjects": "Google Semantic Location History",
          "semanticSegments": "Google Timeline (on-device export)", "rawSignals": "Google Timeline (on-device export)"}
LATLNG = r"^\s*(-?[\d.]+)°?,\s*(-?[\d.]+)°?\s*$"


def sniff(path: Path, head: bytes) -> float:
    text = head_text(head)
    if text.lstrip().startswith("{") and re.search(r'"(locations|timelineObjects|semanticSegments|rawSignals)"\s*:', text):
        return 0.95 if re.search(r'"(latitudeE7|latLng|LatLng|placeLocation|duration|startTime)"', text) else 0.7
    return empty_named(path, head, "records.json", "timeline.json")


def read(path: Path, options: ReadOptions) -> ReadResult:
    data, encoding = load_json(path)
    shapes = [k for k in SHAPES if isinstance(data, dict) and isinstance(data.get(k), list)]
    if not shapes:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise SourceError(path, f"expected one of {list(SHAPES)} at the top; found {found}", code="file-missing-columns")
    if not options.owner:
        raise owner_unknown(path, "a Google location export does not say which worker's phone it is", "gps", "R0003")
    points = [p for shape in shapes for p in POINTS[shape](data[shape])]
    raw = pl.DataFrame(points, schema={"time": pl.String, "lat": pl.String, "lon": pl.String, "where": pl.String},
                       orient="row").with_row_index("src_row", offset=1).with_columns(pl.col("src_row").cast(pl.Int64))
    digits = pl.col("time").str.strip_chars().str.contains(r"^\d+$")
    epoch_ms = pl.from_epoch(pl.col("time").str.strip_chars().cast(pl.Int64, strict=False), time_unit="ms")
    ts = pl.when(digits).then(epoch_ms.dt.cast_time_unit("us").dt.replace_time_zone("UTC")).otherwise(
        iso_time("time", options.tz))
    lat, lon = pl.col("lat").cast(pl.Float64, strict=False), pl.col("lon").cast(pl.Float64, strict=False)
    parsed = {"ts": (ts, "time"), "lat": (pl.when(lat.abs() <= 90).then(lat), "lat"),
              "lon": (pl.when(lon.abs() <= 180).then(lon), "lon")}
    malformed = raw.filter(pl.col("where").str.starts_with(MALFORMED))
    broken = [Rejection(line, "row-malformed", where[1:]) for line, where in malformed.select("src_row", "where").rows()]
    positions = raw.join(malformed, on="src_row", how="anti", maintain_order="left")
    frame, bad = check_rows(positions, parsed, required=("ts", "lat", "lon"))
    frame = frame.with_columns(worker_id=pl.lit(options.owner), kind=pl.lit("gps"), platform=pl.lit(None, pl.String),
                               detail=pl.col("where"))
    detected = {"format": " + ".join(dict.fromkeys(SHAPES[s] for s in shapes)), "encoding": encoding,
                "time basis": "ISO 8601 with Z or offset; epoch milliseconds (UTC)",
                "owner": f"{options.owner} (case.toml [owners])"}
    return ReadResult({"activity": finish("activity", frame)}, raw.height, broken + bad, detected, "record")


Point = tuple[str | None, str | None, str | None, str]  # time, lat, lon, where in the JSON
MALFORMED = "!"  # marks a ``where`` that says why the record is not a position


def _e7(value) -> str | None:
    """Degrees from Google's integer degrees × 10⁷ (kept as text so a bad value fails visibly)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value / 1e7)
    return None if value is None else str(value)


def _latlng(text) -> tuple[str | None, str | None]:
    match = re.match(LATLNG, text) if isinstance(text, str) else None
    return (match.group(1), match.group(2)) if match else (None if text is None else str(text), None)


def _str(value) -> str | None:
    return None if value is None else str(value)


def _records(locations: list) -> list[Point]:
    return [(_str(r.get("timestamp") or r.get("timestampMs")), _e7(r.get("latitudeE7")), _e7(r.get("longitudeE7")),
             f"locations[{i}]") if isinstance(r, dict)
            else (None, None, None, f"{MALFORMED}locations[{i}] is not an object")
            for i, r in enumerate(locations)]


def _semantic(objects: list) -> list[Point]:
    points: list[Point] = []
    for i, obj in enumerate(objects):
        visit, segment = (obj.get("placeVisit"), obj.get("activitySegment")) if isinstance(obj, dict) else (None, None)
        if isinstance(visit, dict):
            place, span = visit.get("location") or {}, visit.get("duration") or {}
            name = place.get("name") or place.get("address") or place.get("placeId") or ""
            for end in ("start", "end"):
                points.append((_str(span.get(f"{end}Timestamp") or span.get(f"{end}TimestampMs")),
                               _e7(place.get("latitudeE7")), _e7(place.get("longitudeE7")),
                               f"timelineObjects[{i}].placeVisit {end}: {name}".rstrip(": ")))
        elif isinstance(segment, dict):
            span, kind = segment.get("duration") or {}, segment.get("activityType", "")
            for end in ("start", "end"):
                spot = segment.get(f"{end}Location") or {}
                points.append((_str(span.get(f"{end}Timestamp") or span.get(f"{end}TimestampMs")),
                               _e7(spot.get("latitudeE7")), _e7(spot.get("longitudeE7")),
                               f"timelineObjects[{i}].activitySegment {end}: {kind}".rstrip(": ")))
        else:
            points.append((None, None, None,
                           f"{MALFORMED}timelineObjects[{i}] is neither a placeVisit nor an activitySegment"))
    return points


def _segments(segments: list) -> list[Point]:
    points: list[Point] = []
    for i, seg in enumerate(segments):
        seg = seg if isinstance(seg, dict) else {}
        if isinstance(seg.get("visit"), dict):
            place = (seg["visit"].get("topCandidate") or {}).get("placeLocation") or {}
            for end in ("start", "end"):
                points.append((_str(seg.get(f"{end}Time")), *_latlng(place.get("latLng")),
                               f"semanticSegments[{i}].visit {end}"))
        elif isinstance(seg.get("activity"), dict):
            act = seg["activity"]
            kind = (act.get("topCandidate") or {}).get("type", "")
            for end in ("start", "end"):
                points.append((_str(seg.get(f"{end}Time")), *_latlng((act.get(end) or {}).get("latLng")),
                               f"semanticSegments[{i}].activity {end}: {kind}".rstrip(": ")))
        elif isinstance(seg.get("timelinePath"), list):
            points += [(_str(p.get("time")), *_latlng(p.get("point")), f"semanticSegments[{i}].timelinePath[{j}]")
                       if isinstance(p, dict)
                       else (None, None, None, f"{MALFORMED}semanticSegments[{i}].timelinePath[{j}] is not an object")
                       for j, p in enumerate(seg["timelinePath"])]
        else:
            points.append((None, None, None, f"{MALFORMED}semanticSegments[{i}] has no visit, activity or timelinePath"))
    return points


def _signals(signals: list) -> list[Point]:
    """Only ``position`` signals are places; wifi scans and activity records are not."""
    return [(_str(s["position"].get("timestamp")), *_latlng(s["position"].get("LatLng")),
             f"rawSignals[{i}].position") for i, s in enumerate(signals)
            if isinstance(s, dict) and isinstance(s.get("position"), dict)]


POINTS = {"locations": _records, "timelineObjects": _semantic, "semanticSegments": _segments, "rawSignals": _signals}
