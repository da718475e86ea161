"""The connectors added for the exports people bring most often: WeChat (second CSV layout and plain
text), QQ text, Telegram JSON, Google location history, ride-hail and user-mapped order layouts in
CSV, JSON Lines, Parquet and Excel, and the WhatsApp locale variants. Exact values, time zone
included; broken rows accounted by line; a meta-test ties every connector to a fixture and a README row."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectors
from auditor import schema
from connectors import (
    google_location,
    platform_orders,
    qq_txt,
    telegram_json,
    wechat_msg_csv,
    wechat_txt,
    whatsapp_txt,
)
from connectors.base import ReadOptions, SourceError

FIXTURES = Path(__file__).parent / "fixtures"
README = Path(__file__).parent.parent / "README.md"
TZ = "Asia/Shanghai"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def read(module, relative: str | Path, owner: str | None = None, **options):
    path = relative if isinstance(relative, Path) else FIXTURES / relative
    result = module.read(path, ReadOptions(tz=TZ, owner=owner, **options))
    for table, frame in result.tables.items():
        schema.validate(table, frame.with_columns(src=pl.lit("S001")))
    kept = sum(frame.height for frame in result.tables.values())
    assert result.rows_read == kept + result.rows_rejected
    return result


def codes(result) -> list[tuple[int, str]]:
    return [(r.line, r.code) for r in result.rejections]


def rows(result, table: str, *columns: str) -> list[tuple]:
    return result.tables[table].select(columns).rows()


# ---------------------------------------------------------------- meta

def test_every_connector_has_a_fixture_it_detects_and_a_readme_row():
    detected = {connectors.detect(p)[0] for p in FIXTURES.rglob("*") if p.is_file()}
    names = {m.NAME for m in detected if m is not None}
    section = README.read_text(encoding="utf-8").split("## Supported inputs", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z0-9-]+)`", section, re.MULTILINE))
    for module in connectors.connectors():
        assert module.NAME in names, f"no fixture is detected as {module.NAME}"
        assert module.NAME in documented, f"no README 'Supported inputs' row starts with `{module.NAME}`"


# ---------------------------------------------------------------- WeChat, second CSV layout

def test_wechat_msg_csv_local_times_self_and_kinds():
    result = read(wechat_msg_csv, "wechat_msg/wxid_boss.csv", owner="wxid_r0007")
    assert result.detected["time basis"] == f"CreateTime, local time in {TZ}"
    assert rows(result, "messages", "message_id", "sender_id", "sender_role", "ts", "attachment_kind") == [
        ("7001", "wxid_boss", None, utc(2026, 4, 27, 12), None),
        ("7002", "wxid_r0007", "self", utc(2026, 4, 27, 12, 1), None),  # talker 我 is the owner
        ("7003", "wxid_boss", None, utc(2026, 4, 27, 12, 2), "image"),
        ("7004", "wxid_boss", None, utc(2026, 4, 27, 16, 30), None),    # 00:30 local is the previous UTC day
        ("7005", "wxid_r0007", "self", utc(2026, 4, 27, 13, 1), "voice"),
        ("7006", None, "system", utc(2026, 4, 27, 13, 2), None),
        ("7007", "wxid_boss", None, utc(2026, 4, 27, 13, 3), "link")]
    assert result.tables["messages"]["text"][3] == "明天早班\n七点到站"
    assert result.tables["messages"]["src_row"].to_list() == [2, 3, 4, 5, 7, 8, 9]


def test_wechat_msg_csv_group_epoch_seconds_and_owner_from_the_file():
    result = read(wechat_msg_csv, "wechat_msg/20001@chatroom.csv")
    assert result.detected["time basis"] == "CreateTime, epoch seconds (UTC)"
    assert result.detected["owner"].startswith("wxid_r0007 (talker")
    assert rows(result, "messages", "conversation_id", "sender_id", "sender_role", "ts") == [
        ("20001@chatroom", "wxid_boss", None, utc(2026, 4, 27, 12)),
        ("20001@chatroom", "wxid_r0007", "self", utc(2026, 4, 27, 12, 1)),
        ("20001@chatroom", "wxid_r0008", None, utc(2026, 4, 27, 12, 2)),
        ("20001@chatroom", None, "system", utc(2026, 4, 27, 12, 3))]


def test_wechat_msg_csv_broken_rows_and_an_unknown_owner():
    result = read(wechat_msg_csv, "wechat_msg/broken/wxid_boss.csv")
    assert codes(result) == [(3, "row-unparseable-timestamp"), (4, "row-unknown-value"), (5, "row-missing-field"),
                             (6, "row-wrong-field-count")]
    assert result.tables["messages"]["src_row"].to_list() == [2, 7]
    with pytest.raises(SourceError) as err:
        wechat_msg_csv.read(FIXTURES / "wechat_msg/wxid_boss.csv", ReadOptions())  # only 我 marks the owner
    assert err.value.code == "file-owner-unknown" and "wxid_boss.csv" in str(err.value)


# ---------------------------------------------------------------- WeChat and QQ text

def test_wechat_txt_headers_multiline_bodies_and_self():
    result = read(wechat_txt, "wechat_txt/站点群.txt", owner="R0007")
    assert rows(result, "messages", "src_row", "sender_id", "sender_role", "ts", "text", "attachment_kind") == [
        (1, "王站长", None, utc(2026, 4, 27, 12), "今晚十点前交日报", None),
        (4, "R0007", "self", utc(2026, 4, 27, 12, 1), "收到", None),
        (7, "张强", None, utc(2026, 4, 27, 12, 2), "[图片]", "image"),
        (10, "王站长", None, utc(2026, 4, 27, 13), "明天早班\n七点到站", None),
        (14, "R0007", "self", utc(2026, 4, 27, 16, 30), "好的", None)]
    assert set(result.tables["messages"]["conversation_id"]) == {"站点群"}


def test_wechat_txt_broken_lines():
    result = read(wechat_txt, "wechat_txt/broken/站点群.txt", owner="R0007")
    assert codes(result) == [(1, "row-malformed"), (5, "row-unparseable-timestamp"), (8, "row-unparseable-timestamp")]
    assert result.tables["messages"]["text"].to_list() == ["first", "last"]
    with pytest.raises(SourceError) as err:
        wechat_txt.read(FIXTURES / "wechat_txt/站点群.txt", ReadOptions())
    assert err.value.code == "file-owner-unknown"


def test_qq_txt_sections_numbers_mail_and_system():
    result = read(qq_txt, "qq/qq_R0007.txt", owner="20007")
    assert rows(result, "messages", "src_row", "conversation_id", "sender_id", "sender_name", "sender_role", "ts") == [
        (9, "配送三站", "10001", "王站长", None, utc(2026, 4, 27, 12)),
        (12, "配送三站", "20007", "李伟", "self", utc(2026, 4, 27, 12, 1, 5)),
        (15, "配送三站", None, None, "system", utc(2026, 4, 27, 12, 2)),
        (24, "王站长", "wangzz@example.org", "王站长", None, utc(2026, 4, 27, 1)),  # 9:00 without a leading zero
        (28, "王站长", "20007", "李伟", "self", utc(2026, 4, 27, 1, 1))]
    texts = result.tables["messages"]["text"].to_list()
    assert texts[3] == "明天早班\n七点到站" and not any("=====" in t or "消息" in t[:2] for t in texts)
    assert result.tables["messages"]["attachment_kind"].to_list() == [None, None, None, None, "image"]


def test_qq_txt_broken_lines():
    result = read(qq_txt, "qq/broken/qq_R0007.txt", owner="20007")
    assert codes(result) == [(2, "row-malformed"), (10, "row-unparseable-timestamp")]
    assert result.tables["messages"]["text"].to_list() == ["first", "last"]


# ---------------------------------------------------------------- Telegram

def test_telegram_single_chat_text_entities_media_and_times():
    result = read(telegram_json, "telegram/result.json", owner="user2007")
    assert rows(result, "messages", "message_id", "sender_id", "sender_role", "ts", "attachment_kind") == [
        ("1700000007:1", "user1001", "system", utc(2026, 4, 27, 12), None),
        ("1700000007:2", "user1001", None, utc(2026, 4, 27, 13, 30), None),
        ("1700000007:3", "user2007", "self", utc(2026, 4, 27, 13, 45), None),
        ("1700000007:4", "user2007", "self", utc(2026, 4, 27, 13, 46), "image"),
        ("1700000007:5", "user1001", None, utc(2026, 4, 27, 13, 47), "voice"),
        ("1700000007:6", "user1001", None, utc(2026, 4, 27, 23, 5), None)]  # no date_unixtime: date read in TZ
    assert result.tables["messages"]["text"][2] == "Done, 12 orders\nsee list"
    assert "1 message(s) without it" in result.detected["time basis"]


def test_telegram_account_export_owner_and_broken_messages():
    result = read(telegram_json, "telegram/broken/result.json")
    assert result.detected["owner"].startswith("user2007 (personal_information")
    assert codes(result) == [(2, "row-unparseable-timestamp"), (3, "row-malformed")]
    assert rows(result, "messages", "src_row", "sender_role") == [(1, None), (4, "self")]
    with pytest.raises(SourceError) as err:
        telegram_json.read(FIXTURES / "telegram/result.json", ReadOptions())
    assert err.value.code == "file-owner-unknown"


def test_telegram_truncated_file_names_the_line(tmp_path):
    path = tmp_path / "result.json"
    path.write_text((FIXTURES / "telegram/result.json").read_text(encoding="utf-8")[:700], encoding="utf-8")
    assert connectors.detect(path)[0] is telegram_json
    with pytest.raises(SourceError) as err:
        telegram_json.read(path, ReadOptions(owner="user2007"))
    assert err.value.line and "result.json" in str(err.value)


# ---------------------------------------------------------------- Google location

def test_google_records_e7_iso_and_epoch_milliseconds():
    result = read(google_location, "google_location/Records.json", owner="R0003")
    assert rows(result, "activity", "worker_id", "kind", "ts", "lat", "lon", "src_row") == [
        ("R0003", "gps", utc(2026, 4, 27, 2), 31.2, 121.4, 1),
        ("R0003", "gps", utc(2026, 4, 27, 2, 1, 0, 500000), 31.21, 121.41, 2),
        ("R0003", "gps", utc(2026, 4, 27, 2, 2), 31.22, 121.42, 3)]


def test_google_semantic_history_visits_and_segments_give_both_ends():
    result = read(google_location, "google_location/2026_APRIL.json", owner="R0003")
    assert rows(result, "activity", "ts", "lat", "lon", "detail") == [
        (utc(2026, 4, 27, 1), 31.2, 121.4, "timelineObjects[0].placeVisit start: Station 7 depot"),
        (utc(2026, 4, 27, 2), 31.2, 121.4, "timelineObjects[0].placeVisit end: Station 7 depot"),
        (utc(2026, 4, 27, 2), 31.2, 121.4, "timelineObjects[1].activitySegment start: MOTORCYCLING"),
        (utc(2026, 4, 27, 2, 30), 31.25, 121.45, "timelineObjects[1].activitySegment end: MOTORCYCLING")]


def test_google_on_device_timeline_segments_paths_and_raw_positions():
    result = read(google_location, "google_location/Timeline.json", owner="R0003")
    assert rows(result, "activity", "ts", "lat", "lon") == [
        (utc(2026, 4, 27, 1), 31.2, 121.4), (utc(2026, 4, 27, 2), 31.2, 121.4),
        (utc(2026, 4, 27, 2), 31.2, 121.4), (utc(2026, 4, 27, 2, 30), 31.25, 121.45),
        (utc(2026, 4, 27, 2, 5), 31.21, 121.41), (utc(2026, 4, 27, 2, 10), 31.22, 121.42)]
    assert result.rows_read == 6  # the wifi scan is not a position


def test_google_broken_records_out_of_range_and_no_owner():
    result = read(google_location, "google_location/broken/Records.json", owner="R0003")
    assert codes(result) == [(2, "row-unparseable-number"), (3, "row-unparseable-timestamp"),
                             (4, "row-missing-field"), (5, "row-malformed")]
    assert result.tables["activity"]["src_row"].to_list() == [1, 6]
    with pytest.raises(SourceError) as err:
        google_location.read(FIXTURES / "google_location/Records.json", ReadOptions())
    assert err.value.code == "file-owner-unknown"


# ---------------------------------------------------------------- orders: ride-hail, JSON Lines, Parquet, Excel

RIDEHAIL = [("T-001", "accepted", utc(2026, 4, 27, 0), utc(2026, 4, 27, 0, 0, 10), 7500.0, 32.5, 0.0),
            ("T-002", "timed_out", utc(2026, 4, 27, 1), None, None, None, None),
            ("T-003", "cancelled", utc(2026, 4, 27, 1, 5), utc(2026, 4, 27, 1, 5, 20), None, 0.0, 5.0),
            ("T-004", "accepted", utc(2026, 4, 27, 16, 30), utc(2026, 4, 27, 16, 30, 5), 2000.0, 12.0, 0.0)]
ORDER_COLUMNS = ("order_id", "outcome", "dispatched_at", "responded_at", "distance_m", "pay", "penalty")


def test_ridehail_csv_preset_scales_kilometres_and_maps_statuses():
    result = read(platform_orders, "platform_orders/ridehail/trips.csv")
    assert result.detected["preset"] == "ridehail_trips_en"
    assert rows(result, "orders", *ORDER_COLUMNS) == RIDEHAIL
    assert set(result.tables["orders"]["platform"]) == {"ride-hail"}


def test_ridehail_parquet_and_excel_read_like_the_csv(tmp_path):
    trips = pl.read_csv(FIXTURES / "platform_orders/ridehail/trips.csv", infer_schema_length=0)
    # Excel holds real date cells and numbers, Parquet typed columns: both must give the CSV's values
    typed = trips.with_columns(pl.col("request_time", "accept_time", "pickup_time", "dropoff_time").str.to_datetime(),
                               pl.col("distance_km", "fare", "deduction").cast(pl.Float64))
    typed.write_parquet(tmp_path / "trips.parquet")
    typed.write_excel(tmp_path / "trips.xlsx")
    for name, first_row in (("trips.parquet", 1), ("trips.xlsx", 2)):
        path = tmp_path / name
        assert connectors.detect(path)[0] is platform_orders, name
        result = read(platform_orders, path)
        assert rows(result, "orders", *ORDER_COLUMNS) == RIDEHAIL, name
        assert result.tables["orders"]["src_row"].to_list() == [first_row + i for i in range(4)]
        assert result.detected["layout"] == path.suffix


def test_json_lines_orders_reject_a_broken_line_by_number():
    result = read(platform_orders, "platform_orders/ridehail_jsonl/orders.jsonl")
    assert result.detected["layout"] == "jsonl" and result.row_unit == "line"
    assert codes(result) == [(4, "row-malformed")]
    assert rows(result, "orders", "order_id", "outcome", "dispatched_at", "penalty", "src_row") == [
        ("B-0101", "auto_assigned", utc(2026, 4, 27, 2), 0.0, 1),
        ("B-0102", "timed_out", utc(2026, 4, 27, 3), 2.0, 3),
        ("B-0104", "accepted", utc(2026, 4, 27, 12), 0.0, 5)]


def test_a_binary_file_renamed_xlsx_is_a_clear_error(tmp_path):
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    assert connectors.detect(path)[0] is None
    with pytest.raises(SourceError) as err:
        platform_orders.read(path, ReadOptions())
    assert "orders.xlsx" in str(err.value)


USER_PRESET = """title = "Station C weekly sheet"
platform = "C"
format = "csv"
delimiter = ";"
time_format = "%d.%m.%Y %H:%M"

[columns]
order_id = "Auftrag"
worker_id = "Fahrer"
dispatched_at = "Zugewiesen"
delivered_at = "Zugestellt"
pay = "Lohn (Cent)"

[scale]
pay = 0.01

[outcome]
mode = "Art"
result = "Ergebnis"
auto_modes = ["System"]
offer_modes = ["Angebot"]

[outcome.results]
angenommen = "accepted"
abgelehnt = "rejected"
"""
USER_SHEET = """Auftrag;Fahrer;Zugewiesen;Zugestellt;Lohn (Cent);Art;Ergebnis
C-1;R0009;27.04.2026 10:00;27.04.2026 10:40;650;System;angenommen
C-2;R0009;27.04.2026 11:00;;0;Angebot;abgelehnt
"""


def test_a_user_mapping_file_named_in_case_toml_reads_an_unknown_layout(tmp_path):
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings/station_c.toml").write_text(USER_PRESET, encoding="utf-8")
    (tmp_path / "sheet.csv").write_text(USER_SHEET, encoding="utf-8")
    assert connectors.detect(tmp_path / "sheet.csv")[0] is None  # without the mapping, nobody knows it
    (tmp_path / "case.toml").write_text('presets = ["mappings/station_c.toml"]\n', encoding="utf-8")
    case = connectors.load(tmp_path)
    assert [(s.path, s.connector, s.error) for s in case.sources] == [("sheet.csv", "platform-orders", None)]
    orders = case.table("orders").collect()
    assert orders.select("order_id", "platform", "outcome", "dispatched_at", "pay").rows() == [
        ("C-1", "C", "auto_assigned", utc(2026, 4, 27, 2), 6.5), ("C-2", "C", "rejected", utc(2026, 4, 27, 3), 0.0)]


def test_a_broken_user_mapping_names_the_file_and_the_problem(tmp_path):
    (tmp_path / "bad.toml").write_text(USER_PRESET.replace('order_id = "Auftrag"', 'order_no = "Auftrag"'),
                                       encoding="utf-8")
    (tmp_path / "case.toml").write_text('presets = ["bad.toml"]\n', encoding="utf-8")
    with pytest.raises(SourceError) as err:
        connectors.load(tmp_path)
    assert "bad.toml" in str(err.value) and "order_no" in str(err.value) and err.value.code == "file-preset"


# ---------------------------------------------------------------- WhatsApp locales

VARIANTS = sorted((FIXTURES / "whatsapp/variants").glob("*.txt"))


def test_at_least_ten_whatsapp_locale_variants_are_tested():
    assert len(VARIANTS) >= 10  # each is checked against the golden messages in test_connectors.py


@pytest.mark.parametrize(("name", "order", "clock", "encoding"), [
    ("android_zh_cn.txt", "year-first", "12 h", "utf-8"), ("ios_zh_cn.txt", "year-first", "12 h", "utf-8"),
    ("android_es.txt", "day-first", "12 h", "utf-8"), ("android_sv_ymd.txt", "year-first", "24 h", "utf-8"),
    ("android_en_gb_utf16.txt", "day-first", "24 h", "utf-16")])
def test_whatsapp_new_locales_are_detected_as_such(name, order, clock, encoding):
    path = FIXTURES / "whatsapp/variants" / name
    assert connectors.detect(path)[0] is whatsapp_txt
    detected = whatsapp_txt.read(path, ReadOptions(owner="R0007")).detected
    assert detected["date order"].startswith(order) and detected["clock"].startswith(clock)
    assert detected["encoding"] == encoding


@settings(max_examples=60, deadline=None)
@given(day=st.integers(13, 28), month=st.integers(1, 12), hour=st.integers(0, 23), minute=st.integers(0, 59),
       layout=st.sampled_from(["zh", "es", "us"]))
def test_whatsapp_12h_headers_in_any_locale_give_the_24h_time(tmp_path_factory, day, month, hour, minute, layout):
    twelve = hour % 12 or 12
    if layout == "zh":
        stamp = f"2026/{month}/{day} {'上午' if hour < 12 else '下午'}{twelve}:{minute:02d}"
    elif layout == "es":
        stamp = f"{day}/{month}/26, {twelve}:{minute:02d}\u202f{'a.' if hour < 12 else 'p.'}\u00a0m."
    else:
        stamp = f"{month}/{day}/26, {twelve}:{minute:02d}\u202f{'AM' if hour < 12 else 'PM'}"
    path = tmp_path_factory.mktemp("wa") / "chat.txt"
    path.write_text(f"{stamp} - Li Wei: hi\n", encoding="utf-8")
    ts = whatsapp_txt.read(path, ReadOptions(tz="UTC", owner="R0007")).tables["messages"]["ts"].to_list()
    assert ts == [datetime(2026, month, day, hour, minute, tzinfo=UTC)]


@settings(max_examples=40, deadline=None)
@given(name=st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1,
                    max_size=20).map(str.strip).filter(bool),
       body=st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30)
                     .map(str.strip).filter(lambda t: t and not re.match(r"^\d{4}-", t)), min_size=1, max_size=3))
def test_wechat_txt_header_parser_keeps_any_name_and_body(tmp_path_factory, name, body):
    path = tmp_path_factory.mktemp("wx") / "chat.txt"
    path.write_text("2026-04-27 20:00:00 " + name + "\n" + "\n".join(body) + "\n", encoding="utf-8")
    messages = wechat_txt.read(path, ReadOptions(tz=TZ, owner="R0007")).tables["messages"]
    assert messages["text"].to_list() == ["\n".join(body)]
    assert messages["sender_role"][0] == ("self" if name == "我" else "system" if name in wechat_txt.SYSTEM_NAMES
                                          else None)


# ---------------------------------------------------------------- a folder mixing the new formats

def test_load_a_folder_mixing_the_new_formats(tmp_path):
    layout = {"chats/wxid_boss.csv": "wechat_msg/wxid_boss.csv", "chats/站点群.txt": "wechat_txt/站点群.txt",
              "chats/qq.txt": "qq/qq_R0007.txt", "chats/telegram/result.json": "telegram/result.json",
              "gps/Records.json": "google_location/Records.json", "trips/trips.csv": "platform_orders/ridehail/trips.csv",
              "chats/wa_utf16.txt": "whatsapp/variants/android_en_gb_utf16.txt"}
    for target, source in layout.items():
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / source, tmp_path / target)
    owners = {"chats/wxid_boss.csv": "wxid_r0007", "chats/站点群.txt": "R0007", "chats/qq.txt": "20007",
              "chats/telegram/result.json": "user2007", "gps/Records.json": "R0003", "chats/wa_utf16.txt": "R0007"}
    (tmp_path / "case.toml").write_text("[owners]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in owners.items()),
                                        encoding="utf-8")
    case = connectors.load(tmp_path)
    assert {s.path: (s.connector, s.error, s.rows_kept) for s in case.sources} == {
        "chats/wxid_boss.csv": ("wechat-msg-csv", None, 7), "chats/站点群.txt": ("wechat-txt", None, 5),
        "chats/qq.txt": ("qq-txt", None, 5), "chats/telegram/result.json": ("telegram-json", None, 6),
        "gps/Records.json": ("google-location", None, 3), "trips/trips.csv": ("platform-orders", None, 4),
        "chats/wa_utf16.txt": ("whatsapp-txt", None, 6)}
    assert case.table("messages").collect().height == 7 + 5 + 5 + 6 + 6
    roles = case.table("messages").collect()["sender_role"]
    assert roles.null_count() == 0 and set(roles) <= set(schema.SENDER_ROLES)  # unmapped senders are "unknown"
    assert json.dumps(case.manifest, ensure_ascii=False)  # the manifest records what was detected, serialisable


def test_relations_rows_and_a_row_without_its_party():
    from connectors import relations_csv
    result = read(relations_csv, "relations/relations.csv")
    assert codes(result) == [(6, "row-missing-field")]
    assert rows(result, "relations", "from_party", "relation", "to_party")[-1] == ("ST-A1", "engages", "R0007")
