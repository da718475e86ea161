"""Penalties and deductions: how many, how much, for what, and their share of gross pay.

Needs orders (worker_id, pay, penalty, penalty_reason, src, src_row) and, to tie fines to tight
deadlines, the deadline ratios of auditor.analyzers.control.deadlines.

value = Σ penalty ÷ Σ pay over the worker's orders (gross pay before deductions). The detail
counts the fines for late delivery on orders whose deadline was stricter than the median-based
time: lateness the deadline itself made likely.
"""

from __future__ import annotations

import polars as pl

from auditor.analyzers.control.common import Inputs, Measured, cited, rows, summed

ID = "penalty-share"
REASON_SEPARATOR = "; "


def reasons(inputs: Inputs) -> pl.DataFrame:
    """Per worker and reason: fined orders and, where the order had that reason alone, the amount."""
    return inputs.once("penalty reasons", lambda: _reasons(inputs))


def _reasons(inputs: Inputs) -> pl.DataFrame:
    fined = inputs.orders.lazy().filter(pl.col("penalty") > 0)
    return (fined.with_columns(reason=pl.col("penalty_reason").fill_null("(none given)").str.split(REASON_SEPARATOR),
                               alone=pl.col("penalty_reason").fill_null("").str.contains(REASON_SEPARATOR, literal=True).not_())
            .explode("reason")
            .group_by("worker_id", "reason")
            .agg(orders=pl.len(), amount_single_reason=pl.col("penalty").filter(pl.col("alone")).sum())
            .sort("worker_id", "orders", "reason", descending=[False, True, False]).pipe(summed))


def penalty_share(inputs: Inputs, ratios: pl.DataFrame) -> Measured:
    tight_late = ratios.lazy().filter((pl.col("ratio") < 1) & pl.col("late") & (pl.col("penalty") > 0)).group_by(
        "worker_id").agg(tight_late_fines=pl.len())
    top = (reasons(inputs).group_by("worker_id", maintain_order=True)
           .agg(top=pl.format("{} × {}", "reason", "orders").head(3).str.join("、")))
    per_worker = (inputs.orders.lazy().filter(pl.col("pay").is_not_null() | pl.col("penalty").is_not_null())
                  .group_by("worker_id")
                  .agg(n=pl.len(), fined=(pl.col("penalty") > 0).sum(), amount=pl.col("penalty").sum(),
                       gross=pl.col("pay").sum())
                  .pipe(summed).lazy()
                  .filter(pl.col("gross") > 0)
                  .join(tight_late, on="worker_id", how="left").join(top.lazy(), on="worker_id", how="left")
                  .with_columns(pl.col("tight_late_fines").fill_null(0), pl.col("top").fill_null("—")))
    return rows(per_worker.with_columns(
        value=pl.col("amount") / pl.col("gross"),
        detail_zh=pl.format("{} 单中 {} 单被罚款或扣款，共 {} 元，占应得报酬 {} 元的比例；主要原因：{}；"
                            "其中 {} 笔是承诺时限短于中位用时的订单超时被罚", "n", "fined", pl.col("amount").round(2),
                            pl.col("gross").round(2), "top", "tight_late_fines"),
        detail_en=pl.format("{} of {} orders carried a fine or deduction, {} CNY in all against {} CNY gross pay; "
                            "main reasons: {}; {} were fines for lateness on orders promised less than the median "
                            "time", "fined", "n", pl.col("amount").round(2), pl.col("gross").round(2), "top",
                            "tight_late_fines")), ID,
        cited(inputs.orders.lazy().filter(pl.col("penalty") > 0), "orders"))
