"""The CSV record reader: the whole-column path for unquoted files must equal the csv-module path,
and a file read whole by polars (read_csv_file) must give what the record reader gives."""

import csv
import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors import base

HEADER = ["a", "b", "c"]
field = st.text(alphabet="xyz 1.:-中", max_size=4)


def by_csv_module(text: str):
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader)]
    frame, rejections = base._quoted_records(reader, header)
    return frame.with_columns([pl.when(pl.col(h) != "").then(pl.col(h)).alias(h) for h in header]), rejections


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(field, min_size=1, max_size=5), max_size=30), st.booleans())
def test_unquoted_fast_path_equals_the_csv_module(rows, crlf):
    newline = "\r\n" if crlf else "\n"
    text = newline.join([",".join(HEADER)] + [",".join(r) for r in rows]) + newline
    fast, fast_rejected, read = base.read_csv_rows(Path("x.csv"), text, required=())
    slow, slow_rejected = by_csv_module(text)
    assert_frame_equal(fast, slow.select(fast.columns))
    assert fast_rejected == slow_rejected
    assert read == fast.height + len(fast_rejected)


def test_quoted_multiline_records_keep_their_first_line_number():
    text = 'a,b,c\n1,"two\nlines",3\n4,5\n6,7,8\n'
    frame, rejected, read = base.read_csv_rows(Path("x.csv"), text, required=())
    assert frame["src_row"].to_list() == [2, 5]
    assert [(r.line, r.code) for r in rejected] == [(4, "row-wrong-field-count")]
    assert read == 3


# ---------------------------------------------------------------- whole-file reading (read_csv_file)

value = st.sampled_from(["", "x", "收到", "a,b", 'say "hi"', "two\nlines", "cr\r\nlf", " pad "])


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def by_record_reader(path: Path, required=()):
    text, encoding = base.decode(path)
    return (*base.read_csv_rows(path, text, required=required), encoding)


def assert_same_read(path: Path, required=()):
    fast, slow = base.read_csv_file(path, required=required), by_record_reader(path, required)
    assert_frame_equal(fast[0], slow[0])
    assert fast[1:] == slow[1:]
    return fast


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(value, min_size=3, max_size=3), max_size=20), st.booleans(), st.booleans())
def test_whole_file_polars_read_equals_the_record_reader(tmp_path_factory, rows, crlf, bom):
    newline = "\r\n" if crlf else "\n"
    text = newline.join([",".join(HEADER)] + [",".join(quoted(v) if any(c in v for c in ',"\n\r') else v for v in r)
                                               for r in rows]) + newline
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    if rows:  # well formed: polars reads it whole
        assert base._whole_csv(path.read_bytes(), (), ",") is not None
    assert_same_read(path)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.lists(st.lists(value, min_size=2, max_size=4), max_size=6), st.booleans(),
                          st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]), st.sampled_from(["a,b,c", "c,a,b"])),
                min_size=1, max_size=5))
def test_files_read_together_equal_each_read_alone(tmp_path_factory, files):
    """read_csv_files joins the records of files polars reads whole; each file's rows, rejections,
    counts and encoding (or error) are what read_csv_file gives it alone."""
    folder = tmp_path_factory.mktemp("csv")
    paths = []
    for n, (rows, final_newline, encoding, header) in enumerate(files):
        lines = [header] + [",".join(quoted(v) if any(c in v for c in ',"\n\r') else v for v in r) for r in rows]
        paths.append(folder / f"{n}.csv")
        paths[-1].write_bytes(("\n".join(lines) + ("\n" if final_newline else "")).encode(encoding))
    frames, outcome = base.read_csv_files(paths, required=("a",))
    together = pl.concat(frames, how="diagonal_relaxed") if frames else None
    for n, path in enumerate(paths):
        try:
            frame, *rest = base.read_csv_file(path, required=("a",))
        except base.SourceError as err:
            assert isinstance(outcome[n], base.SourceError) and str(outcome[n]) == str(err)
            continue
        assert outcome[n] == tuple(rest)
        assert_frame_equal(together.filter(pl.col("_file") == n).select(frame.columns), frame)


@pytest.mark.parametrize("body, rejected", [
    ('1,2,3\n4,5\n6,7,8\n', [(3, "row-wrong-field-count")]),  # polars would fill the missing field
    ('1,2,3\n4,5,6,7\n6,7,8\n', [(3, "row-wrong-field-count")]),  # polars would refuse the whole file
    ('1,"2\n3",4\n5,"6,7\n8,9,10\n', [(4, "row-wrong-field-count")]),  # an unclosed quote swallows the rest
    ('1,2,3\n\n4,5,6\n', []),  # a blank line is skipped, and the lines below keep their numbers
    ('1,2"x,3\n4,5,6\n', [(2, "row-wrong-field-count")]),  # a quote inside a field opens a section to the next line
])
def test_a_file_polars_cannot_read_as_is_goes_to_the_record_reader(tmp_path, body, rejected):
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n" + body, encoding="utf-8")
    assert base._whole_csv(path.read_bytes(), (), ",") is None
    frame, rejections, read, _ = assert_same_read(path)
    assert [(r.line, r.code) for r in rejections] == rejected
    assert read == frame.height + len(rejections)


def test_a_gbk_file_is_decoded_by_the_record_reader(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("a,b,c\n1,收到,3\n".encode("gb18030"))
    frame, _, _, encoding = assert_same_read(path)
    assert encoding == "gb18030" and frame["b"].to_list() == ["收到"]
