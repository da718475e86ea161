"""The synthetic city: deterministic bytes, sane sizes, and a ground truth that agrees with the
files it describes, recomputed here from the written files in a plain, independent way."""

from __future__ import annotations

import bisect
import json
import re
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from auditor.simulate import simulate

TINY = {"seed": 7, "riders": 12, "start": date(2026, 4, 27), "days": 14}
BUSY = {**TINY, "order_rate": 4.0}  # the benchmarks' busy city: stacked, same-route and relayed orders
SHANGHAI = timezone(timedelta(hours=8))  # no DST in China since 1991
WA_HEADER = re.compile(r"^\d{2}/\d{2}/\d{4}, \d{2}:\d{2} - ")


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("city")
    simulate(out, **TINY)
    return out


@pytest.fixture(scope="module")
def busy_city(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("busy_city")
    simulate(out, **BUSY)
    return out


# the ground truth must agree with the files at the sample's density and in a busy city alike
BOTH_CITIES = pytest.mark.parametrize("name", ["city", "busy_city"])


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def truth(city: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(city / "ground_truth" / f"{name}.parquet")


def test_same_seed_gives_identical_bytes_in_every_file(city, tmp_path):
    simulate(tmp_path, **TINY)
    first, second = files_of(city), files_of(tmp_path)
    assert sorted(first) == sorted(second)
    assert [f for f in first if first[f] != second[f]] == []
    assert any(f.endswith(".parquet") for f in first) and any(f.endswith(".gpx") for f in first)


def test_another_seed_gives_another_city(city, tmp_path):
    simulate(tmp_path, **{**TINY, "seed": 8})
    assert (tmp_path / "platform_a/orders.csv").read_bytes() != (city / "platform_a/orders.csv").read_bytes()


def test_unknown_knob_is_refused(tmp_path):
    with pytest.raises(TypeError, match="gps_scal"):
        simulate(tmp_path, riders=3, days=2, gps_scal=2.0)


def test_folder_layout_and_row_counts_are_sane(city):
    summary = simulate(city, **TINY)  # rewriting in place gives the same counts
    rows = summary["rows"]
    for name in ("case.toml", "participants.csv", "relations.csv", "zones/zones.geojson", "platform_a/orders.csv",
                 "platform_a/activity.csv", "platform_b/orders.json", "platform_b/activity.csv",
                 "schedules/roster.csv", "ground_truth/planted.json"):
        assert (city / name).is_file(), name
    assert list((city / "chats").glob("wechat_R*.csv")) and list((city / "gps").glob("R*.gpx"))
    assert rows["ground_truth/daily_hours.parquet"] == 12 * 14
    assert 500 < rows["platform_a/orders.csv"] + rows["platform_b/orders.json"] < 20_000
    assert pl.read_csv(city / "platform_a/orders.csv").height == rows["platform_a/orders.csv"]
    b = json.loads((city / "platform_b/orders.json").read_text(encoding="utf-8"))
    assert len(b["orders"]) == rows["platform_b/orders.json"]
    assert (city / "platform_a/orders.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_sample_city_fits_in_20_mb(tmp_path):
    simulate(tmp_path)
    size = sum(len(b) for b in files_of(tmp_path).values())
    assert size < 20 * 1024 * 1024, size


# --- working time recomputed from the files --------------------------------------------------

def epoch(text: str, fmt: str, tz=UTC) -> int:
    return int(datetime.strptime(text, fmt).replace(tzinfo=tz).timestamp())


def online_intervals(city: Path) -> list[tuple[str, int, int]]:
    """online → offline pairs of each rider and app, from both activity logs."""
    a = pl.read_csv(city / "platform_a/activity.csv", schema_overrides={"event_time": pl.Int64})
    b = pl.read_csv(city / "platform_b/activity.csv")
    events = ([(r, "A", t // 1000, e) for r, t, e in a.select("rider_id", "event_time", "event").iter_rows()]
              + [(r, "B", epoch(t, "%Y-%m-%dT%H:%M:%SZ"), e) for r, t, e in b.select("rider_id", "event_time", "event").iter_rows()])
    out, opened = [], {}
    for rider, app, t, e in sorted(events):
        if e == "online":
            assert (rider, app) not in opened
            opened[(rider, app)] = t
        elif e == "offline":
            out.append((rider, opened.pop((rider, app)), t))
    assert not opened
    return out


def order_intervals(city: Path) -> list[tuple[str, int, int]]:
    fmt = "%Y-%m-%d %H:%M:%S"
    a = pl.read_csv(city / "platform_a/orders.csv", infer_schema=False).filter(pl.col("送达时间").is_not_null())
    out = [(r, epoch(s, fmt, SHANGHAI), epoch(e, fmt, SHANGHAI)) for r, s, e in a.select("骑手编号", "派单时间", "送达时间").iter_rows()]
    for o in json.loads((city / "platform_b/orders.json").read_text(encoding="utf-8"))["orders"]:
        if o["dropoff"]["at"]:
            out.append((o["courier"]["id"], int(datetime.fromisoformat(o["dispatch"]["at"]).timestamp()),
                        int(datetime.fromisoformat(o["dropoff"]["at"]).timestamp())))
    return out


def union_hours_per_local_day(intervals) -> dict[tuple[str, str], float]:
    merged: dict[str, list[list[int]]] = {}
    for rider, s, e in sorted(intervals):
        runs = merged.setdefault(rider, [])
        if runs and s <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], e)
        else:
            runs.append([s, e])
    hours: dict[tuple[str, str], float] = {}
    for rider, runs in merged.items():
        for s, e in runs:
            while s < e:
                local = datetime.fromtimestamp(s, SHANGHAI)
                midnight = datetime(local.year, local.month, local.day, tzinfo=SHANGHAI) + timedelta(days=1)
                cut = min(e, int(midnight.timestamp()))
                key = (rider, local.date().isoformat())
                hours[key] = hours.get(key, 0.0) + (cut - s) / 3600
                s = cut
    return hours


@BOTH_CITIES
def test_app_hours_equal_the_union_of_online_and_order_intervals_in_the_files(name, request):
    city = request.getfixturevalue(name)
    online, orders = online_intervals(city), order_intervals(city)
    assert orders and online
    recomputed = union_hours_per_local_day(online + orders)
    daily = truth(city, "daily_hours").filter(pl.col("app_hours") > 0)
    expected = {(w, d.isoformat()): h for w, d, h in daily.select("worker_id", "date", "app_hours").iter_rows()}
    assert recomputed.keys() == expected.keys()
    assert max(abs(recomputed[k] - expected[k]) for k in expected) < 1e-9
    assert union_hours_per_local_day(online) == pytest.approx(recomputed)  # orders lie inside online blocks


def test_days_calendar_types_and_over_eight_hours(city):
    daily = truth(city, "daily_hours")
    kinds = dict(daily.select(pl.col("date").dt.to_string(), "day_kind").unique().iter_rows())
    assert kinds["2026-05-01"] == kinds["2026-05-02"] == "statutory_holiday"
    assert kinds["2026-05-04"] == kinds["2026-05-05"] == "rest_day"  # observed / substituted days off
    assert kinds["2026-05-09"] == "workday"  # substituted Saturday workday
    assert kinds["2026-05-03"] == kinds["2026-05-10"] == "rest_day"  # ordinary Sundays
    assert kinds["2026-04-27"] == "workday"
    assert set(truth(city, "riders")["rider_type"]) == {"station_fulltime", "crowd_parttime", "mixed"}
    assert daily["over_8h"].sum() > 0
    assert daily.filter((pl.col("app_hours") - 8).abs() < 60 / 3600).height == 0
    assert (daily["over_8h"] == (daily["app_hours"] > 8)).all()


@BOTH_CITIES
def test_overtime_follows_from_daily_hours(name, request):
    city = request.getfixturevalue(name)
    daily, riders = truth(city, "daily_hours"), truth(city, "riders")
    ot = truth(city, "overtime")
    wage = dict(riders.select("worker_id", "monthly_wage").iter_rows())
    for w, h150, h200, h300, hourly, owed in ot.iter_rows():
        days = daily.filter(pl.col("worker_id") == w)
        total = [(k, a + c) for k, a, c in days.select("day_kind", "app_hours", "offhours_chat_hours").iter_rows()]
        assert h150 == pytest.approx(sum(max(t - 8, 0) for k, t in total if k == "workday"))
        assert h200 == pytest.approx(sum(t for k, t in total if k == "rest_day"))
        assert h300 == pytest.approx(sum(t for k, t in total if k == "statutory_holiday"))
        assert hourly == pytest.approx(wage[w] / 21.75 / 8)
        assert owed == pytest.approx(hourly * (1.5 * h150 + 2 * h200 + 3 * h300), abs=0.01)
    assert ot["pay_owed"].sum() > 0


# --- chats and the planted off-hours work -----------------------------------------------------

def written_message_ids(city: Path) -> set[str]:
    ids = set()
    for f in (city / "chats").glob("wechat_*.csv"):
        ids |= {f"{f.name}:{i}" for i in pl.read_csv(f, infer_schema=False)["localId"]}
    for f in (city / "chats").glob("whatsapp_*.txt"):
        lines = f.read_text(encoding="utf-8").split("\n")
        ids |= {f"{f.name}:{n}" for n, line in enumerate(lines, start=1) if WA_HEADER.match(line)}
    return ids


@BOTH_CITIES
def test_every_written_message_is_labelled_and_every_planted_id_exists(name, request):
    city = request.getfixturevalue(name)
    written = written_message_ids(city)
    labelled = truth(city, "messages")
    assert {f"{f}:{i}" for f, i in labelled.select("file", "native_id").iter_rows()} == written
    assert set(labelled["label"]) == {"substantive", "simple", "social"}
    work = truth(city, "offhours_work")
    assert set(work["kind"]) == {"nightly_report", "weekend_duty", "complaint"}
    planted = {m for ids in work["message_ids"] for m in ids}
    assert planted and planted <= written
    off = labelled.filter(pl.col("off_hours")).select(pl.format("{}:{}", "file", "native_id"))
    assert planted <= set(off.to_series())
    assert (work["periodic"] == (work["kind"] != "complaint")).all()


@BOTH_CITIES
def test_planted_work_lies_outside_online_time_and_adds_up_per_day(name, request):
    city = request.getfixturevalue(name)
    online = online_intervals(city)
    work = truth(city, "offhours_work")
    for w, s, e in work.select("worker_id", "start", "end").iter_rows():
        assert s < e
        assert not any(r == w and a < e.timestamp() and s.timestamp() < b for r, a, b in online)
    per_day = (work.group_by("worker_id", pl.col("start").dt.convert_time_zone("Asia/Shanghai").dt.date().alias("date"))
               .agg(h=((pl.col("end") - pl.col("start")).dt.total_seconds() / 3600).sum()))
    daily = truth(city, "daily_hours").join(per_day, on=["worker_id", "date"], how="left").fill_null(0)
    assert (daily["offhours_chat_hours"] - daily["h"]).abs().max() < 1e-9


def test_owners_and_participants_cover_the_exports(city):
    case = tomllib.loads((city / "case.toml").read_text(encoding="utf-8"))
    assert case["simulation"] == {"seed": 7, "riders": 12, "start": "2026-04-27", "days": 14}
    exported = {f"gps/{p.name}" for p in (city / "gps").glob("*.gpx")} | {
        f"chats/{p.name}" for p in (city / "chats").glob("whatsapp_*.txt")}
    assert set(case["owners"]) == exported
    people = pl.read_csv(city / "participants.csv")
    known = set(people["participant_id"])
    for f in (city / "chats").glob("wechat_*.csv"):
        senders = set(pl.read_csv(f, infer_schema=False)["Sender"].drop_nulls())
        assert senders <= known, f.name
        own = pl.read_csv(f, infer_schema=False).filter(pl.col("IsSender") == "1")["Sender"].unique().to_list()
        owner = people.filter(pl.col("participant_id").is_in(own))["worker_id"].unique().to_list()
        assert owner in ([], [f.stem.removeprefix("wechat_")])
    names = set(people["display_name"])
    for f in (city / "chats").glob("whatsapp_*.txt"):
        for line in f.read_text(encoding="utf-8").split("\n"):
            if WA_HEADER.match(line) and ": " in line[20:]:
                assert line[20:].split(": ", 1)[0] in names, line


@BOTH_CITIES
def test_station_plants_show_in_the_orders(name, request):
    city = request.getfixturevalue(name)
    planted = json.loads((city / "ground_truth/planted.json").read_text(encoding="utf-8"))
    a = pl.read_csv(city / "platform_a/orders.csv", infer_schema=False).filter(pl.col("送达时间").is_not_null())
    a = a.with_columns(pl.col("配送费(元)", "配送距离(米)").cast(pl.Float64), day=pl.col("派单时间").str.slice(0, 10))
    change = planted["rate_change"]
    rate = (pl.col("配送费(元)") - change["base_yuan"]) / (pl.col("配送距离(米)") / 1000)
    before = a.filter(pl.col("day") < change["date"]).select(rate.mean()).item()
    after = a.filter(pl.col("day") >= change["date"]).select(rate.mean()).item()
    assert before == pytest.approx(change["old_rate_yuan_per_km"], abs=0.01)
    assert after == pytest.approx(change["new_rate_yuan_per_km"], abs=0.01)
    assert len(planted["deadline_compression"]) in (1, 2)


def test_riders_own_substantive_off_hours_messages_are_all_planted(city):
    """Apart from the plants, a rider only does chat work while online: the truth has no
    unplanted off-hours work hiding in the files."""
    labelled = truth(city, "messages").select(pl.format("{}:{}", "file", "native_id").alias("id"), "label", "off_hours")
    planted = {m for ids in truth(city, "offhours_work")["message_ids"] for m in ids}
    own = set()
    for f in (city / "chats").glob("wechat_*.csv"):
        sent = pl.read_csv(f, infer_schema=False).filter(pl.col("IsSender") == "1")["localId"]
        own |= {f"{f.name}:{i}" for i in sent}
    work = labelled.filter(pl.col("id").is_in(list(own)) & (pl.col("label") == "substantive") & pl.col("off_hours"))
    assert work.height > 0
    assert set(work["id"]) <= planted


# --- the busy city ----------------------------------------------------------------------------
# The exports do not label stacked or relayed orders; they show in the times the files hold.

def carried_orders(city: Path) -> list[tuple[str, int, int, int]]:
    """(rider, dispatched, picked up, delivered) of every delivered order in both exports."""
    fmt = "%Y-%m-%d %H:%M:%S"
    a = pl.read_csv(city / "platform_a/orders.csv", infer_schema=False).filter(pl.col("送达时间").is_not_null())
    out = [(r, *(epoch(t, fmt, SHANGHAI) for t in times))
           for r, *times in a.select("骑手编号", "派单时间", "取餐时间", "送达时间").iter_rows()]
    for o in json.loads((city / "platform_b/orders.json").read_text(encoding="utf-8"))["orders"]:
        if o["dropoff"]["at"]:
            out.append((o["courier"]["id"], *(int(datetime.fromisoformat(o[k]["at"]).timestamp())
                                             for k in ("dispatch", "pickup", "dropoff"))))
    return out


def most_on_board(orders) -> dict[str, int]:
    """Per rider, the most orders picked up and not yet delivered at one time."""
    most, load = {}, {}
    for rider, _, step in sorted((r, t, step) for r, _, p, e in orders for t, step in ((p, 1), (e, -1))):
        load[rider] = load.get(rider, 0) + step  # at equal times a drop comes before a pickup
        most[rider] = max(most.get(rider, 0), load[rider])
    return most


def relayed(orders) -> list[tuple[int, int]]:
    """(pickup, the last drop before it) of each order dispatched before, and picked up after,
    the delivery of another order of its rider (接力)."""
    drops: dict[str, list[int]] = {}
    for r, _, _, e in orders:
        drops.setdefault(r, []).append(e)
    for times in drops.values():
        times.sort()
    out = []
    for r, d, p, _ in orders:
        before_pickup = bisect.bisect_right(drops[r], p)
        if before_pickup > bisect.bisect_right(drops[r], d):
            out.append((p, drops[r][before_pickup - 1]))
    return out


def test_sample_density_neither_stacks_nor_relays(city):
    orders = carried_orders(city)
    assert max(most_on_board(orders).values()) <= 3 and relayed(orders) == []


def test_busy_city_stacks_and_relays_orders_up_to_each_rider_types_cap(city, busy_city):
    orders = carried_orders(busy_city)
    assert len(orders) > 1.5 * len(carried_orders(city))
    rider_type = dict(truth(busy_city, "riders").select("worker_id", "rider_type").iter_rows())
    cap = {"station_fulltime": 5, "crowd_parttime": 3, "mixed": 4}  # orders.PEAK_CAP
    most = most_on_board(orders)
    assert all(n <= cap[rider_type[r]] for r, n in most.items())
    assert max(most.values()) > 3  # stacked beyond the 1–3 orders a trip carries at the sample's density
    relays = relayed(orders)
    assert len(relays) > 0.05 * len(orders)
    assert all(pickup - drop >= 120 for pickup, drop in relays)  # picked up at least 2 min after the drop


def test_busy_city_same_seed_gives_identical_bytes(busy_city, tmp_path):
    simulate(tmp_path, **BUSY)
    first, second = files_of(busy_city), files_of(tmp_path)
    assert sorted(first) == sorted(second)
    assert [f for f in first if first[f] != second[f]] == []
