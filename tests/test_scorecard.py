"""The scorecard on hand-made scores, and the control analyzer against the sample city's ground truth."""

import importlib.util
import json
from pathlib import Path

import polars as pl
import pytest

from auditor import law
from auditor.analyzers import scorecard
from auditor.analyzers.control.common import scored
from auditor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
WORKERS = pl.DataFrame({"worker_id": ["HI", "MID", "LO"]})


def table(values: dict[str, dict[str, float]]) -> pl.DataFrame:
    """worker → indicator → value, scored by the law files."""
    rows = [{"worker_id": w, "indicator": i, "value": v, "n": 10, "refs": []}
            for w, by in values.items() for i, v in by.items()]
    frame = pl.DataFrame(rows, schema_overrides={"refs": pl.List(pl.Struct(
        {"table": pl.String, "src": pl.String, "src_row": pl.Int64}))})
    return scored(frame, Settings())


SCORES = table({
    "HI": {"auto-assignment": 0.9, "penalty-share": 0.3, "required-presence": 1.0, "zone-confinement": 1.0,
           "platform-dependence": 1.0},
    "MID": {"auto-assignment": 0.25, "penalty-share": 0.05, "required-presence": 0.4, "zone-confinement": 0.6,
            "platform-dependence": 0.8},
    "LO": {"auto-assignment": 0.0, "penalty-share": 0.0, "required-presence": 0.0, "zone-confinement": 0.3,
           "platform-dependence": 0.5},
})


def test_family_score_is_the_weighted_mean_of_measured_indicators_only():
    card = scorecard.scorecard(SCORES, WORKERS)
    hi = card.filter(pl.col("worker_id") == "HI").row(0, named=True)
    assert hi["personal"] == pytest.approx(1.0) and hi["organisational"] == pytest.approx(1.0)
    mid = card.filter(pl.col("worker_id") == "MID").row(0, named=True)
    # organisational: presence 0.4/0.8 = 0.5, confinement (0.6 − 0.5)/(0.9 − 0.5) = 0.25 → 0.375
    assert mid["organisational"] == pytest.approx(0.375)
    assert mid["overall"] == pytest.approx((mid["personal"] + mid["organisational"] + mid["economic"]) / 3)


def test_categories_follow_the_56_rules_with_reasons():
    card = scorecard.scorecard(SCORES, WORKERS).sort("worker_id")
    assert dict(card.select("worker_id", "category").iter_rows()) == {
        "HI": "labour_relationship", "MID": "managed_not_full", "LO": "civil"}
    hi = card.filter(pl.col("worker_id") == "HI")
    assert "系统强制派单比例" in hi["reasons_zh"].item() and "Labour relationship" in hi["reasons_en"].item()
    assert "deadline-tightness" in hi["not_measured"].item()


def test_views_mark_criteria_met_not_met_or_not_measurable():
    views = scorecard.views(SCORES, WORKERS, "eu_pwd")
    hi = dict(views.filter(pl.col("worker_id") == "HI").select("criterion", "status").iter_rows())
    assert hi["d_freedom"] == "met" and hi["a_pay"] == "not measurable"
    assert views.filter(pl.col("worker_id") == "HI")["conclusion_holds"].all()
    assert not views.filter(pl.col("worker_id") == "LO")["conclusion_holds"].any()
    assert set(scorecard.views(SCORES, WORKERS)["view"]) == set(law.load_control("views")["view"])


def test_stations_rank_by_risk_and_count_flagged_riders():
    card = scorecard.scorecard(SCORES, WORKERS)
    station_of = pl.DataFrame({"worker_id": ["HI", "MID", "LO"], "station_id": ["S1", "S2", "S2"]})
    ranked = scorecard.stations(card, SCORES, station_of)
    assert ranked["station_id"].to_list() == ["S1", "S2"] and ranked["risk_rank"].to_list() == [1, 2]
    assert ranked.filter(pl.col("station_id") == "S1")["auto-assignment"].item() == 1
    flagged = [c for c in ranked.columns if c in SCORES["indicator"].to_list()]
    assert flagged == sorted(flagged)  # one column order, whichever order the scores came in


def test_inspection_sample_is_reproducible_and_records_its_seed():
    card = scorecard.scorecard(SCORES, WORKERS)
    first, again = scorecard.inspection_sample(card, 2, 11), scorecard.inspection_sample(card.reverse(), 2, 11)
    assert first["worker_id"].to_list() == again["worker_id"].to_list()
    assert first["seed"].unique().to_list() == [11] and first.height == 2


def _benchmark():
    spec = importlib.util.spec_from_file_location("accuracy_control", ROOT / "benchmarks" / "accuracy_control.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def accuracy() -> dict:
    return _benchmark().evaluate(ROOT / "sample_logs")


def test_overall_score_ranks_riders_by_planted_subordination(accuracy):
    assert accuracy["auc_overall_vs_planted_subordination"] >= 0.95
    assert accuracy["riders_high"] and accuracy["riders_low"]


def test_planted_deadline_compression_and_rate_change_are_found_where_planted(accuracy):
    assert accuracy["compression_detected_stations"] == accuracy["compression_planted_stations"]
    assert set(accuracy["compression_onset_week"].values()) == {accuracy["compression_planted_onset_week"]}
    assert [c["platform"] for c in accuracy["rate_change_detected"]] == [accuracy["rate_change_planted"]["platform"]]
    assert accuracy["rate_change_date_error_days"] == [0]
    found, planted = accuracy["rate_change_detected"][0], accuracy["rate_change_planted"]
    assert found["new"] == pytest.approx(planted["new"], abs=0.05) and found["old"] == pytest.approx(planted["old"], abs=0.05)


def test_part_timers_are_not_flagged_as_confined_or_forced(accuracy):
    assert accuracy["confined_flagged_share_station_fulltime"] >= 0.9
    assert accuracy["confined_flagged_share_crowd_parttime"] == 0
    assert accuracy["forced_flagged_share_crowd_parttime"] == 0


def test_two_period_comparison_shows_the_planted_rate_cut():
    from auditor.analyzers import scorecard as sc
    from connectors import registry

    planted = json.loads((ROOT / "sample_logs" / "ground_truth" / "planted.json").read_text(encoding="utf-8"))
    change = planted["rate_change"]
    compared = sc.compare_periods(registry.load(ROOT / "sample_logs"), Settings(), change["date"])
    per_km = compared.filter((pl.col("platform") == change["platform"]) & (pl.col("metric") == "pay_per_km"))
    other = compared.filter((pl.col("platform") != change["platform"]) & (pl.col("metric") == "pay_per_km"))
    assert per_km["relative_change"].item() < -0.05 and abs(other["relative_change"].item()) < 0.02
