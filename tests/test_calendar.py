"""The 2026 China calendar (Labour Day golden week and its substituted Saturday) and schedules."""

from datetime import date

import polars as pl
import pytest
from conftest import TZ, local

from auditor import calendar, law, schema


@pytest.fixture(scope="module")
def may() -> dict[date, tuple[str, str | None]]:
    days = calendar.day_kinds("2026-04-27", "2026-05-12")
    return {d: (kind, name) for d, kind, name in days.iter_rows()}


def test_day_table_covers_every_date_once():
    days = calendar.day_kinds(date(2026, 4, 27), date(2026, 5, 12))
    assert days.columns == ["date", "day_kind", "holiday_name"]
    assert days.height == 16 and days["date"].is_unique().all()
    assert set(days["day_kind"]) <= set(calendar.DAY_KINDS)


def test_labour_day_statutory_dates(may):
    assert may[date(2026, 5, 1)] == ("statutory_holiday", "劳动节")
    assert may[date(2026, 5, 2)] == ("statutory_holiday", "劳动节")  # a Saturday, still 300 %


def test_sunday_inside_the_holiday_is_a_plain_rest_day(may):
    assert may[date(2026, 5, 3)] == ("rest_day", None)


def test_observed_and_substituted_days_off_are_rest_days_not_holidays(may):
    kind, name = may[date(2026, 5, 4)]
    assert kind == "rest_day" and "补假" in name  # 劳动节（补假）: 200 %, not 300 %
    kind, name = may[date(2026, 5, 5)]
    assert kind == "rest_day" and "2026-05-09" in name  # 休息日（由 2026-05-09 调休）


def test_substituted_saturday_is_a_workday(may):
    assert date(2026, 5, 9).weekday() == 5
    assert may[date(2026, 5, 9)] == ("workday", None)
    assert may[date(2026, 5, 10)] == ("rest_day", None)  # the Sunday after stays a rest day
    assert may[date(2026, 5, 8)] == ("workday", None)


def test_names_follow_the_requested_language():
    days = calendar.day_kinds("2026-05-04", "2026-05-05", language="en_US")
    assert days["holiday_name"].to_list() == ["Labor Day (observed)", "Day off (substituted from 05/09/2026)"]
    assert days["day_kind"].to_list() == ["rest_day", "rest_day"]


def test_spring_festival_2026_eve_is_statutory_and_saturday_14_feb_is_worked():
    days = calendar.day_kinds("2026-02-14", "2026-02-23")
    kinds = dict(days.select("date", "day_kind").iter_rows())
    assert kinds[date(2026, 2, 14)] == "workday"
    assert [kinds[date(2026, 2, d)] for d in (16, 17, 18, 19)] == ["statutory_holiday"] * 4
    assert kinds[date(2026, 2, 20)] == kinds[date(2026, 2, 23)] == "rest_day"


@pytest.mark.parametrize("year", [2025, 2026])
def test_a_year_holds_as_many_statutory_days_as_the_law_file_says(year):
    days = calendar.day_kinds(date(year, 1, 1), date(year, 12, 31))
    statutory = days.filter(pl.col("day_kind") == "statutory_holiday").height
    assert statutory == law.load("cn_standard")["statutory_holidays"]["days_per_year"]


def test_period_ending_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="ends .* before it starts"):
        calendar.day_kinds("2026-05-10", "2026-05-01")


def test_premium_band_per_day_kind_from_the_law_file(may):
    bands = calendar.premium_bands(law.load("cn_standard"))
    days = calendar.day_kinds("2026-05-01", "2026-05-09").join(bands, on="day_kind", how="left")
    multiplier = dict(days.select("date", "multiplier").iter_rows())
    assert multiplier[date(2026, 5, 1)] == 3.0
    assert multiplier[date(2026, 5, 4)] == multiplier[date(2026, 5, 5)] == 2.0
    assert multiplier[date(2026, 5, 9)] == 1.5
    workday = bands.filter(pl.col("day_kind") == "workday").row(0, named=True)
    assert workday["applies_to"] == "hours_beyond_daily_limit" and any("44" in s for s in workday["sources"])


def test_premium_bands_name_the_missing_band():
    with pytest.raises(ValueError, match="statutory_holiday"):
        calendar.premium_bands({"name": "x", "overtime_premium": {
            "workday": {"multiplier": 1.5, "applies_to": "a", "sources": ["s"]},
            "rest_day": {"multiplier": 2, "applies_to": "a", "sources": ["s"]}}})


def roster(rows: list[tuple[str, str, str]]) -> pl.LazyFrame:
    """rows: (worker, local start, local end)."""
    frame = pl.DataFrame(
        {"worker_id": [r[0] for r in rows], "start": [local(r[1]) for r in rows], "end": [local(r[2]) for r in rows],
         "kind": ["roster"] * len(rows), "src": ["S009"] * len(rows), "src_row": list(range(2, len(rows) + 2))},
        schema_overrides={"start": schema.UTC, "end": schema.UTC})
    return schema.validate("schedules", frame).lazy()


def test_roster_shift_crossing_midnight_is_kept_whole_with_its_source_row():
    shifts = roster([("R1", "2026-05-08 20:00:00", "2026-05-09 02:00:00"),
                     ("R1", "2026-05-11 10:00:00", "2026-05-11 18:00:00"),
                     ("R1", "2026-05-20 10:00:00", "2026-05-20 18:00:00")])  # outside the period
    windows = calendar.working_window(shifts, ["R1"], "2026-05-08", "2026-05-11", TZ).collect()
    assert windows.columns == ["worker_id", "start", "end", "source", "src", "src_row"]
    assert windows.rows() == [
        ("R1", local("2026-05-08 20:00:00"), local("2026-05-09 02:00:00"), "roster", "S009", 2),
        ("R1", local("2026-05-11 10:00:00"), local("2026-05-11 18:00:00"), "roster", "S009", 3),
    ]  # no default window on the workday 05-09 or 05-10: the roster says when R1 works


def test_rider_without_roster_gets_the_default_window_on_calendar_workdays():
    shifts = roster([("R1", "2026-05-08 20:00:00", "2026-05-09 02:00:00")])
    windows = calendar.working_window(shifts, ["R1", "R2"], "2026-05-08", "2026-05-11", TZ).collect()
    r2 = windows.filter(pl.col("worker_id") == "R2")
    assert set(r2["source"]) == {"default window"} and r2["src"].null_count() == r2.height
    assert r2.select("start", "end").rows() == [
        (local("2026-05-08 09:00:00"), local("2026-05-08 18:00:00")),
        (local("2026-05-09 09:00:00"), local("2026-05-09 18:00:00")),  # substituted Saturday
        (local("2026-05-11 09:00:00"), local("2026-05-11 18:00:00")),
    ]
    assert windows.schema["start"] == schema.UTC


def test_default_window_is_settable_and_may_cross_midnight():
    empty = schema.empty("schedules").lazy()
    windows = calendar.working_window(empty, ["R3"], "2026-05-01", "2026-05-06", TZ, default=("22:00", "06:00"))
    assert windows.collect().select("start", "end").rows() == [
        (local("2026-05-06 22:00:00"), local("2026-05-07 06:00:00"))]  # 05-01..05-05 are not workdays


def test_workers_outside_the_list_are_left_out():
    shifts = roster([("R9", "2026-05-08 09:00:00", "2026-05-08 17:00:00")])
    windows = calendar.working_window(shifts, ["R1"], "2026-05-08", "2026-05-08", TZ).collect()
    assert windows["worker_id"].to_list() == ["R1"] and windows["source"].to_list() == ["default window"]
