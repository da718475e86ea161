"""Connectors: each format is recognised, read into canonical rows with exact values, and every
input row is accounted for (kept or rejected with its line and code). Fixtures are tiny
hand-written files in the real export shapes (tests/fixtures/<format>/), with round numbers."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import shapely

import connectors
from auditor import schema
from connectors import (
    activity_csv,
    geojson_zones,
    gpx,
    platform_orders,
    roster_csv,
    wechat_csv,
    whatsapp_txt,
)
from connectors.base import REJECTION_CODES, ReadOptions, SourceError

FIXTURES = Path(__file__).parent / "fixtures"
TZ = "Asia/Shanghai"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def read(module, relative: str, owner: str | None = None):
    result = module.read(FIXTURES / relative, ReadOptions(tz=TZ, owner=owner))
    for table, frame in result.tables.items():
        schema.validate(table, frame.with_columns(src=pl.lit("S001")))
    return result


def lines_and_codes(result) -> list[tuple[int, str]]:
    return [(r.line, r.code) for r in result.rejections]


def by(frame: pl.DataFrame, column: str) -> dict:
    return {row[column]: row for row in frame.iter_rows(named=True)}


# ---------------------------------------------------------------- detection

EXPECTED_CONNECTOR = {
    "participants/participants.csv": "participants-csv",
    "platform_orders/platform_a/orders.csv": "platform-orders",
    "platform_orders/platform_b/orders.json": "platform-orders",
    "platform_orders/broken/orders.csv": "platform-orders",
    "platform_orders/broken/orders.json": "platform-orders",
    "activity/platform_a/activity.csv": "activity-csv",
    "activity/platform_b/activity.csv": "activity-csv",
    "activity/broken/activity.csv": "activity-csv",
    "roster/roster.csv": "roster-csv",
    "roster/broken/roster.csv": "roster-csv",
    "gpx/R0003.gpx": "gpx",
    "gpx/broken/track.gpx": "gpx",
    "wechat/wechat_R0007.csv": "wechat-csv",
    "wechat/broken/wechat_R0007.csv": "wechat-csv",
    "whatsapp/ambiguous.txt": "whatsapp-txt",
    "whatsapp/broken/whatsapp_R0007.txt": "whatsapp-txt",
    **{f"whatsapp/variants/{p.name}": "whatsapp-txt" for p in sorted((FIXTURES / "whatsapp/variants").glob("*.txt"))},
    "geojson/zones.geojson": "geojson-zones",
    "geojson/broken/zones.geojson": "geojson-zones",
    "relations/relations.csv": "relations-csv",
    "platform_orders/ridehail/trips.csv": "platform-orders",
    "platform_orders/ridehail_jsonl/orders.jsonl": "platform-orders",
    "wechat_msg/wxid_boss.csv": "wechat-msg-csv",
    "wechat_msg/20001@chatroom.csv": "wechat-msg-csv",
    "wechat_msg/broken/wxid_boss.csv": "wechat-msg-csv",
    "wechat_txt/站点群.txt": "wechat-txt",
    "wechat_txt/broken/站点群.txt": "wechat-txt",
    "qq/qq_R0007.txt": "qq-txt",
    "qq/broken/qq_R0007.txt": "qq-txt",
    "telegram/result.json": "telegram-json",
    "telegram/broken/result.json": "telegram-json",
    "google_location/Records.json": "google-location",
    "google_location/2026_APRIL.json": "google-location",
    "google_location/Timeline.json": "google-location",
    "google_location/broken/Records.json": "google-location",
    "slack/export/users.json": "slack-json",
    "slack/export/channels.json": "slack-json",
    "slack/export/station-3/2026-04-27.json": "slack-json",
    "slack/export/station-3/2026-04-28.json": "slack-json",
    "slack/broken/station-3/2026-04-27.json": "slack-json",
    "uber/driver_lifetime_trips-0.csv": "uber-trips",
    "uber/2019/Driver Lifetime Trips.csv": "uber-trips",
    "uber/broken/driver_lifetime_trips-0.csv": "uber-trips",
    "uber/Driver Online Offline.csv": "uber-online",
    "uber/broken/Driver Online Offline.csv": "uber-online",
    "uber/Driver Dispatches Offered and Accepted.csv": "uber-dispatches",
    "uber/broken/Driver Dispatches Offered and Accepted.csv": "uber-dispatches",
    "uber/driver_app_analytics-0.csv": "location-csv",
    "location/轨迹_R0007.csv": "location-csv",
    "location/gps_epoch.csv": "location-csv",
    "location/broken/track.csv": "location-csv",
    "geojson_points/track.geojson": "geojson-points",
    "geojson_points/broken/track.geojson": "geojson-points",
    "wkt_zones/zones.csv": "wkt-zones",
    "wkt_zones/broken/zones.csv": "wkt-zones",
    "roster_xlsx/roster.xlsx": "roster-xlsx",
    "roster_xlsx/broken/roster.xlsx": "roster-xlsx",
    "roster_weekly/rules.csv": "roster-weekly",
    "roster_weekly/排班规则.csv": "roster-weekly",
    "roster_weekly/broken/rules.csv": "roster-weekly",
    "roster_weekly/ranges/排班规则_区间.csv": "roster-weekly",
    "activity_json/platform_a/events.json": "activity-json",
    "activity_json/platform_c/activity.json": "activity-json",
    "activity_json/broken/activity.json": "activity-json",
}


def test_every_fixture_file_has_an_expected_connector():
    on_disk = {p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*") if p.is_file()}
    assert on_disk - {"whatsapp/variants/expected.json"} == set(EXPECTED_CONNECTOR)


@pytest.mark.parametrize("relative", sorted(EXPECTED_CONNECTOR))
def test_detect_picks_the_right_connector_and_no_other_is_tempted(relative):
    path = FIXTURES / relative
    module, _ = connectors.detect(path)
    assert module is not None and module.NAME == EXPECTED_CONNECTOR[relative]
    head = path.read_bytes()[:4096]
    others = {m.NAME: m.sniff(path, head) for m in connectors.connectors() if m is not module}
    assert all(score < 0.5 for score in others.values()), others


def test_registry_lists_every_connector_module_once():
    names = [m.NAME for m in connectors.connectors()]
    assert len(names) == len(set(names))
    assert {"platform-orders", "activity-csv", "roster-csv", "gpx", "wechat-csv", "whatsapp-txt",
            "geojson-zones"} <= set(names)


@pytest.mark.parametrize("relative", sorted(EXPECTED_CONNECTOR))
def test_every_row_is_accounted_for_with_a_catalogued_code(relative):
    path = FIXTURES / relative
    module, _ = connectors.detect(path)
    result = module.read(path, ReadOptions(tz=TZ, owner="R0007"))
    kept = sum(frame.height for frame in result.tables.values())
    assert result.rows_read == kept + result.rows_rejected
    assert {r.code for r in result.rejections} <= set(REJECTION_CODES)
    assert [r.line for r in result.rejections] == sorted(r.line for r in result.rejections)
    assert result.detected.get("format")


# ---------------------------------------------------------------- platform orders

def test_platform_a_csv_maps_outcomes_times_and_penalties():
    result = read(platform_orders, "platform_orders/platform_a/orders.csv")
    orders = by(result.tables["orders"], "order_id")
    assert result.rows_read == 6 and result.rejections == []
    assert {k: v["outcome"] for k, v in orders.items()} == {
        "A-0001": "auto_assigned", "A-0002": "accepted", "A-0003": "rejected", "A-0004": "timed_out",
        "A-0005": "reassigned", "A-0006": "cancelled"}
    first = orders["A-0001"]
    assert first["dispatched_at"] == utc(2026, 4, 27, 2, 0) and first["delivered_at"] == utc(2026, 4, 27, 2, 30)
    assert first["platform"] == "A" and first["src_row"] == 2 and first["distance_m"] == 2000.0
    assert orders["A-0006"]["dispatched_at"] == utc(2026, 4, 27, 16, 30)  # 00:30 local is the previous UTC day
    assert orders["A-0002"]["penalty"] == 7.0 and orders["A-0002"]["penalty_reason"] == "超时送达; 差评"
    assert orders["A-0004"]["responded_at"] is None
    assert result.detected["preset"] == "platform_a_zh" and result.detected["encoding"] == "utf-8-sig"


def test_platform_b_json_sums_deductions_and_reads_offsets():
    result = read(platform_orders, "platform_orders/platform_b/orders.json")
    orders = by(result.tables["orders"], "order_id")
    assert [o["src_row"] for o in orders.values()] == [1, 2, 3]
    b1, b2, b3 = orders["B-0001"], orders["B-0002"], orders["B-0003"]
    assert (b1["outcome"], b2["outcome"], b3["outcome"]) == ("auto_assigned", "accepted", "timed_out")
    assert b1["penalty"] == 7.5 and b1["penalty_reason"] == "late_delivery; bad_rating"
    assert b2["penalty"] == 0.0 and b2["penalty_reason"] is None
    assert b3["penalty"] == 3.0
    assert b1["dispatched_at"] == utc(2026, 4, 27, 2, 0) and b3["dispatched_at"] == utc(2026, 4, 27, 2, 0)
    assert b1["worker_id"] == "R0004" and b1["zone_id"] == "Z-B1" and b1["platform"] == "B"
    assert b1["pickup_lon"] == 121.5 and b1["pay"] == 6.5


def test_platform_a_broken_rows_are_rejected_with_their_lines():
    result = read(platform_orders, "platform_orders/broken/orders.csv")
    assert lines_and_codes(result) == [(3, "row-unparseable-timestamp"), (4, "row-wrong-field-count"),
                                       (5, "row-unknown-value"), (6, "row-unparseable-number"),
                                       (8, "row-wrong-field-count")]
    assert result.tables["orders"]["src_row"].to_list() == [2, 7]
    assert (result.rows_read, result.rows_kept) == (7, 2)


def test_platform_b_truncated_json_keeps_the_whole_records():
    result = read(platform_orders, "platform_orders/broken/orders.json")
    assert result.tables["orders"]["order_id"].to_list() == ["B-0001", "B-0004"]
    assert lines_and_codes(result) == [(2, "row-unparseable-timestamp"), (3, "row-malformed"), (5, "row-malformed")]
    assert "deductions" in result.rejections[0].reason  # a non-numeric deduction is named too
    assert (result.rows_read, result.rows_kept) == (5, 2)
    assert result.row_unit == "record"


def test_platform_orders_missing_required_column_names_found_and_missing(tmp_path):
    header = "订单编号,站点编号,区域编号,派单时间,响应时间,派单方式,接单结果,取餐时间,送达时间,预计送达时间,配送费(元)"
    path = tmp_path / "orders.csv"
    path.write_text(header + "\nA-1,ST,Z,2026-04-27 10:00:00,,抢单,接单,,,,5\n", encoding="utf-8")
    assert connectors.detect(path)[0] is platform_orders
    with pytest.raises(SourceError) as err:
        platform_orders.read(path, ReadOptions())
    assert err.value.code == "file-missing-columns"
    assert "骑手编号" in str(err.value) and "订单编号" in str(err.value) and "orders.csv" in str(err.value)


def test_platform_b_export_without_orders_is_empty_not_an_error(tmp_path):
    path = tmp_path / "orders.json"
    path.write_text('{"export": {"platform": "B"}, "orders": []}', encoding="utf-8")
    result = platform_orders.read(path, ReadOptions())
    assert result.rows_read == 0 and result.tables["orders"].height == 0


def test_presets_are_data_with_known_columns_and_outcomes():
    presets = {p.id: p for p in platform_orders.presets()}
    assert set(presets) >= {"platform_a_zh", "platform_b_en"}
    for preset in presets.values():
        assert set(preset.results.values()) <= set(schema.ORDER_OUTCOMES)
        assert preset.auto_modes or preset.offer_modes  # a ride-hail export has only offers


# ---------------------------------------------------------------- activity

def test_activity_epoch_milliseconds_and_platform_from_folder():
    result = read(activity_csv, "activity/platform_a/activity.csv")
    frame = result.tables["activity"]
    assert result.detected["time basis"] == "epoch milliseconds (UTC)"
    assert frame["platform"].unique().to_list() == ["A"]
    assert frame["ts"][0] == utc(2026, 4, 27, 2, 0) and frame["kind"][0] == "login"
    check_in = frame.filter(pl.col("kind") == "check_in").row(0, named=True)
    assert (check_in["lon"], check_in["lat"], check_in["detail"]) == (121.40, 31.20, "face_verify")
    assert frame.filter(pl.col("kind") == "sanction")["detail"][0] == "suspended_24h: low acceptance"


def test_activity_iso_with_z_and_offsets():
    result = read(activity_csv, "activity/platform_b/activity.csv")
    frame = result.tables["activity"]
    assert result.detected["time basis"] == "ISO 8601 with offset"
    assert frame["platform"].unique().to_list() == ["B"]
    assert frame["ts"].to_list() == [utc(2026, 4, 27, 2, 0), utc(2026, 4, 27, 2, 1), utc(2026, 4, 27, 2, 5),
                                     utc(2026, 4, 27, 10, 0)]


def test_activity_broken_rows():
    result = read(activity_csv, "activity/broken/activity.csv")
    assert lines_and_codes(result) == [(3, "row-unparseable-timestamp"), (4, "row-unknown-value"),
                                       (5, "row-missing-field"), (6, "row-wrong-field-count"),
                                       (7, "row-unparseable-number"), (9, "row-wrong-field-count")]
    assert result.tables["activity"]["src_row"].to_list() == [2, 8]
    assert result.tables["activity"]["platform"].to_list() == [None, None]  # folder "broken" names no platform


# ---------------------------------------------------------------- roster

def test_roster_shifts_cross_midnight_and_default_kind():
    frame = read(roster_csv, "roster/roster.csv").tables["schedules"]
    rows = frame.select("worker_id", "start", "end", "kind").rows()
    assert rows == [("R0001", utc(2026, 4, 27, 1), utc(2026, 4, 27, 10), "roster"),
                    ("R0001", utc(2026, 4, 28, 14), utc(2026, 4, 28, 22), "roster"),   # 22:00–06:00
                    ("R0002", utc(2026, 4, 27, 8), utc(2026, 4, 27, 16), "roster"),    # 16:00–24:00
                    ("R0002", utc(2026, 4, 28, 0), utc(2026, 4, 28, 4), "roster")]     # empty 类型


def test_roster_broken_rows():
    result = read(roster_csv, "roster/broken/roster.csv")
    assert lines_and_codes(result) == [(3, "row-unparseable-timestamp"), (4, "row-unparseable-timestamp"),
                                       (5, "row-unknown-value"), (6, "row-missing-field"),
                                       (7, "row-wrong-field-count"), (9, "row-wrong-field-count")]
    assert result.tables["schedules"]["src_row"].to_list() == [2, 8]


# ---------------------------------------------------------------- gpx

def test_gpx_points_become_gps_rows_of_the_owner():
    result = read(gpx, "gpx/R0003.gpx", owner="R9")
    frame = result.tables["activity"]
    assert frame.select("worker_id", "kind", "ts", "lon", "lat", "src_row").rows() == [
        ("R9", "gps", utc(2026, 4, 27, 2, 0), 121.40, 31.20, 1),
        ("R9", "gps", utc(2026, 4, 27, 2, 1), 121.41, 31.21, 2),
        ("R9", "gps", utc(2026, 4, 27, 2, 2), 121.42, 31.22, 3)]
    assert frame["platform"].null_count() == 3
    assert "case.toml" in result.detected["owner"]


def test_gpx_without_owner_takes_the_track_name_or_asks_for_one():
    assert read(gpx, "gpx/R0003.gpx").tables["activity"]["worker_id"].unique().to_list() == ["R0003"]
    with pytest.raises(SourceError) as err:
        gpx.read(FIXTURES / "gpx/broken/track.gpx", ReadOptions())
    assert "case.toml [owners]" in str(err.value) and "track.gpx" in str(err.value)


def test_gpx_bad_points_are_rejected_by_index_and_a_truncated_tail_is_reported():
    result = read(gpx, "gpx/broken/track.gpx", owner="R0003")
    assert lines_and_codes(result) == [(2, "row-unparseable-timestamp"), (3, "row-unparseable-number"),
                                       (4, "row-unparseable-number"), (5, "row-missing-field"), (7, "row-malformed")]
    assert result.tables["activity"]["src_row"].to_list() == [1, 6]
    assert (result.rows_read, result.rows_kept) == (7, 2)
    assert result.row_unit == "point"  # the numbers count track points, not the file's lines


# ---------------------------------------------------------------- wechat

def test_wechat_messages_ids_senders_kinds_and_times():
    result = read(wechat_csv, "wechat/wechat_R0007.csv")
    messages = by(result.tables["messages"], "message_id")
    assert {m["worker_id"] for m in messages.values()} == {"wxid_r0007"}
    assert messages["1"]["ts"] == utc(2026, 4, 27, 12, 0) and messages["1"]["conversation_id"] == "20001@chatroom"
    assert messages["2"]["sender_role"] == "self" and messages["2"]["sender_id"] == "wxid_r0007"
    assert messages["4"]["text"] == "明天早班\n七点到站" and messages["4"]["src_row"] == 5
    assert messages["4"]["sender_id"] == "wxid_boss" and messages["4"]["sender_name"] == "王站长"
    assert messages["5"]["src_row"] == 7
    assert messages["6"]["sender_role"] == "system" and messages["6"]["text"] == '"王站长"邀请"李伟"加入了群聊'
    assert {k: m["attachment_kind"] for k, m in messages.items()} == {
        "1": None, "2": None, "3": "image", "4": None, "5": "voice", "6": None, "7": "link", "8": "file"}
    # CreateTime "bad" but StrTime 21:03 local: kept, and the manifest says so
    assert messages["7"]["ts"] == utc(2026, 4, 27, 13, 3)
    assert "1 row(s) from StrTime" in result.detected["time basis"]


def test_wechat_broken_rows_and_an_unclosed_quote():
    result = read(wechat_csv, "wechat/broken/wechat_R0007.csv")
    assert lines_and_codes(result) == [(3, "row-unparseable-timestamp"), (4, "row-wrong-field-count"),
                                       (5, "row-unknown-value"), (8, "row-wrong-field-count")]
    assert "quote" in result.rejections[-1].reason
    kept = result.tables["messages"]
    assert kept["message_id"].to_list() == ["1", "5"] and kept["text"][1] == "好的\n马上到"
    assert (result.rows_read, result.rows_kept) == (6, 2)


# ---------------------------------------------------------------- many exports read together

def alone_or_error(module, path: Path, options: ReadOptions):
    try:
        return module.read(path, options)
    except SourceError as err:
        return err


def assert_same_results(together, alone) -> None:
    for mine, theirs in zip(together, alone, strict=True):
        if isinstance(theirs, SourceError):
            assert isinstance(mine, SourceError) and (str(mine), mine.code) == (str(theirs), theirs.code)
            continue
        assert (mine.rows_read, mine.rejections) == (theirs.rows_read, theirs.rejections)
        assert mine.detected == theirs.detected
        assert mine.tables.keys() == theirs.tables.keys()
        for name, frame in theirs.tables.items():
            assert mine.tables[name].equals(frame), name


@pytest.mark.parametrize("module, names, owners", [
    (wechat_csv, ["wechat/wechat_R0007.csv", "wechat/broken/wechat_R0007.csv"], [None, "R0007"]),
    (gpx, ["gpx/R0003.gpx", "gpx/broken/track.gpx"], [None, "R0003"]),
], ids=["wechat", "gpx"])
def test_exports_read_together_give_what_each_gives_alone(tmp_path, module, names, owners):
    """read_many (the registry's way with a city's thousands of exports) parses the files' rows in one
    pass: each file still gets its own rows, rejections, notes and errors, as read alone."""
    paths = []
    for n, name in enumerate(names):
        for copy, data in enumerate([(FIXTURES / name).read_bytes()] * 2):
            paths.append(tmp_path / f"{n}_{copy}{Path(name).suffix}")
            paths[-1].write_bytes(data)
    (tmp_path / f"empty{paths[0].suffix}").write_bytes(b"")
    gbk = tmp_path / f"gbk{paths[0].suffix}"
    gbk.write_bytes((FIXTURES / names[0]).read_text(encoding="utf-8").encode("gb18030"))
    paths += [tmp_path / f"empty{paths[0].suffix}", gbk, paths[2]]  # the broken one, again, last
    options = [ReadOptions(tz=TZ, owner=owners[0] if n % 2 else owners[1]) for n in range(len(paths))]
    options[-2] = ReadOptions(tz=TZ)  # no owner: found in the file (wechat) or the track name (gpx)
    alone = [alone_or_error(module, path, opts) for path, opts in zip(paths, options)]
    assert_same_results(module.read_many(paths, options), alone)


# ---------------------------------------------------------------- whatsapp

VARIANTS = sorted((FIXTURES / "whatsapp/variants").glob("*.txt"))


def test_there_are_at_least_six_whatsapp_locale_variants():
    assert len(VARIANTS) >= 6


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.stem)
def test_whatsapp_locale_variants_give_the_golden_messages(path):
    golden = json.loads((FIXTURES / "whatsapp/variants/expected.json").read_text(encoding="utf-8"))
    result = whatsapp_txt.read(path, ReadOptions(tz=TZ, owner="R0007"))
    frame = result.tables["messages"]
    got = [{"src_row": m["src_row"], "ts": m["ts"].isoformat(), "sender_name": m["sender_name"],
            "sender_role": m["sender_role"], "text": m["text"], "attachment": m["attachment_kind"] is not None}
           for m in frame.iter_rows(named=True)]
    assert got == golden
    assert frame["message_id"].to_list() == [str(g["src_row"]) for g in golden]
    assert set(frame["conversation_id"]) == {path.stem} and set(frame["worker_id"]) == {"R0007"}
    assert frame["sender_id"].to_list() == frame["sender_name"].to_list()
    assert result.rows_read == len(golden) and result.rejections == []


def test_whatsapp_detects_layout_clock_and_date_order():
    def detected(name: str) -> dict:
        return whatsapp_txt.read(FIXTURES / "whatsapp/variants" / name, ReadOptions(owner="R0007")).detected

    us = detected("android_en_us_12h.txt")
    assert us["date order"].startswith("month-first") and us["clock"].startswith("12 h") and "Android" in us["format"]
    gb = detected("ios_en_gb.txt")
    assert gb["date order"].startswith("day-first") and gb["clock"] == "24 h" and "iOS" in gb["format"]


def test_whatsapp_media_kinds():
    android = whatsapp_txt.read(FIXTURES / "whatsapp/variants/android_en_gb.txt", ReadOptions(owner="R0007"))
    ios = whatsapp_txt.read(FIXTURES / "whatsapp/variants/ios_en_gb.txt", ReadOptions(owner="R0007"))
    assert android.tables["messages"]["attachment_kind"].drop_nulls().to_list() == ["other"]
    assert ios.tables["messages"]["attachment_kind"].drop_nulls().to_list() == ["image"]


def test_whatsapp_ambiguous_dates_default_to_day_first_and_say_so():
    result = whatsapp_txt.read(FIXTURES / "whatsapp/ambiguous.txt", ReadOptions(tz=TZ, owner="R0007"))
    assert result.tables["messages"]["ts"].to_list() == [utc(2026, 2, 1, 1), utc(2026, 3, 2, 2)]
    assert "assumed" in result.detected["date order"]


def test_whatsapp_broken_lines():
    result = whatsapp_txt.read(FIXTURES / "whatsapp/broken/whatsapp_R0007.txt", ReadOptions(tz=TZ, owner="R0007"))
    assert lines_and_codes(result) == [(1, "row-malformed"), (3, "row-unparseable-timestamp"),
                                       (4, "row-unparseable-timestamp")]
    assert result.tables["messages"]["text"].to_list() == ["first", "last, cut o"]
    assert (result.rows_read, result.rows_kept) == (5, 2)


def test_whatsapp_needs_an_owner():
    with pytest.raises(SourceError) as err:
        whatsapp_txt.read(FIXTURES / "whatsapp/ambiguous.txt", ReadOptions())
    assert "case.toml [owners]" in str(err.value) and err.value.code == "file-owner-unknown"


# ---------------------------------------------------------------- geojson

def test_geojson_polygons_become_wkb_zones():
    frame = read(geojson_zones, "geojson/zones.geojson").tables["zones"]
    assert frame.select("zone_id", "name", "station_id", "platform", "src_row").rows() == [
        ("Z-A1", "Station A1 area", "ST-A1", "A", 1), ("Z-B1", "Station B1 area", "ST-B1", "B", 2)]
    shapes = shapely.from_wkb(frame["geometry"].to_numpy())
    assert shapely.get_type_id(shapes).tolist() == [3, 6]  # Polygon, MultiPolygon
    assert round(shapes[0].area, 6) == 0.01 and shapes[0].contains(shapely.Point(121.05, 31.05))


def test_geojson_features_without_a_valid_polygon_are_rejected_by_index():
    result = read(geojson_zones, "geojson/broken/zones.geojson")
    assert lines_and_codes(result) == [(2, "row-malformed"), (3, "row-malformed"), (4, "row-malformed"),
                                       (5, "row-malformed"), (6, "row-missing-field")]
    assert result.tables["zones"]["zone_id"].to_list() == ["Z-A1"]
    assert result.row_unit == "feature"


# ---------------------------------------------------------------- shared helpers

def test_a_value_parsed_in_place_that_does_not_parse_is_an_unknown_value_not_an_empty_field(tmp_path):
    # check_rows used to overwrite the raw column before checking it ("role" -> "role"), so a bad
    # role was reported as a missing one
    from connectors import participants_csv
    path = tmp_path / "participants.csv"
    path.write_text("participant_id,display_name,role,worker_id\nwxid_a,A,boss,\nwxid_b,B,,\n", encoding="utf-8")
    result = participants_csv.read(path, ReadOptions())
    assert lines_and_codes(result) == [(2, "row-unknown-value"), (3, "row-missing-field")]
    assert "boss" in result.rejections[0].reason


# ---------------------------------------------------------------- a whole case folder

LAYOUT = {
    "participants.csv": "participants/participants.csv",
    "platform_a/orders.csv": "platform_orders/platform_a/orders.csv",
    "platform_a/activity.csv": "activity/platform_a/activity.csv",
    "platform_b/orders.json": "platform_orders/platform_b/orders.json",
    "platform_b/activity.csv": "activity/platform_b/activity.csv",
    "schedules/roster.csv": "roster/roster.csv",
    "gps/R0003.gpx": "gpx/R0003.gpx",
    "chats/wechat_R0007.csv": "wechat/wechat_R0007.csv",
    "chats/whatsapp_R0007.txt": "whatsapp/variants/android_en_gb.txt",
    "zones/zones.geojson": "geojson/zones.geojson",
}
CASE_TOML = """timezone = "Asia/Shanghai"
exclude = ["ground_truth/**"]

[owners]
"chats/whatsapp_R0007.txt" = "R0007"
"gps/R0003.gpx" = "R0003"
"""


@pytest.fixture
def case_folder(tmp_path: Path) -> Path:
    for target, source in LAYOUT.items():
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / source, tmp_path / target)
    (tmp_path / "case.toml").write_text(CASE_TOML, encoding="utf-8")
    return tmp_path


def test_load_reads_every_format_and_resolves_roles(case_folder):
    case = connectors.load(case_folder)
    assert [s.path for s in case.sources if s.error] == []
    assert {s.path: s.connector for s in case.sources} == {
        "chats/wechat_R0007.csv": "wechat-csv", "chats/whatsapp_R0007.txt": "whatsapp-txt", "gps/R0003.gpx": "gpx",
        "participants.csv": "participants-csv", "platform_a/activity.csv": "activity-csv",
        "platform_a/orders.csv": "platform-orders", "platform_b/activity.csv": "activity-csv",
        "platform_b/orders.json": "platform-orders", "schedules/roster.csv": "roster-csv",
        "zones/zones.geojson": "geojson-zones"}
    counts = {name: frame.collect().height for name, frame in case.tables.items()}
    assert counts["orders"] == 9 and counts["activity"] == 7 + 4 + 3 and counts["schedules"] == 4
    assert counts["zones"] == 2 and counts["messages"] == 8 + 6
    messages = case.table("messages").collect().sort("src", "src_row")  # resolving roles joins: order is not kept
    wechat = by(messages.filter(pl.col("conversation_id") != "whatsapp_R0007"), "message_id")
    assert set(messages["worker_id"]) == {"R0007"}  # wxid_r0007 mapped through participants.csv
    assert {k: m["sender_role"] for k, m in wechat.items()} == {
        "1": "supervisor", "2": "self", "3": "colleague", "4": "supervisor", "5": "self", "6": "system", "7": "self",
        "8": "supervisor"}
    whatsapp = messages.filter(pl.col("conversation_id") == "whatsapp_R0007")
    assert whatsapp["sender_role"].to_list() == ["system", "system", "supervisor", "self", "self", "supervisor"]
    gps = case.table("activity").filter(pl.col("kind") == "gps").collect()
    assert set(gps.filter(pl.col("platform").is_null())["worker_id"]) == {"R0003"}
    source = next(s for s in case.sources if s.path == "chats/whatsapp_R0007.txt")
    assert source.detected["date order"].startswith("day-first") and source.rows_read == 6


def test_bad_files_are_named_in_the_manifest_and_the_others_still_load(case_folder):
    (case_folder / "platform_c").mkdir()
    (case_folder / "platform_c/orders.csv").write_bytes(b"")
    gbk = (FIXTURES / "platform_orders/platform_a/orders.csv").read_text(encoding="utf-8-sig")
    (case_folder / "platform_c/orders_gbk.csv").write_bytes(gbk.replace("A-00", "C-00").encode("gbk"))
    (case_folder / "platform_c/activity.csv").write_bytes(
        b"rider_id,event_time,event,lon,lat,detail\nR0001,1777255200000,login,,,\nR0001,1777255260000,caf\xff,,,\n")
    (case_folder / "notes.txt").write_text("Call the station manager on Monday.\nBring the contract.\n", encoding="utf-8")
    (case_folder / "photo.jpg").write_bytes(bytes(range(256)) * 4)
    case = connectors.load(case_folder)
    errors = {s.path: (s.error_code, s.error) for s in case.sources if s.error}
    assert set(errors) == {"platform_c/orders.csv", "platform_c/activity.csv", "notes.txt", "photo.jpg"}
    assert errors["platform_c/orders.csv"][0] == "file-empty" and "orders.csv" in errors["platform_c/orders.csv"][1]
    assert errors["platform_c/activity.csv"][0] == "file-encoding"
    assert "activity.csv, line 3" in errors["platform_c/activity.csv"][1]
    assert errors["notes.txt"][0] == "file-unrecognised" and "notes.txt" in errors["notes.txt"][1]
    assert errors["photo.jpg"][0] == "file-unrecognised"
    # GBK is read (decoded as GB18030, a superset), and the manifest records it
    gbk_source = next(s for s in case.sources if s.path == "platform_c/orders_gbk.csv")
    assert gbk_source.detected["encoding"] == "gb18030" and gbk_source.rows_kept == 6
    orders = case.table("orders").collect()
    assert orders.filter(pl.col("order_id") == "C-0002")["penalty_reason"].item() == "超时送达; 差评"
    assert orders.height == 9 + 6  # the good files of the folder are all there
    assert case.table("messages").collect().height == 14


def test_an_owner_missing_from_case_toml_is_a_manifest_error_naming_the_file(case_folder):
    (case_folder / "case.toml").write_text('timezone = "Asia/Shanghai"\n', encoding="utf-8")
    case = connectors.load(case_folder)
    errors = {s.path: s for s in case.sources if s.error}
    assert set(errors) == {"chats/whatsapp_R0007.txt"}
    assert errors["chats/whatsapp_R0007.txt"].error_code == "file-owner-unknown"
    assert "whatsapp_R0007.txt" in errors["chats/whatsapp_R0007.txt"].error
