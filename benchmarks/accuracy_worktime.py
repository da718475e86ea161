"""Accuracy of working time, off-hours work and overtime owed against the simulator's ground truth.

    python benchmarks/accuracy_worktime.py [SAMPLE_DIR]

Reads SAMPLE_DIR (default sample_logs/) through the connectors like any user input, runs the
working-time analyzers and compares with SAMPLE_DIR/ground_truth/, which the analyzers never read.
Writes the "worktime" key of benchmarks/results/accuracy.json (read-modify-write: other keys
belong to other benchmarks) and prints it.

- Off-hours work: measured hours per rider against the planted episodes (offhours_work.parquet:
  first to last message), the largest relative error; riders with findings but nothing planted.
- Periodic duties: each planted periodic kind with at least three occurrences (fewer show no
  period) must be found with its period: daily for nightly reports, the planted weekday for weekend duty.
- Message classification: precision and recall of "substantive" against messages.parquet, over
  every message and over the messages of the planted episodes.
- Overtime: hours by premium band and pay owed per rider against overtime.parquet. Station riders'
  contracted wages (riders.parquet) are entered as a user would from the contract
  (Settings.worker_wages); the others fall to the Shanghai minimum wage, as in the ground truth.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl

import connectors
from auditor.analyzers import offhours, overtime, sessions, worktime
from auditor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "accuracy.json"
TZ = "Asia/Shanghai"


def offhours_accuracy(result, truth_dir: Path) -> dict:
    planted = pl.read_parquet(truth_dir / "offhours_work.parquet")
    per_rider = planted.group_by("worker_id").agg(planted=(pl.col("end") - pl.col("start")).dt.total_seconds().sum()
                                                 / 3600)
    found = result.findings.select("worker_id", measured="value")
    both = per_rider.join(found, on="worker_id", how="left").with_columns(
        rel_error=(pl.col("measured").fill_null(0) - pl.col("planted")).abs() / pl.col("planted"))
    clean = json.loads((truth_dir / "planted.json").read_text(encoding="utf-8"))["riders_without_plants"]
    periods = dict(result.measures["offhours_summary"].select("worker_id", "periods").rows())
    local = pl.col("start").dt.convert_time_zone(TZ)
    duties = (planted.filter("periodic").group_by("worker_id", "kind")
              .agg(n=pl.len(), weekday=local.dt.weekday().mode().first()).filter(pl.col("n") >= 3)
              .with_columns(want=pl.when(pl.col("kind") == "nightly_report").then(pl.lit("daily"))
                            .otherwise(pl.format("weekly:{}", "weekday"))))
    found_duties = [w in periods and want in periods[w] for w, want in duties.select("worker_id", "want").rows()]
    return {
        "riders_planted": per_rider.height,
        "riders_found": both.filter(pl.col("measured").is_not_null()).height,
        "hours_planted": round(per_rider["planted"].sum(), 3),
        "hours_measured": round(both["measured"].fill_null(0).sum(), 3),
        "max_rider_rel_error": round(both["rel_error"].max(), 4),
        "riders_within_5pct": int((both["rel_error"] <= 0.05).sum()),
        "false_findings_on_clean_riders": sorted(set(result.findings["worker_id"]) & set(clean)),
        "periodic_duties_planted_3plus": duties.height,
        "periodic_duties_found_with_period": sum(found_duties),
        "periodic_episodes_too_few_to_show_a_period": planted.filter("periodic").join(
            duties.select("worker_id", "kind"), on=["worker_id", "kind"], how="anti").height,
    }


def classification_accuracy(case, truth_dir: Path) -> dict:
    files = pl.DataFrame({"src": [s.src for s in case.sources], "file": [Path(s.path).name for s in case.sources]})
    labelled = (sessions.attributed_messages(case).collect().filter(~pl.col("own") | (pl.col("sender_role") == "self"))
                .join(files, on="src").select("file", native_id=pl.col("message_id").cast(pl.Int64), found="label"))
    truth = pl.read_parquet(truth_dir / "messages.parquet")
    episodes = (pl.read_parquet(truth_dir / "offhours_work.parquet").select(key="message_ids").explode("key")
                .select(pl.col("key").str.split_exact(":", 1).struct.rename_fields(["file", "native_id"]))
                .unnest("key").with_columns(pl.col("native_id").cast(pl.Int64)))

    def scores(frame: pl.DataFrame) -> dict:
        said, real = frame["found"] == "substantive", frame["label"] == "substantive"
        hit = int((said & real).sum())
        return {"messages": frame.height, "precision": round(hit / max(int(said.sum()), 1), 4),
                "recall": round(hit / max(int(real.sum()), 1), 4)}

    both = truth.join(labelled, on=["file", "native_id"], how="inner")
    return {"all_messages": scores(both),
            "planted_episode_messages": scores(both.join(episodes, on=["file", "native_id"], how="semi")),
            "messages_unmatched": truth.height - both.height}


def overtime_accuracy(owed: pl.DataFrame, truth_dir: Path) -> dict:
    truth = pl.read_parquet(truth_dir / "overtime.parquet")
    both = truth.join(owed, on="worker_id", how="left", suffix="_found")
    figures = {}
    for column in ("hours_150", "hours_200", "hours_300", "pay_owed"):
        error = (both[f"{column}_found"].fill_null(0) - both[column]).abs()
        figures[column] = {"truth_total": round(both[column].sum(), 2),
                           "found_total": round(both[f"{column}_found"].fill_null(0).sum(), 2),
                           "max_rider_abs_error": round(error.max(), 4),
                           "max_rider_rel_error": round((error / both[column].clip(lower_bound=1)).max(), 6)}
    return figures


def main(sample: Path) -> dict:
    truth_dir = sample / "ground_truth"
    case = connectors.load(sample)
    riders = pl.read_parquet(truth_dir / "riders.parquet")
    wages = dict(riders.filter(pl.col("rider_type") == "station_fulltime").select("worker_id", "monthly_wage").rows())
    settings = Settings(worker_wages=wages)
    started = time.perf_counter()
    off = offhours.run(case, settings)
    owed = overtime.overtime(case, settings)
    limits = worktime.run(case, settings)
    seconds = time.perf_counter() - started
    figures = {
        "sample": str(sample.relative_to(ROOT) if sample.is_relative_to(ROOT) else sample),
        "riders": riders.height,
        "seconds_offhours_overtime_limits": round(seconds, 2),
        "settings": {"chat_gap_minutes": settings.chat_gap_minutes, "working_window": list(settings.working_window),
                     "wages": "station riders: contracted wage entered; others: Shanghai minimum wage (assumption)"},
        "offhours": offhours_accuracy(off, truth_dir),
        "classification_substantive": classification_accuracy(case, truth_dir),
        "overtime": overtime_accuracy(owed, truth_dir),
        "limit_findings": dict(limits.findings.group_by("indicator").len().sort("indicator").rows()),
    }
    existing = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**existing, "worktime": figures}, indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    return figures


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "sample_logs"), indent=2,
                     ensure_ascii=False))
