"""Working time: minute states, Art. 5 limits, statutory limits and overtime owed — on hand-made
days with round numbers, and against the sample city's ground truth."""

import json
from pathlib import Path

import polars as pl
import pytest
from worktime_cases import at, blocks, case

import connectors
from auditor import schema
from auditor.analyzers import overtime, platform_time, worktime
from auditor.settings import Settings

SAMPLE = Path(__file__).parents[1] / "sample_logs"


def orders_with_pickup(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    """rows: (worker, taken, picked up, delivered) local times."""
    frame = pl.DataFrame(
        {"worker_id": [r[0] for r in rows], "order_id": [f"o{i}" for i in range(len(rows))],
         "platform": ["A"] * len(rows), "dispatched_at": [at(r[1]) for r in rows],
         "responded_at": [at(r[1]) for r in rows], "picked_up_at": [at(r[2]) for r in rows],
         "delivered_at": [at(r[3]) for r in rows], "outcome": ["accepted"] * len(rows),
         "src": ["S002"] * len(rows), "src_row": list(range(2, len(rows) + 2))},
        schema_overrides={c: schema.UTC for c in ("dispatched_at", "responded_at", "picked_up_at", "delivered_at")})
    return schema.validate("orders", schema.conform("orders", frame))


def test_minute_states_count_each_minute_once_by_priority():
    c = case(activity=blocks([("R1", "2026-05-06 10:00:00", "2026-05-06 14:00:00")]),
             orders=orders_with_pickup([("R1", "2026-05-06 11:00:00", "2026-05-06 11:20:00", "2026-05-06 11:50:00"),
                                        ("R1", "2026-05-06 11:40:00", "2026-05-06 11:55:00", "2026-05-06 12:10:00")]))
    day = platform_time.minute_states(c, Settings()).row(0, named=True)
    # on trip 11:20–11:50 ∪ 11:55–12:10; orders 11:00–12:10; online 10:00–14:00
    assert day["on_trip"] == pytest.approx(0.75)
    assert day["en_route"] == pytest.approx(70 / 60 - 0.75)
    assert day["waiting"] == pytest.approx(4 - 70 / 60)
    assert day["offline"] == pytest.approx(20) and day["working"] == pytest.approx(4)


def test_declared_other_platform_is_left_out_and_said_on_the_finding():
    activity = pl.concat([blocks([("R1", "2026-05-06 06:00:00", "2026-05-06 13:00:00")], "A"),
                          blocks([("R1", "2026-05-06 13:00:00", "2026-05-06 20:00:00")], "B")])
    c = case(activity=activity)
    assert platform_time.minute_states(c, Settings())["working"].to_list() == [pytest.approx(14)]
    assert platform_time.run(c, Settings()).findings["indicator"].to_list() == ["platform-daily-working-time"]
    excluded = Settings(excluded_platforms=("B",))
    assert platform_time.minute_states(c, excluded)["working"].to_list() == [pytest.approx(7)]
    assert platform_time.run(c, excluded).findings.is_empty()
    total = worktime.run(c, excluded).findings.filter(pl.col("indicator") == "working-time-total").row(0, named=True)
    assert total["value"] == pytest.approx(7) and json.loads(total["parameters"])["excluded_platforms"] == ["B"]


def test_continuous_order_time_over_the_art5_limit_unless_a_pause_breaks_it():
    back_to_back = [("R1", f"2026-05-06 {h:02d}:00:00", f"2026-05-06 {h:02d}:10:00", f"2026-05-06 {h + 1:02d}:00:00")
                    for h in range(10, 15)]  # 10:00–15:00 without a pause
    found = platform_time.run(case(orders=orders_with_pickup(back_to_back)), Settings()).findings
    assert found.select("indicator", "value").rows() == [("platform-continuous-order-time", pytest.approx(5.0))]
    paused = back_to_back[:2] + [(w, t.replace("12:00", "12:30"), p.replace("12:10", "12:40"), d)
                                 for w, t, p, d in back_to_back[2:3]] + back_to_back[3:]
    assert platform_time.run(case(orders=orders_with_pickup(paused)), Settings()).findings.is_empty()


def week_of_days(first: str, days: int, on: str = "08:00:00", off: str = "20:00:00", skip: tuple = ()) -> pl.DataFrame:
    dates = pl.date_range(pl.Series([first]).str.to_date()[0], pl.Series([first]).str.to_date()[0]
                          + pl.duration(days=days - 1), eager=True)
    return blocks([("R1", f"{d} {on}", f"{d} {off}") for d in dates.cast(pl.String) if d not in skip])


def indicators(findings: pl.DataFrame) -> dict[str, list[str]]:
    return {k: sorted(v) for k, v in findings.group_by("indicator").agg(pl.col("period")).rows()}


def test_a_full_week_without_24_hours_off_is_found_and_a_day_off_clears_it():
    every_day = worktime.run(case(activity=week_of_days("2026-05-11", 7)), Settings()).findings
    assert indicators(every_day)["weekly-rest-missing"] == ["2026-05-11"]
    rest = every_day.filter(pl.col("indicator") == "weekly-rest-missing").row(0, named=True)
    assert rest["value"] == pytest.approx(12.0) and rest["threshold"] == 24
    sunday_off = worktime.run(case(activity=week_of_days("2026-05-11", 7, skip=("2026-05-17",))), Settings())
    assert "weekly-rest-missing" not in indicators(sunday_off.findings)


def test_weekly_hours_daily_and_monthly_extension():
    found = indicators(worktime.run(case(activity=week_of_days("2026-05-11", 7)), Settings()).findings)
    assert found["weekly-hours-over-limit"] == ["2026-05-11"]  # 7 × 12 h = 84 h
    # workdays 12 h: 4 h extended (> 3); Saturday 16th and Sunday 17th: all 12 h extended
    assert found["daily-extension-over-limit"] == [f"2026-05-{d}" for d in range(11, 18)]
    assert found["monthly-extension-over-limit"] == ["2026-05"]  # 5 × 4 + 2 × 12 = 44 h > 36
    assert "daily-rest-under-11h" not in found  # 12 h off every night


def test_eu_daily_rest_under_11_hours():
    activity = blocks([("R1", "2026-05-06 08:00:00", "2026-05-06 22:00:00"),
                       ("R1", "2026-05-07 06:00:00", "2026-05-07 10:00:00")])
    found = worktime.run(case(activity=activity), Settings()).findings.filter(
        pl.col("indicator") == "daily-rest-under-11h")
    assert found.select("period", "value").rows() == [("2026-05-06", pytest.approx(8.0))]
    assert "Directive 2003/88/EC Art. 3" in found["sources"][0][0]


def test_overtime_bands_and_pay_owed_with_the_wage_basis():
    activity = blocks([("R1", "2026-04-30 08:00:00", "2026-04-30 18:00:00"),   # workday 10 h: 2 h at 150 %
                       ("R1", "2026-05-01 09:00:00", "2026-05-01 13:00:00"),   # Labour Day: 4 h at 300 %
                       ("R1", "2026-05-04 09:00:00", "2026-05-04 14:00:00")])  # substituted day off: 5 h at 200 %
    c = case(activity=activity)
    owed = overtime.overtime(c, Settings(monthly_wage=4350.0)).row(0, named=True)  # 4350 / 21.75 / 8 = 25 CNY/h
    assert (owed["hours_150"], owed["hours_200"], owed["hours_300"]) == (pytest.approx(2), pytest.approx(5),
                                                                         pytest.approx(4))
    assert owed["hourly_wage"] == pytest.approx(25.0)
    assert owed["pay_owed"] == pytest.approx(25 * (1.5 * 2 + 2 * 5 + 3 * 4))
    assert owed["wage_basis"] == "entered"
    assumed = overtime.run(c, Settings()).findings.row(0, named=True)
    assert "minimum wage" in assumed["explanation_en"] and '"assumption":true' in assumed["parameters"]
    per_worker = overtime.overtime(c, Settings(monthly_wage=4350.0, worker_wages={"R1": 8700.0})).row(0, named=True)
    assert per_worker["hourly_wage"] == pytest.approx(50.0) and per_worker["wage_basis"] == "entered for this worker"


def test_hours_systems_change_the_bands():
    activity = week_of_days("2026-05-11", 7)
    comprehensive = overtime.overtime(case(activity=activity), Settings(hours_system="comprehensive")).row(0, named=True)
    assert comprehensive["hours_200"] == 0  # rest-day work is ordinary time inside the cycle
    # the cycle's quota counts the month's workdays inside the case: 5 × 8 h = 40 h of the 84 h
    assert comprehensive["hours_150"] == pytest.approx(44)
    irregular = overtime.overtime(case(activity=activity), Settings(hours_system="irregular")).row(0, named=True)
    assert irregular["pay_owed"] == 0


@pytest.fixture(scope="module")
def sample():
    riders = pl.read_parquet(SAMPLE / "ground_truth" / "riders.parquet")
    wages = dict(riders.filter(pl.col("rider_type") == "station_fulltime").select("worker_id", "monthly_wage").rows())
    settings = Settings(worker_wages=wages)  # the contracted wages the user enters; others: the city minimum
    return connectors.load(SAMPLE), settings


def test_sample_daily_totals_equal_app_hours_plus_planted_offhours_work(sample):
    c, settings = sample
    truth = pl.read_parquet(SAMPLE / "ground_truth" / "daily_hours.parquet").with_columns(
        total=pl.col("app_hours") + pl.col("offhours_chat_hours")).filter(pl.col("total") > 0)
    days = worktime.worker_days(c, settings)
    both = truth.join(days, on=["worker_id", "date"], how="full", coalesce=True)
    assert both.filter(pl.col("hours").is_null() | pl.col("total").is_null()).height == 0
    assert (both["hours"] - both["total"]).abs().max() < 0.01
    assert (both["day_kind"] == both["day_kind_right"]).all()


def test_sample_overtime_by_band_and_pay_owed_within_one_percent(sample):
    c, settings = sample
    truth = pl.read_parquet(SAMPLE / "ground_truth" / "overtime.parquet")
    owed = overtime.overtime(c, settings)
    both = truth.join(owed, on="worker_id", suffix="_found")
    assert both.height == truth.height
    for column in ("hours_150", "hours_200", "hours_300", "pay_owed"):
        total, found = both[column].sum(), both[f"{column}_found"].sum()
        assert found == pytest.approx(total, rel=0.01), column
        worst = (both[f"{column}_found"] - both[column]).abs() / both[column].clip(lower_bound=1)
        assert worst.max() <= 0.01, column
