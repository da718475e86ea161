"""Assignment control: orders imposed by the system, and what followed a refusal.

Needs orders (worker_id, dispatched_at, outcome, penalty, src, src_row); for consequences also
activity sanction events and classified messages (supervisor instructions).

auto-assignment: auto_assigned ÷ every dispatch except cancelled ones, with a Wilson interval.
rejection-consequence: the share of the worker's refusals (rejected or timed out) followed,
within ``window_hours`` (indicators.toml), by a fine on that order, a sanction on the account or
an instruction from a supervisor. ``followup`` compares the dispatches a worker receives in the
same window after a refusal and after an acceptance (fewer orders after refusing = a quiet sanction).
"""

from __future__ import annotations

import polars as pl

from auditor.analyzers.control.common import (
    Inputs,
    Measured,
    cited,
    referenced,
    rows,
    spec,
    wilson,
)
from auditor.findings import ref

AUTO = "auto-assignment"
CONSEQUENCE = "rejection-consequence"
REFUSALS = ("rejected", "timed_out")
TAKEN = ("accepted", "auto_assigned")


def auto_assignment(inputs: Inputs) -> Measured:
    auto = pl.col("outcome") == "auto_assigned"
    per_worker = inputs.orders.lazy().filter(pl.col("outcome") != "cancelled").group_by("worker_id").agg(
        n=pl.len(), k=auto.sum(), refused=pl.col("outcome").is_in(REFUSALS).sum())
    low, high = wilson(pl.col("k"), pl.col("n"))
    return rows(per_worker.with_columns(
        value=pl.col("k") / pl.col("n"), ci_low=low, ci_high=high,
        detail_zh=pl.format("{} 次派单中 {} 单为系统派单（不可拒绝），{} 次拒单或超时未响应", "n", "k", "refused"),
        detail_en=pl.format("{} of {} dispatches were assigned by the system (no choice to refuse); {} were refused "
                            "or timed out", "k", "n", "refused")), AUTO,
                cited(inputs.orders.lazy().filter(auto), "orders"))


def _next_event(refusals: pl.DataFrame, events: pl.DataFrame, name: str, window: pl.Expr) -> pl.DataFrame:
    """Attach the worker's first event at or after each refusal, if it falls inside the window."""
    events = events.select("worker_id", ts_event=pl.col("ts"), **{f"{name}_ref": pl.col("ref")}).sort("ts_event")
    joined = refusals.sort("dispatched_at").join_asof(events, left_on="dispatched_at", right_on="ts_event",
                                                      by="worker_id", strategy="forward", check_sortedness=False)
    inside = pl.col("ts_event") <= pl.col("dispatched_at") + window
    return joined.with_columns(pl.when(inside).then(pl.col(f"{name}_ref")).alias(f"{name}_ref")).drop("ts_event")


def rejection_consequence(inputs: Inputs) -> Measured:
    window = pl.duration(seconds=float(spec(CONSEQUENCE)["window_hours"]) * 3600)
    refusals = inputs.orders.lazy().filter(pl.col("outcome").is_in(REFUSALS)).select(
        "worker_id", "dispatched_at", "penalty", order_ref=ref("orders")).collect()
    if refusals.height == 0:
        return rows(pl.DataFrame(), CONSEQUENCE)
    sanctions = inputs.activity.filter(pl.col("kind") == "sanction").select("worker_id", "ts", ref=ref("activity"))
    instructions = inputs.messages.filter(pl.col("is_instruction") & (pl.col("sender_role") == "supervisor")).select(
        "worker_id", "ts", ref=ref("messages"))
    followed = _next_event(_next_event(refusals, sanctions, "sanction", window), instructions, "instruction", window)
    consequence = (pl.col("penalty") > 0) | pl.col("sanction_ref").is_not_null() | pl.col("instruction_ref").is_not_null()
    per_worker = followed.group_by("worker_id").agg(
        n=pl.len(), k=consequence.sum(), fined=(pl.col("penalty") > 0).sum(),
        sanctioned=pl.col("sanction_ref").is_not_null().sum(), instructed=pl.col("instruction_ref").is_not_null().sum())
    low, high = wilson(pl.col("k"), pl.col("n"))
    return rows(per_worker.with_columns(
        value=pl.col("k") / pl.col("n"), ci_low=low, ci_high=high,
        detail_zh=pl.format("{} 次拒单或超时中 {} 次之后有后果：{} 次当单罚款，{} 次账号处罚，{} 次站长指令（{} 小时内）",
                            "n", "k", "fined", "sanctioned", "instructed", pl.lit(spec(CONSEQUENCE)["window_hours"])),
        detail_en=pl.format("{} of {} refusals were followed by a consequence: {} fined on the order, {} account "
                            "sanctions, {} supervisor instructions (within {} h)", "k", "n", "fined", "sanctioned",
                            "instructed", pl.lit(spec(CONSEQUENCE)["window_hours"]))), CONSEQUENCE,
        pl.concat([referenced(followed.filter(consequence), "order_ref"), referenced(followed, "sanction_ref"),
                   referenced(followed, "instruction_ref")]).unique())  # a sanction may follow two refusals


def followup(inputs: Inputs) -> pl.DataFrame:
    """Per worker: mean dispatches received in the window after a refusal and after taking an
    order (strictly after it: one dispatched at the same moment does not count), and their
    difference (negative = fewer orders after refusing)."""
    hours = float(spec(CONSEQUENCE)["window_hours"])
    # one sort by time; each worker's running count of dispatches, looked up as of a time, says how
    # many they had received by then (a dispatch at the very same time is not after it)
    dispatches = (inputs.orders.select("worker_id", "dispatched_at", "outcome").sort("dispatched_at")
                  .with_columns(seen=pl.int_range(1, pl.len() + 1).over("worker_id")))
    counts = dispatches.select("worker_id", ts="dispatched_at", seen="seen")

    def seen_by(frame: pl.DataFrame, at: str, name: str) -> pl.DataFrame:
        return frame.join_asof(counts.rename({"seen": name}), left_on=at, right_on="ts", by="worker_id",
                               strategy="backward", check_sortedness=False).drop("ts")

    ends = (dispatches.with_columns(window_end=pl.col("dispatched_at") + pl.duration(seconds=hours * 3600))
            .pipe(seen_by, "dispatched_at", "before").pipe(seen_by, "window_end", "by_end")
            .with_columns(received=pl.col("by_end") - pl.col("before")))
    kind = pl.when(pl.col("outcome").is_in(REFUSALS)).then(pl.lit("after_refusal")).when(
        pl.col("outcome").is_in(TAKEN)).then(pl.lit("after_taking"))
    return (ends.lazy().with_columns(kind=kind).drop_nulls("kind")
            .group_by("worker_id").agg(
                refusals=(pl.col("kind") == "after_refusal").sum(),
                after_refusal=pl.col("received").filter(pl.col("kind") == "after_refusal").mean(),
                after_taking=pl.col("received").filter(pl.col("kind") == "after_taking").mean())
            .with_columns(difference=pl.col("after_refusal") - pl.col("after_taking"), window_hours=pl.lit(hours))
            .sort("worker_id").collect())
