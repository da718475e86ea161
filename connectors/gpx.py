"""Phone GPS tracks (GPX 1.0/1.1): each ``trkpt`` is one ``gps`` activity row of the track's owner.

A GPX file does not say whose phone it came from: the owner is set in ``case.toml`` ``[owners]``;
without it the track (or metadata) name is taken, and the manifest says so. ``src_row`` is the
1-based index of the point in the file. The XML is streamed (``iterparse``) and only the raw
attributes are collected; conversion and checks run vectorised afterwards."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl

from connectors.base import (ReadOptions, ReadResult, Rejection, SourceError, check_rows, empty_named, finish,
                             head_text, iso_time, number, owner_unknown)

NAME = "gpx"
TABLES = ("activity",)


def sniff(path: Path, head: bytes) -> float:
    if re.search(r"<(\w+:)?gpx[\s>]", head_text(head)):
        return 0.95
    return empty_named(path, head, "*.gpx")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read(path: Path, options: ReadOptions) -> ReadResult:
    if not path.read_bytes().strip():
        raise SourceError(path, "the file is empty; expected a GPX document with <trkpt> points", code="file-empty")
    points: dict[str, list] = {"src_row": [], "lat": [], "lon": [], "time": []}
    names: dict[str, str] = {}
    rejections: list[Rejection] = []
    stack: list[str] = []
    version = None
    try:
        for event, element in ET.iterparse(path, events=("start", "end")):
            tag = _local(element.tag)
            if event == "start":
                if not stack and tag != "gpx":
                    raise SourceError(path, f"the root element is <{tag}>, expected <gpx>", line=1, code="file-unreadable")
                if not stack:
                    version = element.get("version")
                stack.append(tag)
                continue
            stack.pop()
            if tag == "name" and stack and stack[-1] in ("trk", "metadata") and (element.text or "").strip():
                names.setdefault(stack[-1], element.text.strip())
            elif tag == "trkpt":
                time = next((c.text for c in element if _local(c.tag) == "time"), None)
                points["src_row"].append(len(points["src_row"]) + 1)
                points["lat"].append(element.get("lat"))
                points["lon"].append(element.get("lon"))
                points["time"].append(time.strip() if time else None)
                element.clear()
    except ET.ParseError as err:
        line, column = err.position
        if version is None and not points["src_row"]:
            raise SourceError(path, f"not a readable GPX/XML document ({err})", line=line, code="file-unreadable") from None
        # a truncated file: the points before the break are kept, the break is one rejected point
        rejections.append(Rejection(len(points["src_row"]) + 1, "row-malformed",
                                    f"the XML breaks at line {line}, column {column}: points from here on cannot be read"))
    owner, whence = _owner(path, options, names)
    raw = pl.DataFrame(points, schema={"src_row": pl.Int64, "lat": pl.String, "lon": pl.String, "time": pl.String})
    parsed = {"ts": (iso_time("time", "UTC"), "time"),  # GPX times are UTC by the standard
              "lat": (pl.when(number("lat").abs() <= 90).then(number("lat")), "lat"),
              "lon": (pl.when(number("lon").abs() <= 180).then(number("lon")), "lon")}
    frame, bad = check_rows(raw, parsed, required=("ts", "lat", "lon"))
    frame = frame.with_columns(worker_id=pl.lit(owner), kind=pl.lit("gps"), platform=pl.lit(None, pl.String))
    detected = {"format": f"GPX {version or '(no version)'}", "encoding": "XML (declared)", "time basis": "UTC",
                "owner": f"{owner} ({whence})"}
    return ReadResult({"activity": finish("activity", frame)}, len(points["src_row"]) + len(rejections),
                      rejections + bad, detected)


def _owner(path: Path, options: ReadOptions, names: dict[str, str]) -> tuple[str, str]:
    if options.owner:
        return options.owner, "case.toml [owners]"
    for where in ("trk", "metadata"):
        if where in names:
            return names[where], (f"the {where} name; set case.toml [owners] if that is not the worker's id")
    raise owner_unknown(path, "whose phone this track is from is not in the file", "gps", "R0003")
