"""Working blocks: per rider and local day, the non-overlapping intervals the rider is online.

Every later stage hangs off these: orders lie inside them, app events bracket them, off-hours
chat work lies outside them, and the ground truth's app_hours is their length per local day."""

from __future__ import annotations

import numpy as np
import polars as pl

from auditor.simulate.common import CROWD, MIXED, STATION, Calendar, uniform_int
from auditor.simulate.world import World

H, M = 3600, 60
EIGHT_HOURS = 8 * H
NEAR_EIGHT_S = 60  # a day this close to 8 h would make the over-8 h flag a matter of rounding
NUDGE_S = 150


def grid(n: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(np.arange(n), days), np.tile(np.arange(days), n)


def rostered_shifts(rng, cal: Calendar, world: World, r, d, mask, late_p: float, ext_min_max):
    """Blocks that follow a roster: online a few minutes early (or, on a late day, 6–20 min late)
    and offline at the roster end, or 0.5–3 h after it on the rider's extension days."""
    r, d = r[mask], d[mask]
    k = len(r)
    rd = world.riders
    shift_start = cal.day_start[d] + rd.shift_start_min[r] * M
    shift_end = shift_start + rd.shift_len_min[r] * M
    late = rng.random(k) < late_p
    start = shift_start + np.where(late, uniform_int(rng, 6 * M, 20 * M, k), -uniform_int(rng, 0, 10 * M, k))
    extend = rng.random(k) < rd.extend_p[r]
    lo, hi = ext_min_max
    end = shift_end + np.where(extend, uniform_int(rng, lo * M, hi * M, k), uniform_int(rng, -5 * M, 10 * M, k))
    return {"rider": r, "start": start, "end": end, "rostered": np.ones(k, bool), "shift_start": shift_start,
            "shift_end": shift_end, "late": late}


def free_blocks(rng, cal: Calendar, r, d, mask, start_h, len_h):
    """Blocks chosen by the rider: start uniformly in start_h (hours), length uniformly in len_h."""
    r, d = r[mask], d[mask]
    k = len(r)
    start = cal.day_start[d] + uniform_int(rng, int(start_h[0] * H), int(start_h[1] * H), k)
    end = start + uniform_int(rng, int(len_h[0] * H), int(len_h[1] * H), k)
    none = np.full(k, -1, dtype=np.int64)
    return {"rider": r, "start": start, "end": end, "rostered": np.zeros(k, bool), "shift_start": none,
            "shift_end": none, "late": np.zeros(k, bool)}


def candidate_blocks(rng, cal: Calendar, world: World) -> list[dict]:
    rd = world.riders
    r, d = grid(rd.n, cal.days)
    t = rd.rtype[r]
    u = rng.random((4, len(r)))
    rest = cal.weekday[d] == rd.rest_weekday[r]
    last_day = d == cal.days - 1
    mixed_works = (t == MIXED) & (u[0] < 0.65)
    mixed_rostered = mixed_works & rd.has_roster[r] & (u[1] < 0.6)
    crowd_works = (t == CROWD) & (u[0] < 0.5)
    morning = crowd_works & (u[1] < 0.75)
    evening = crowd_works & (~morning | (u[2] < 0.5))
    # night owls' evening block crosses midnight, but never out of the window
    owl = evening & rd.night_owl[r] & ~last_day
    return [
        rostered_shifts(rng, cal, world, r, d, (t == STATION) & ~rest, 0.04, (30, 180)),
        free_blocks(rng, cal, r, d, (t == STATION) & rest & rd.works_rest_days[r] & (u[1] < 0.5), (10, 13), (3, 6)),
        rostered_shifts(rng, cal, world, r, d, mixed_rostered, 0.06, (30, 90)),
        free_blocks(rng, cal, r, d, mixed_works & ~mixed_rostered, (9, 15), (3, 8)),
        free_blocks(rng, cal, r, d, morning, (7, 11), (2, 4)),
        free_blocks(rng, cal, r, d, evening & ~owl, (16, 19), (2, 4)),
        free_blocks(rng, cal, r, d, owl, (21, 22.5), (2, 4)),
    ]


def day_pieces(cal: Calendar, start: np.ndarray, end: np.ndarray):
    """Split blocks (< 24 h) at local midnight: (block index, local day, seconds) per piece."""
    day = cal.local_day(start)
    midnight = cal.day_start[day + 1]
    crosses = end > midnight
    idx = np.arange(len(start))
    first = (idx, day, np.minimum(end, midnight) - start)
    second = (idx[crosses], day[crosses] + 1, end[crosses] - midnight[crosses])
    return tuple(np.concatenate(pair) for pair in zip(first, second))


def avoid_eight_hours(cal: Calendar, blocks: dict, n_riders: int) -> None:
    """Shorten one block on any rider-day whose total is within a minute of 8 h: the piece that
    ends last that day loses NUDGE_S, taken from its end, or from its start when it runs on past
    midnight, so only that day's total moves."""
    start, end, rider = blocks["start"], blocks["end"], blocks["rider"]
    idx, day, secs = day_pieces(cal, start, end)
    key = rider[idx] * (cal.days + 1) + day
    total = np.bincount(key, weights=secs, minlength=n_riders * (cal.days + 1))
    near = np.abs(total - EIGHT_HOURS) < NEAR_EIGHT_S
    piece_end = np.minimum(end[idx], cal.day_start[np.minimum(day + 1, cal.days)])
    order = np.lexsort((piece_end, key))
    last = order[np.concatenate((key[order][1:] != key[order][:-1], [True]))]
    last = last[near[key[last]]]
    b = idx[last]
    runs_on = end[b] > cal.day_start[day[last] + 1]
    start[b[runs_on]] += NUDGE_S
    end[b[~runs_on]] -= NUDGE_S


def assign_platforms(rng, world: World, blocks: dict) -> None:
    """Attached riders work their station's app. Crowd riders mostly their preferred app, and on
    some blocks keep the other app online too (multi-apping) inside the block."""
    rd = world.riders
    r = blocks["rider"]
    k = len(r)
    crowd = rd.rtype[r] == CROWD
    other = rng.random(k) < 0.3
    blocks["platform"] = np.where(crowd & other, 1 - rd.platform[r], rd.platform[r]).astype(np.int8)
    sec_start = blocks["start"] + uniform_int(rng, 5 * M, 40 * M, k)
    sec_end = blocks["end"] - uniform_int(rng, 5 * M, 40 * M, k)
    multi = crowd & (rng.random(k) < 0.3) & (sec_end - sec_start >= 30 * M)
    blocks["sec_platform"] = np.where(multi, 1 - blocks["platform"], -1).astype(np.int8)
    blocks["sec_start"] = np.where(multi, sec_start, -1)
    blocks["sec_end"] = np.where(multi, sec_end, -1)


def working_blocks(rng: np.random.Generator, cal: Calendar, world: World) -> pl.DataFrame:
    parts = candidate_blocks(rng, cal, world)
    blocks = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((blocks["start"], blocks["rider"]))
    blocks = {k: v[order] for k, v in blocks.items()}
    avoid_eight_hours(cal, blocks, world.riders.n)
    assign_platforms(rng, world, blocks)
    frame = pl.DataFrame(blocks).with_row_index("block")
    check_blocks(frame)
    return frame


def check_blocks(frame: pl.DataFrame) -> None:
    """The generator's invariants; cheap, and a broken one would silently corrupt the truth."""
    bad = frame.filter((pl.col("end") <= pl.col("start"))
                       | ((pl.col("rider") == pl.col("rider").shift(1))
                          & (pl.col("start") < pl.col("end").shift(1) + 600)))
    if bad.height:
        raise AssertionError(f"overlapping or empty working blocks: {bad.head(3)}")


def roster(cal: Calendar, world: World, blocks: pl.DataFrame) -> pl.DataFrame:
    """The posted roster (排班表): one row per rostered block, local HH:MM."""
    ros = blocks.filter(pl.col("rostered"))
    day = cal.local_day(ros["shift_start"].to_numpy())
    return pl.DataFrame({
        "rider": ros["rider"], "day": day,
        "start_min": (ros["shift_start"].to_numpy() - cal.day_start[day]) // M,
        "end_min": (ros["shift_end"].to_numpy() - cal.day_start[day]) // M,
    })
