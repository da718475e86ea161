"""Sanctions on the account and pressure about acceptance rate, online hours or ranking.

Needs activity sanction events (worker_id, ts, detail, src, src_row) and classified messages.

account-sanctions: warnings, suspensions, deactivations per worker, and whether the record shows
a human decision or an appeal (keywords in indicators.toml); not measurable when the case holds
no sanction event at all (the export may not carry them).
acceptance-pressure: sanction events and supervisor or system messages that mention acceptance
rate, online hours or ranking (keywords in indicators.toml).
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
)
from auditor.findings import ref

SANCTIONS = "account-sanctions"
PRESSURE = "acceptance-pressure"
PRESSURE_ROLES = ("supervisor", "system")


def account_sanctions(inputs: Inputs) -> Measured:
    if not inputs.carried["sanction"]:
        return rows(pl.DataFrame(), SANCTIONS)
    events = inputs.activity.filter(pl.col("kind") == "sanction")
    reviewed = pl.col("detail").fill_null("").str.contains_any(spec(SANCTIONS)["human_review_keywords"],
                                                               ascii_case_insensitive=True)
    kind = pl.col("detail").fill_null("unspecified").str.split(":").list.first().str.strip_chars()
    per_worker = events.group_by("worker_id").agg(
        value=pl.len().cast(pl.Float64), n=pl.len(), reviewed=reviewed.sum(),
        kinds=pl.format("{}", kind).unique().sort().str.join("、"))
    workers = inputs.workers.join(per_worker, on="worker_id", how="left").with_columns(
        pl.col("value").fill_null(0.0), pl.col("n").fill_null(0), pl.col("reviewed").fill_null(0),
        pl.col("kinds").fill_null("—"))
    return rows(workers.with_columns(
        detail_zh=pl.format("{} 次账号处罚（{}）；其中 {} 次记录了人工决定或申诉", "n", "kinds", "reviewed"),
        detail_en=pl.format("{} account sanctions ({}); {} record a human decision or an appeal", "n", "kinds",
                            "reviewed")), SANCTIONS, cited(events, "activity"))


def acceptance_pressure(inputs: Inputs) -> Measured:
    words = spec(PRESSURE)["keywords"]
    mentions = lambda c: pl.col(c).fill_null("").str.contains_any(words, ascii_case_insensitive=True)
    sanctions = inputs.activity.filter((pl.col("kind") == "sanction") & mentions("detail")).select(
        "worker_id", ref=ref("activity"), sanction=pl.lit(1))
    messages = inputs.messages.filter(pl.col("sender_role").is_in(PRESSURE_ROLES) & mentions("text")).select(
        "worker_id", ref=ref("messages"), sanction=pl.lit(0))
    cites = pl.concat([sanctions, messages])
    events = cites.group_by("worker_id").agg(n=pl.len(), sanctions=pl.col("sanction").sum())
    if not (inputs.carried["pressure_sanction"] or inputs.carried["messages"]):  # neither kind of record at all
        return rows(pl.DataFrame(), PRESSURE)
    workers = inputs.workers.join(events, on="worker_id", how="left").with_columns(
        pl.col("n").fill_null(0), pl.col("sanctions").fill_null(0))
    return rows(workers.with_columns(
        value=pl.col("n").cast(pl.Float64),
        detail_zh=pl.format("{} 次与接单率、在线时长或排名挂钩的处罚或消息（其中 {} 次账号处罚）", "n", "sanctions"),
        detail_en=pl.format("{} sanctions or messages tied to acceptance rate, online hours or ranking ({} of them "
                            "account sanctions)", "n", "sanctions")), PRESSURE, referenced(cites, "ref"))
