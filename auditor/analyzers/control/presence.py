"""Required presence: rostered shifts and attendance checks.

Needs schedules (worker_id, start, src, src_row), working days (activity online periods ∪ order
time) and, for the detail, orders' penalty reasons.

value = the share of the worker's working days (local dates with working time) on which a roster
shift starts. A worker with working days but no roster gets 0 when the case holds rosters for
someone (the station rosters others, not them); when the case holds no schedules at all the
indicator is not measurable.
"""

from __future__ import annotations

import polars as pl

from auditor.analyzers.control.common import Inputs, rows, spec, wilson
from auditor.findings import ref

ID = "required-presence"


def required_presence(inputs: Inputs) -> pl.LazyFrame:
    schedules = inputs.table("schedules").collect()
    if schedules.height == 0:
        return rows(pl.DataFrame(), ID)
    rostered = (schedules.with_columns(date=pl.col("start").dt.convert_time_zone(inputs.case.tz).dt.date())
                .group_by("worker_id", "date").agg(shift_refs=ref("schedules")))
    attendance_fines = (inputs.orders.filter(pl.col("penalty_reason").fill_null("")
                                             .str.contains_any(spec(ID)["attendance_reasons"]))
                        .group_by("worker_id").agg(attendance_fines=pl.len()))
    per_worker = (inputs.working_days.select("worker_id", "date")
                  .join(rostered, on=["worker_id", "date"], how="left")
                  .group_by("worker_id")
                  .agg(n=pl.len(), k=pl.col("shift_refs").is_not_null().sum(),
                       refs=pl.col("shift_refs").drop_nulls().list.explode(keep_nulls=False, empty_as_null=False))
                  .join(attendance_fines, on="worker_id", how="left")
                  .with_columns(pl.col("attendance_fines").fill_null(0)))
    low, high = wilson(pl.col("k"), pl.col("n"))
    return rows(per_worker.with_columns(
        value=pl.col("k") / pl.col("n"), ci_low=low, ci_high=high,
        detail_zh=pl.format("{} 个工作日中 {} 天有站点排班；{} 单因签到或出勤被罚", "n", "k", "attendance_fines"),
        detail_en=pl.format("{} of {} working days were rostered shifts; {} fines for check-in or attendance",
                            "k", "n", "attendance_fines")), ID)
