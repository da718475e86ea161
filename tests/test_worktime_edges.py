"""Edge cases of working time and off-hours work named in issue 6."""

from datetime import date

import polars as pl
import pytest
from worktime_cases import (
    BOSS,
    COLLEAGUE,
    RIDER,
    at,
    blocks,
    case,
    messages,
    participants,
    roster,
)

from auditor.analyzers import offhours, overtime, platform_time, sessions, worktime
from auditor.settings import Settings


def hours_by_day(c, settings: Settings | None = None) -> dict[str, float]:
    days = worktime.worker_days(c, settings or Settings())
    return {str(d): round(h, 4) for d, h in days.select("date", "hours").iter_rows()}


def report_at(day: str, start: str, end: str, owner: str = "R1", src: str = "S010", conversation: str = "dm"):
    return [(owner, f"{day} {start}", "wxid_boss", "supervisor", "把今天的日报发我", None, conversation),
            (owner, f"{day} {end}", "wxid_r1" if owner == "R1" else "wxid_r2", "self", "今日完成30单，准时率98%",
             None, conversation)]


def test_an_offhours_session_crossing_midnight_is_split_between_the_two_days():
    c = case(activity=blocks([("R1", "2026-05-12 10:00:00", "2026-05-12 20:00:00")]),
             messages=messages(report_at("2026-05-12", "23:40:00", "23:40:00")[:1]
                               + [("R1", "2026-05-13 00:20:00", "wxid_r1", "self", "今日完成30单，准时率98%", None, "dm")]),
             participants=participants([BOSS, RIDER]))
    assert hours_by_day(c) == {"2026-05-12": round(10 + 20 / 60, 4), "2026-05-13": round(20 / 60, 4)}
    assert offhours.run(c, Settings()).findings["value"].to_list() == [pytest.approx(40 / 60)]


def test_a_shift_crossing_into_a_statutory_holiday_pays_300_percent_only_after_midnight():
    c = case(activity=blocks([("R1", "2026-04-30 20:00:00", "2026-05-01 02:00:00")]))
    owed = overtime.overtime(c, Settings(monthly_wage=4350.0)).row(0, named=True)
    assert (owed["hours_150"], owed["hours_300"]) == (0, pytest.approx(2.0))  # 4 h on the workday: under 8
    assert hours_by_day(c) == {"2026-04-30": 4.0, "2026-05-01": 2.0}


def test_a_substituted_saturday_is_an_ordinary_workday():
    c = case(activity=blocks([("R1", "2026-05-09 08:00:00", "2026-05-09 18:00:00"),     # 调休上班 Saturday
                              ("R1", "2026-05-16 08:00:00", "2026-05-16 18:00:00")]))   # a plain Saturday
    owed = overtime.overtime(c, Settings(monthly_wage=4350.0)).row(0, named=True)
    assert (owed["hours_150"], owed["hours_200"], owed["hours_300"]) == (pytest.approx(2), pytest.approx(10), 0)
    days = worktime.worker_days(c, Settings())
    assert days.select("date", "day_kind").rows() == [(date(2026, 5, 9), "workday"), (date(2026, 5, 16), "rest_day")]


def test_daylight_saving_day_has_23_hours_and_local_sessions_stay_local():
    tz = "Europe/Berlin"  # 2026-03-29: clocks go from 02:00 to 03:00
    activity = blocks([("R1", "2026-03-28 23:00:00", "2026-03-29 04:00:00")]).with_columns(
        ts=pl.Series([at("2026-03-28 23:00:00", tz), at("2026-03-29 04:00:00", tz)]))
    c = case(tz=tz, activity=activity)
    states = platform_time.minute_states(c, Settings())
    assert states.select("date", "working", "offline").rows() == [
        (date(2026, 3, 28), pytest.approx(1.0), pytest.approx(23.0)),
        (date(2026, 3, 29), pytest.approx(3.0), pytest.approx(20.0))]  # 00:00–04:00 is 3 h on a 23 h day
    chat = messages(report_at("2026-03-30", "22:15:00", "22:35:00"), tz=tz)
    c = case(tz=tz, activity=activity, messages=chat, participants=participants([BOSS, RIDER]))
    off = offhours.offhours_sessions(c, Settings()).collect()
    assert off.select("clock", "end_clock").row(0) == (22 * 60 + 15, 22 * 60 + 35)


def test_without_a_roster_the_default_window_applies_and_a_roster_replaces_it():
    chat = messages(report_at("2026-05-12", "17:30:00", "18:30:00"))  # a Tuesday
    base = {"activity": blocks([("R1", "2026-05-12 06:00:00", "2026-05-12 08:00:00")]), "messages": chat,
                "participants": participants([BOSS, RIDER])}
    default = offhours.run(case(**base), Settings()).findings.row(0, named=True)
    assert default["value"] == pytest.approx(0.5)  # 18:00–18:30 outside 09:00–18:00
    assert "default window 09:00–18:00" in default["explanation_en"]
    rostered = case(**base, schedules=roster([("R1", "2026-05-12 12:00:00", "2026-05-12 18:15:00")]))
    assert offhours.run(rostered, Settings()).findings["value"].to_list() == [pytest.approx(0.25)]
    wider = Settings(working_window=("09:00", "19:00"))
    assert offhours.run(case(**base), wider).findings.is_empty()


def test_emoji_only_messages_are_not_work():
    chat = messages([("R1", "2026-05-12 22:15:00", "wxid_boss", "supervisor", "把今天的日报发我", None, "dm"),
                     ("R1", "2026-05-12 22:20:00", "wxid_r1", "self", "👍", None, "dm"),
                     ("R1", "2026-05-12 22:25:00", "wxid_r1", "self", "😂😂", None, "dm")])
    c = case(activity=blocks([("R1", "2026-05-12 10:00:00", "2026-05-12 20:00:00")]), messages=chat,
             participants=participants([BOSS, RIDER]))
    assert offhours.run(c, Settings()).findings.is_empty()
    assert hours_by_day(c) == {"2026-05-12": 10.0}


def test_a_rider_who_is_self_in_one_export_and_colleague_in_another_is_counted_once():
    group = [("R1", "2026-05-12 22:15:00", "wxid_boss", "supervisor", "今天李骑手值班，群里的问题及时处理", None, "g@chatroom"),
             ("R1", "2026-05-12 22:16:00", "wxid_r2", "colleague", "好的", None, "g@chatroom"),
             ("R1", "2026-05-12 22:45:00", "wxid_r1", "self", "已处理，顾客同意退款", None, "g@chatroom")]
    seen_by_r2 = [("R2", t, sender, {"colleague": "self", "self": "colleague"}.get(role, role), text, a, conv)
                  for _, t, sender, role, text, a, conv in group]
    chat = pl.concat([messages(group, src="S010"), messages(seen_by_r2, src="S011")])
    app = blocks([("R1", "2026-05-12 10:00:00", "2026-05-12 20:00:00"), ("R2", "2026-05-12 10:00:00",
                                                                          "2026-05-12 20:00:00")])
    c = case(activity=app, messages=chat, participants=participants([BOSS, RIDER, COLLEAGUE]))
    found = offhours.run(c, Settings()).findings
    assert found.select("worker_id", "value").rows() == [("R1", pytest.approx(0.5))]
    mine = sessions.attributed_messages(c).collect().filter(pl.col("worker_id") == "R1", pl.col("own"))
    assert mine.height == 1
    # without R1's own export, R1's message in R2's export is still R1's work
    only_r2 = case(activity=app, messages=messages(seen_by_r2, src="S011"),
                   participants=participants([BOSS, RIDER, COLLEAGUE]))
    assert sessions.attributed_messages(only_r2).collect().filter(pl.col("worker_id") == "R1").height == 1


def test_duplicated_messages_from_two_exports_of_one_group_count_once():
    days = ["2026-05-11", "2026-05-12", "2026-05-13"]
    first = [m for d in days for m in report_at(d, "22:15:00", "22:35:00", conversation="export-1")]
    second = [m for d in days[1:] for m in report_at(d, "22:15:00", "22:35:00", conversation="export-2")]
    app = blocks([("R1", f"{d} 10:00:00", f"{d} 20:00:00") for d in days])
    once = case(activity=app, messages=messages(first), participants=participants([BOSS, RIDER]))
    twice = case(activity=app, messages=pl.concat([messages(first), messages(second, src="S012")]),
                 participants=participants([BOSS, RIDER]))
    assert sessions.attributed_messages(twice).collect().height == len(first)
    assert offhours.run(twice, Settings()).findings["value"].to_list() == [pytest.approx(1.0)]
    assert hours_by_day(twice) == hours_by_day(once)
