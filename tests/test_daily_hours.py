import polars as pl
import pytest

from auditor.analyzers import daily_hours, run_all
from auditor.findings import FindingError, validate
from auditor.settings import Settings


def test_daily_hours_union_split_at_midnight(small_case):
    days = daily_hours.daily_hours(small_case).collect()
    got = {(w, str(d)): round(h, 4) for w, d, h in days.select("worker_id", "date", "hours").iter_rows()}
    assert got == {("R1", "2026-04-27"): 11.0, ("R2", "2026-04-27"): 2.0, ("R2", "2026-04-28"): 8.5}


def test_findings_only_for_days_over_the_limit_with_evidence(small_case):
    result = daily_hours.run(small_case, Settings())
    f = result.findings.sort("finding_id")
    assert f.select("worker_id", "period").rows() == [("R1", "2026-04-27"), ("R2", "2026-04-28")]
    r1 = f.row(0, named=True)
    assert r1["value"] == pytest.approx(11.0) and r1["threshold"] == 8.0
    assert r1["score"] == pytest.approx(1.0)  # 3 h over = the Art. 41 ceiling
    assert any("Art. 36" in s for s in r1["sources"])
    assert "11.0" in r1["explanation_en"] and "11.0" in r1["explanation_zh"]
    ev = result.evidence.filter(pl.col("finding_id") == r1["finding_id"])
    # both platforms' online/offline events, not the login/logout outside the merged periods' refs
    assert set(ev.select("table", "src", "src_row").rows()) == {
        ("activity", "S001", 3), ("activity", "S001", 4), ("activity", "S001", 6), ("activity", "S001", 7)}
    r2_ev = result.evidence.filter(pl.col("finding_id") == f["finding_id"][1])
    assert ("orders", "S002", 2) in r2_ev.select("table", "src", "src_row").rows()
    assert ("orders", "S002", 4) not in r2_ev.select("table", "src", "src_row").rows()  # rejected order


def test_run_all_collects_registered_analyzers(small_case):
    result = run_all(small_case)
    assert {"daily-hours-over-limit", "working-time-total", "overtime-pay-owed"} <= set(result.findings["indicator"])
    assert "daily_hours" in result.measures


def test_validate_rejects_finding_without_evidence(small_case):
    result = daily_hours.run(small_case, Settings())
    with pytest.raises(FindingError, match="without evidence"):
        validate(result.findings, result.evidence.head(0))
