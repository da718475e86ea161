"""The ground truth: what the simulator planted, in the tables docs/sample_formats.md defines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from auditor.simulate.blocks import day_pieces
from auditor.simulate.chats import PERIODIC, PLANT_KINDS, plant_spans
from auditor.simulate.common import (
    DAY_KINDS,
    HOLIDAY,
    PLATFORMS,
    REST_DAY,
    RIDER_TYPES,
    WORKDAY,
    Calendar,
    overlaps_sorted,
)
from auditor.simulate.world import MINIMUM_WAGE, World

DAILY_LIMIT_H = 8.0
MULTIPLIERS = {"hours_150": 1.5, "hours_200": 2.0, "hours_300": 3.0}


def per_rider_day(cal: Calendar, n: int, rider: np.ndarray, day: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    return np.bincount(rider * cal.days + day, weights=seconds, minlength=n * cal.days).reshape(n, cal.days)


def daily_hours(cal: Calendar, world: World, blocks: pl.DataFrame, messages: pl.DataFrame) -> pl.DataFrame:
    """Per rider and local day: app time (blocks split at local midnight) and planted off-hours
    chat work (its intervals: they lie outside the blocks, so the two simply add up)."""
    n = world.riders.n
    idx, day, secs = day_pieces(cal, blocks["start"].to_numpy(), blocks["end"].to_numpy())
    app = per_rider_day(cal, n, blocks["rider"].to_numpy()[idx], day, secs)
    spans = plant_spans(messages)
    chat = per_rider_day(cal, n, spans["plant_worker"].to_numpy(), cal.local_day(spans["start"].to_numpy()),
                         (spans["end"] - spans["start"]).to_numpy())
    frame = pl.DataFrame({
        "worker_id": np.repeat(world.riders.id, cal.days),
        "date": np.tile(np.array(cal.dates, dtype="datetime64[D]"), n),
        "app_hours": app.ravel() / 3600, "offhours_chat_hours": chat.ravel() / 3600,
        "day_kind": np.tile(np.array(DAY_KINDS)[cal.kind], n)})
    return frame.with_columns(over_8h=pl.col("app_hours") > DAILY_LIMIT_H)


def overtime(world: World, daily: pl.DataFrame) -> pl.DataFrame:
    """Standard hours system: on workdays hours beyond 8 h at 150 %, on rest days every hour at
    200 %, on statutory holiday dates every hour at 300 % (Labour Law Art. 44), hourly wage =
    monthly wage / 21.75 / 8; pay owed assumes none of it was paid."""
    total = pl.col("app_hours") + pl.col("offhours_chat_hours")
    bands = daily.group_by("worker_id").agg(
        hours_150=pl.when(pl.col("day_kind") == DAY_KINDS[WORKDAY]).then((total - DAILY_LIMIT_H).clip(0)).otherwise(0).sum(),
        hours_200=pl.when(pl.col("day_kind") == DAY_KINDS[REST_DAY]).then(total).otherwise(0).sum(),
        hours_300=pl.when(pl.col("day_kind") == DAY_KINDS[HOLIDAY]).then(total).otherwise(0).sum())
    wages = pl.DataFrame({"worker_id": world.riders.id, "hourly_wage": world.riders.monthly_wage / 21.75 / 8})
    owed = sum(pl.col(c) * m for c, m in MULTIPLIERS.items()) * pl.col("hourly_wage")
    return (bands.join(wages, on="worker_id").sort("worker_id")
            .with_columns(pay_owed=owed.round(2)))


def riders_table(world: World) -> pl.DataFrame:
    rd, st = world.riders, world.stations
    att = rd.station >= 0
    s = np.maximum(rd.station, 0)
    platforms = [[PLATFORMS[p]] if a else list(PLATFORMS) for p, a in zip(st.platform[s], att)]
    return pl.DataFrame({
        "worker_id": rd.id, "rider_type": np.array(RIDER_TYPES)[rd.rtype], "subordination": rd.subordination,
        "platforms": platforms, "station_id": np.where(att, st.id[s], ""), "zone_id": np.where(att, st.zone[s], ""),
        "monthly_wage": rd.monthly_wage, "has_roster": rd.has_roster}).with_columns(
            pl.col("station_id", "zone_id").replace("", None))


def offhours_work(world: World, messages: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """Planted intervals with the ids of their messages in the worker's own exports."""
    own = (rows.filter((pl.col("plant") >= 0) & (pl.col("owner") == pl.col("plant_worker")))
           .sort("plant", "file", "native_id")
           .group_by("plant", maintain_order=True)
           .agg(message_ids=pl.format("{}:{}", "file", "native_id")))
    utc = pl.Datetime("us", "UTC")
    return (plant_spans(messages).join(own, on="plant", how="left")
            .select(pl.col("plant_worker").replace_strict(np.arange(world.riders.n), world.riders.id,
                                                          return_dtype=pl.String).alias("worker_id"),
                    pl.from_epoch("start", time_unit="s").cast(utc).alias("start"),
                    pl.from_epoch("end", time_unit="s").cast(utc).alias("end"),
                    pl.col("plant_kind").replace_strict(range(3), PLANT_KINDS, return_dtype=pl.String).alias("kind"),
                    pl.col("plant_kind").replace_strict(range(3), PERIODIC, return_dtype=pl.Boolean).alias("periodic"),
                    "message_ids")
            .sort("worker_id", "start"))


def messages_table(rows: pl.DataFrame, blocks: pl.DataFrame) -> pl.DataFrame:
    """Every written message: its label and whether it was sent outside the export owner's
    working blocks (the owner's off-hours)."""
    ts = rows["ts"].to_numpy()
    working = overlaps_sorted(blocks["start"].to_numpy(), blocks["end"].to_numpy(), blocks["rider"].to_numpy(),
                              rows["owner"].to_numpy(), ts, ts + 1)
    return rows.select(pl.col("file"), pl.col("native_id").cast(pl.Int64), pl.col("worker").alias("worker_id"),
                       "label", off_hours=pl.Series(~working))


def planted(world: World, cal: Calendar, params: dict, rules, rate_day: int, offhours: pl.DataFrame) -> dict:
    st, rd = world.stations, world.riders
    plants = (offhours.group_by("worker_id").agg(pl.col("kind").unique().sort()).sort("worker_id"))
    return {
        "seed": params["seed"],
        "parameters": params,
        "timezone": "Asia/Shanghai",
        "deadline_compression": [
            {"station_id": str(st.id[i]), "zone_id": str(st.zone[i]), "platform": PLATFORMS[st.platform[i]],
             "weekly_factor": rules.weekly_compression,
             "rule": "deadline allowance × weekly_factor ** whole weeks since the window start"}
            for i in np.flatnonzero(st.compressed)],
        "rate_change": {"platform": "A", "date": cal.dates[rate_day].isoformat(),
                        "base_yuan": rules.base_cents[0] / 100,
                        "old_rate_yuan_per_km": rules.per_km_cents[0] / 100,
                        "new_rate_yuan_per_km": rules.cut_per_km_cents / 100},
        "pay_rules": {"base_yuan": [c / 100 for c in rules.base_cents],
                      "rate_yuan_per_km": [c / 100 for c in rules.per_km_cents],
                      "deadline_base_s": list(rules.deadline_base_s), "deadline_per_km_s": list(rules.deadline_per_km_s)},
        "zone_confinement": {"station_fulltime": "GPS and orders inside the assigned zone",
                             "mixed": "around the station, partly outside the zone", "crowd_parttime": "not confined"},
        "wage_assumption": {"station_fulltime": "contracted monthly wage (riders.parquet monthly_wage)",
                            "others": MINIMUM_WAGE,
                            "others_source": "Shanghai monthly minimum wage, assumed for riders without a wage"},
        "english_station": [str(s) for s in st.id[st.english]],
        "offhours_plants": {row["worker_id"]: row["kind"] for row in plants.iter_rows(named=True)},
        "riders_without_plants": np.setdiff1d(rd.id, plants["worker_id"].to_numpy()).tolist(),
    }


def write(folder: Path, tables: dict[str, pl.DataFrame], planted_json: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.write_parquet(folder / f"{name}.parquet", statistics=False, compression="zstd")
    (folder / "planted.json").write_text(json.dumps(planted_json, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                         encoding="utf-8")
