"""The CSV record reader: the whole-column path for unquoted files must equal the csv-module path."""

import csv
import io
from pathlib import Path

import polars as pl
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
