"""Accuracy of the control indicators and the scorecard against the simulator's ground truth.

    python benchmarks/accuracy_control.py [SAMPLE_DIR]

Reads SAMPLE_DIR (default sample_logs/) through the connectors like any user input, runs the
control analyzer, and compares with SAMPLE_DIR/ground_truth/ (riders.parquet, planted.json),
which the analyzers never read. Writes the "control" key of benchmarks/results/accuracy.json
(read-modify-write: other keys belong to other benchmarks) and prints it.

- AUC: riders split by planted subordination level, high ≥ 0.5 > low (the midpoint of the
  [0, 1] scale); AUC = the share of (high, low) pairs in which the high rider has the higher
  overall score, ties counting one half. Spearman's rank correlation over all riders as well.
- Deadline compression: stations whose compression score (conservative end of the interval)
  reaches the scorecard's flag level, against the planted stations; onset week against the
  planted rule (shorter from the first whole week after the window start, week index 1).
- Rate change: detected platform, date and rates against the planted ones.
- Confinement and forcing: share of planted-confined riders (station_fulltime) flagged as
  confined, and of crowd part-timers flagged as confined or as forced (auto-assignment).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl

from auditor import law
from auditor.analyzers import control
from auditor.settings import Settings
from connectors import registry

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "accuracy.json"
HIGH_AT = 0.5


def auc(scores: pl.DataFrame) -> float:
    """P(score of a high-level rider > score of a low-level rider), ties one half."""
    high = scores.filter(pl.col("planted") >= HIGH_AT).select(h="overall")
    low = scores.filter(pl.col("planted") < HIGH_AT).select(l="overall")
    pairs = high.join(low, how="cross")
    wins = (pl.col("h") > pl.col("l")).cast(pl.Float64) + 0.5 * (pl.col("h") == pl.col("l")).cast(pl.Float64)
    return pairs.select(wins.mean()).item()


def evaluate(sample: Path) -> dict:
    truth = sample / "ground_truth"
    riders = pl.read_parquet(truth / "riders.parquet")
    planted = json.loads((truth / "planted.json").read_text(encoding="utf-8"))
    started = time.perf_counter()
    result = control.run(registry.load(sample), Settings())
    seconds = time.perf_counter() - started
    flag_at = law.load_control("scorecard")["flag_at"]
    spec = law.load_control("indicators")["indicator"]["deadline-compression"]

    scores = result.measures["scorecard"].join(riders.select("worker_id", planted="subordination", kind="rider_type"),
                                               on="worker_id")
    compression = result.measures["deadline_compression"].with_columns(
        score=((pl.col("compression_low") - spec["zero_at"]) / (spec["full_at"] - spec["zero_at"])).clip(0, 1))
    found_stations = sorted(compression.filter(pl.col("score") >= flag_at)["station_id"].to_list())
    planted_stations = sorted(p["station_id"] for p in planted["deadline_compression"])
    onset = dict(compression.select("station_id", "onset_week").iter_rows())
    change = planted["rate_change"]
    found_change = result.measures["rate_changes"].filter(pl.col("detected"))
    table = result.measures["control_indicators"]

    def flagged_share(kind: str, indicator: str) -> float:
        ids = riders.filter(pl.col("rider_type") == kind)["worker_id"].implode()
        rows = table.filter((pl.col("indicator") == indicator) & pl.col("worker_id").is_in(ids))
        return round(rows.select((pl.col("score") >= flag_at).mean()).item() or 0.0, 3)

    return {
        "sample": sample.name, "riders": riders.height, "seconds": round(seconds, 2),
        "auc_overall_vs_planted_subordination": round(auc(scores), 4),
        "auc_split": f"high: planted subordination >= {HIGH_AT}, low: < {HIGH_AT}",
        "riders_high": scores.filter(pl.col("planted") >= HIGH_AT).height,
        "riders_low": scores.filter(pl.col("planted") < HIGH_AT).height,
        "spearman_overall_vs_planted": round(scores.select(pl.corr("overall", "planted", method="spearman")).item(), 4),
        "categories_by_rider_type": {
            kind: dict(scores.filter(pl.col("kind") == kind).group_by("category").len().sort("category").iter_rows())
            for kind in sorted(scores["kind"].unique())},
        "compression_planted_stations": planted_stations,
        "compression_detected_stations": found_stations,
        "compression_onset_week": {s: onset.get(s) for s in planted_stations},
        "compression_planted_onset_week": 1,
        "rate_change_planted": {"platform": change["platform"], "date": change["date"],
                                "old": change["old_rate_yuan_per_km"], "new": change["new_rate_yuan_per_km"]},
        "rate_change_detected": [
            {"platform": r["platform"], "date": str(r["change_date"]), "old": round(r["rate_before"], 3),
             "new": round(r["rate_after"], 3), "separation": r["separation"]}
            for r in found_change.iter_rows(named=True)],
        "rate_change_date_error_days": [
            abs((r["change_date"] - date.fromisoformat(change["date"])).days)
            for r in found_change.filter(pl.col("platform") == change["platform"]).iter_rows(named=True)],
        "confined_flagged_share_station_fulltime": flagged_share("station_fulltime", "zone-confinement"),
        "confined_flagged_share_crowd_parttime": flagged_share("crowd_parttime", "zone-confinement"),
        "forced_flagged_share_crowd_parttime": flagged_share("crowd_parttime", "auto-assignment"),
    }


def main() -> None:
    sample = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "sample_logs"
    figures = evaluate(sample)
    existing = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    existing["control"] = figures
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(existing, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
