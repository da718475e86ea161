"""Rosters as Excel and as weekly rules (expanded at load over the case's dates, DST-correct), app
activity as JSON, and the JSON loading every JSON connector shares. Exact values, time zone
included; every bad input named by file and line."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import connectors
from auditor import schema
from connectors import activity_json, base, roster_weekly, roster_xlsx
from connectors.base import ReadOptions, SourceError

FIXTURES = Path(__file__).parent / "fixtures"
TZ = "Asia/Shanghai"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def read(module, relative: str, tz: str = TZ):
    result = module.read(FIXTURES / relative, ReadOptions(tz=tz))
    assert result.rows_read == sum(f.height for f in result.tables.values()) + result.rows_rejected
    return result


def codes(result) -> list[tuple[int, str]]:
    return [(r.line, r.code) for r in result.rejections]


# ---------------------------------------------------------------- roster, Excel

def test_roster_xlsx_is_recognised_and_no_order_preset_is_tempted():
    path = FIXTURES / "roster_xlsx/roster.xlsx"
    assert connectors.detect(path)[0] is roster_xlsx
    assert connectors.platform_orders.sniff(path, path.read_bytes()[:4096]) < 0.5


def test_roster_xlsx_typed_date_and_time_cells_and_text_cells():
    """日期 date cells, 班次开始 time-of-day cells, 班次结束 mixed (time cells and the text 24:00)."""
    result = read(roster_xlsx, "roster_xlsx/roster.xlsx")
    frame = schema.validate("schedules", result.tables["schedules"].with_columns(src=pl.lit("S001")))
    assert frame.select("worker_id", "start", "end", "kind", "src_row").rows() == [
        ("R0001", utc(2026, 4, 27, 1), utc(2026, 4, 27, 10), "roster", 2),
        ("R0001", utc(2026, 4, 28, 14), utc(2026, 4, 28, 22), "roster", 3),      # 22:00–06:00
        ("R0002", utc(2026, 4, 27, 8), utc(2026, 4, 27, 16), "shift", 4),        # 16:00–24:00 (text)
        ("R0002", utc(2026, 4, 28, 0), utc(2026, 4, 28, 4, 30), "roster", 5)]    # empty 类型
    assert result.detected["time basis"].startswith("local wall-clock time in Asia/Shanghai")


def test_roster_xlsx_broken_rows_by_excel_row_number():
    result = read(roster_xlsx, "roster_xlsx/broken/roster.xlsx")
    assert codes(result) == [(3, "row-unparseable-timestamp"), (4, "row-unparseable-timestamp"),
                             (5, "row-unknown-value"), (6, "row-missing-field")]
    assert result.tables["schedules"].select("src_row", "start").rows() == [(2, utc(2026, 4, 27, 1)),
                                                                            (7, utc(2026, 5, 3, 1))]


def test_roster_xlsx_renamed_binary_and_missing_columns_are_clear_errors(tmp_path):
    renamed = tmp_path / "roster.xlsx"
    renamed.write_bytes(b"\x00\x01binary, not a workbook" * 20)
    assert roster_xlsx.sniff(renamed, renamed.read_bytes()) == 0.0
    with pytest.raises(SourceError, match="roster.xlsx: cannot open it as an Excel workbook"):
        roster_xlsx.read(renamed, ReadOptions())
    partial = tmp_path / "shifts.xlsx"
    pl.DataFrame({"骑手编号": ["R0001"], "日期": ["2026-04-27"], "班次开始": ["09:00"]}).write_excel(partial)
    with pytest.raises(SourceError, match=r"missing column\(s\) \['班次结束', '类型'\]") as err:
        roster_xlsx.read(partial, ReadOptions())
    assert err.value.code == "file-missing-columns" and err.value.line == 1


# ---------------------------------------------------------------- roster, weekly rules

def test_weekly_rules_are_kept_as_rules_with_weekdays_in_every_spelling():
    result = read(roster_weekly, "roster_weekly/rules.csv")
    assert result.tables[roster_weekly.RULES].select("worker_id", "weekday", "valid_from", "valid_to", "kind",
                                                     "src_row").rows() == [
        ("R0001", [1], None, None, "roster", 2), ("R0001", [3], None, None, "roster", 3),
        ("R0002", [6], datetime(2026, 4, 1).date(), datetime(2026, 4, 30).date(), "contract", 4),
        ("R0002", [7], None, datetime(2026, 5, 3).date(), "roster", 5)]
    chinese = read(roster_weekly, "roster_weekly/排班规则.csv")
    assert chinese.detected["delimiter"] == "';'" and chinese.detected["encoding"] == "utf-8-sig"
    assert chinese.tables[roster_weekly.RULES]["weekday"].to_list() == [[1], [5]]
    assert chinese.tables[roster_weekly.RULES]["kind"].to_list() == ["roster", "shift"]


def test_weekly_rules_broken_rows():
    result = read(roster_weekly, "roster_weekly/broken/rules.csv")
    assert codes(result) == [(3, "row-unknown-value"), (4, "row-unknown-value"), (5, "row-unparseable-timestamp"),
                             (6, "row-missing-field"), (7, "row-unknown-value"), (8, "row-wrong-field-count"),
                             (9, "row-unparseable-timestamp")]
    assert "valid_to 2026-05-01 is before valid_from 2026-05-10" in result.rejections[4].reason
    assert result.tables[roster_weekly.RULES]["src_row"].to_list() == [2, 10]


def test_weekly_rules_without_their_columns_are_a_clear_error(tmp_path):
    path = tmp_path / "rules.csv"
    path.write_text("worker_id,weekday,start\nR0001,1,09:00\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"missing column\(s\) \['end'\]"):
        roster_weekly.read(path, ReadOptions())


def test_weekly_rules_expand_at_load_over_the_span_of_the_case_with_the_rule_as_provenance(tmp_path):
    shutil.copy(FIXTURES / "roster_weekly/rules.csv", tmp_path / "rules.csv")
    (tmp_path / "platform_a").mkdir()
    (tmp_path / "platform_a/activity.csv").write_text(  # local dates Mon 2026-04-27 … Wed 2026-05-06
        "rider_id,event_time,event,lon,lat,detail\nR0001,2026-04-27T08:00:00+08:00,login,,,\n"
        "R0001,2026-05-06T23:30:00+08:00,logout,,,\n", encoding="utf-8")
    case = connectors.load(tmp_path)
    shifts = schema.validate("schedules", case.tables["schedules"])
    rules = next(s for s in case.sources if s.path == "rules.csv")
    assert shifts.select("worker_id", "start", "end", "kind", "src", "src_row").rows() == [
        ("R0001", utc(2026, 4, 27, 1), utc(2026, 4, 27, 10), "roster", rules.src, 2),    # Mondays
        ("R0001", utc(2026, 5, 4, 1), utc(2026, 5, 4, 10), "roster", rules.src, 2),
        ("R0001", utc(2026, 4, 29, 14), utc(2026, 4, 29, 22), "roster", rules.src, 3),   # 周三 22:00–06:00
        ("R0001", utc(2026, 5, 6, 14), utc(2026, 5, 6, 22), "roster", rules.src, 3),
        *[("R0002", utc(2026, 4, d, 0), utc(2026, 4, d, 4), "contract", rules.src, 4) for d in (4, 11, 18, 25)],
        ("R0002", utc(2026, 5, 3, 8), utc(2026, 5, 3, 16), "roster", rules.src, 5)]       # 星期日 until 05-03
    assert (rules.rows_read, rules.rows_kept) == (4, 4)
    assert rules.detected["weekly rules"].startswith("9 shift(s) from the rules (local dates 2026-04-27 to 2026-05-06")


def test_weekly_rules_keep_wall_clock_times_across_daylight_saving():
    """Europe/Berlin springs forward on Sunday 2026-03-29 at 02:00: a 01:00–04:00 shift that night
    lasts two hours; a shift starting at 02:30 cannot be placed and is counted as not made."""
    rules = pl.DataFrame({"worker_id": ["W1", "W1", "W2"], "weekday": [[7], [6], [7]],
                          "start": [timedelta(hours=1), timedelta(hours=9), timedelta(hours=2, minutes=30)],
                          "end": [timedelta(hours=4), timedelta(hours=17), timedelta(hours=5)],
                          "valid_from": [datetime(2026, 3, 22).date()] * 3, "valid_to": [None, None, None],
                          "kind": ["roster"] * 3, "src": ["S001"] * 3, "src_row": [2, 3, 4]},
                         schema_overrides={"weekday": pl.List(pl.Int8)}).with_columns(
        pl.col("start", "end").cast(pl.Duration("us")))
    span = (None, datetime(2026, 4, 4).date())
    shifts, notes = roster_weekly.expand(rules, span, "Europe/Berlin")
    assert shifts.select("worker_id", "start", "end", "src_row").rows() == [
        ("W1", utc(2026, 3, 22, 0), utc(2026, 3, 22, 3), 2),   # CET, UTC+1
        ("W1", utc(2026, 3, 29, 0), utc(2026, 3, 29, 2), 2),   # 01:00 CET – 04:00 CEST
        ("W1", utc(2026, 3, 28, 8), utc(2026, 3, 28, 16), 3),
        ("W1", utc(2026, 4, 4, 7), utc(2026, 4, 4, 15), 3),    # CEST, UTC+2
        ("W2", utc(2026, 3, 22, 1, 30), utc(2026, 3, 22, 4), 4)]
    assert notes["S001"].endswith("1 not made: the clock skips its start or end in Europe/Berlin")


# ---------------------------------------------------------------- activity, JSON

@pytest.mark.parametrize("relative", ["activity_json/platform_a/events.json", "activity_json/platform_c/activity.json",
                                      "activity_json/broken/activity.json"])
def test_activity_json_is_recognised(relative):
    assert connectors.detect(FIXTURES / relative)[0] is activity_json


def test_activity_json_records_epoch_milliseconds_as_the_csv_log():
    result = read(activity_json, "activity_json/platform_a/events.json")
    frame = schema.validate("activity", result.tables["activity"].with_columns(src=pl.lit("S001")))
    assert result.detected["time basis"] == "epoch milliseconds (UTC)"
    assert frame.select("worker_id", "platform", "ts", "kind", "lon", "lat", "detail", "src_row").rows() == [
        ("R0001", "A", utc(2026, 4, 27, 2, 0), "login", None, None, None, 1),
        ("R0001", "A", utc(2026, 4, 27, 2, 1), "online", None, None, None, 2),
        ("R0001", "A", utc(2026, 4, 27, 2, 5), "check_in", 121.40, 31.20, "face_verify", 3),
        ("R0001", "A", utc(2026, 4, 27, 2, 10), "gps", 121.41, 31.21, None, 4),
        ("R0001", "A", utc(2026, 4, 27, 10, 0), "offline", None, None, None, 5)]


def test_activity_json_nested_events_other_names_iso_with_and_without_offset():
    result = read(activity_json, "activity_json/platform_c/activity.json")
    assert result.detected["time basis"] == "ISO 8601 with offset; 2 value(s) without one read in Asia/Shanghai"
    assert result.detected["fields"].startswith("timestamp as event_time, status as event")
    assert result.tables["activity"].select("worker_id", "platform", "ts", "kind", "lon", "detail").rows() == [
        ("C-0042", "C", utc(2026, 4, 27, 0, 0), "online", 116.40, None),     # +08:00
        ("C-0042", "C", utc(2026, 4, 27, 4, 30), "break", None, "lunch"),    # naive, Asia/Shanghai; pause = break
        ("C-0042", "C", utc(2026, 4, 27, 4, 45), "online", None, None),      # Z
        ("C-0042", "C", utc(2026, 4, 27, 12, 15), "logout", None, None)]


def test_activity_json_broken_events():
    result = read(activity_json, "activity_json/broken/activity.json")
    assert result.detected["time basis"] == "epoch seconds (UTC)"
    assert codes(result) == [(2, "row-malformed"), (3, "row-unparseable-timestamp"), (4, "row-unknown-value"),
                             (5, "row-missing-field"), (6, "row-missing-field"), (7, "row-unparseable-number")]
    assert result.tables["activity"].select("src_row", "ts").rows() == [(1, utc(2026, 4, 27, 2)),
                                                                       (8, utc(2026, 4, 27, 10))]


@pytest.mark.parametrize("text, message", [
    ('{"events": [{"rider_id": "R1", "event_time": 1777255200, "event": "login"}', "not valid JSON"),
    ('{"rows": []}', r"expected a list of events or \{\"events\": \[\.\.\.\]\}; found \['rows'\]"),
    ('[{"rider_id": "R1", "when": 1777255200, "event": "login"}]', r"the events have no \['event_time'\] field"),
])
def test_activity_json_bad_files_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "activity.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError, match=message):
        activity_json.read(path, ReadOptions())


# ---------------------------------------------------------------- JSON loading, shared

def test_load_json_names_the_line_where_a_cut_off_export_breaks(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{\n  "messages": [\n    {"id": 1,\n', encoding="utf-8")
    with pytest.raises(SourceError) as err:
        base.load_json(path)
    assert (err.value.code, err.value.line) == ("file-unreadable", 4)
    assert str(err.value).startswith("result.json, line 4: not valid JSON")
    path.write_bytes("\ufeff[1, 2]".encode("utf-8"))
    assert base.load_json(path) == ([1, 2], "utf-8-sig")


# ---------------------------------------------------------------- the ingest table

def test_ingest_table_shows_each_files_warning_duplicates_and_first_rejection(tmp_path, monkeypatch):
    from rich.console import Console

    from auditor import cli

    (tmp_path / "platform_a").mkdir()
    log = "rider_id,event_time,event,lon,lat,detail\nR1,1777250400000,online,,,\nR1,1777286400000,offline,,,\n"
    (tmp_path / "platform_a/activity.csv").write_text(log, encoding="utf-8")
    (tmp_path / "platform_a/activity_again.csv").write_text(log + "R1,soon,offline,,,\n", encoding="utf-8")
    monkeypatch.setattr(cli, "console", Console(width=400, record=True))
    cli._print_ingest(connectors.load(tmp_path))
    lines = {line.split("│")[2].strip(): line for line in cli.console.export_text().splitlines() if line.count("│") > 7}
    again = lines["platform_a/activity_again.csv"]
    assert [cell.strip() for cell in again.split("│")[4:7]] == ["3", "0", "3"]
    assert again.split("│")[7].strip() == ("1 of 3 rows rejected (listed with line and reason); 2 duplicate(s) removed;"
                                           " first: line 4, event_time: cannot parse soon")
    assert lines["platform_a/activity.csv"].split("│")[7].strip() == ""


def test_weekly_rules_take_ranges_and_lists_of_weekdays_one_rule_per_day_with_the_line_as_provenance():
    result = read(roster_weekly, "roster_weekly/ranges/排班规则_区间.csv")
    rules = result.tables[roster_weekly.RULES]
    assert rules.select("src_row", "weekday").rows() == [
        (2, [1, 2, 3, 4, 5]), (3, [6, 7]), (4, [1, 2, 3]), (5, [1, 6, 7])]  # 周六至周一 wraps over Sunday
    assert codes(result) == [(6, "row-unknown-value")]  # 周八 is no weekday: the whole line, named
    assert "星期: unexpected value 周一至周八" in result.rejections[0].reason
    assert (result.rows_read, result.rows_kept) == (5, 4)  # lines, not the rules they spell out
    shifts, _ = roster_weekly.expand(rules.with_columns(src=pl.lit("S1")), (None, None), "Asia/Shanghai")
    assert shifts.filter(pl.col("worker_id") == "R0004").height == 7  # Mon–Fri 09–18 and Sat, Sun 10–14


@pytest.mark.parametrize(("text", "days"), [
    ("周一到周五", [1, 2, 3, 4, 5]), ("星期一至星期五", [1, 2, 3, 4, 5]), ("Monday to Friday", [1, 2, 3, 4, 5]),
    ("1~5", [1, 2, 3, 4, 5]), ("Sat/Sun", [6, 7]), ("1,3,5", [1, 3, 5]), ("周一至周三、周五", [1, 2, 3, 5]),
    ("周天", [7]), ("Fri - Mon", [1, 5, 6, 7]), ("周八", None), ("周一至", None), ("", None)])
def test_weekday_spellings(text, days):
    assert roster_weekly.weekdays(text) == days
