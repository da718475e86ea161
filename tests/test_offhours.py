"""Off-hours substantive work (隐形加班): sessions, the three criteria, periodicity — on hand-made
chats, and against the sample city's planted episodes."""

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from worktime_cases import BOSS, COLLEAGUE, RIDER, blocks, case, messages, participants

import connectors
from auditor.analyzers import offhours, sessions
from auditor.settings import Settings

SAMPLE = Path(__file__).parents[1] / "sample_logs"
DAYS = [date(2026, 5, 11) + timedelta(days=i) for i in range(21)]  # three ISO weeks, Monday to Sunday


def app_days(days=DAYS) -> pl.DataFrame:
    return blocks([("R1", f"{d} 10:00:00", f"{d} 20:00:00") for d in days])


def nightly(reply: str = "今日完成30单，准时率98%", days=DAYS) -> pl.DataFrame:
    rows = []
    for d in days:
        rows += [("R1", f"{d} 22:15:00", "wxid_boss", "supervisor", "把今天的日报发我", None, "dm"),
                 ("R1", f"{d} 22:35:00", "wxid_r1", "self", reply, None, "dm")]
    return messages(rows)


def run(c) -> dict:
    result = offhours.run(c, Settings())
    assert result.findings.height <= 1
    return result.findings.row(0, named=True) if result.findings.height else {}


def test_a_nightly_report_every_day_meets_all_three_criteria():
    found = run(case(activity=app_days(), messages=nightly(), participants=participants([BOSS, RIDER])))
    assert found["value"] == pytest.approx(21 * 20 / 60)
    assert found["score"] == 1.0
    assert "every day 22:15–22:35 on 21 of 21 days worked" in found["explanation_en"]
    assert "每天 22:15–22:35，21 个工作日中有 21 天" in found["explanation_zh"]
    assert found["explanation_en"].count(": met") == 3
    params = json.loads(found["parameters"])
    assert params["conservative_hours"] == pytest.approx(7.0) and params["periods"] == ["daily"]
    assert params["chat_gap_minutes"] == 60 and params["schedule"] == "default window"


def test_evidence_is_the_messages_of_the_sessions():
    c = case(activity=app_days(), messages=nightly(), participants=participants([BOSS, RIDER]))
    result = offhours.run(c, Settings())
    assert result.evidence.height == 42
    assert set(result.evidence["table"]) == {"messages"}


def test_only_acknowledging_is_simple_communication_not_work():
    c = case(activity=app_days(), messages=nightly(reply="收到"), participants=participants([BOSS, RIDER]))
    assert run(c) == {}
    emoji = case(activity=app_days(), messages=nightly(reply="👍👍"), participants=participants([BOSS, RIDER]))
    assert run(emoji) == {}


def test_one_complaint_evening_is_work_but_occasional():
    chat = messages([("R1", "2026-05-13 20:30:00", "wxid_c", "customer", "你们送的餐洒了，我要投诉", None, "c1"),
                     ("R1", "2026-05-13 20:45:00", "wxid_r1", "self", "已联系商家处理，顾客同意退款", None, "c1")])
    found = run(case(activity=app_days(), messages=chat, participants=participants([BOSS, RIDER])))
    assert found["value"] == pytest.approx(0.25)
    assert found["score"] == pytest.approx(2 / 3)
    assert "periodic and fixed: not met" in found["explanation_en"]
    assert json.loads(found["parameters"])["conservative_hours"] == 0


def test_a_standing_duty_on_sundays_is_weekly_and_lasts_to_the_last_reply():
    weekdays = [d for d in DAYS if d.weekday() != 6]
    rows = []
    for d in (d for d in DAYS if d.weekday() == 6):
        rows += [("R1", f"{d} 10:30:00", "wxid_boss", "supervisor", "@赵同事 5号店出餐了，马上去取"),  # to someone else
                 ("R1", f"{d} 10:31:00", "wxid_r2", "colleague", "好的"),
                 ("R1", f"{d} 11:00:00", "wxid_boss", "supervisor", "今天李骑手值班，群里的问题及时处理"),
                 ("R1", f"{d} 11:20:00", "wxid_r1", "self", "已处理，顾客同意退款"),
                 ("R1", f"{d} 13:00:00", "wxid_r1", "self", "已联系顾客，改约14:30送达")]  # 100 min later
    c = case(activity=app_days(weekdays), messages=messages(rows),
             participants=participants([BOSS, RIDER, COLLEAGUE]))
    found = run(c)
    assert found["value"] == pytest.approx(3 * 2.0)
    assert "every Sunday 11:00–13:00 in 3 of 3 weeks" in found["explanation_en"]
    assert json.loads(found["parameters"])["periods"] == ["weekly:7"]


def test_chat_during_app_time_or_the_roster_is_not_off_hours():
    during_app = messages([("R1", f"{d} 15:00:00", "wxid_r1", "self", "今日完成30单，准时率98%") for d in DAYS])
    assert run(case(activity=app_days(), messages=during_app, participants=participants([BOSS, RIDER]))) == {}


@pytest.fixture(scope="module")
def sample():
    c = connectors.load(SAMPLE)
    return c, offhours.run(c, Settings())


def test_sample_offhours_hours_within_5_percent_of_planted(sample):
    _, result = sample
    truth = (pl.read_parquet(SAMPLE / "ground_truth" / "offhours_work.parquet")
             .group_by("worker_id").agg(planted=(pl.col("end") - pl.col("start")).dt.total_seconds().sum() / 3600))
    found = result.findings.select("worker_id", measured="value")
    both = truth.join(found, on="worker_id", how="full", coalesce=True)
    assert both.filter(pl.col("measured").is_null()).height == 0, "a planted rider without a finding"
    assert ((both["measured"] - both["planted"]).abs() / both["planted"]).max() <= 0.05


def test_sample_no_offhours_findings_for_riders_without_plants(sample):
    _, result = sample
    clean = json.loads((SAMPLE / "ground_truth" / "planted.json").read_text())["riders_without_plants"]
    assert clean and not set(result.findings["worker_id"]) & set(clean)


def test_sample_periodic_duties_are_found_with_their_period(sample):
    _, result = sample
    truth = pl.read_parquet(SAMPLE / "ground_truth" / "offhours_work.parquet").filter("periodic")
    local = pl.col("start").dt.convert_time_zone("Asia/Shanghai")
    expected = (truth.group_by("worker_id", "kind").agg(n=pl.len(), weekday=local.dt.weekday().mode().first())
                .filter(pl.col("n") >= 3))  # a period needs at least three occurrences to be seen
    summary = result.measures["offhours_summary"]
    periods = dict(summary.select("worker_id", "periods").rows())
    for worker, kind, _, weekday in expected.iter_rows():
        want = "daily" if kind == "nightly_report" else f"weekly:{weekday}"
        assert want in periods[worker], (worker, kind)


def test_sample_classification_of_substantive_messages(sample):
    c, _ = sample
    files = pl.DataFrame({"src": [s.src for s in c.sources], "file": [Path(s.path).name for s in c.sources]})
    labelled = (sessions.attributed_messages(c).collect().filter(~pl.col("own") | (pl.col("sender_role") == "self"))
                .join(files, on="src").select("file", native_id=pl.col("message_id").cast(pl.Int64), found="label"))
    truth = pl.read_parquet(SAMPLE / "ground_truth" / "messages.parquet")
    both = truth.join(labelled, on=["file", "native_id"], how="inner")
    assert both.height >= 0.95 * truth.height  # duplicates across exports are dropped, nothing else
    said, real = both["found"] == "substantive", both["label"] == "substantive"
    assert (said & real).sum() / said.sum() >= 0.95
    assert (said & real).sum() / real.sum() >= 0.95
