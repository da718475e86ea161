"""What every connector shares: options, results, rejections, text decoding.

A connector is a module in this package with:

- ``NAME``: a stable id recorded in the manifest (``"platform-orders"``),
- ``TABLES``: the canonical tables it can produce,
- ``sniff(path, head) -> float``: confidence in [0, 1] from the file name and its first bytes
  (a connector whose recognition depends on the case, like the user's order presets, takes the
  ``ReadOptions`` as a third argument),
- ``read(path, options) -> ReadResult``: the canonical rows and the row accounting.

``read`` never raises for one bad row: it records a ``Rejection`` and goes on. It raises
``SourceError`` only when the file as a whole cannot be read (empty, wrong encoding, not the
format it claims), naming the file and, where there is one, the line.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import functools
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from auditor import schema

HEAD_BYTES = 4096
BINARY = {".xlsx": b"PK\x03\x04", ".parquet": b"PAR1"}  # table files read by their typed readers: suffix -> magic bytes
# what Python's str.strip() removes, for polars' strip_chars where a vectorised read must match a Python one
PY_WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
# fastexcel writes a time-of-day cell (a fraction of a day) as a moment of Excel's day 0
EXCEL_DAY_ZERO = "1899-12-31"
FILE_ROWS = 1 << 40  # more lines than a file has: numbers the rows of several files read together apart


@dataclass(frozen=True)
class ReadOptions:
    """What a connector cannot know from the file itself."""

    tz: str = "Asia/Shanghai"  # zone of timestamps written without an offset
    owner: str | None = None  # worker whose export this is (chat exports, phone GPS)
    presets: tuple[Path, ...] = ()  # the user's own column-mapping files (case.toml ``presets``)


@dataclass(frozen=True)
class Rejection:
    """One input row that did not become a canonical row, and why (code from a fixed catalogue)."""

    line: int
    code: str
    reason: str


# What a file's row numbers count where they are not its lines, so that a reader opening the file
# looks for the 12th record of a JSON list, trackpoint of a GPX track or row of a sheet.
ROW_UNITS = ("line", "record", "message", "point", "feature", "sheet row")


@dataclass
class ReadResult:
    tables: dict[str, pl.DataFrame]
    rows_read: int
    rejections: list[Rejection] = field(default_factory=list)
    detected: dict[str, str] = field(default_factory=dict)  # format, encoding, tz … as detected
    row_unit: str = "line"  # what the file's row numbers (src_row, a rejection's line) count: one of ROW_UNITS

    def __post_init__(self) -> None:
        self.rejections = sorted(self.rejections, key=lambda r: r.line)  # in file order, as a reader checks them
        if self.row_unit not in ROW_UNITS:  # the app and the reports name each unit
            raise ValueError(f"row_unit {self.row_unit!r}: expected one of {ROW_UNITS}")

    @property
    def rows_rejected(self) -> int:
        return len({r.line for r in self.rejections})

    @property
    def rows_kept(self) -> int:
        return self.rows_read - self.rows_rejected


class SourceError(ValueError):
    """A whole file could not be read; the message names the file, the line and what was expected."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None, code: str = "file-unreadable"):
        self.path, self.reason, self.line, self.code = str(path), reason, line, code
        where = f"{Path(path).name}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {reason}")


def owner_unknown(path: Path, why: str, folder: str = "chats", example: str = "R0007") -> SourceError:
    """The error for an export that does not say whose it is: ``why``, and how to say it in case.toml."""
    return SourceError(path, f'{why}: set its owner in case.toml [owners] (e.g. "{folder}/{path.name}" = "{example}")',
                       code="file-owner-unknown")


REJECTION_CODES = {
    "row-wrong-field-count": "the row has a different number of fields than the header",
    "row-unparseable-timestamp": "a timestamp could not be parsed",
    "row-unparseable-number": "a number could not be parsed",
    "row-missing-field": "a required field is empty",
    "row-unknown-value": "a coded value is not one the format defines",
    "row-malformed": "the record does not have the structure the format defines",
    "row-implausible-timestamp": "a timestamp before 2000 or after the file was written (or after the run)",
    "row-too-long": "a line longer than MAX_LINE_CHARS: not read, so one runaway line cannot exhaust memory",
    "row-duplicate": "the same message or ping is already in an earlier file of the same worker (overlapping exports)",
}
# a longer line is no chat message or record: a binary blob, a base64 image or a file without newlines
MAX_LINE_CHARS = 1 << 20
# the csv module's own per-field limit (128 KiB) would end a file at a long quoted message; ours is per line
csv.field_size_limit(MAX_LINE_CHARS)


def decode(path: Path, data: bytes | None = None) -> tuple[str, str]:
    """Decode a text export: UTF-16 with a BOM, UTF-8 (with or without BOM), else GB18030 (a superset of GBK).

    Returns (text, encoding). Raises SourceError naming the first undecodable line."""
    data = path.read_bytes() if data is None else data
    if not data or data.isspace():  # as not data.strip(), without copying a large file
        raise SourceError(path, "the file is empty; expected a header and data rows", code="file-empty")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # WhatsApp on some phones, Windows "Unicode"
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as err:
            line = data[: err.start].decode("utf-16", "ignore").count("\n") + 1
            raise SourceError(path, "the UTF-16 text is cut or damaged", line=line, code="file-encoding") from None
    if data.startswith(codecs.BOM_UTF8):
        encoding, data = "utf-8-sig", data[len(codecs.BOM_UTF8):]
    else:
        encoding = "utf-8"
    try:
        return data.decode("utf-8"), encoding
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            line = data[: utf8_error.start].count(b"\n") + 1
            raise SourceError(path, "bytes are neither UTF-8 nor GB18030/GBK; re-export the file as UTF-8",
                              line=line, code="file-encoding") from None


def load_json(path: Path) -> tuple[object, str]:
    """Decode and parse a JSON export. Returns (data, encoding). A file that does not parse as a
    whole (cut off, damaged) is a SourceError naming the line where the JSON breaks."""
    text, encoding = decode(path)
    try:
        return json.loads(text), encoding
    except json.JSONDecodeError as err:
        raise SourceError(path, f"not valid JSON ({err.msg}, column {err.colno}); a cut-off export cannot be read,"
                          " export it again", line=err.lineno, code="file-unreadable") from None


def cell_text(value) -> str | None:
    """A JSON value as the text a CSV cell would hold; objects and lists stay JSON so they fail to parse visibly."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def record_rows(records: list[dict | None], fields: tuple[str, ...], noun: str) -> tuple[pl.DataFrame, list[Rejection]]:
    """JSON records, each already reduced to its fields (``None`` for one that is not an object),
    as an all-String frame with ``src_row`` = the record's 1-based position; the ``None`` ones
    are rejected by position."""
    rejections = [Rejection(i, "row-malformed", f"{noun} {i} is not an object")
                  for i, record in enumerate(records, start=1) if record is None]
    kept = [(i, record) for i, record in enumerate(records, start=1) if record is not None]
    frame = pl.DataFrame([record for _, record in kept], schema={f: pl.String for f in fields}, orient="row")
    return frame.with_columns(src_row=pl.Series([i for i, _ in kept], dtype=pl.Int64)), rejections


def table_header(path: Path, head: bytes) -> list[str]:
    """The column names of an Excel ``.xlsx`` (first sheet) or Parquet file. Raises ValueError when
    the file is not one (wrong magic bytes, or damaged)."""
    suffix = path.suffix.lower()
    if not head.startswith(BINARY[suffix]):
        raise ValueError(f"not a {suffix} file")
    try:
        header = (pl.read_parquet_schema(path) if suffix == ".parquet"
                  else pl.read_excel(path, read_options={"n_rows": 0}).schema).keys()
    except Exception as err:  # noqa: BLE001 — the Excel and Parquet readers each raise their own error types for a damaged file
        raise ValueError(f"not a readable {suffix} file: {str(err).splitlines()[0]}") from None
    return [str(h).strip() for h in header]


def table_rows(path: Path, stamp: str) -> pl.DataFrame:
    """An Excel (first sheet) or Parquet table as the all-String frame a CSV gives, so one parse
    serves every layout: date-time cells written with ``stamp``, date cells ``%Y-%m-%d``, time
    cells ``%H:%M:%S`` (also a time-of-day on Excel's day 0, in a column of mixed cells).
    ``src_row`` is the row number as Excel shows it (header = 1), the record number in Parquet."""
    suffix = path.suffix.lower()
    table = pl.read_parquet(path) if suffix == ".parquet" else pl.read_excel(path, sheet_id=1)
    formats = {pl.Date: "%Y-%m-%d", pl.Time: "%H:%M:%S"}

    def as_text(column: str, dtype: pl.DataType) -> pl.Expr:
        value = pl.col(column)
        if isinstance(dtype, pl.Datetime):
            return pl.when(value.dt.date() == date.fromisoformat(EXCEL_DAY_ZERO)).then(
                value.dt.strftime("%H:%M:%S")).otherwise(value.dt.strftime(stamp))
        if dtype.is_temporal():
            return value.dt.strftime(formats.get(dtype.base_type(), stamp))
        return value.cast(pl.String).str.replace(rf"^{EXCEL_DAY_ZERO} (\d{{2}}:\d{{2}}:\d{{2}})$", "$1")

    first = 2 if suffix == ".xlsx" else 1
    return (table.select(as_text(c, dtype) for c, dtype in table.schema.items()).rename(lambda c: str(c).strip())
            .with_row_index("src_row", offset=first).with_columns(pl.col("src_row").cast(pl.Int64)))


def long_lines(text: str) -> tuple[str, list[Rejection]]:
    """Blank every line longer than MAX_LINE_CHARS (so the line numbers of the others stay) and
    reject it by number. A text shorter than the limit has no such line and is returned as is."""
    if len(text) <= MAX_LINE_CHARS:
        return text, []
    lines, rejections = split_lines(text)
    if not rejections:
        return text, []
    return "\n".join(lines.to_list()), rejections


def split_lines(text: str) -> tuple[pl.Series, list[Rejection]]:
    """The lines of ``text`` (split at ``\\n``, line n at index n - 1), as ``long_lines`` leaves
    them: for a reader that works on the lines anyway, without joining them back into one text."""
    return _split(pl.Series("line", [text]), len(text))


def decode_lines(path: Path, data: bytes | None = None) -> tuple[pl.Series, list[Rejection], str]:
    """``split_lines`` of ``decode(path, data)``, and the encoding. UTF-8, the usual case, is
    checked and split by polars: its text never becomes a Python string (decoding a large file and
    handing the string to polars cost more than reading its lines)."""
    data = path.read_bytes() if data is None else data
    plain = data and not data.isspace() and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if plain:
        encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
        body = data.removeprefix(codecs.BOM_UTF8)
        try:
            text = pl.Series("line", [body], dtype=pl.Binary).cast(pl.String)
        except pl.exceptions.ComputeError:  # not UTF-8: decode says what it is
            pass
        else:
            return *_split(text, len(body)), encoding  # a line has at least as many bytes as characters
    text, encoding = decode(path, data)
    return *split_lines(text), encoding


def _split(text: pl.Series, size: int) -> tuple[pl.Series, list[Rejection]]:
    lines = text.str.split("\n").explode()
    if size <= MAX_LINE_CHARS:
        return lines, []
    longest = (lines.str.len_bytes() > MAX_LINE_CHARS).arg_true()  # a line has at least as many bytes as characters
    too_long = longest.filter(lines.gather(longest).str.len_chars() > MAX_LINE_CHARS)
    rejections = [Rejection(int(i) + 1, "row-too-long", f"the line has {len(lines[int(i)]):,} characters; at most"
                            f" {MAX_LINE_CHARS:,} are read") for i in too_long]
    return (lines.scatter(too_long, "") if rejections else lines), rejections


def header_fields(path: Path, text: str) -> tuple[list[str], str]:
    """The header of a CSV and its delimiter (``;`` where it separates more fields than ``,``)."""
    first = text.split("\n", 1)[0].strip("\r")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return [h.strip().strip('"') for h in first.split(delimiter)], delimiter


@functools.lru_cache(maxsize=1 << 14)  # every sniff of every file compares the same few names
def normalised(name: str) -> str:
    """A column name compared loosely: case, spaces, brackets and punctuation do not matter."""
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]+", "_", name.strip().lower()).strip("_")


def map_columns(header: list[str], aliases: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Canonical field -> the header column that holds it (the first alias present, compared loosely)."""
    found = {normalised(h): h for h in header}
    mapped = {}
    for canonical, names in aliases.items():
        column = next((found[normalised(a)] for a in names if normalised(a) in found), None)
        if column is not None:
            mapped[canonical] = column
    return mapped


@functools.lru_cache(maxsize=8)  # the connectors sniff one file's head in turn: decoded once
def head_text(head: bytes) -> str:
    """The first bytes as text for sniffing, tolerant of a cut multi-byte character."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head[: len(head) // 2 * 2].decode("utf-16", errors="ignore")
    head = head.removeprefix(codecs.BOM_UTF8)
    for encoding in ("utf-8", "gb18030"):
        try:
            return head[: len(head) - 4].decode(encoding) + head[len(head) - 4:].decode(encoding, "ignore")
        except UnicodeDecodeError:
            continue
    return head.decode("utf-8", errors="ignore")


def header_is(head: bytes, columns: tuple[str, ...], delimiter: str = ",") -> bool:
    """True when the first line of ``head`` is exactly ``columns`` (the cheap sniff of a CSV layout)."""
    first = head_text(head).splitlines()[:1]
    return bool(first) and tuple(c.strip() for c in first[0].split(delimiter)) == tuple(columns)


def read_alone(read_many, path: Path, options: ReadOptions) -> ReadResult:
    """A connector's ``read`` of one file through its ``read_many`` (the batch path is the one path)."""
    result = read_many([path], [options])[0]
    if isinstance(result, SourceError):
        raise result
    return result


def finish(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Conform a connector's frame to the canonical columns (missing optional ones as nulls).
    The registry stamps ``src`` and validates the result against the schema."""
    return schema.conform(table, frame)


def finish_files(table: str, frame: pl.DataFrame) -> tuple[dict[int, pl.DataFrame], pl.DataFrame]:
    """``finish`` of rows read from several files together (``_file`` numbers them), parted again
    per file number; and the empty table, for a file that gave no row."""
    files = frame["_file"]
    done = finish(table, frame)
    if files.is_empty() or files.min() == files.max():  # one file (a large export read alone): nothing to part
        return ({int(files[0]): done} if files.len() else {}), done.clear()
    parts = done.with_columns(files).partition_by("_file", as_dict=True, include_key=False, maintain_order=True)
    return {key[0]: part for key, part in parts.items()}, done.clear()


def read_csv_rows(path: Path, text: str, required: tuple[str, ...], delimiter: str = ",") -> tuple[pl.DataFrame, list[Rejection], int]:
    """Parse CSV text into an all-String frame with ``src_row`` = the line where each record
    starts (header = line 1). Rows with the wrong number of fields become rejections, not losses.

    Returns (frame, rejections, rows_read). Raises SourceError when a required column is absent."""
    text, too_long = long_lines(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise SourceError(path, "the file is empty; expected a header and data rows", code="file-empty") from None
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise SourceError(path, f"column name(s) {duplicated} appear more than once in the header; found {header}",
                          line=1, code="file-missing-columns")
    missing = [c for c in required if c not in header]
    if missing:
        raise SourceError(path, f"missing column(s) {missing}; found {header}", line=1, code="file-missing-columns")
    if '"' not in text:  # no quoting: one record per line, so whole-column parsing is exact
        frame, rejections = _unquoted_records(text, header, delimiter)
    else:
        try:
            frame, rejections = _quoted_records_fast(text, header, delimiter, reader.line_num)
        except pl.exceptions.ComputeError:  # polars disagrees with the quote count about a record: the csv module decides
            frame, rejections = _quoted_records(reader, header)
    frame = frame.with_columns([pl.when(pl.col(h) != "").then(pl.col(h)).alias(h) for h in header])
    rejections += too_long
    return frame, rejections, frame.height + len(rejections)


def read_csv_file(path: Path, required: tuple[str, ...], delimiter: str = ","
                  ) -> tuple[pl.DataFrame, list[Rejection], int, str]:
    """``read_csv_rows`` of the decoded file, and its encoding. A UTF-8 file whose records are all
    well formed, the usual export, goes to polars' CSV reader whole, as bytes; a file with a broken
    record, a blank line or another encoding is read by ``read_csv_rows``, which tells each bad
    record by its line. The frame is the same either way."""
    data = path.read_bytes()
    whole = _whole_csv(data, required, delimiter)
    if whole is not None:
        frame, encoding = whole
        return frame, [], frame.height, encoding
    text, encoding = decode(path, data)
    return *read_csv_rows(path, text, required, delimiter), encoding


def read_csv_files(paths: list[Path], required: tuple[str, ...], delimiter: str = ","
                   ) -> tuple[list[pl.DataFrame], dict[int, tuple[list[Rejection], int, str] | SourceError]]:
    """``read_csv_file`` of many small files at once (a city's chat exports): their frames, each row's
    file numbered in ``_file`` (from 0), and per file its rejections, rows read and encoding, or its
    SourceError. Files polars can read whole that share a header are parsed in one pass over their
    records joined: each file ends with a newline outside any quote, so each parses as it would alone."""
    frames: list[pl.DataFrame] = []
    outcome: dict[int, tuple[list[Rejection], int, str] | SourceError] = {}

    def alone(i: int) -> None:
        try:
            frame, rejections, rows_read, encoding = read_csv_file(paths[i], required, delimiter)
        except SourceError as err:
            outcome[i] = err
            return
        frames.append(frame.with_columns(_file=pl.lit(i, pl.Int32)))
        outcome[i] = rejections, rows_read, encoding

    joinable: dict[tuple[str, ...], list[tuple[int, bytes, _Layout]]] = {}
    for i, path in enumerate(paths):
        data = path.read_bytes()
        layout = _csv_layout(data, required, delimiter)
        if layout is not None and data.endswith(b"\n"):
            joinable.setdefault(tuple(layout.header), []).append((i, data, layout))
        else:
            alone(i)
    for header, files in joinable.items():
        frame = _joined_csv(list(header), files, delimiter)
        if frame is None:  # one of them breaks the joined read: each is read alone, to tell which
            for i, _, _ in files:
                alone(i)
            continue
        frames.append(frame)
        outcome.update({i: ([], layout.starts.size, layout.encoding) for i, _, layout in files})
    return frames, outcome


@dataclass(frozen=True)
class _Layout:
    """What a well-formed UTF-8 CSV shows before polars parses it (``_csv_layout``)."""

    header: list[str]
    encoding: str
    body: int  # where the first record starts
    starts: np.ndarray  # the line of each record, from 0 for the line after the header
    delimiters: int  # the delimiters in the records, quoted or not


def _csv_layout(data: bytes, required: tuple[str, ...], delimiter: str) -> _Layout | None:
    """The layout of a CSV polars may read whole as ``read_csv_rows`` would read it, or None."""
    if not data or data.isspace() or data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    raw = np.frombuffer(data, np.uint8)
    quoted = b'"' in data
    lines = _record_lines(raw, delimiter, quoted)
    if lines is None:
        return None
    begins, starts = lines
    header = _plain_header(data[len(codecs.BOM_UTF8) if encoding == "utf-8-sig" else 0:begins[0] - 1], required,
                           delimiter)
    if header is None or (not quoted and b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
        return None  # without quotes read_csv_rows splits lines itself and keeps a CR that polars drops
    body = int(begins[starts[0]])
    return _Layout(header, encoding, body, starts, data.count(delimiter.encode(), body))


def _whole_csv(data: bytes, required: tuple[str, ...], delimiter: str) -> tuple[pl.DataFrame, str] | None:
    """The records of a well-formed UTF-8 CSV as ``read_csv_rows`` gives them, or None for any other file."""
    layout = _csv_layout(data, required, delimiter)
    if layout is None:
        return None
    frame = _parsed(data, layout.header, [layout], delimiter, skip_lines=1)
    return None if frame is None else (frame, layout.encoding)


def _joined_csv(header: list[str], files: list[tuple[int, bytes, _Layout]], delimiter: str) -> pl.DataFrame | None:
    """``_whole_csv`` of several files (number, bytes, layout) sharing ``header``, parsed in one pass
    over their records joined, with ``_file``; None where that read fails or does not check out."""
    layouts = [layout for _, _, layout in files]
    if len(files) == 1:  # its records where they are, past the header line: no copy of a large file
        frame = _parsed(files[0][1], header, layouts, delimiter, skip_lines=1)
    else:
        frame = _parsed(b"".join(data[layout.body:] for _, data, layout in files), header, layouts, delimiter)
    if frame is None:
        return None
    numbers = np.repeat([i for i, _, _ in files], [layout.starts.size for layout in layouts]).astype(np.int32)
    return frame.with_columns(_file=pl.Series(numbers, dtype=pl.Int32))


def _parsed(records: bytes, header: list[str], layouts: list[_Layout], delimiter: str, skip_lines: int = 0
            ) -> pl.DataFrame | None:
    """The records of one or more files (their ``layouts``, in order) parsed by polars, numbered by
    line; None when polars cannot read them (not UTF-8, a record it cannot split) or a record lacks
    fields: the line reader then decides."""
    try:
        frame = pl.read_csv(records, skip_lines=skip_lines, has_header=False, new_columns=header,
                            separator=delimiter, quote_char='"', infer_schema=False, raise_if_empty=False)
    except pl.exceptions.PolarsError:
        return None
    if frame.height != sum(layout.starts.size for layout in layouts) or not _full_width(
            frame, sum(layout.delimiters for layout in layouts), delimiter):
        return None
    return _numbered(frame, np.concatenate([layout.starts + 2 for layout in layouts]))  # line 1 is the header


def _numbered(frame: pl.DataFrame, lines: np.ndarray) -> pl.DataFrame:
    """Records read by polars with ``src_row``, and a quoted empty value null, as ``read_csv_rows`` gives it."""
    empties = frame.select(pl.all().eq("").any()).row(0)  # polars reads "" as empty, not null
    quoted_empty = [h for h, empty in zip(frame.columns, empties) if empty]
    return frame.with_columns([pl.when(pl.col(h) != "").then(pl.col(h)).alias(h) for h in quoted_empty],
                              src_row=pl.Series(lines, dtype=pl.Int64))


def _record_lines(raw: np.ndarray, delimiter: str, quoted: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """Where the line after each newline begins, and which of those lines start a record (those
    with an even number of quotes before them, as ``_quoted_records_fast`` decides). None when polars might split the file otherwise: a quoted section that does not open a
    field, a blank line (skipped by read_csv_rows, a row of nulls to polars), a line too long to be
    read. ``quoted``: the file holds a quote at all (a platform's export of millions of lines
    usually does not, and then every line starts a record: one pass finds the newlines)."""
    if quoted:
        marks = np.flatnonzero((raw == ord("\n")) | (raw == ord('"')))  # newlines and quotes, one pass
        quote = raw[marks] == ord('"')
        quotes, newlines = marks[quote], marks[~quote]
    else:
        quotes, newlines = np.empty(0, np.int64), np.flatnonzero(raw == ord("\n"))
    if not newlines.size or quotes.size % 2:
        return None
    # a quoted section opens at the start of a field, or right where one closed: a doubled quote
    if not np.isin(raw[quotes[0::2] - 1], (ord(delimiter), ord("\n"), ord('"'))).all():
        return None
    begins = newlines + 1
    lengths = np.append(newlines[1:], len(raw)) - begins
    # outside quotes: the next line starts a record
    opens = (np.cumsum(quote) - quote)[~quote] % 2 == 0 if quoted else np.ones(newlines.size, bool)
    blank = (lengths == 0) | ((lengths == 1) & (raw[np.minimum(begins, len(raw) - 1)] == ord("\r")))
    blank[-1] &= lengths[-1] > 0  # the empty text after a final newline is the end, not a blank line
    starts = np.flatnonzero(opens & (lengths > 0))
    if not starts.size or (opens & blank).any() or max(lengths.max(), newlines[0]) > MAX_LINE_CHARS:
        return None
    return begins, starts


def _plain_header(line: bytes, required: tuple[str, ...], delimiter: str) -> list[str] | None:
    """The column names of a header line without quotes, or None where ``read_csv_rows`` must decide."""
    line = line.removesuffix(b"\r")
    if any(special in line for special in (b'"', b"\r", b"\0")):
        return None
    try:
        header = [h.strip() for h in line.decode("utf-8").split(delimiter)]
    except UnicodeDecodeError:
        return None
    return header if len(set(header)) == len(header) and all(c in header for c in required) else None


def _full_width(frame: pl.DataFrame, delimiters: int, delimiter: str) -> bool:
    """Whether every record has every field. polars raises for a record with too many and fills one
    with too few out with nulls, so every record is full exactly when the delimiters outside quoted
    sections number one less than the fields in each record: counted over the whole file at once,
    not record by record. Those are the file's ``delimiters`` less the ones inside quoted sections,
    which are exactly the ones the parsed values hold (a quoted section opens a field: ``_record_lines``)."""
    inside = frame.select(pl.sum_horizontal(pl.all().str.count_matches(delimiter, literal=True).sum())).item()
    return delimiters - (inside or 0) == frame.height * (frame.width - 1)


def _wrong_width(line: int, fields: int, header: list[str], note: str = "") -> Rejection:
    return Rejection(line, "row-wrong-field-count", f"{fields} fields, expected {len(header)} ({', '.join(header)}){note}")


def _unquoted_records(text: str, header: list[str], delimiter: str) -> tuple[pl.DataFrame, list[Rejection]]:
    lines = pl.DataFrame({"text": text.split("\n")}).with_row_index("src_row", offset=1).slice(1)
    lines = lines.with_columns(pl.col("src_row").cast(pl.Int64), pl.col("text").str.strip_suffix("\r")).filter(
        pl.col("text") != "").with_columns(fields=pl.col("text").str.count_matches(delimiter, literal=True) + 1)
    bad = lines.filter(pl.col("fields") != len(header))
    rejections = [_wrong_width(line, fields, header) for line, fields in bad.select("src_row", "fields").iter_rows()]
    good = lines.filter(pl.col("fields") == len(header))
    split = good.select(pl.col("text").str.split_exact(delimiter, len(header) - 1)).unnest("text")
    frame = split.rename(dict(zip(split.columns, header))).with_columns(good["src_row"])
    return frame, rejections


def _quoted_records_fast(text: str, header: list[str], delimiter: str, header_lines: int
                         ) -> tuple[pl.DataFrame, list[Rejection]]:
    """Records of a CSV with quoted fields, found with whole-column operations: a line continues
    the record above while an odd number of quotes is open; a record's width is its delimiters
    outside quoted sections, plus one. Records of the right width are then parsed by polars' CSV
    reader (exact, since each is well formed); the others are rejected with the lines they span."""
    lines = (pl.DataFrame({"text": [text]}).select(pl.col("text").str.split("\n").explode())
             .with_row_index("line", offset=1).slice(header_lines)
             .with_columns(pl.col("line").cast(pl.Int64), _quotes=pl.col("text").str.count_matches('"', literal=True)))
    inside = ((pl.col("_quotes").cum_sum() - pl.col("_quotes")) % 2 == 1)  # a quoted field is open as the line starts
    lines = lines.with_columns(_continues=inside).with_columns(_record=(~pl.col("_continues")).cum_sum())
    spans = pl.col("_continues") | pl.col("_continues").shift(-1).fill_null(False)
    single = lines.filter(~spans).select("_record", start=pl.col("line"), end=pl.col("line"), text=pl.col("text"))
    multi = (lines.filter(spans).group_by("_record", maintain_order=True)
             .agg(start=pl.col("line").first(), end=pl.col("line").last(), text=pl.col("text").str.join("\n")))
    records = (pl.concat([single, multi]).sort("_record")
               .filter(pl.col("text").str.strip_suffix("\r") != "")  # blank lines are no records
               .with_columns(fields=pl.col("text").str.replace_all(r'"(?:[^"]|"")*(?:"|$)', "")
                             .str.count_matches(delimiter, literal=True) + 1))
    good = records.filter(pl.col("fields") == len(header))
    rejections = [_wrong_width(start, fields, header, f"; the record runs from line {start} to line {end}: a quote is"
                               " probably not closed" if end > start else "")
                  for start, end, fields in records.filter(pl.col("fields") != len(header))
                  .select("start", "end", "fields").iter_rows()]
    if good.is_empty():
        return pl.DataFrame(schema={**{h: pl.String for h in header}, "src_row": pl.Int64}), rejections
    body = good["text"].str.join("\n").item().encode("utf-8")
    frame = pl.read_csv(body, has_header=False, new_columns=header, separator=delimiter, quote_char='"',
                        infer_schema=False, raise_if_empty=False)
    return frame.with_columns(good["start"].alias("src_row")), rejections


def _quoted_records(reader, header: list[str]) -> tuple[pl.DataFrame, list[Rejection]]:
    rows: list[list[str]] = []
    lines: list[int] = []
    rejections: list[Rejection] = []
    start = reader.line_num + 1
    try:
        for row in reader:
            if row and len(row) == len(header):
                rows.append(row)
                lines.append(start)
            elif row:
                # a record that runs over several lines with the wrong width is almost always an
                # unclosed quote that swallowed the lines after it: say so, they are not lost silently
                spans = (f"; the record runs from line {start} to line {reader.line_num}: a quote is probably"
                         " not closed" if reader.line_num > start else "")
                rejections.append(_wrong_width(start, len(row), header, spans))
            start = reader.line_num + 1
    except csv.Error as err:  # e.g. an unterminated quote at a truncated end of file
        rejections.append(Rejection(start, "row-malformed", f"CSV structure broken from here on: {err}"))
    frame = pl.DataFrame(list(zip(*rows)) if rows else [[] for _ in header], schema={h: pl.String for h in header},
                         orient="col").with_columns(pl.Series("src_row", lines, dtype=pl.Int64))
    return frame, rejections


def check_rows(frame: pl.DataFrame, parsed: dict[str, tuple[pl.Expr, str]], required: tuple[str, ...] = ()
               ) -> tuple[pl.DataFrame, list[Rejection]]:
    """Apply vectorised parse expressions; a row whose raw value is present but does not parse, or
    whose required output is missing, is rejected with every reason that applies.

    ``parsed`` maps output column -> (expression over the raw columns, raw column name). The
    expressions must yield null on failure (``strict=False``)."""
    # parse into temporary columns first: an output may replace its own raw column ("role" -> "role"),
    # and the check needs the raw value to tell "did not parse" from "was empty"
    out = frame.with_columns(**{f"_parsed_{name}": expr for name, (expr, _) in parsed.items()})
    checks, present_raw = [], {}
    for name, (_, raw) in parsed.items():
        dtype = out.schema[f"_parsed_{name}"]
        if dtype.is_temporal():
            code, what = "row-unparseable-timestamp", "cannot parse"
        elif dtype.is_numeric():
            code, what = "row-unparseable-number", "cannot parse"
        else:
            code, what = "row-unknown-value", "unexpected value"
        present = present_raw[name] = pl.col(raw).is_not_null() & (pl.col(raw).cast(pl.String).str.strip_chars() != "")
        checks.append(pl.when(present & pl.col(f"_parsed_{name}").is_null())
                      .then(pl.lit(f"{code}|{raw}: {what} ") + pl.col(raw).cast(pl.String).str.slice(0, 40)))
    for name in required:  # a value that is there but does not parse is already reported above
        empty = (pl.col(f"_parsed_{name}").is_null() & ~present_raw[name]) if name in parsed else pl.col(name).is_null()
        checks.append(pl.when(empty).then(pl.lit(f"row-missing-field|{name} is empty")))
    outputs = {name: pl.col(f"_parsed_{name}") for name in parsed}
    # a check fires only on a null output whose raw value is not null or which is required: only those
    # rows are checked (building the reasons for every row was the slowest step of a large file)
    nulls = [pl.col(f"_parsed_{name}").is_null() & (pl.col(raw).is_not_null() | (name in required))
             for name, (_, raw) in parsed.items()] + [
        pl.col(name).is_null() for name in required if name not in parsed]
    out = out.with_columns(_suspect=pl.any_horizontal(nulls) if nulls else pl.lit(False))
    if not out["_suspect"].any():
        return out.with_columns(**outputs).drop("_suspect", *(f"_parsed_{name}" for name in parsed)), []
    out = out.with_row_index("_row")
    checked = out.filter("_suspect").with_columns(
        _problems=pl.concat_list(checks).list.drop_nulls() if checks else pl.lit([], pl.List(pl.String)))
    bad = checked.filter(pl.col("_problems").list.len() > 0)
    rejections = [Rejection(line, problems[0].split("|", 1)[0], "; ".join(p.split("|", 1)[1] for p in problems))
                  for line, problems in bad.select("src_row", "_problems").iter_rows()]
    kept = out.filter(~pl.col("_suspect")).merge_sorted(
        checked.filter(pl.col("_problems").list.len() == 0).drop("_problems"), key="_row")
    return kept.with_columns(**outputs).drop("_row", "_suspect", *(f"_parsed_{name}" for name in parsed)), rejections


def check_file_rows(frame: pl.DataFrame, parsed: dict[str, tuple[pl.Expr, str]], required: tuple[str, ...],
                    files: int) -> tuple[pl.DataFrame, list[list[Rejection]]]:
    """``check_rows`` over the rows of several files read together (``_file`` numbers them from 0),
    with each file's rejections: the check runs once, on rows numbered ``file * FILE_ROWS + src_row``."""
    numbered = frame.with_columns(_src_row=pl.col("src_row"),
                                  src_row=pl.col("_file").cast(pl.Int64) * FILE_ROWS + pl.col("src_row"))
    checked, bad = check_rows(numbered, parsed, required)
    rejections: list[list[Rejection]] = [[] for _ in range(files)]
    for r in bad:
        rejections[r.line // FILE_ROWS].append(Rejection(r.line % FILE_ROWS, r.code, r.reason))
    return checked.with_columns(src_row=pl.col("_src_row")).drop("_src_row"), rejections


def local_time(raw: str | pl.Expr, fmt: str, tz: str) -> pl.Expr:
    """Parse a local wall-clock column (name or expression) in zone ``tz`` into UTC; null where it does not parse."""
    text = pl.col(raw) if isinstance(raw, str) else raw
    return utc(text.str.strip_chars().str.to_datetime(fmt, strict=False, time_unit="us"), tz)


def utc(local: pl.Expr, tz: str) -> pl.Expr:
    """Wall-clock times in zone ``tz`` as UTC: the earlier of an ambiguous time, null for one that does not exist."""
    return local.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def per_run(value: pl.Expr, convert) -> pl.Expr:
    """``convert(value)`` for an element-wise ``convert``, computed once per run of equal values in a
    row (a chat's messages of one minute share their time): the same values, in fewer steps."""
    return convert(value.rle().struct.field("value")).gather(value.rle_id())


def iso_time(raw: str | pl.Expr, tz: str) -> pl.Expr:
    """Parse ISO 8601 (``T`` or space, optional fraction) into UTC: with ``Z`` or an offset as
    written, without one as wall-clock time in zone ``tz``; null where it does not parse.
    ``raw`` is a column name or an expression giving the text."""
    text = pl.col(raw) if isinstance(raw, str) else raw
    return text.map_batches(lambda values: _iso_times(values, tz), return_dtype=pl.Datetime("us", "UTC"))


def _iso_times(values: pl.Series, tz: str) -> pl.Series:
    """``iso_time`` of a whole column, its text cleaned and its shape tested once. The common shape
    (whole seconds, Z or ±hh:mm) is parsed as wall time and shifted by its offset: polars' formats
    with a fraction or an offset are several times slower; the other values take them."""
    text = values.cast(pl.String).str.strip_chars().str.replace(" ", "T", literal=True)
    times = pl.DataFrame({"text": text, "plain": text.str.contains(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:[0-5]\d(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$")})
    other = pl.when(~pl.col("plain")).then(pl.col("text"))
    wall = pl.when("plain").then(pl.col("text").str.slice(0, 19)).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us")
    offset = (pl.col("text").str.slice(20, 2).cast(pl.Int64, strict=False).fill_null(0) * 60
              + pl.col("text").str.slice(23, 2).cast(pl.Int64, strict=False).fill_null(0))
    shifted = (wall - pl.duration(minutes=pl.when(pl.col("text").str.slice(19, 1) == "-").then(-offset)
                                  .otherwise(offset))).dt.replace_time_zone("UTC")
    aware = other.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us", time_zone="UTC")
    naive = (other.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
             .dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC"))
    return times.select(pl.coalesce(shifted, aware, naive)).to_series().rename(values.name)


def integer_columns(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """``_<column>``: each text column as an integer, null where it is none (surrounding spaces
    allowed). Stripping costs more than the cast, so a column is stripped only when some value
    does not cast as it is."""
    frame = frame.with_columns(pl.col(c).cast(pl.Int64, strict=False).alias(f"_{c}") for c in columns)
    spaced = [c for c in columns if (frame[f"_{c}"].is_null() & frame[c].is_not_null()).any()]
    return frame.with_columns(pl.col(c).str.strip_chars().cast(pl.Int64, strict=False).alias(f"_{c}") for c in spaced)


def number(raw: str) -> pl.Expr:
    return pl.col(raw).str.strip_chars().cast(pl.Float64, strict=False)


def empty_named(path: Path, head: bytes, *patterns: str) -> float:
    """Sniff score for an empty file: there is no content to recognise, but a conventional name is
    enough to route it to its connector, whose ``read`` then says the file is empty (rather than
    the file being reported as unrecognised)."""
    if head.removeprefix(codecs.BOM_UTF8).strip():
        return 0.0
    return 0.5 if any(fnmatch.fnmatch(path.name.lower(), p) for p in patterns) else 0.0
