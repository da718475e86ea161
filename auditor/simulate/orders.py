"""Dispatches: trips of 1–3 orders carried together, laid end to end inside each working block.

A trip is: an idle gap, then its orders dispatched a few minutes apart, picked up, and delivered
one after the other. Trips are generated for every block at once (more than fit) and cut where
the next would run past the block's end, so every order lies inside its block by construction.

A busy city (order_rate > 1; busy_share says how busy) is denser in three ways, each drawn from
its own random stream so the city at order_rate ≤ 1 is unchanged: a trip's further orders often
come from the same merchant cluster and go the same way (short wait, short hop between drops);
trips take on more such orders, up to a cap per rider type that is higher at the meal peaks;
and a trip's first order often comes while the rider makes the previous trip's last drop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from auditor.simulate.common import (
    CROWD,
    MIXED,
    STATION,
    Calendar,
    meters_to_deg,
    seg_cumsum,
    uniform_int,
    within_segment,
)
from auditor.simulate.world import World

WEEK = 7 * 86400
# outcome codes, in the schema's vocabulary
ACCEPTED, REJECTED, TIMED_OUT, AUTO_ASSIGNED, REASSIGNED, CANCELLED = range(6)
OUTCOMES = ("accepted", "rejected", "timed_out", "auto_assigned", "reassigned", "cancelled")
# penalty kinds, each with its own amount column; platform A writes the Chinese reasons
PENALTIES = ("late", "reject", "rating", "checkin")
# a busy city (order_rate > 1) stacks orders onto trips up to a cap per rider type (STATION, CROWD,
# MIXED): at most this many orders carried at once at the meal peaks (local hours), one fewer between
PEAKS_H = ((11.0, 13.5), (17.0, 20.0))
PEAK_CAP = np.array([5, 3, 4])
SAME_ROUTE_HOP = 0.25  # a same-route drop lies this share of the order's ride from the previous drop


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


def busy_share(order_rate: float) -> float:
    """The share of demand beyond the base city's: 0 up to order_rate 1, ½ at 2, ⅔ at 3. It is how
    often a trip's further order comes from the same merchant cluster and goes the same way (顺路单),
    and how likely a trip at a meal peak takes on one more such order, up to the rider type's cap."""
    return max(0.0, 1.0 - 1.0 / order_rate)


def runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted keys: the first index of each run of equal keys and the run of every element."""
    new = np.concatenate(([True], keys[1:] != keys[:-1])) if len(keys) else np.zeros(0, bool)
    return np.flatnonzero(new), np.cumsum(new) - 1


def trip_timing(o: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Offsets from the trip's start of each order's dispatch, pickup and delivery, and each trip's
    length. Orders come in trip order; pickups follow the dispatch order (a running maximum,
    offset by trip so trips stay apart); deliveries follow one another once all are picked up."""
    first, seg = runs(o["trip"])
    disp_off = seg_cumsum(o["step"], first, seg)
    big = np.int64(1) << np.int64(32)
    pick = np.maximum.accumulate(disp_off + o["resp"] + o["wait"] + seg * big) - seg * big
    deliv_off = np.maximum.reduceat(pick, first)[seg] + seg_cumsum(o["leg"], first, seg)
    return disp_off, pick, deliv_off, np.maximum.reduceat(deliv_off, first)


def lay_out(b_start: np.ndarray, b_end: np.ndarray, trip_block: np.ndarray, gap: np.ndarray,
            internal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trips end to end from their block's start, each after its idle gap: the start of each and
    whether it ends inside its block (trips come in block order)."""
    first, seg = runs(trip_block)
    start = b_start[trip_block] + seg_cumsum(gap + internal, first, seg) - internal
    return start, start + internal <= b_end[trip_block]


def at_peak(cal: Calendar, ts: np.ndarray) -> np.ndarray:
    hour = (ts - cal.day_start[cal.local_day(ts)]) / 3600
    return np.logical_or.reduce([(hour >= lo) & (hour < hi) for lo, hi in PEAKS_H])


def trips(rng, stack_rng, cal: Calendar, blocks: pl.DataFrame, world: World, order_rate: float) -> dict:
    """Trip skeletons relative to their own start, placed end to end inside blocks; then, in a busy
    city, the orders stacked onto the trips that fit added and the trips laid out again (stacking
    only lengthens trips, so the second layout keeps a prefix of each block's trips). Whether a
    trip is at a peak is judged from its first layout."""
    rd = world.riders
    b_rider = blocks["rider"].to_numpy()
    b_start, b_end = blocks["start"].to_numpy(), blocks["end"].to_numpy()
    rtype = rd.rtype[b_rider]
    per_block = (b_end - b_start) // 600 + 1  # at least one trip cycle is ~11 min: enough candidates
    trip_block, _ = within_segment(per_block)
    t_type = rtype[trip_block]
    mean_gap = np.select([t_type == STATION, t_type == MIXED], [150.0, 300.0], 420.0) / order_rate
    gap = 160 + np.round(rng.exponential(mean_gap)).astype(np.int64)
    # 1–3 orders carried together; a busier city (order_rate) batches more, not only sooner
    batch_p = np.select([t_type == STATION, t_type == MIXED], [0.45, 0.3], 0.15) * order_rate
    k = 1 + rng.binomial(2, np.minimum(batch_p, 0.9)).astype(np.int64)

    order_trip, pos = within_segment(k)
    O = len(order_trip)
    rider = b_rider[trip_block][order_trip]
    busy = busy_share(order_rate)
    same = (pos > 0) & (stack_rng.random(O) < busy)
    o = {"trip": order_trip, "pos": pos, "rider": rider, "same": same,
         "step": np.where(pos == 0, 0, uniform_int(rng, 20, 240, O)), "resp": uniform_int(rng, 3, 25, O)}
    # to the merchant (and waiting for the food), or a short wait next door for a same-route order
    o["wait"] = np.where(same, uniform_int(stack_rng, 60, 240, O), uniform_int(rng, 240, 900, O))
    o["distance"] = np.round(1000 + 5000 * rng.random(O) ** 1.5).astype(np.int64)
    travel = o["distance"] / rd.speed_mps[rider]
    # the first drop is the whole ride; a later one a shorter hop from the previous drop
    hop = np.where(same, SAME_ROUTE_HOP, 0.6)
    o["leg"] = np.round(np.where(pos == 0, travel, hop * travel)).astype(np.int64) + uniform_int(rng, 30, 150, O)
    _, pick, _, internal = trip_timing(o)
    gap = gap - relay_lead(stack_rng, trip_block, gap, pick[runs(order_trip)[0]], busy)
    start, fits = lay_out(b_start, b_end, trip_block, gap, internal)

    kept = np.flatnonzero(fits)
    o = {name: v[fits[order_trip]] for name, v in o.items()}
    cap = PEAK_CAP[t_type[kept]] - ~at_peak(cal, start[kept])  # one fewer between the peaks
    extra = stack_rng.binomial(np.maximum(cap - k[kept], 0), busy)
    o = merge_by_trip(o, stacked_orders(stack_rng, world, kept, b_rider[trip_block[kept]], k[kept], extra))
    disp_off, pick, deliv_off, internal = trip_timing(o)
    start, fits = lay_out(b_start, b_end, trip_block[kept], gap[kept], internal)
    seg = runs(o["trip"])[1]
    keep = fits[seg]
    ts = start[seg]
    return {"block": trip_block[o["trip"]][keep], "trip": o["trip"][keep], "pos": o["pos"][keep], "rider": o["rider"][keep],
            "dispatched": (ts + disp_off)[keep], "responded": (ts + disp_off + o["resp"])[keep],
            "picked": (ts + pick)[keep], "delivered": (ts + deliv_off)[keep], "distance": o["distance"][keep],
            "trip_start": ts[keep], "same": o["same"][keep]}


def relay_lead(stack_rng, trip_block: np.ndarray, gap: np.ndarray, first_pick: np.ndarray, busy: float) -> np.ndarray:
    """In a busy city a trip's first order often comes while the rider makes the previous trip's last
    drop (接力): the trip starts up to 10 min earlier, yet its first pickup stays at least 2 min
    after that drop. Never for a block's first trip, which starts after its gap from going online."""
    after_first = np.concatenate(([False], trip_block[1:] == trip_block[:-1]))
    relay = after_first & (stack_rng.random(len(gap)) < busy)
    return np.where(relay, uniform_int(stack_rng, 0, np.minimum(gap + first_pick - 120, 600), len(gap)), 0)


def stacked_orders(stack_rng, world: World, trip: np.ndarray, rider: np.ndarray, k: np.ndarray,
                   extra: np.ndarray) -> dict:
    """The orders stacked onto trips (extra per trip): each dispatched a little after the trip's
    last, picked up next door in the same merchant cluster and dropped a short hop along the route."""
    t, j = within_segment(extra)
    n = len(t)
    distance = np.round(1000 + 5000 * stack_rng.random(n) ** 1.5).astype(np.int64)
    leg = np.round(SAME_ROUTE_HOP * distance / world.riders.speed_mps[rider[t]]).astype(np.int64)
    return {"trip": trip[t], "pos": k[t] + j, "rider": rider[t], "same": np.ones(n, bool),
            "step": uniform_int(stack_rng, 20, 240, n), "resp": uniform_int(stack_rng, 3, 25, n),
            "wait": uniform_int(stack_rng, 60, 240, n), "distance": distance,
            "leg": leg + uniform_int(stack_rng, 30, 150, n)}


def merge_by_trip(orders: dict, more: dict) -> dict:
    """Both sets of orders in trip order, each trip's by position (orders is already in that order)."""
    both = {name: np.concatenate([v, more[name]]) for name, v in orders.items()}
    order = np.lexsort((both["pos"], both["trip"]))
    return {name: v[order] for name, v in both.items()}


def failed_dispatches(rng, orders: dict, world: World) -> dict:
    """Some orders were preceded by a dispatch the rider did not carry: rejected or timed out on
    offer (抢单), reassigned or cancelled under system assignment (系统派单)."""
    rd = world.riders
    t = rd.rtype[orders["rider"]]
    p_fail = np.select([t == STATION, t == MIXED], [0.05, 0.12], 0.25)
    has = rng.random(len(t)) < p_fail
    f = {k: v[has] for k, v in orders.items()}
    n = has.sum()
    f["same"] = np.zeros(n, bool)  # an order of its own, not one of the trip's same-route orders
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


def place(rng, stack_rng, orders: dict, world: World) -> None:
    """Pickup near the station (or the crowd rider's area), dropoff at the route distance / 1.35
    in a random direction; station riders' orders stay inside their zone. A same-route order is
    picked up within 100 m of its trip's first pickup and dropped in nearly the same direction."""
    rd, st = world.riders, world.stations
    r = orders["rider"]
    n = len(r)
    a_lon, a_lat = rd.anchor_lon[r], rd.anchor_lat[r]
    station_rider = rd.rtype[r] == STATION
    pick_r = np.where(rd.station[r] >= 0, 400.0, 3000.0) * np.sqrt(rng.random(n))
    ang = rng.random(n) * 2 * np.pi
    dlon, dlat = meters_to_deg(pick_r * np.cos(ang), pick_r * np.sin(ang), a_lat)
    p_lon, p_lat = a_lon + dlon, a_lat + dlat
    same, lead = same_route_leads(orders)
    m = len(lead)
    near, near_ang = 100.0 * np.sqrt(stack_rng.random(m)), stack_rng.random(m) * 2 * np.pi
    dlon, dlat = meters_to_deg(near * np.cos(near_ang), near * np.sin(near_ang), p_lat[lead])
    p_lon[same], p_lat[same] = p_lon[lead] + dlon, p_lat[lead] + dlat
    # the 100 m are within the zone's margin: 0.2 × its inner radius is over 300 m
    cap = np.where(station_rider, 0.8 * st.inner_radius_m()[np.maximum(rd.station[r], 0)] - 400.0, np.inf)
    straight = np.minimum(orders["distance"] / 1.35, cap)
    ang = rng.random(n) * 2 * np.pi
    ang[same] = ang[lead] + stack_rng.normal(0.0, 0.3, m)
    dlon, dlat = meters_to_deg(straight * np.cos(ang), straight * np.sin(ang), p_lat)
    orders.update(pickup_lon=p_lon, pickup_lat=p_lat, dropoff_lon=p_lon + dlon, dropoff_lat=p_lat + dlat)


def same_route_leads(orders: dict) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the same-route orders and of their trip's first carried order."""
    first = np.flatnonzero((orders["pos"] == 0) & (orders["delivered"] >= 0))
    first = first[np.argsort(orders["trip"][first])]
    same = np.flatnonzero(orders["same"])
    return same, first[np.searchsorted(orders["trip"][first], orders["trip"][same])]


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


def dispatches(rng, stack_rng, cal: Calendar, world: World, blocks: pl.DataFrame, order_rate: float,
               rules: PayRules = PayRules()) -> pl.DataFrame:
    """Every dispatch record. stack_rng draws what only a busy city has (same-route and stacked
    orders), so the main stream, and the city at order_rate ≤ 1, stay as they were."""
    carried = trips(rng, stack_rng, cal, blocks, world, order_rate)
    carried["auto"] = system_assigned(rng, world, carried["rider"])
    carried["outcome"] = np.where(carried["auto"], AUTO_ASSIGNED, ACCEPTED)
    carried["platform"] = secondary_platform_trips(rng, carried, blocks)
    failed = failed_dispatches(rng, carried, world)
    orders = {k: np.concatenate([carried[k], failed[k]]) for k in failed}
    order = np.lexsort((orders["delivered"], orders["rider"], orders["dispatched"]))
    orders = {k: v[order] for k, v in orders.items()}
    place(rng, stack_rng, orders, world)
    price(rng, orders, world, cal, rules, blocks)
    drop = ("trip", "pos", "trip_start", "same")
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
