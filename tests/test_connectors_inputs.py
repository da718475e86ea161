"""Slack exports, zip archives, overlapping exports, the Uber-style driver data download, position
CSVs, and what load does with whole files: all rows rejected, implausible times, runaway lines.
Exact values, time zone included; every bad input named by file and line."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import connectors
from auditor import schema
from connectors import (
    base,
    geojson_points,
    location_csv,
    slack_json,
    uber_dispatches,
    uber_online,
    uber_trips,
    wkt_zones,
)
from connectors.base import MAX_LINE_CHARS, ReadOptions, SourceError

FIXTURES = Path(__file__).parent / "fixtures"
TZ = "Asia/Shanghai"
SLACK = FIXTURES / "slack/export"
DAY = SLACK / "station-3/2026-04-27.json"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def read(module, relative: str | Path, owner: str | None = "R0007"):
    path = relative if isinstance(relative, Path) else FIXTURES / relative
    result = module.read(path, ReadOptions(tz=TZ, owner=owner))
    for table, frame in result.tables.items():
        schema.validate(table, frame.with_columns(src=pl.lit("S001")))
    assert result.rows_read == sum(f.height for f in result.tables.values()) + result.rows_rejected
    return result


def codes(result) -> list[tuple[int, str]]:
    return [(r.line, r.code) for r in result.rejections]


def by_path(case) -> dict:
    return {s.path: s for s in case.sources}


# ---------------------------------------------------------------- Slack

def test_slack_day_files_and_lists_are_recognised():
    assert connectors.detect(DAY)[0] is slack_json
    assert connectors.detect(SLACK / "users.json")[0] is slack_json
    assert connectors.detect(SLACK / "channels.json")[0] is slack_json


def test_slack_day_file_times_senders_system_and_mentions():
    result = read(slack_json, DAY)
    assert result.tables["messages"].select("message_id", "conversation_id", "sender_id", "sender_name", "sender_role",
                                            "ts", "text", "attachment_kind").rows() == [
        ("station-3:1777291200.000100", "station-3", None, None, "system", utc(2026, 4, 27, 12, 0, 0, 100),
         "@Li Wei has joined the channel", None),
        ("station-3:1777291260.000200", "station-3", "U0BOSS", "王站长", None, utc(2026, 4, 27, 12, 1, 0, 200),
         "@Li Wei report by 22:00 tonight", None),
        ("station-3:1777291320.500000", "station-3", "U0R007", "Li Wei", None, utc(2026, 4, 27, 12, 2, 0, 500000),
         "", "image"),
        ("station-3:1777294800.000300", "station-3", "B0DISPATCH", "dispatch-bot", None,
         utc(2026, 4, 27, 13, 0, 0, 300), "Shift starts at 07:00", None)]
    assert result.detected["users"] == "2 from users.json"
    assert read(slack_json, SLACK / "users.json").rows_read == 0


def test_slack_broken_messages_and_no_owner():
    result = read(slack_json, "slack/broken/station-3/2026-04-27.json")
    assert codes(result) == [(2, "row-malformed"), (3, "row-missing-field"), (4, "row-unparseable-timestamp")]
    assert result.tables["messages"]["text"].to_list() == ["first", "last"]
    with pytest.raises(SourceError) as err:
        slack_json.read(DAY, ReadOptions())
    assert err.value.code == "file-owner-unknown" and "2026-04-27.json" in str(err.value)


def test_slack_export_zip_is_read_as_a_whole_with_the_owner_set_on_the_zip(tmp_path):
    archive = tmp_path / "case" / "slack_export.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(SLACK.rglob("*.json")):
            zf.write(path, path.relative_to(SLACK).as_posix())
        zf.writestr("__MACOSX/._users.json", b"\x00\x05")
    (tmp_path / "case" / "case.toml").write_text('[owners]\n"slack_export.zip" = "R0007"\n', encoding="utf-8")
    case = connectors.load(tmp_path / "case")
    sources = by_path(case)
    zip_source = sources["slack_export.zip"]
    assert zip_source.connector == "zip" and zip_source.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert "1 archive-tool file" in zip_source.detected["members"]
    member = sources["slack_export.zip!station-3/2026-04-27.json"]
    assert member.connector == "slack-json" and member.rows_kept == 4 and member.name == "2026-04-27.json"
    assert member.sha256 == hashlib.sha256(DAY.read_bytes()).hexdigest()
    assert member.detected["archive"] == f"slack_export.zip (sha256 {zip_source.sha256})"
    assert sources["slack_export.zip!users.json"].rows_read == 0
    messages = case.tables["messages"].collect()
    assert messages.height == 5 and set(messages["worker_id"]) == {"R0007"}
    assert messages.filter(pl.col("sender_id") == "U0BOSS")["sender_name"].to_list() == ["王站长"]  # users.json in the zip


# ---------------------------------------------------------------- zip archives

def test_zip_path_traversal_is_refused_by_name_and_nothing_is_written_outside(tmp_path):
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    with zipfile.ZipFile(case_dir / "bundle.zip", "w") as zf:
        zf.write(FIXTURES / "uber/Driver Online Offline.csv", "uber/Driver Online Offline.csv")
        zf.writestr("../escaped.csv", "time,lat,lon\n2026-04-27 08:00:00,31.2,121.4\n")
        zf.writestr("/etc/absolute.csv", "x\n")
    (case_dir / "case.toml").write_text('[owners]\n"bundle.zip" = "R0007"\n', encoding="utf-8")
    case = connectors.load(case_dir)
    sources = by_path(case)
    escaped = sources["bundle.zip!../escaped.csv"]
    assert escaped.error_code == "file-unsafe-path"
    assert "bundle.zip" in escaped.error and "'../escaped.csv'" in escaped.error
    assert sources["bundle.zip!/etc/absolute.csv"].error_code == "file-unsafe-path"
    assert sources["bundle.zip!uber/Driver Online Offline.csv"].rows_kept == 4
    assert not (tmp_path / "escaped.csv").exists() and not any(tmp_path.rglob("escaped.csv"))


def test_a_file_named_zip_that_is_not_one_is_a_clear_error(tmp_path):
    (tmp_path / "export.zip").write_bytes(b"PK\x03\x04 cut off")
    (tmp_path / "gps.csv").write_text("time,lat,lon\n2026-04-27 08:00:00,31.2,121.4\n", encoding="utf-8")
    (tmp_path / "case.toml").write_text('[owners]\n"gps.csv" = "R0007"\n', encoding="utf-8")
    case = connectors.load(tmp_path)
    sources = by_path(case)
    assert sources["export.zip"].error_code == "file-unreadable" and "export.zip" in sources["export.zip"].error
    assert sources["gps.csv"].rows_kept == 1


# ---------------------------------------------------------------- overlapping exports

def test_the_same_chat_from_two_phones_of_one_worker_counts_once_and_another_worker_keeps_theirs(tmp_path):
    for name in ("phone1/站点群.txt", "phone2/站点群.txt", "colleague/站点群.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(FIXTURES / "wechat_txt/站点群.txt", tmp_path / name)
    (tmp_path / "case.toml").write_text('[owners]\n"phone1" = "R0007"\n"phone2" = "R0007"\n"colleague" = "R0008"\n',
                                        encoding="utf-8")
    case = connectors.load(tmp_path)
    sources = by_path(case)
    second = sources["phone2/站点群.txt"]
    assert (second.rows_read, second.rows_kept, second.rows_rejected) == (5, 0, 5) and second.error is None
    assert {r.code for r in second.rejected} == {"row-duplicate"}
    assert second.rejected[0].reason.startswith("also in phone1/站点群.txt line 1")
    assert second.detected["duplicates removed"] == "5"
    assert sources["colleague/站点群.txt"].rows_kept == 5  # one message seen by two workers
    assert case.settings["duplicates_removed"] == {"messages": 5, "activity": 0}
    messages = case.tables["messages"].collect()
    assert messages.group_by("worker_id").len().sort("worker_id").rows() == [("R0007", 5), ("R0008", 5)]


def test_the_same_fix_in_a_phone_track_and_the_app_log_keeps_the_copy_naming_the_platform(tmp_path):
    (tmp_path / "platform_a").mkdir()
    shutil.copy(FIXTURES / "activity/platform_a/activity.csv", tmp_path / "platform_a/activity.csv")
    # 1777255800000 ms is the app log's gps fix of R0001; the phone has it and one of its own
    (tmp_path / "a_phone.csv").write_text("timestamp,lat,lng\n1777255800000,31.21,121.41\n1777255830000,31.22,121.42\n",
                                          encoding="utf-8")
    (tmp_path / "case.toml").write_text('[owners]\n"a_phone.csv" = "R0001"\n', encoding="utf-8")
    case = connectors.load(tmp_path)
    phone = by_path(case)["a_phone.csv"]
    assert (phone.rows_kept, [(r.line, r.code) for r in phone.rejected]) == (1, [(2, "row-duplicate")])
    gps = case.tables["activity"].collect().filter((pl.col("worker_id") == "R0001") & (pl.col("kind") == "gps"))
    fix = gps.filter(pl.col("ts") == utc(2026, 4, 27, 2, 10))
    assert fix.select("platform", "lon", "lat").rows() == [("A", 121.41, 31.21)]


# ---------------------------------------------------------------- Uber-style driver data download

def test_uber_trips_semicolons_nulls_utc_columns_and_header_report():
    result = read(uber_trips, "uber/driver_lifetime_trips-0.csv")
    assert result.detected["delimiter"] == "';'"
    assert result.detected["columns"] == "unknown, not read: ['surge_multiplier']; expected but absent: ['trip_distance_km']"
    assert result.tables["orders"].select("order_id", "worker_id", "platform", "outcome", "dispatched_at", "picked_up_at",
                                          "delivered_at", "pickup_lat", "dropoff_lon", "distance_m", "pay").rows() == [
        ("t-1", "R0007", "Uber", "accepted", utc(2026, 4, 27), utc(2026, 4, 27, 0, 6), utc(2026, 4, 27, 0, 30),
         31.2, 121.45, pytest.approx(8046.72), 32.5),
        ("t-2", "R0007", "Uber", "cancelled", utc(2026, 4, 27, 1), None, None, None, None, None, 0.0)]


def test_uber_trips_older_layout_local_times_and_kilometres():
    result = read(uber_trips, "uber/2019/Driver Lifetime Trips.csv")
    assert "'trip_uuid'" in result.detected["columns"] and "request_local" in result.detected["time basis"]
    assert result.tables["orders"].select("order_id", "outcome", "dispatched_at", "delivered_at", "distance_m",
                                          "zone_id").rows() == [
        ("trip-2", "accepted", utc(2019, 6, 1, 0), utc(2019, 6, 1, 0, 20), 3500.0, "Shanghai"),
        ("trip-3", "cancelled", utc(2019, 6, 1, 1), None, None, "Shanghai")]


def test_uber_trips_bad_rows_missing_columns_and_owner():
    result = read(uber_trips, "uber/broken/driver_lifetime_trips-0.csv")
    assert codes(result) == [(3, "row-unknown-value"), (4, "row-unparseable-timestamp"), (5, "row-unparseable-number")]
    path = FIXTURES / "uber/driver_lifetime_trips-0.csv"
    assert uber_trips.read(path, ReadOptions()).tables["orders"]["worker_id"].to_list() == ["d-7", "d-7"]
    with pytest.raises(SourceError) as err:
        uber_trips.read(FIXTURES / "uber/2019/Driver Lifetime Trips.csv", ReadOptions())
    assert err.value.code == "file-owner-unknown"


def test_uber_trips_without_a_request_time_names_found_and_missing(tmp_path):
    path = tmp_path / "driver_lifetime_trips-0.csv"
    path.write_text("trip_uuid,status,begintrip_timestamp_utc\nt-1,completed,2026-04-27 00:00:00\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        uber_trips.read(path, ReadOptions(owner="R0007"))
    assert err.value.code == "file-missing-columns" and err.value.line == 1
    assert "'request_timestamp_utc' or 'request_timestamp_local'" in str(err.value) and "begintrip" in str(err.value)


def test_uber_online_states_become_online_and_offline_events():
    result = read(uber_online, "uber/Driver Online Offline.csv")
    assert result.tables["activity"].select("ts", "kind", "lat", "detail").rows() == [
        (utc(2026, 4, 27, 0, 0), "online", 31.2, "earner_state=open; until 2026-04-27T00:10:00Z"),
        (utc(2026, 4, 27, 0, 10), "online", 31.21, "earner_state=enroute; until 2026-04-27T00:15:00Z"),
        (utc(2026, 4, 27, 0, 15), "online", 31.22, "earner_state=ontrip; until 2026-04-27T00:40:00Z"),
        (utc(2026, 4, 27, 0, 40), "offline", None, "earner_state=offline; until 2026-04-27T04:00:00Z")]
    broken = read(uber_online, "uber/broken/Driver Online Offline.csv")
    assert codes(broken) == [(3, "row-unknown-value"), (4, "row-unparseable-timestamp")]
    assert broken.tables["activity"]["ts"].to_list() == [utc(2026, 4, 27, 0, 0)]  # local 08:00 in Shanghai


def test_uber_online_spans_give_one_online_period_to_the_analyzers():
    from auditor.analyzers.intervals import online_intervals

    frame = read(uber_online, "uber/Driver Online Offline.csv").tables["activity"].with_columns(src=pl.lit("S001"))
    periods = sorted(online_intervals(frame.lazy()).collect().select("start", "end").rows())
    assert periods == [(utc(2026, 4, 27, 0, 0), utc(2026, 4, 27, 0, 10)), (utc(2026, 4, 27, 0, 10), utc(2026, 4, 27, 0, 15)),
                       (utc(2026, 4, 27, 0, 15), utc(2026, 4, 27, 0, 40))]  # open 08:00 → offline 08:40 local, unbroken


def test_uber_dispatch_windows_become_offers():
    result = read(uber_dispatches, "uber/Driver Dispatches Offered and Accepted.csv")
    assert result.tables["offers"].select("window_start", "window_end", "offered", "accepted", "rejected", "expired",
                                          "minutes_online").rows() == [
        (utc(2026, 4, 26, 16), utc(2026, 4, 27, 16), 12, 9, 2, 1, 540.5),
        (utc(2026, 4, 27, 16), utc(2026, 4, 28, 16), 10, 10, 0, 0, 480.0)]
    broken = read(uber_dispatches, "uber/broken/Driver Dispatches Offered and Accepted.csv")
    assert codes(broken) == [(3, "row-unparseable-number"), (4, "row-missing-field"), (5, "row-unparseable-number")]


# ---------------------------------------------------------------- positions as CSV

def test_app_analytics_gps_and_chinese_headers_become_gps_events():
    analytics = read(location_csv, "uber/driver_app_analytics-0.csv")
    assert analytics.tables["activity"].select("ts", "kind", "lon", "lat", "detail").rows() == [
        (utc(2026, 4, 27, 0, 0, 5), "gps", 121.4, 31.2, "analytics_event_name=gps_ping"),
        (utc(2026, 4, 27, 0, 0, 35), "gps", 121.4005, 31.2005, "analytics_event_name=gps_ping")]
    chinese = read(location_csv, "location/轨迹_R0007.csv")
    assert chinese.detected["columns"] == "lat=纬度, lon=经度, time=时间"
    assert chinese.tables["activity"]["ts"].to_list() == [utc(2026, 4, 27, 0, 0), utc(2026, 4, 27, 0, 0, 30)]
    epoch = read(location_csv, "location/gps_epoch.csv", owner=None)
    assert epoch.detected["time basis"] == "epoch milliseconds (UTC)"
    assert epoch.tables["activity"].select("worker_id", "ts").rows() == [
        ("R0003", utc(2026, 4, 27, 8)), ("R0003", utc(2026, 4, 27, 8, 0, 30))]


def test_positions_out_of_range_or_unreadable_are_rejected_by_line():
    result = read(location_csv, "location/broken/track.csv")
    assert codes(result) == [(3, "row-unparseable-number"), (4, "row-unparseable-number"),
                             (5, "row-unparseable-timestamp"), (6, "row-unparseable-number")]
    assert result.tables["activity"]["ts"].to_list() == [utc(2026, 4, 27, 0, 0)]
    with pytest.raises(SourceError) as err:
        location_csv.read(FIXTURES / "location/轨迹_R0007.csv", ReadOptions())
    assert err.value.code == "file-owner-unknown"


def test_geojson_points_become_gps_events_and_bad_features_are_rejected_by_index():
    result = read(geojson_points, "geojson_points/track.geojson", owner=None)
    assert result.detected["owner"] == "properties.rider_id"
    assert result.tables["activity"].select("worker_id", "ts", "kind", "lon", "lat", "src_row").rows() == [
        ("R0003", utc(2026, 4, 27, 0, 0), "gps", 121.4, 31.2, 1),  # +08:00 as written
        ("R0003", utc(2026, 4, 27, 0, 0, 30), "gps", 121.41, 31.21, 2)]  # naive: local Shanghai time
    broken = read(geojson_points, "geojson_points/broken/track.geojson")
    assert codes(broken) == [(2, "row-malformed"), (3, "row-unparseable-timestamp"), (4, "row-unparseable-number")]
    with pytest.raises(SourceError) as err:
        geojson_points.read(FIXTURES / "geojson_points/broken/track.geojson", ReadOptions())
    assert err.value.code == "file-owner-unknown"


def test_wkt_zones_become_wkb_polygons_and_bad_shapes_are_rejected_by_line():
    result = read(wkt_zones, "wkt_zones/zones.csv")
    zones = result.tables["zones"]
    assert zones.select("zone_id", "name", "station_id", "platform").rows() == [
        ("Z-A1", "Station A1 area", "ST-A1", "A"), ("Z-A2", "Station A2 area", "ST-A2", "A")]
    assert [round(shapely.from_wkb(g).area, 4) for g in zones["geometry"]] == [0.01, 0.005]
    assert shapely.from_wkb(zones["geometry"][0]).contains(shapely.Point(121.05, 31.05))  # lon lat order
    broken = read(wkt_zones, "wkt_zones/broken/zones.csv")
    assert codes(broken) == [(3, "row-malformed"), (4, "row-malformed"), (5, "row-missing-field"), (6, "row-malformed")]
    assert "POINT (121.0 31.0)" in broken.rejections[0].reason


# ---------------------------------------------------------------- whole files, times, long lines

def test_a_file_with_every_row_rejected_is_a_file_error_and_a_few_bad_rows_a_warning(tmp_path):
    (tmp_path / "all_bad.csv").write_text("time,lat,lon\nsoon,31.2,121.4\nlater,31.2,121.4\n", encoding="utf-8")
    shutil.copy(FIXTURES / "location/broken/track.csv", tmp_path / "some_bad.csv")
    (tmp_path / "case.toml").write_text('[owners]\n"all_bad.csv" = "R0007"\n"some_bad.csv" = "R0007"\n',
                                        encoding="utf-8")
    sources = by_path(connectors.load(tmp_path))
    bad = sources["all_bad.csv"]
    assert bad.error_code == "file-all-rows-rejected" and "all 2 rows rejected" in bad.error and "line 2" in bad.error
    assert [r.line for r in bad.rejected] == [2, 3]
    some = sources["some_bad.csv"]
    assert some.error is None and some.detected["warning"] == "4 of 5 rows rejected (listed with line and reason)"


def test_times_before_2000_or_after_the_file_was_written_are_rejected_with_their_own_code(tmp_path):
    (tmp_path / "gps.csv").write_text("time_utc,lat,lon\n1999-12-31 23:59:00,31.2,121.4\n2026-04-27 08:00:00,31.2,121.4\n"
                                      "2099-01-01 00:00:00,31.2,121.4\n", encoding="utf-8")
    (tmp_path / "case.toml").write_text('[owners]\n"gps.csv" = "R0007"\n', encoding="utf-8")
    source = by_path(connectors.load(tmp_path))["gps.csv"]
    assert [(r.line, r.code) for r in source.rejected] == [(2, "row-implausible-timestamp"),
                                                           (4, "row-implausible-timestamp")]
    assert "ts 1999-12-31 23:59:00 UTC" in source.rejected[0].reason and source.rows_kept == 1


def test_a_runaway_line_is_rejected_and_the_rest_of_the_file_read(tmp_path):
    lines = ["time,lat,lon", "2026-04-27 08:00:00,31.2,121.4", "x" * (MAX_LINE_CHARS + 10),
             "2026-04-27 08:01:00,31.2,121.4"]
    path = tmp_path / "gps.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read(location_csv, path)
    assert codes(result) == [(3, "row-too-long")] and result.tables["activity"].height == 2
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('time,lat,lon,note\n2026-04-27 08:00:00,31.2,121.4,"' + "y" * 200_000 + '"\n', encoding="utf-8")
    assert read(location_csv, quoted).tables["activity"].height == 1  # a long quoted field is not a runaway line


# ---------------------------------------------------------------- quoted CSV without a Python loop

quoted_field = st.text(alphabet='xy ,"\n中', max_size=5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(quoted_field, min_size=1, max_size=4), max_size=20), st.booleans())
def test_quoted_records_found_by_whole_column_operations_equal_the_csv_module(rows, crlf):
    newline = "\r\n" if crlf else "\n"
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=newline, quoting=csv.QUOTE_MINIMAL).writerows([["a", "b", "c"], *rows])
    text = out.getvalue()
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    fast, fast_rejected = base._quoted_records_fast(text, header, ",", reader.line_num)
    slow, slow_rejected = base._quoted_records(reader, header)
    empty_as_null = [pl.when(pl.col(h) != "").then(pl.col(h)).alias(h) for h in header]  # as read_csv_rows does
    assert fast.with_columns(empty_as_null).rows() == slow.with_columns(empty_as_null).select(fast.columns).rows()
    assert fast_rejected == slow_rejected


def test_a_runaway_line_in_a_chat_text_is_rejected_by_number(tmp_path):
    from connectors import wechat_txt, whatsapp_txt

    chat = tmp_path / "站点群.txt"
    chat.write_text("2026-04-27 20:00:00 王站长\n今晚十点前交日报\n" + "z" * (MAX_LINE_CHARS + 1) + "\n"
                    "2026-04-27 20:01:00 我\n收到\n", encoding="utf-8")
    result = read(wechat_txt, chat)
    assert codes(result) == [(3, "row-too-long")]
    assert result.tables["messages"]["text"].to_list() == ["今晚十点前交日报", "收到"]
    whatsapp = tmp_path / "chat.txt"
    whatsapp.write_text("27/04/2026, 20:00 - Li Wei: ok\n" + "z" * (MAX_LINE_CHARS + 1) + "\n"
                        "27/04/2026, 20:01 - Li Wei: done\n", encoding="utf-8")
    result = read(whatsapp_txt, whatsapp)
    assert codes(result) == [(2, "row-too-long")]
    assert result.tables["messages"]["text"].to_list() == ["ok", "done"]
