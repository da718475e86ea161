"""Deadline tightness and deadline compression (算法取中).

Needs orders (worker_id, station_id, dispatched_at, deadline_at, delivered_at, distance_m,
penalty, src, src_row).

Each delivered order's promised time (dispatch → deadline) is compared with a *realistic* time
for its distance: by default the median actual time (dispatch → delivery) of all the case's
orders in the same whole-kilometre band — the middle value that 算法取中 asks deadlines to be set
from — or, when ``settings.deadline_speed_kmh`` is set, distance ÷ that speed. ratio =
promised ÷ realistic; below 1 the deadline is stricter than the median-based time.

Compression is the trend of that ratio over time for the same distance: a Theil–Sen slope of the
daily median log ratio against the day, per rider and per station, reported as the share by
which the promised time shrinks per week, with Sen's 95 % interval.
"""

from __future__ import annotations

import polars as pl

from auditor.analyzers import context
from auditor.analyzers.control.common import (
    Inputs,
    Measured,
    cited,
    rows,
    theil_sen,
    wilson,
)

TIGHTNESS = "deadline-tightness"
COMPRESSION = "deadline-compression"
BAND_KM = 1.0  # distances within one whole kilometre are "comparable"
# the order columns the ratios' readers use: the rest (coordinates, reasons …) stays out of the copy
RATIO_COLUMNS = ("worker_id", "platform", "station_id", "dispatched_at", "deadline_at", "delivered_at", "distance_m",
                 "penalty", "src", "src_row")
ORDER_BANDS = "deadline order bands"  # the case-wide reference of order_bands
BAND_COLUMNS = ("dispatched_at", "deadline_at", "delivered_at", "distance_m")  # what the bands read of the orders


def delivered(orders: pl.DataFrame, tz: str) -> pl.LazyFrame:
    """Delivered orders with a distance, with promised_s, actual_s, band and day (local)."""
    seconds = lambda a, b: (pl.col(b) - pl.col(a)).dt.total_microseconds() / 1e6
    return (orders.lazy().filter(pl.all_horizontal(pl.col("deadline_at", "delivered_at", "distance_m").is_not_null())
                                 & (pl.col("distance_m") > 0))
            .with_columns(promised_s=seconds("dispatched_at", "deadline_at"),
                          actual_s=seconds("dispatched_at", "delivered_at"),
                          band=(pl.col("distance_m") / 1000 / BAND_KM).floor(),
                          day=pl.col("dispatched_at").dt.convert_time_zone(tz).dt.date()))


def order_ratios(inputs: Inputs) -> pl.DataFrame:
    """Delivered orders with promised_s, actual_s, realistic_s, ratio, late, day (local) and week;
    once per shared run (the deadline indicators, the platforms' measures and an engine's station
    ratios read them)."""
    return context.frame(inputs.case, "order ratios", lambda: _order_ratios(inputs), inputs.settings)


def _order_ratios(inputs: Inputs) -> pl.LazyFrame:
    done = delivered(inputs.orders.select(RATIO_COLUMNS), inputs.case.tz)
    bands = order_bands(inputs)
    speed = inputs.settings.deadline_speed_kmh
    realistic = (pl.col("distance_m") / (speed / 3.6) if speed else pl.col("median_actual_s"))
    first_day = pl.lit(bands["first_day"].min(), pl.Date)
    return (done.join(bands.lazy().select("band", "median_actual_s"), on="band", how="left", maintain_order="left")
            .with_columns(realistic_s=realistic).drop("median_actual_s")).with_columns(
        ratio=pl.col("promised_s") / pl.col("realistic_s"),
        late=pl.col("delivered_at") > pl.col("deadline_at"),
        day_index=(pl.col("day") - first_day).dt.total_days(),
    ).with_columns(week=pl.col("day_index") // 7)


def order_bands(inputs: Inputs) -> pl.DataFrame:
    """Per distance band of the case's delivered orders: the median actual time (the realistic
    time) and the first local day (day 0 of the trends). A case-wide reference (context.reference):
    an engine that audits the workers in parts injects the whole case's, built from the orders'
    ``BAND_COLUMNS`` alone."""
    return context.reference(inputs.case, ORDER_BANDS, lambda: (
        delivered(inputs.orders.select(BAND_COLUMNS), inputs.case.tz)
        .group_by("band").agg(median_actual_s=pl.col("actual_s").median(), first_day=pl.col("day").min())))


def tightness(ratios: pl.DataFrame) -> Measured:
    tight = pl.col("ratio") < 1
    low, high = wilson(pl.col("k"), pl.col("n"))
    per_worker = ratios.lazy().group_by("worker_id").agg(
        n=pl.len(), k=tight.sum(), median_ratio=pl.col("ratio").median(),
        late_penalised=(tight & pl.col("late") & (pl.col("penalty") > 0)).sum())
    detail_zh = pl.format("{} 单中 {} 单的承诺时限短于同距离订单的中位实际用时（承诺 ÷ 中位用时 中位数 {}）；"
                          "其中 {} 单因超时被罚款", "n", "k", pl.col("median_ratio").round(2), "late_penalised")
    detail_en = pl.format("{} of {} orders were promised less time than the median actual time for their distance "
                          "(median promised ÷ median time {}); {} of them were late and fined", "k", "n",
                          pl.col("median_ratio").round(2), "late_penalised")
    return rows(per_worker.with_columns(value=pl.col("k") / pl.col("n"), ci_low=low, ci_high=high,
                                        detail_zh=detail_zh, detail_en=detail_en), TIGHTNESS,
                cited(ratios.lazy().filter(tight), "orders"))


def _daily(ratios: pl.DataFrame, keys: list[str]) -> pl.LazyFrame:
    return (ratios.lazy().group_by(*keys, "day_index").agg(y=pl.col("ratio").log().median())
            .rename({"day_index": "x"}))


def _weekly_shrink(expr: pl.Expr) -> pl.Expr:
    """A slope of log ratio per day → share by which the promised time shrinks per week."""
    return 1 - (expr * 7).exp()


def trends(ratios: pl.DataFrame, keys: list[str]) -> pl.LazyFrame:
    """Per group: days, slope, and compression per week with its interval (compression_low is
    the conservative end: the least shrinking the data are consistent with)."""
    return theil_sen(_daily(ratios, keys), keys).with_columns(
        compression=_weekly_shrink(pl.col("slope")),
        compression_low=_weekly_shrink(pl.col("ci_high")),
        compression_high=_weekly_shrink(pl.col("ci_low")))


def compression(ratios: pl.DataFrame) -> Measured:
    per_worker = trends(ratios, ["worker_id"])
    pct = lambda c: (pl.col(c) * 100).round(1)
    return rows(per_worker.select(
        "worker_id", "n", value="compression_low", ci_low="compression_low", ci_high="compression_high",
        detail_zh=pl.format("同距离订单的承诺时限每周缩短 {}%（95% 置信区间 {}% 至 {}%，{} 天的日中位数，Theil–Sen 斜率）",
                            pct("compression"), pct("compression_low"), pct("compression_high"), "n"),
        detail_en=pl.format("the time promised for the same distance shrank by {}% a week (95% CI {}% to {}%, "
                            "Theil–Sen slope over {} daily medians)", pct("compression"), pct("compression_low"),
                            pct("compression_high"), "n")), COMPRESSION,
        cited(ratios, "orders"))


STATION_COLUMNS = ("station_id", "week", "day", "day_index", "ratio", "promised_s", "distance_m")  # of the ratios


def station_tables(ratios: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The stations' measures from the order ratios (only ``STATION_COLUMNS`` are read): each
    station's figures come from its own orders, so the orders of several stations, or the ratios
    of several parts of a case, can be given at once."""
    return {"deadline_weeks": station_weeks(ratios), "deadline_compression": station_compression(ratios)}


def station_weeks(ratios: pl.DataFrame) -> pl.DataFrame:
    """Per station and week: orders, median ratio and median promised seconds per km, and the
    change of the median ratio against the station's first week."""
    weekly = (ratios.lazy().filter(pl.col("station_id").is_not_null())
              .group_by("station_id", "week")
              .agg(week_start=pl.col("day").min(), n=pl.len(), median_ratio=pl.col("ratio").median(),
                   promised_s_per_km=(pl.col("promised_s") / pl.col("distance_m") * 1000).median())
              .sort("station_id", "week").collect())
    return weekly.with_columns(change_vs_first=pl.col("median_ratio") / pl.col("median_ratio").first().over("station_id") - 1)


def station_compression(ratios: pl.DataFrame) -> pl.DataFrame:
    """Per station: compression per week with its interval, whether the interval excludes zero,
    and the onset week: the earliest week from which every weekly median ratio stays below the
    first week's."""
    weeks = station_weeks(ratios)
    onset = (weeks.with_columns(below=pl.col("change_vs_first") < 0)
             .with_columns(stays=pl.col("below").reverse().cum_min().reverse().over("station_id", order_by="week"))
             .filter(pl.col("stays") & (pl.col("week") > 0))
             .group_by("station_id").agg(onset_week=pl.col("week").min(), onset_date=pl.col("week_start").min()))
    return (trends(ratios.filter(pl.col("station_id").is_not_null()), ["station_id"]).collect()
            .join(onset, on="station_id", how="left")
            .with_columns(significant=pl.col("compression_low") > 0)
            .sort("station_id"))
