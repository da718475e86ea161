"""App event logs and GPS pings, derived from the working blocks.

Event kinds follow the activity format: login just before online at a block's start, offline
and logout at its end; the second app of a multi-apping block has its own pair inside the block;
check_in at the start of rostered shifts; sanctions after refusals; gps pings inside blocks."""

from __future__ import annotations

import numpy as np
import polars as pl

from auditor.simulate.common import STATION, meters_to_deg, uniform_int, within_segment
from auditor.simulate.world import World

# written in this order when two events share a second
KIND_ORDER = ("login", "online", "check_in", "gps", "sanction", "offline", "logout")
KIND = {k: i for i, k in enumerate(KIND_ORDER)}


def events(kind: str, rider, platform, ts, detail=None, lon=None, lat=None) -> pl.DataFrame:
    n = len(ts)
    return pl.DataFrame({
        "rider": np.asarray(rider, dtype=np.int64), "platform": np.asarray(platform, dtype=np.int8),
        "ts": np.asarray(ts, dtype=np.int64), "kind": np.full(n, KIND[kind], dtype=np.int8),
        "lon": np.full(n, np.nan) if lon is None else lon, "lat": np.full(n, np.nan) if lat is None else lat,
        "detail": pl.Series(np.full(n, "") if detail is None else detail, dtype=pl.String),
    })


def session_events(rng, blocks: pl.DataFrame) -> list[pl.DataFrame]:
    """login / online / offline / logout for each block's app, and for the second app in it."""
    out = []
    r = blocks["rider"].to_numpy()
    second = blocks["sec_platform"].to_numpy() >= 0
    for start, end, platform, mask in (("start", "end", "platform", np.ones(len(r), bool)),
                                       ("sec_start", "sec_end", "sec_platform", second)):
        rr, s, e = r[mask], blocks[start].to_numpy()[mask], blocks[end].to_numpy()[mask]
        plat = blocks[platform].to_numpy()[mask]
        k = len(rr)
        out += [events("login", rr, plat, s - uniform_int(rng, 5, 90, k)), events("online", rr, plat, s),
                events("offline", rr, plat, e), events("logout", rr, plat, e + uniform_int(rng, 5, 90, k))]
    return out


def check_ins(rng, blocks: pl.DataFrame, world: World) -> pl.DataFrame:
    """Face or photo check-in at the station 20 s – 2 min after a rostered block starts."""
    ros = blocks.filter(pl.col("rostered"))
    r = ros["rider"].to_numpy()
    k = len(r)
    rd = world.riders
    off = 30 * np.sqrt(rng.random(k))
    ang = rng.random(k) * 2 * np.pi
    dlon, dlat = meters_to_deg(off * np.cos(ang), off * np.sin(ang), rd.anchor_lat[r])
    detail = np.where(rd.rtype[r] == STATION, "face_verify", "photo")
    return events("check_in", r, ros["platform"], ros["start"].to_numpy() + uniform_int(rng, 20, 120, k),
                  detail, rd.anchor_lon[r] + dlon, rd.anchor_lat[r] + dlat)


def gps_pings(rng, blocks: pl.DataFrame, world: World) -> pl.DataFrame:
    """Pings every rider-specific interval from a random offset after the block starts, strictly
    inside it. Positions follow two slow sinusoids around the rider's anchor: smooth, bounded by
    the rider's roaming radius (inside the zone for station riders), and free of loops."""
    rd = world.riders
    r = blocks["rider"].to_numpy()
    start, end = blocks["start"].to_numpy(), blocks["end"].to_numpy()
    every = rd.gps_interval_s[r]
    first = uniform_int(rng, 1, np.maximum(every - 1, 1), len(r))
    count = np.maximum((end - 1 - start - first) // every + 1, 0)
    b, k = within_segment(count)
    ts = start[b] + first[b] + k * every[b]
    rider = r[b]
    n_b = len(r)
    phase = rng.random((4, n_b)) * 2 * np.pi
    period = np.stack([rng.uniform(1800, 5400, n_b), rng.uniform(600, 1500, n_b)])
    t = (ts - start[b]).astype(np.float64)

    def wave(i: int, j: int) -> np.ndarray:
        return np.sin(2 * np.pi * t / period[j][b] + phase[i][b])

    dx = rd.roam_m[rider] * (0.65 * wave(0, 0) + 0.35 * wave(1, 1))
    dy = rd.roam_m[rider] * (0.65 * wave(2, 0) + 0.35 * wave(3, 1))
    dlon, dlat = meters_to_deg(dx, dy, rd.anchor_lat[rider])
    return events("gps", rider, blocks["platform"].to_numpy()[b], ts,
                  lon=rd.anchor_lon[rider] + dlon, lat=rd.anchor_lat[rider] + dlat)


def activity(rng, blocks: pl.DataFrame, world: World, sanctions: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(app events of all riders, phone GPS of the GPX owners). GPX owners' pings are in their
    GPX file instead of the app logs; everything else goes to the app of its platform."""
    pings = gps_pings(rng, blocks, world)
    in_gpx = pl.Series(world.riders.gpx[pings["rider"].to_numpy()])
    app = pl.concat([*session_events(rng, blocks), check_ins(rng, blocks, world), pings.filter(~in_gpx),
                     events("sanction", sanctions["rider"], sanctions["platform"], sanctions["ts"],
                            sanctions["detail"].to_numpy())])
    return app.sort("platform", "rider", "ts", "kind"), pings.filter(in_gpx).sort("rider", "ts")
