"""JSON record exports as one all-String frame keyed by source name: a list of records (nested
under a dotted key or not) or JSON Lines (one record a line, ``src_row`` = the line).

A field is a dotted path into a record (``courier.id``) or the fold of a list of objects
(``{list, sum}`` adds one numeric field, ``{list, join}`` joins one text field). Values become the
text a CSV cell would hold, so one vectorised parse serves every layout.

polars decodes the records against a schema built from the fields, in one pass. The record walk
(``json.loads`` and a Python walk per record, the reference behaviour) reads what polars cannot read
exactly as it would: records polars cannot type (a non-object record, a string where an object is
expected, a broken line), and values whose text polars writes differently (a float where text is
expected, a boolean amount, a lone surrogate). Where each record has a line of its own (JSON Lines,
and lists written one record a line, as exports usually are) only those records are walked;
otherwise the whole file is. The walk rejects a broken record with its number and the reason."""

from __future__ import annotations

import json
import re
import uuid
from functools import partial
from pathlib import Path

import polars as pl

from connectors.base import PY_WHITESPACE, Rejection, SourceError, cell_text

Fields = dict  # source name -> dotted path, or {"list": path, "sum" | "join": field, "separator": text}
JSON_WHITESPACE = " \t\r"
# str.splitlines of Python, which the record walk uses, cuts lines there too
SPLITLINES_ONLY = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# a literal polars decodes to a different text than json.loads: a surrogate escape (a lone one becomes NUL)
SURROGATE = r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
NUMBER_TEXT = r"^-?\d+(\.\d+)?$"  # how polars writes a JSON number it reads as text
BLOCK_CHARS = 8 << 20
PARALLEL_BLOCKS = 4  # blocks decoded at once, each on a core of its own
TAIL_CHARS = 1 << 20  # how far from the end of a list written one record a line its closing ``]`` is looked for


def read_records(path: Path, text: str, layout: str, key: str, fields: Fields, numeric: frozenset[str] = frozenset()
                 ) -> tuple[pl.DataFrame, list[Rejection], int, set[str]]:
    """The records of a ``json`` or ``jsonl`` export: (frame, rejections, rows read, paths found).
    ``numeric`` names the fields read as numbers, where how a number is written does not matter."""
    dtype = _record_dtype(fields)
    read = None
    if dtype is not None and layout == "jsonl" and not _other_line_breaks(text):
        read = _read_lines(partial(_jsonl_blocks, text), dtype, fields, numeric, jsonl=True)
    elif dtype is not None and layout != "jsonl":
        body = _array_body(text, key)
        try:
            read = _read_lines(partial(_array_blocks, text, *body), dtype, fields, numeric, jsonl=False) if body else None
        except NotOneRecordALine:
            read = None
        read = read or _read_document(text, key, dtype, fields, numeric)
    return read or walk_file(path, text, layout, key, fields)


# ---------------------------------------------------------------- the vectorised read

def _other_line_breaks(text: str) -> bool:
    """Whether ``str.splitlines`` would cut lines where a split on ``\\n`` (and ``\\r\\n``) does not."""
    return any(c in text for c in SPLITLINES_ONLY) or text.count("\r") != text.count("\r\n")


class NotOneRecordALine(Exception):
    """A list that looked written one record a line is not: it is read as a whole document."""


def _record_dtype(fields: Fields) -> pl.DataType | None:
    """The polars type of a record holding every field (values as text, summed values as numbers);
    None when two fields cannot share one type (a path that is both a value and an object)."""
    tree: dict = {}
    for spec in fields.values():
        if isinstance(spec, str):
            path, leaf = spec.split("."), pl.String
        else:
            path = [*spec["list"].split("."), "[]", spec.get("sum") or spec.get("join")]
            leaf = pl.Float64 if "sum" in spec else pl.String
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                return None
        if path[-1] in node and (isinstance(node[path[-1]], dict) or node[path[-1]] != leaf):
            return None
        node[path[-1]] = leaf
    return _dtype(tree)


def _dtype(node: dict) -> pl.DataType | None:
    """A tree of names (``[]`` for the items of a list) as a polars type."""
    if "[]" in node:
        inner = _dtype(node["[]"])
        return pl.List(inner) if len(node) == 1 and inner is not None else None
    children = {name: _dtype(child) if isinstance(child, dict) else child for name, child in node.items()}
    return None if None in children.values() else pl.Struct(children)


def _at(path: str) -> pl.Expr:
    expr = pl.col("record")
    for part in path.split("."):
        expr = expr.struct.field(part)
    return expr


def _columns(fields: Fields) -> list[pl.Expr]:
    """Each field as the text the record walk gives it."""
    columns = []
    for source, spec in fields.items():
        if isinstance(spec, str):
            columns.append(_at(spec).alias(source))
            continue
        items = _at(spec["list"])
        if "sum" in spec:  # + 0.0: an empty sum is 0, as Python's sum starting from 0, not polars' -0.0
            column = (items.list.eval(pl.element().struct.field(spec["sum"])).list.sum() + 0.0).cast(pl.String)
        else:
            texts = items.list.eval(pl.element().struct.field(spec["join"]).str.strip_chars(PY_WHITESPACE))
            joined = texts.list.eval(pl.element().filter(pl.element() != "")).list.join(spec.get("separator", "; "))
            column = pl.when(joined != "").then(joined)
        columns.append(column.alias(source))
    return columns


def _unreadable(fields: Fields) -> pl.Expr:
    """Records only the walk reads right: a null record (rejected as no object), a folded list with
    a null item or a null or missing summed value (the walk gives such a list's own text)."""
    checks = [pl.col("record").is_null()]
    for spec in fields.values():
        if not isinstance(spec, str):
            bad = pl.element().is_null()
            if "sum" in spec:
                bad = bad | pl.element().struct.field(spec["sum"]).is_null()
            checks.append(_at(spec["list"]).list.eval(bad).list.any().fill_null(False))
    return pl.any_horizontal(checks)


def _suspect(fields: Fields, numeric: frozenset[str]) -> tuple[pl.Expr, str]:
    """Records whose decoded text may differ from the walk's, and the pattern over a record's JSON
    that confirms it: a float where text is expected (polars writes 5.0 as ``5``), a number or a
    boolean in a joined field, a boolean summed (polars reads true as 1), a surrogate escape."""
    text_keys, join_keys, sum_keys, checks = set(), set(), set(), []
    for source, spec in fields.items():
        if isinstance(spec, str) and source not in numeric:
            text_keys.add(spec.split(".")[-1])
            checks.append(_at(spec).str.contains(NUMBER_TEXT))
        elif not isinstance(spec, str) and "sum" in spec:
            sum_keys.add(spec["sum"])
        elif not isinstance(spec, str):
            join_keys.add(spec["join"])
            values = _at(spec["list"]).list.eval(pl.element().struct.field(spec["join"]))
            checks.append(values.list.eval(pl.element().str.contains(NUMBER_TEXT) | pl.element().is_in(["true", "false"]))
                          .list.any())

    def keyed(keys: set[str], value: str) -> list[str]:
        names = "|".join(pl.escape_regex(json.dumps(k, ensure_ascii=False)) for k in sorted(keys))
        return [rf"(?:{names})\s*:\s*(?:{value})"] if keys else []

    pattern = "|".join([SURROGATE, *keyed(text_keys, r"-?\d+[.eE]"), *keyed(join_keys, r"-?\d+[.eE]|true|false"),
                        *keyed(sum_keys, "true|false")])
    literal = pl.col("text").str.contains(SURROGATE + ("|true|false" if sum_keys else ""))
    return pl.any_horizontal(pl.lit(False), *(c.fill_null(False) for c in checks), literal), pattern


def _typed(records: pl.LazyFrame, fields: Fields, numeric: frozenset[str]) -> pl.LazyFrame:
    """Decoded records (``src_row``, ``text``, ``record``) as the raw columns, with what tells the
    records the walk must read (``_unreadable``, ``_suspect``) and, per folded field, whether its
    list is there (``_listed_<field>``)."""
    unreadable, (suspect, _) = _unreadable(fields), _suspect(fields, numeric)
    listed = {f"_listed_{s}": _at(spec["list"]).is_not_null() for s, spec in fields.items() if not isinstance(spec, str)}
    return records.select("src_row", "text", *_columns(fields), _unreadable=unreadable, _suspect=suspect & ~unreadable,
                          **listed)


def _presence(typed: pl.DataFrame, fields: Fields) -> dict[str, bool]:
    """Per field: has some record a value there (a list, for a folded field)."""
    return typed.select(**{s: pl.col(s).is_not_null().any() if isinstance(spec, str) else pl.col(f"_listed_{s}").any()
                           for s, spec in fields.items()}).row(0, named=True)


def _found(present: dict[str, bool], fields: Fields, census) -> set[str] | None:
    """The paths the walk would find. A field null in every record may still be there (``"at": null``):
    then ``census()`` lists every path of the records (None when it cannot)."""
    if all(present.values()):
        return {spec if isinstance(spec, str) else source for source, spec in fields.items()}
    every = census()
    if every is None:
        return None
    return every | {s for s, spec in fields.items() if not isinstance(spec, str) and spec["list"] in every}


def _paths_of(dtype: pl.DataType | None, prefix: str = "") -> set[str]:
    """The dotted paths of an inferred record type, as the walk's ``_paths`` finds them in objects."""
    out = set()
    for name, inner in dtype.to_schema().items() if isinstance(dtype, pl.Struct) else ():
        out |= {prefix + name, *_paths_of(inner, f"{prefix}{name}.")}
    return out


def _decode(units: pl.DataFrame, dtype: pl.DataType) -> pl.DataFrame:
    """The units with ``record``, null where polars cannot type the unit (found 1,000 at a time)."""
    parts = []
    for part in units.iter_slices(1000):
        try:
            parts.append(part.with_columns(record=pl.col("text").str.json_decode(dtype)))
        except pl.exceptions.PolarsError:
            parts.append(part.with_columns(record=pl.lit(None, dtype)))
    return pl.concat(parts) if parts else units.with_columns(record=pl.lit(None, dtype))


def _typed_blocks(blocks, dtype: pl.DataType, fields: Fields, numeric: frozenset[str]):
    """``_typed`` of each of ``blocks()``, PARALLEL_BLOCKS at a time."""
    group = []
    for units in blocks():
        group.append(units)
        if len(group) == PARALLEL_BLOCKS:
            yield from _typed_group(group, dtype, fields, numeric)
            group = []
    yield from _typed_group(group, dtype, fields, numeric)


def _typed_group(group: list[pl.DataFrame], dtype: pl.DataType, fields: Fields, numeric: frozenset[str]
                 ) -> list[pl.DataFrame]:
    """Blocks decoded in parallel; a group with a unit polars cannot type again a block and a slice
    at a time, to find which."""
    try:
        return pl.collect_all([_typed(units.lazy().with_columns(record=pl.col("text").str.json_decode(dtype)),
                                      fields, numeric) for units in group]) if group else []
    except pl.exceptions.PolarsError:
        return [_typed(_decode(units, dtype).lazy(), fields, numeric).collect() for units in group]


def _read_lines(blocks, dtype: pl.DataType, fields: Fields, numeric: frozenset[str], jsonl: bool):
    """Records one a line, from ``blocks()`` (frames of ``src_row``, ``text``): polars reads those it
    types exactly, the walk the others. None when the paths found cannot be told."""
    pattern = _suspect(fields, numeric)[1]
    raws, walks, present = [], [], dict.fromkeys(fields, False)
    for typed in _typed_blocks(blocks, dtype, fields, numeric):
        confirmed = typed.filter("_suspect").filter(pl.col("text").str.contains(pattern)).select("src_row", "text")
        walks.append(pl.concat([typed.filter("_unreadable").select("src_row", "text"), confirmed]))
        kept = typed.filter(~pl.col("_unreadable"))
        if confirmed.height:  # the usual block has none: no join
            kept = kept.join(confirmed, on="src_row", how="anti", maintain_order="left")
        raws.append(kept.select("src_row", *fields))
        present = {s: present[s] or seen for s, seen in _presence(kept, fields).items()}
    walked = pl.concat(walks).sort("src_row")
    walk_raw, rejections, walk_read, walk_found = _walk(*_walked_records(walked, jsonl), fields)
    found = _found(present, fields, partial(_census, blocks, walked["src_row"]))
    if found is None:
        return None
    raw = pl.concat(raws, rechunk=False).select(walk_raw.columns)  # in file order, as the blocks are
    rows_read = raw.height + walk_read
    if walk_raw.height:
        raw = pl.concat([raw, walk_raw]).sort("src_row")
    return raw, rejections, rows_read, found | walk_found


def _walked_records(walked: pl.DataFrame, jsonl: bool) -> tuple[list, list[int], list[Rejection]]:
    numbered = zip(walked["src_row"].to_list(), walked["text"].to_list())
    if jsonl:
        return _decode_lines(numbered)
    records, numbers = [], []
    for number, text in numbered:
        try:
            records.append(json.loads(text))
        except json.JSONDecodeError:
            raise NotOneRecordALine from None
        numbers.append(number)
    return records, numbers, []


def _census(blocks, walked: pl.Series) -> set[str] | None:
    """Every path of the records polars read, from the types it infers for them."""
    paths = set()
    for units in blocks():
        texts = units.filter(~pl.col("src_row").is_in(walked.implode()))["text"]
        try:
            inferred = pl.read_ndjson("\n".join(texts.to_list()).encode(), infer_schema_length=None) if len(texts) else None
        except pl.exceptions.PolarsError:
            return None
        paths |= _paths_of(pl.Struct(inferred.schema)) if inferred is not None else set()
    return paths


def _read_document(text: str, key: str, dtype: pl.DataType, fields: Fields, numeric: frozenset[str]):
    """A list of records in any other layout, decoded whole; None (the walk reads the file) when a
    record needs the walk or the list is not where the walk would take it from."""
    top_list = re.match(r"[ \t\r\n]*\[", text) is not None
    if not (top_list or key):
        return None
    parts = ["records"] if top_list else key.split(".")
    data = (b'{"records":' + text.encode("utf-8") + b"}") if top_list else text.encode("utf-8")
    schema: pl.DataType = pl.List(dtype)
    for part in reversed(parts[1:]):
        schema = pl.Struct({part: schema})
    try:
        records = pl.read_json(data, schema={parts[0]: schema}).to_series()
    except pl.exceptions.PolarsError:
        return None
    for part in parts[1:]:
        records = records.struct.field(part)
    if records.null_count() or records.list.len().item() == 0:
        return None  # no list there, or an empty one: the walk says which
    typed = _typed(records.explode().to_frame("record").lazy().with_columns(
        src_row=pl.int_range(1, pl.len() + 1, dtype=pl.Int64), text=pl.lit("")), fields, numeric).collect()
    if typed["_unreadable"].any() or pl.Series([text]).str.contains(_suspect(fields, numeric)[1]).item():
        return None

    def census() -> set[str] | None:
        try:
            inferred = pl.read_json(data, infer_schema_length=None).schema[parts[0]]
        except pl.exceptions.PolarsError:
            return None
        for part in parts[1:]:
            inferred = inferred.to_schema().get(part) if isinstance(inferred, pl.Struct) else None
        return _paths_of(inferred.inner) if isinstance(inferred, pl.List) else None

    found = _found(_presence(typed, fields), fields, census)
    if found is None:
        return None
    return typed.select("src_row", *fields), [], typed.height, found


def _chunks(text: str, start: int, end: int):
    """(number of its first line, chunk, whether last) over ``text[start:end]`` (at least one chunk),
    cut after a line break every BLOCK_CHARS or so: polars' line split takes several times the
    memory of its input."""
    line = 1
    while True:
        cut = text.find("\n", min(start + BLOCK_CHARS, end), end)
        cut = end if cut < 0 else cut + 1
        yield line, text[start:cut], cut == end
        if cut == end:
            return
        line += text.count("\n", start, cut)
        start = cut


def _jsonl_blocks(text: str):
    """JSON Lines as (``src_row`` = line, ``text``), blank lines left out."""
    for first, chunk, _ in _chunks(text, 0, len(text)):
        lines = pl.Series("text", [chunk]).str.split("\n").explode().str.strip_suffix("\r").to_frame()
        yield (lines.with_row_index("src_row", offset=first).with_columns(pl.col("src_row").cast(pl.Int64))
               .filter(pl.col("text").str.strip_chars(PY_WHITESPACE) != ""))


def _array_body(text: str, key: str) -> tuple[int, int] | None:
    """Where the records of a list written one record a line lie (``[`` ends its line, ``]`` starts
    the line after the last record, near the end of the file). The list must be the one the walk
    reads: the document with a marker in place of the records must hold just the marker there."""
    opening = re.match(r"\s*\[[ \t\r]*\n", text) or (
        re.search(rf'"{re.escape(key.split(".")[-1])}"\s*:\s*\[[ \t\r]*\n', text) if key else None)
    if opening is None:
        return None
    closing = re.compile(r"\n[ \t\r]*\]").search(text, max(opening.end() - 1, len(text) - TAIL_CHARS))
    if closing is None:
        return None
    marker = f"records-{uuid.uuid4()}"
    try:
        document = json.loads(text[:opening.end()] + json.dumps(marker) + text[closing.start():])
    except json.JSONDecodeError:
        return None
    return (opening.end(), closing.start()) if (
        _dig(document, key) if key and isinstance(document, dict) else document) == [marker] else None


def _array_blocks(text: str, start: int, end: int):
    """The record lines of ``text[start:end]`` as (``src_row`` = record, ``text``); every one but the
    last must end with a comma (a comma is put after the last to check them alike)."""
    number = 0
    for _, chunk, last in _chunks(text, start, end):
        if last:
            chunk = chunk.rstrip(JSON_WHITESPACE + "\n")
            chunk += "," if chunk else ""
        lines = pl.Series("text", [chunk]).str.split("\n").explode().str.strip_chars(JSON_WHITESPACE)
        lines = lines.filter(lines != "")
        if not lines.str.ends_with(",").all():
            raise NotOneRecordALine
        yield pl.DataFrame({"src_row": pl.int_range(number + 1, number + 1 + len(lines), dtype=pl.Int64, eager=True),
                            "text": lines.str.strip_suffix(",")})
        number += len(lines)


# ---------------------------------------------------------------- the record walk (the reference)

def walk_file(path: Path, text: str, layout: str, key: str, fields: Fields
              ) -> tuple[pl.DataFrame, list[Rejection], int, set[str]]:
    """The whole file through ``json.loads`` and the record walk."""
    if layout == "jsonl":
        return _walk(*_decode_lines(enumerate(text.splitlines(), start=1)), fields)
    records, broken = _records(path, text, key)
    return _walk(records, list(range(1, len(records) + 1)), broken, fields)


def _decode_lines(numbered) -> tuple[list, list[int], list[Rejection]]:
    """JSON Lines: one record a line; a line that is not JSON is rejected by its number, blank lines are skipped."""
    records, numbers, rejections = [], [], []
    for line_number, line in numbered:
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
            numbers.append(line_number)
        except json.JSONDecodeError as err:
            rejections.append(Rejection(line_number, "row-malformed", f"not a JSON record ({err.msg}, column {err.colno})"))
    return records, numbers, rejections


def _walk(records: list, numbers: list[int], rejections: list[Rejection], fields: Fields
          ) -> tuple[pl.DataFrame, list[Rejection], int, set[str]]:
    kept = [(i, r) for i, r in zip(numbers, records) if isinstance(r, dict)]
    rejections = rejections + [Rejection(i, "row-malformed", f"record {i} is a {type(r).__name__}, expected an object")
                               for i, r in zip(numbers, records) if not isinstance(r, dict)]
    found = set().union(*(_paths(r) for _, r in kept)) if kept else set()
    columns: dict[str, list[str | None]] = {}
    for source, spec in fields.items():
        if isinstance(spec, str):
            columns[source] = [cell_text(_dig(r, spec)) for _, r in kept]
        else:
            columns[source] = [_fold(_dig(r, spec["list"]), spec) for _, r in kept]
            if spec["list"] in found:
                found.add(source)
    raw = pl.DataFrame(columns, schema={k: pl.String for k in columns}).with_columns(
        src_row=pl.Series([i for i, _ in kept], dtype=pl.Int64))
    # a record cut off by a truncated file, or a JSON line that does not decode, is a rejection beyond the records
    decoded = set(numbers)
    return raw.select("src_row", *columns), rejections, len(records) + sum(r.line not in decoded for r in rejections), found


def _records(path: Path, text: str, key: str) -> tuple[list, list[Rejection]]:
    """The list of records; from a truncated or broken file, the records before the break."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return _salvage(path, text, key, err)
    records = _dig(data, key) if key and isinstance(data, dict) else data
    if not isinstance(records, list):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise SourceError(path, f"expected a list of records at {key!r}; found {keys}", code="file-missing-columns")
    return records, []


def _salvage(path: Path, text: str, key: str, err: json.JSONDecodeError) -> tuple[list, list[Rejection]]:
    start = re.search(rf'"{re.escape(key.split(".")[-1])}"\s*:\s*\[', text) if key else re.match(r"\s*\[", text)
    if start is None or start.end() > err.pos:
        raise SourceError(path, f"not valid JSON ({err.msg}, column {err.colno})", line=err.lineno,
                          code="file-unreadable") from None
    decoder, records, pos = json.JSONDecoder(), [], start.end()
    while True:
        pos = len(text) - len(text[pos:].lstrip(" \t\r\n,"))
        if text.startswith("]", pos):
            break
        try:
            record, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as broken:
            return records, [Rejection(len(records) + 1, "row-malformed",
                                       f"record {len(records) + 1} is cut off or broken: {broken.msg} (line "
                                       f"{broken.lineno}, column {broken.colno}); records after it cannot be read")]
        records.append(record)
    return records, []  # every record is whole; the break is in what follows the list


def _dig(record, dotted: str):
    for part in dotted.split("."):
        if not isinstance(record, dict):
            return None
        record = record.get(part)
    return record


def _paths(record: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in record.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _paths(v, f"{prefix}{k}.")
    return out


def _fold(items, spec: dict) -> str | None:
    """Fold a list of objects: the sum of one numeric field, or one text field joined."""
    if items is None:
        return None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return cell_text(items)
    values = [i.get(spec.get("sum") or spec.get("join")) for i in items]
    if "sum" in spec:
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        return str(sum(values)) if numeric else cell_text(items)
    texts = [str(v).strip() for v in values if v is not None and str(v).strip()]
    return spec.get("separator", "; ").join(texts) or None
