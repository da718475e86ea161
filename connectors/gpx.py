"""Phone GPS tracks (GPX 1.0/1.1): each ``trkpt`` is one ``gps`` activity row of the track's owner.

A GPX file does not say whose phone it came from: the owner is set in ``case.toml`` ``[owners]``;
without it the track (or metadata) name is taken, and the manifest says so. ``src_row`` is the
1-based index of the point in the file. Only the raw attributes are collected; conversion and
checks run vectorised afterwards.

A plain document (UTF-8; no comment, CDATA, DOCTYPE or processing instruction; no entity in a
point; no point with grandchildren) that the XML parser finds well formed is read with whole-file
patterns, where its markup cannot be mistaken: points written as most trackers write them
(``<trkpt lat=".." lon=".."><time>..</time></trkpt>``) are cut at fixed marks, others matched by
a pattern per attribute. The parser still reads what surrounds the points (root, version, names).
Any other file is streamed through ``iterparse``, which also says where a broken file breaks."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import polars as pl

from connectors.base import (
    PY_WHITESPACE,
    ReadOptions,
    ReadResult,
    Rejection,
    SourceError,
    check_file_rows,
    empty_named,
    finish_files,
    head_text,
    iso_time,
    number,
    owner_unknown,
    read_alone,
)

NAME = "gpx"
TABLES = ("activity",)
PREFIX = r"(?:[^\s<>/:]+:)?"  # a namespace prefix: points are matched by local name, as the parser's are
ATTRIBUTES = r"""(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*"""
LEAF = rf"<{PREFIX}[^\s<>/:]+{ATTRIBUTES}\s*(?:/>|>[^<]*</[^<>]+>)"  # an element holding text only
POINT_START = rf"<{PREFIX}trkpt[\s/>]"
POINT_TAG = rf"<{PREFIX}trkpt{ATTRIBUTES}\s*/?>"
POINT = rf"<{PREFIX}trkpt{ATTRIBUTES}\s*(?:/>|>(?:[^<]|{LEAF})*</{PREFIX}trkpt\s*>)"
CANONICAL_POINT = r'<trkpt lat="[^"<&\t\n\r]*" lon="[^"<&\t\n\r]*"><time>[^<&\r]*</time></trkpt>'
DECLARED_ENCODING = re.compile(r"""<\?xml[^>]*\sencoding\s*=\s*["']([^"']*)""")


@dataclass
class _Track:
    """What a pass over the XML collects: the points' raw attributes, the version and the names."""

    points: dict[str, list] = field(default_factory=lambda: {"src_row": [], "lat": [], "lon": [], "time": []})
    names: dict[str, str] = field(default_factory=dict)
    stack: list[str] = field(default_factory=list)
    version: str | None = None


def sniff(path: Path, head: bytes) -> float:
    if re.search(r"<(\w+:)?gpx[\s>]", head_text(head)):
        return 0.95
    return empty_named(path, head, "*.gpx")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read(path: Path, options: ReadOptions) -> ReadResult:
    return read_alone(read_many, path, options)


def read_many(paths: list[Path], options: list[ReadOptions]) -> list[ReadResult | SourceError]:
    """Tracks read together (a city's phones give thousands): each file's points are found alone,
    then all points (``_file`` numbering the files) are checked in one pass and parted again. Each
    file gets what ``read`` gives it alone, or its SourceError."""
    results: list[ReadResult | SourceError | None] = [None] * len(paths)
    points, found = [], {}
    for i, (path, opts) in enumerate(zip(paths, options)):
        try:
            file_points, track, rejections = _points(path, opts)
            owner, whence = _owner(path, opts, track.names)
        except SourceError as err:
            results[i] = err
            continue
        points.append(file_points.with_columns(_file=pl.lit(i, pl.Int32), _owner=pl.lit(owner, pl.String)))
        found[i] = file_points.height, track, rejections, owner, whence
    if not points:
        return results
    parsed = {"ts": (iso_time("time", "UTC"), "time"),  # GPX times are UTC by the standard
              "lat": (pl.when(number("lat").abs() <= 90).then(number("lat")), "lat"),
              "lon": (pl.when(number("lon").abs() <= 180).then(number("lon")), "lon")}
    frame, bad = check_file_rows(pl.concat(points, how="vertical_relaxed"), parsed, ("ts", "lat", "lon"), len(paths))
    parts, empty = finish_files("activity", frame.with_columns(worker_id=pl.col("_owner"), kind=pl.lit("gps"),
                                                               platform=pl.lit(None, pl.String)))
    for i, (height, track, rejections, owner, whence) in found.items():
        detected = {"format": f"GPX {track.version or '(no version)'}", "encoding": "XML (declared)",
                    "time basis": "UTC", "owner": f"{owner} ({whence})"}
        results[i] = ReadResult({"activity": parts.get(i, empty)}, height + len(rejections),
                                rejections + bad[i], detected, "point")
    return results


def _points(path: Path, options: ReadOptions) -> tuple[pl.DataFrame, _Track, list[Rejection]]:
    """The raw points of one file, what surrounds them, and the break of a truncated file."""
    data = path.read_bytes()
    if not data or data.isspace():
        raise SourceError(path, "the file is empty; expected a GPX document with <trkpt> points", code="file-empty")
    plain = _plain_points(path, data, names_needed=options.owner is None)
    return plain if plain is not None else _parsed_points(path)


def _walk(path: Path, events, track: _Track) -> None:
    """Follow the parser's start and end events, collecting into ``track``."""
    for event, element in events:
        tag = _local(element.tag)
        if event == "start":
            if not track.stack and tag != "gpx":
                raise SourceError(path, f"the root element is <{tag}>, expected <gpx>", line=1, code="file-unreadable")
            if not track.stack:
                track.version = element.get("version")
            track.stack.append(tag)
            continue
        track.stack.pop()
        if tag == "name" and track.stack and track.stack[-1] in ("trk", "metadata") and (element.text or "").strip():
            track.names.setdefault(track.stack[-1], element.text.strip())
        elif tag == "trkpt":
            time = next((c.text for c in element if _local(c.tag) == "time"), None)
            points = track.points
            points["src_row"].append(len(points["src_row"]) + 1)
            points["lat"].append(element.get("lat"))
            points["lon"].append(element.get("lon"))
            points["time"].append(time.strip() if time else None)
            element.clear()


def _frame(points: dict[str, list]) -> pl.DataFrame:
    return pl.DataFrame(points, schema={"src_row": pl.Int64, "lat": pl.String, "lon": pl.String, "time": pl.String})


def _parsed_points(path: Path) -> tuple[pl.DataFrame, _Track, list[Rejection]]:
    """Every element through the streaming parser; a truncated file keeps the points before the break."""
    track, rejections = _Track(), []
    try:
        _walk(path, ET.iterparse(path, events=("start", "end")), track)
    except ET.ParseError as err:
        line, column = err.position
        if track.version is None and not track.points["src_row"]:
            raise SourceError(path, f"not a readable GPX/XML document ({err})", line=line, code="file-unreadable") from None
        # a truncated file: the points before the break are kept, the break is one rejected point
        rejections.append(Rejection(len(track.points["src_row"]) + 1, "row-malformed",
                                    f"the XML breaks at line {line}, column {column}: points from here on cannot be read"))
    return _frame(track.points), track, rejections


def _plain_text(data: bytes) -> str | None:
    """The text of a well-formed plain UTF-8 document, else None."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
        expat.ParserCreate(namespace_separator="}").Parse(data, True)  # the parser ElementTree uses, without callbacks
    except (UnicodeDecodeError, expat.ExpatError):
        return None
    declared = DECLARED_ENCODING.match(text)
    if declared and declared.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    if "<!" in text or text.count("<?") > text.startswith("<?xml"):
        return None  # a comment, CDATA or DOCTYPE, or a processing instruction, could hide or fake a point
    return text


def _plain_points(path: Path, data: bytes, names_needed: bool) -> tuple[pl.DataFrame, _Track, list[Rejection]] | None:
    """The points of a plain document, found by regular expressions over the whole text; None for
    any other document. The text before the first point (with the root and its version) goes
    through the parser, and the whole document without its points when the names are needed."""
    text = _plain_text(data)
    if text is None:
        return None
    document = pl.Series([text])
    starts = document.str.count_matches(POINT_START).item()
    points = _canonical_points(document, starts)
    if points is None:
        points = _general_points(document, starts)
    if points is None:
        return None
    first = document.str.find(POINT_START).item()
    track = _Track()
    _walk(path, _events(text if first is None else text[:first], complete=first is None), track)
    if names_needed and "trk" not in track.names and first is not None:
        track = _Track()
        _walk(path, _events(document.str.replace_all(POINT, "").item(), complete=True), track)
    return points, track, []


def _events(text: str, complete: bool):
    parser = ET.XMLPullParser(events=("start", "end"))
    parser.feed(text.encode("utf-8"))
    if complete:
        parser.close()
    return parser.read_events()


def _canonical_points(document: pl.Series, starts: int) -> pl.DataFrame | None:
    """The points when every one is written ``<trkpt lat=".." lon=".."><time>..</time></trkpt>``
    (as most trackers write them): their values lie between fixed marks, no pattern needs to capture."""
    points = document.str.extract_all(CANONICAL_POINT).explode().head(starts)
    if len(points) != starts:
        return None
    fields = points.str.split_exact('"', 4).struct.unnest()
    time = pl.col("field_4").str.slice(len("><time>")).str.strip_suffix("</time></trkpt>")
    return fields.select(src_row=pl.int_range(1, pl.len() + 1, dtype=pl.Int64), lat="field_1", lon="field_3",
                         time=time.str.strip_chars(PY_WHITESPACE))


def _general_points(document: pl.Series, starts: int) -> pl.DataFrame | None:
    """The raw attributes and time text of each point, as the parser gives them: attribute values
    with their line breaks and tabs as spaces, the first ``time`` child's text stripped. None when
    a point has grandchildren or an entity: the parser reads those."""
    points = document.str.extract_all(POINT).explode().head(starts)
    tags = document.str.extract_all(POINT_TAG).explode().head(starts)
    if len(points) != starts or len(tags) != starts or points.str.contains("&", literal=True).any():
        return None

    def attribute(name: str) -> pl.Expr:
        value = pl.col("tag").str.extract_groups(rf"""^<{PREFIX}trkpt(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*?"""
                                                 rf"""\s+{name}\s*=\s*(?:"([^"]*)"|'([^']*)')""")
        return pl.coalesce(value.struct[0], value.struct[1]).str.replace_all(r"\r\n|[\t\n\r]", " ").alias(name)

    time = pl.col("point").str.extract(rf"<{PREFIX}time{ATTRIBUTES}\s*(?:/>|>([^<]*))", 1)
    time = time.str.replace_all(r"\r\n?", "\n").str.strip_chars(PY_WHITESPACE)
    return pl.DataFrame({"point": points, "tag": tags}).select(
        src_row=pl.int_range(1, pl.len() + 1, dtype=pl.Int64), lat=attribute("lat"), lon=attribute("lon"), time=time)


def _owner(path: Path, options: ReadOptions, names: dict[str, str]) -> tuple[str, str]:
    if options.owner:
        return options.owner, "case.toml [owners]"
    for where in ("trk", "metadata"):
        if where in names:
            return names[where], (f"the {where} name; set case.toml [owners] if that is not the worker's id")
    raise owner_unknown(path, "whose phone this track is from is not in the file", "gps", "R0003")
