"""The fast paths of the chat readers give what the general ones give: WhatsApp headers read with
the plain-ASCII pattern or the full Unicode one, continuation lines grouped or taken one by one,
and a UTF-8 text split by polars or decoded in Python."""

import codecs
from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import base, whatsapp_txt
from connectors.base import ReadOptions

FIELDS = ("d1", "d2", "d3", "hour", "minute", "second")
piece = st.sampled_from(["27", "4", "2026", "026", "/", ".", "-", ",", " ", "\u2003", "\u3000", "\t", ":", "[", "]",
                         "下午", "上午", "PM", "a.", " m.", "p", "M", " - ", " – ", "] ", "Li Wei: ", "x", "٢"])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["27/04/2026, 20:00 - ", "[4/27/26, 8:00:00 PM] ", "2026/4/27 下午8:00 - ",
                        "27.04.26 20.00.00 – ", "4/27/26, 8:00 p. m. - "]),
       st.lists(st.tuples(st.integers(0, 30), piece), max_size=3), st.sampled_from(["Li Wei: ok", "", "x"]))
def test_the_header_patterns_read_the_fields_header_reads(start, edits, text):
    line = list(start)
    for at, inserted in edits:  # lines near a header: a character more, or another separator
        line.insert(min(at, len(line)), inserted)
    line = pl.Series(["".join(line) + text])
    expected = line.str.extract_groups(whatsapp_txt.HEADER).struct.unnest()
    for pattern in (whatsapp_txt.FAST_HEADER, whatsapp_txt.FULL_HEADER):
        got = line.str.extract_groups(pattern).struct.unnest()
        if got["head"][0] is None:  # the plain pattern leaves Unicode digits and spaces to the full one
            assert pattern == whatsapp_txt.FAST_HEADER or expected["d1"][0] is None
            continue
        # the numbers are read from the date and clock groups, once per distinct text
        numbers = pl.concat([got["date"].str.extract_groups(whatsapp_txt.DATE).struct.unnest(),
                             got["clock"].str.extract_groups(whatsapp_txt.CLOCK).struct.unnest()], how="horizontal")
        assert [numbers[f][0] for f in FIELDS] == [expected[f][0] for f in FIELDS]
        assert line.str.strip_prefix(got["head"])[0] == expected["rest"][0]


def test_unicode_spaces_headers_and_continuation_lines_keep_file_order(tmp_path):
    chat = tmp_path / "chat.txt"
    chat.write_text("27/04/2026, 20:00 - Li Wei: one\n"
                    "27/04/2026,\u3000\u200320:01 - Li Wei: two\nsecond line\n\nfourth line\n"
                    "27/04/2026, 20:02 - Wang Fang: three\nmore\n", encoding="utf-8")
    result = whatsapp_txt.read(chat, ReadOptions(tz="UTC", owner="R0007"))
    messages = result.tables["messages"]
    assert messages["src_row"].to_list() == [1, 2, 6]
    assert messages["text"].to_list() == ["one", "two\nsecond line\n\nfourth line", "three\nmore"]
    assert messages["ts"].to_list() == [datetime(2026, 4, 27, 20, m, tzinfo=UTC) for m in range(3)]
    assert result.rows_read == 3 and result.rejections == []


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_lines_split_by_polars_equal_the_decoded_text_split(tmp_path, encoding):
    path = tmp_path / "chat.txt"
    path.write_bytes("27/04/2026, 20:00 - 王站长: 收到\r\n\n第二行\n\ufeff末行".encode(encoding))
    lines, rejections, found = base.decode_lines(path)
    text, expected = base.decode(path)
    assert (lines.to_list(), rejections, found) == (text.split("\n"), [], expected)


def test_a_text_that_is_not_utf8_is_decoded_as_gb18030(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_bytes(codecs.BOM_UTF8 + "收到\n".encode("gb18030"))  # a BOM that lies
    assert base.decode_lines(path)[2] == base.decode(path)[1] == "gb18030"
