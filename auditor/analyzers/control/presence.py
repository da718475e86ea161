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

from auditor.analyzers.control.common import Inputs, Measured, cited, rows, spec, wilson

ID = "required-presence"


def required_presence(inputs: Inputs) -> Measured:
    if not inputs.carried["schedules"]:
        return rows(pl.DataFrame(), ID)
    schedules = inputs.table("schedules").collect()
    shifts = schedules.lazy().with_columns(date=pl.col("start").dt.convert_time_zone(inputs.case.tz).dt.date())
    worked = inputs.working_days.lazy().select("worker_id", "date")
    attendance_fines = (inputs.orders.lazy().filter(pl.col("penalty_reason").fill_null("")
                                                    .str.contains_any(spec(ID)["attendance_reasons"]))
                        .group_by("worker_id").agg(attendance_fines=pl.len()))
    rostered = worked.join(shifts.select("worker_id", "date").unique(), on=["worker_id", "date"], how="semi")
    per_worker = (worked.group_by("worker_id").agg(n=pl.len())
                  .join(rostered.group_by("worker_id").agg(k=pl.len()), on="worker_id", how="left")
                  .with_columns(pl.col("k").fill_null(0))
                  .join(attendance_fines, on="worker_id", how="left")
                  .with_columns(pl.col("attendance_fines").fill_null(0)))
    low, high = wilson(pl.col("k"), pl.col("n"))
    return rows(per_worker.with_columns(
        value=pl.col("k") / pl.col("n"), ci_low=low, ci_high=high,
        detail_zh=pl.format("{} 个工作日中 {} 天有站点排班；{} 单因签到或出勤被罚", "n", "k", "attendance_fines"),
        detail_en=pl.format("{} of {} working days were rostered shifts; {} fines for check-in or attendance",
                            "k", "n", "attendance_fines")), ID,
                cited(shifts.join(worked, on=["worker_id", "date"], how="semi"), "schedules"))
