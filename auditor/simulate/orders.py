"""Dispatches: trips of 1–3 orders carried together, laid end to end inside each working block.

A trip is: an idle gap, then its orders dispatched a few minutes apart, picked up, and delivered
one after the other. Trips are generated for every block at once (more than fit) and cut where
the next would run past the block's end, so every order lies inside its block by construction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from auditor.simulate.common import (CROWD, MIXED, STATION, Calendar, meters_to_deg, seg_cumsum, seg_first_index,
                                     uniform_int, within_segment)
from auditor.simulate.world import World

WEEK = 7 * 86400
# outcome codes, in the schema's vocabulary
ACCEPTED, REJECTED, TIMED_OUT, AUTO_ASSIGNED, REASSIGNED, CANCELLED = range(6)
OUTCOMES = ("accepted", "rejected", "timed_out", "auto_assigned", "reassigned", "cancelled")
# penalty kinds, each with its own amount column; platform A writes the Chinese reasons
PENALTIES = ("late", "reject", "rating", "checkin")


@dataclass(frozen=True)
class PayRules:
    """Per platform: base fare and per-km rate in cents, deadline allowance; A cuts its rate once."""

    base_cents: tuple[int, int] = (350, 400)
    per_km_cents: tuple[int, int] = (100, 90)
    cut_per_km_cents: int = 80  # platform A's rate after the unilateral change
    deadline_base_s: tuple[int, int] = (900, 720)
    deadline_per_km_s: tuple[int, int] = (240, 300)
    weekly_compression: float = 0.95  # planted stations' deadline factor per week


def rate_change_day(days: int) -> int:
    """Platform A cuts its per-km rate at local midnight of the middle day of the window."""
    return days // 2


def trips(rng, blocks: pl.DataFrame, world: World, order_rate: float) -> dict:
    """Trip skeletons relative to their own start, then placed end to end inside blocks."""
    rd = world.riders
    b_rider = blocks["rider"].to_numpy()
    b_start, b_end = blocks["start"].to_numpy(), blocks["end"].to_numpy()
    rtype = rd.rtype[b_rider]
    per_block = (b_end - b_start) // 600 + 1  # at least one trip cycle is ~11 min: enough candidates
    trip_block, _ = within_segment(per_block)
    t_type = rtype[trip_block]
    T = len(trip_block)
    mean_gap = np.select([t_type == STATION, t_type == MIXED], [150.0, 300.0], 420.0) / order_rate
    gap = 160 + np.round(rng.exponential(mean_gap)).astype(np.int64)
    # 1–3 orders carried together; a busier city (order_rate) batches more, not only sooner
    batch_p = np.select([t_type == STATION, t_type == MIXED], [0.45, 0.3], 0.15) * order_rate
    k = 1 + rng.binomial(2, np.minimum(batch_p, 0.9)).astype(np.int64)

    order_trip, pos = within_segment(k)
    O = len(order_trip)
    first = seg_first_index(k)
    rider = b_rider[trip_block][order_trip]
    disp_off = seg_cumsum(np.where(pos == 0, 0, uniform_int(rng, 20, 240, O)), first, order_trip)
    resp = uniform_int(rng, 3, 25, O)
    # pickups in order: a cumulative max within each trip (offset by trip so trips stay apart)
    pick_raw = disp_off + resp + uniform_int(rng, 240, 900, O)
    big = np.int64(1) << np.int64(32)
    pick = np.maximum.accumulate(pick_raw + order_trip * big) - order_trip * big
    last_pick = np.maximum.reduceat(pick, first)
    dist = np.round(1000 + 5000 * rng.random(O) ** 1.5).astype(np.int64)
    travel = dist / rd.speed_mps[rider]
    leg = np.round(np.where(pos == 0, travel, 0.6 * travel)).astype(np.int64) + uniform_int(rng, 30, 150, O)
    deliv_off = last_pick[order_trip] + seg_cumsum(leg, first, order_trip)
    internal = np.maximum.reduceat(deliv_off, first)

    cycle = gap + internal
    trip_first_of_block = seg_first_index(per_block)
    trip_start = b_start[trip_block] + seg_cumsum(cycle, trip_first_of_block, trip_block) - internal
    keep_trip = trip_start + internal <= b_end[trip_block]
    keep = keep_trip[order_trip]
    ts = trip_start[order_trip]
    return dict(block=trip_block[order_trip][keep], trip=order_trip[keep], pos=pos[keep], rider=rider[keep],
                dispatched=(ts + disp_off)[keep], responded=(ts + disp_off + resp)[keep],
                picked=(ts + pick)[keep], delivered=(ts + deliv_off)[keep], distance=dist[keep],
                trip_start=ts[keep])


def failed_dispatches(rng, orders: dict, world: World) -> dict:
    """Some orders were preceded by a dispatch the rider did not carry: rejected or timed out on
    offer (抢单), reassigned or cancelled under system assignment (系统派单)."""
    rd = world.riders
    t = rd.rtype[orders["rider"]]
    p_fail = np.select([t == STATION, t == MIXED], [0.05, 0.12], 0.25)
    has = rng.random(len(t)) < p_fail
    f = {k: v[has] for k, v in orders.items()}
    n = has.sum()
    f["dispatched"] = f["dispatched"] - uniform_int(rng, 40, 150, n)
    f["distance"] = np.round(1000 + 5000 * rng.random(n) ** 1.5).astype(np.int64)
    f["picked"] = np.full(n, -1)
    f["delivered"] = np.full(n, -1)
    f["auto"] = system_assigned(rng, world, f["rider"])
    u = rng.random(n)
    f["outcome"] = np.where(f["auto"], np.where(u < 0.7, REASSIGNED, CANCELLED),
                            np.select([u < 0.65, u < 0.9], [REJECTED, TIMED_OUT], CANCELLED))
    f["responded"] = np.where(f["outcome"] == TIMED_OUT, -1, f["dispatched"] + uniform_int(rng, 3, 25, n))
    return f


def secondary_platform_trips(rng, orders: dict, blocks: pl.DataFrame) -> np.ndarray:
    """Platform per order: the block's app, or, for a trip wholly inside a multi-apping interval
    (including its possible failed dispatch up to 150 s before), the second app."""
    b = orders["block"]
    platform = blocks["platform"].to_numpy()[b].copy()
    sec = blocks["sec_platform"].to_numpy()[b]
    trip_end = np.zeros(orders["trip"].max() + 1 if len(b) else 0, dtype=np.int64)
    np.maximum.at(trip_end, orders["trip"], orders["delivered"])
    inside = ((sec >= 0) & (orders["trip_start"] - 160 >= blocks["sec_start"].to_numpy()[b])
              & (trip_end[orders["trip"]] <= blocks["sec_end"].to_numpy()[b]))
    switch_trip = rng.random(len(trip_end)) < 0.4
    use = inside & switch_trip[orders["trip"]]
    platform[use] = sec[use]
    return platform


def place(rng, orders: dict, world: World) -> None:
    """Pickup near the station (or the crowd rider's area), dropoff at the route distance / 1.35
    in a random direction; station riders' orders stay inside their zone."""
    rd, st = world.riders, world.stations
    r = orders["rider"]
    n = len(r)
    a_lon, a_lat = rd.anchor_lon[r], rd.anchor_lat[r]
    station_rider = rd.rtype[r] == STATION
    pick_r = np.where(rd.station[r] >= 0, 400.0, 3000.0) * np.sqrt(rng.random(n))
    ang = rng.random(n) * 2 * np.pi
    dlon, dlat = meters_to_deg(pick_r * np.cos(ang), pick_r * np.sin(ang), a_lat)
    p_lon, p_lat = a_lon + dlon, a_lat + dlat
    cap = np.where(station_rider, 0.8 * st.inner_radius_m()[np.maximum(rd.station[r], 0)] - 400.0, np.inf)
    straight = np.minimum(orders["distance"] / 1.35, cap)
    ang = rng.random(n) * 2 * np.pi
    dlon, dlat = meters_to_deg(straight * np.cos(ang), straight * np.sin(ang), p_lat)
    orders.update(pickup_lon=p_lon, pickup_lat=p_lat, dropoff_lon=p_lon + dlon, dropoff_lat=p_lat + dlat)


def price(rng, orders: dict, world: World, cal: Calendar, rules: PayRules, blocks: pl.DataFrame) -> None:
    """Deadline, pay and penalties. Deadlines shrink weekly at compressed stations; platform A
    pays less per km from the rate-change day; fines scale with the rider's subordination."""
    rd, st = world.riders, world.stations
    r, plat = orders["rider"], orders["platform"]
    n = len(r)
    sub = rd.subordination[r]
    week = (orders["dispatched"] - cal.day_start[0]) // WEEK
    compressed = (rd.station[r] >= 0) & st.compressed[np.maximum(rd.station[r], 0)]
    factor = np.where(compressed, rules.weekly_compression ** week, 1.0)
    km = orders["distance"] / 1000.0
    allowance = (np.array(rules.deadline_base_s)[plat] + np.array(rules.deadline_per_km_s)[plat] * km) * factor
    orders["deadline"] = orders["dispatched"] + np.round(allowance).astype(np.int64)

    cut = (plat == 0) & (orders["dispatched"] >= cal.day_start[rate_change_day(cal.days)])
    per_km = np.where(cut, rules.cut_per_km_cents, np.array(rules.per_km_cents)[plat])
    delivered = orders["delivered"] >= 0
    orders["pay"] = np.where(delivered, np.array(rules.base_cents)[plat] + np.round(per_km * km), 0).astype(np.int64)

    late_by = orders["delivered"] - orders["deadline"]
    late = delivered & (late_by > 0)
    fined_late = late & (rng.random(n) < 0.2 + 0.8 * sub)
    orders["pen_late"] = np.where(fined_late, np.where(late_by > 600, 1000, 500), 0)
    fine_reject = (orders["outcome"] == REJECTED) & (rng.random(n) < np.clip((sub - 0.3) * 2, 0, 1))
    orders["pen_reject"] = np.where(fine_reject, 200, 0)
    bad_rating = delivered & ~late & (rng.random(n) < 0.01)
    orders["pen_rating"] = np.where(bad_rating, 1000, 0)
    # a late check-in is fined on the first dispatch of that block
    first_of_block = np.unique(orders["block"], return_index=True)[1]
    checkin = np.zeros(n, dtype=np.int64)
    late_block = blocks["late"].to_numpy()[orders["block"][first_of_block]]
    checkin[first_of_block[late_block]] = 2000
    orders["pen_checkin"] = checkin
    orders["penalty"] = orders["pen_late"] + orders["pen_reject"] + orders["pen_rating"] + checkin


def system_assigned(rng, world: World, rider: np.ndarray) -> np.ndarray:
    """Which dispatches the system imposes (系统派单): more often the more a rider is managed;
    crowd-sourced part-timers only ever get offers they are free to take (抢单)."""
    rd = world.riders
    share = np.where(rd.rtype[rider] == CROWD, 0.0, 0.9 * rd.subordination[rider])
    return rng.random(len(rider)) < share


def dispatches(rng, cal: Calendar, world: World, blocks: pl.DataFrame, order_rate: float,
               rules: PayRules = PayRules()) -> pl.DataFrame:
    carried = trips(rng, blocks, world, order_rate)
    carried["auto"] = system_assigned(rng, world, carried["rider"])
    carried["outcome"] = np.where(carried["auto"], AUTO_ASSIGNED, ACCEPTED)
    carried["platform"] = secondary_platform_trips(rng, carried, blocks)
    failed = failed_dispatches(rng, carried, world)
    orders = {k: np.concatenate([carried[k], failed[k]]) for k in failed}
    order = np.lexsort((orders["delivered"], orders["rider"], orders["dispatched"]))
    orders = {k: v[order] for k, v in orders.items()}
    place(rng, orders, world)
    price(rng, orders, world, cal, rules, blocks)
    drop = ("trip", "pos", "trip_start")
    frame = pl.DataFrame({k: v for k, v in orders.items() if k not in drop})
    return frame.with_columns(pl.col("platform").cast(pl.Int8),
                              order_no=pl.int_range(1, pl.len() + 1).over("platform"))


def sanctions(rng, cal: Calendar, orders: pl.DataFrame, world: World) -> pl.DataFrame:
    """Acceptance-rate sanctions: a rider-day with two or more refusals by a station or mixed
    rider draws, half the time, a warning or a 24 h suspension notice 1–10 min after the last."""
    refused = orders.filter(pl.col("outcome").is_in([REJECTED, TIMED_OUT]))
    rider = refused["rider"].to_numpy()
    days = (pl.DataFrame({"rider": rider, "day": cal.local_day(refused["dispatched"].to_numpy()),
                          "t": refused["dispatched"], "platform": refused["platform"]})
            .filter(pl.Series(world.riders.rtype[rider] != CROWD))
            .group_by("rider", "day").agg(pl.len().alias("n"), pl.col("t", "platform").sort_by("t").last())
            .filter(pl.col("n") >= 2).sort("rider", "day"))
    k = days.height
    detail = np.where(rng.random(k) < 0.4, "suspended_24h: low acceptance rate", "warning: low acceptance rate")
    ts = days["t"].to_numpy() + uniform_int(rng, 60, 600, k)
    return (pl.DataFrame({"rider": days["rider"], "ts": ts, "platform": days["platform"], "detail": detail})
            .filter(pl.Series(rng.random(k) < 0.5)))
