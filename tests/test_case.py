import json
from dataclasses import asdict

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from auditor.case import Case, Rejected, Source, readable_json


def test_round_trip_is_identical(small_case, tmp_path):
    small_case.save(tmp_path / "case")
    back = Case.load(tmp_path / "case")
    assert back.tz == small_case.tz
    assert back.manifest == small_case.manifest
    for name, frame in small_case.tables.items():
        assert_frame_equal(back.table(name).collect(), frame.collect())


def test_manifest_keeps_row_accounting(small_case, tmp_path):
    small_case.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    activity = manifest["sources"][0]
    assert activity["rows_read"] == activity["rows_kept"] + activity["rows_rejected"]
    assert activity["rejected"] == [{"line": 5, "code": "row-unparseable-timestamp", "reason": "bad"}]
    assert len(activity["sha256"]) == 64


def test_load_of_a_folder_that_is_not_a_case(tmp_path):
    try:
        Case.load(tmp_path)
    except FileNotFoundError as err:
        assert "auditor ingest" in str(err)
    else:
        raise AssertionError("expected FileNotFoundError")


def test_missing_tables_are_empty_with_schema(small_case):
    assert small_case.table("messages").collect().height == 0
    assert small_case.table("zones").collect_schema()["geometry"] == pl.Binary


def test_saving_a_loaded_case_links_unchanged_tables_and_rewrites_changed_ones(small_case, tmp_path):
    small_case.save(tmp_path / "a")
    loaded = Case.load(tmp_path / "a")
    loaded.tables["orders"] = loaded.table("orders").filter(pl.col("worker_id") == "R2").head(1)
    loaded.save(tmp_path / "b")
    assert (tmp_path / "b" / "activity.parquet").samefile(tmp_path / "a" / "activity.parquet")
    assert not (tmp_path / "b" / "orders.parquet").samefile(tmp_path / "a" / "orders.parquet")
    again = Case.load(tmp_path / "b")
    assert again.table("orders").collect().height == 1
    assert_frame_equal(again.table("activity").collect(), small_case.table("activity").collect())
    assert again.manifest == small_case.manifest


def test_a_source_as_a_dict_is_what_asdict_gives_and_reads_back():
    source = Source(src="S1", name="orders.csv", path="platform_a/orders.csv", size=10, sha256="ab", connector="csv",
                    detected={"encoding": "gb18030"}, rows_read=3, rows_kept=2, rows_rejected=1,
                    rejected=[Rejected(line=4, code="fields", reason="2 fields, expected 19")])
    as_dict = source.to_dict()
    assert as_dict == asdict(source) and list(as_dict) == list(asdict(source))
    as_dict["detected"]["encoding"] = "utf-8"  # a copy: the source keeps its own
    assert source.detected == {"encoding": "gb18030"} and Source.from_dict(asdict(source)) == source


JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=30)


@given(JSON_VALUES, st.integers(0, 4))
def test_a_manifest_s_layout_reads_back_as_the_value_it_holds(value, levels):
    assert json.loads(readable_json(value, levels)) == value


def test_a_manifest_lays_out_its_first_levels_and_each_source_on_a_line():
    text = readable_json({"timezone": "Asia/Shanghai", "sources": [{"src": "a", "rows": 2}, {"src": "微信"}]})
    assert text.splitlines() == ['{', '  "timezone": "Asia/Shanghai",', '  "sources": [',
                                 '    {"src": "a", "rows": 2},', '    {"src": "微信"}', '  ]', '}']
