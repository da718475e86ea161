"""The entities: platforms, agencies (配送商), stations (站点) with zones and managers, riders,
customers. Every attribute is drawn once here and read by the later stages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.simulate.common import (
    CITY_LAT,
    CITY_LON,
    CROWD,
    MIXED,
    STATION,
    Knobs,
    meters_to_deg,
    random_tokens,
    uniform_int,
)
from auditor.simulate.texts import DISTRICTS, GIVEN, SURNAMES

MINIMUM_WAGE = 2740.0  # Shanghai monthly minimum wage (from 2025-07-01), the assumption for non-station riders
WXID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class Stations:
    id: np.ndarray  # "ST-A1-2": platform A, agency 1, station 2
    agency: np.ndarray  # "AG-A1"
    platform: np.ndarray  # 0 = A, 1 = B
    zone: np.ndarray  # "Z-A1-2"
    name: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    radius_m: np.ndarray  # nominal hexagon radius
    vertex_scale: np.ndarray  # (S, 6) jitter of each hexagon vertex
    rotation: np.ndarray
    compressed: np.ndarray  # bool: deadlines shrink week by week here
    english: np.ndarray  # bool: the English-speaking station whose group lives on WhatsApp
    manager_zh: np.ndarray
    manager_en: np.ndarray
    manager_wxid: np.ndarray
    chatroom: np.ndarray  # "<digits>@chatroom"

    @property
    def n(self) -> int:
        return len(self.id)

    def inner_radius_m(self) -> np.ndarray:
        """A circle surely inside the jittered hexagon (its edges are at ≥ cos 30° × smallest vertex)."""
        return self.radius_m * self.vertex_scale.min(axis=1) * np.cos(np.radians(30))


@dataclass(frozen=True)
class Riders:
    id: np.ndarray
    rtype: np.ndarray
    subordination: np.ndarray
    station: np.ndarray  # -1 for crowd riders
    platform: np.ndarray  # station's platform, or a crowd rider's preferred app
    monthly_wage: np.ndarray
    english: np.ndarray  # writes chat messages in English
    gpx: np.ndarray  # pings recorded by the phone (GPX) instead of the app logs
    whatsapp: np.ndarray  # owns a WhatsApp export of the English station's group
    has_roster: np.ndarray
    shift_start_min: np.ndarray  # local minute of day the rostered shift starts
    shift_len_min: np.ndarray
    rest_weekday: np.ndarray  # station riders' weekly day off
    extend_p: np.ndarray  # share of shifts extended beyond the roster
    works_rest_days: np.ndarray
    night_owl: np.ndarray  # crowd riders whose evening block crosses midnight
    speed_mps: np.ndarray
    gps_interval_s: np.ndarray
    anchor_lon: np.ndarray  # station (or a crowd rider's home area)
    anchor_lat: np.ndarray
    roam_m: np.ndarray  # how far from the anchor the rider moves
    name_zh: np.ndarray
    name_en: np.ndarray
    wxid: np.ndarray
    nightly_min: np.ndarray  # planted nightly-report local minute, -1 when none
    weekend_duty: np.ndarray
    complaint: np.ndarray

    @property
    def n(self) -> int:
        return len(self.id)

    @property
    def attached(self) -> np.ndarray:
        return self.station >= 0


@dataclass(frozen=True)
class World:
    stations: Stations
    riders: Riders
    customer_wxid: np.ndarray
    customer_name: np.ndarray


def rider_types(rng: np.random.Generator, n: int) -> np.ndarray:
    """~50 % station, ~15 % mixed, the rest crowd; every type present from 3 riders on."""
    n_mixed = max(1, round(0.15 * n)) if n >= 3 else 0
    n_station = max(1, round(0.5 * n))
    n_crowd = n - n_station - n_mixed
    kinds = np.repeat(np.array([STATION, MIXED, CROWD], dtype=np.int8), [n_station, n_mixed, max(n_crowd, 0)])
    return rng.permutation(kinds[:n])


def station_counts(rng: np.random.Generator, n_riders: int, knobs: Knobs) -> np.ndarray:
    """Stations per agency for one platform: 1–2 agencies × 1–3 stations, more when riders outgrow
    max_station_size, fewer when there are not two riders per station (a group needs a crowd)."""
    per_agency = rng.integers(1, 4, rng.integers(1, 3))
    need = -(-n_riders // knobs.max_station_size)
    if per_agency.sum() < need:
        agencies = max(len(per_agency), -(-need // 3))
        per_agency = np.full(agencies, -(-need // agencies))
    cap = max(1, n_riders // 2)
    while per_agency.sum() > cap and per_agency.max() > 1:  # a handful of stations, not riders
        per_agency[np.argmax(per_agency)] -= 1
    return per_agency


def person_names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    s = rng.integers(0, len(SURNAMES), n)
    g1 = rng.integers(0, len(GIVEN), n)
    g2 = np.where(rng.random(n) < 0.5, rng.integers(0, len(GIVEN), n), -1)
    sur_zh, sur_en = (np.array(x) for x in zip(*SURNAMES))
    giv_zh, giv_en = (np.array(x + ("",)) for x in zip(*GIVEN))
    zh = np.char.add(np.char.add(sur_zh[s], giv_zh[g1]), giv_zh[g2])
    en_given = np.char.add(giv_en[g1], np.char.lower(giv_en[g2]))
    en = np.char.add(np.char.add(en_given, " "), sur_en[s])
    return zh, en


def unique_names(names: np.ndarray) -> np.ndarray:
    """WhatsApp maps senders by display name, so names must be unique: suffix repeats with 2, 3 …"""
    order = np.argsort(names, kind="stable")
    sorted_names = names[order]
    first = np.concatenate(([True], sorted_names[1:] != sorted_names[:-1]))
    run_start = np.maximum.accumulate(np.where(first, np.arange(len(names)), 0))
    rank = np.arange(len(names)) - run_start
    suffixed = np.where(rank == 0, sorted_names, np.char.add(np.char.add(sorted_names, " "), (rank + 1).astype(str)))
    out = np.empty_like(suffixed)
    out[order] = suffixed
    return out


def wxids(rng: np.random.Generator, n: int) -> np.ndarray:
    ids = np.char.add("wxid_", random_tokens(rng, n, 14, WXID_ALPHABET))
    assert len(np.unique(ids)) == n, "wxid collision"  # 36**14 ids: practically never
    return ids


def build_stations(rng: np.random.Generator, riders_per_platform: list[int], knobs: Knobs) -> Stations:
    ids, agencies, platforms = [], [], []
    for p, name in enumerate("AB"):  # two platforms, a handful of agencies: tiny loops
        for a, count in enumerate(station_counts(rng, riders_per_platform[p], knobs), start=1):
            for s in range(1, count + 1):
                ids.append(f"ST-{name}{a}-{s}")
                agencies.append(f"AG-{name}{a}")
                platforms.append(p)
    n = len(ids)
    ids = np.array(ids)
    spread = 2500.0 * np.sqrt(n)  # keep the city denser than the zones are wide, as in a real city
    dist, angle = spread * np.sqrt(rng.random(n)), rng.random(n) * 2 * np.pi
    dlon, dlat = meters_to_deg(dist * np.cos(angle), dist * np.sin(angle), np.full(n, CITY_LAT))
    manager_zh, manager_en = person_names(rng, n)
    district = np.array(DISTRICTS)[rng.integers(0, len(DISTRICTS), n)]
    return Stations(
        id=ids, agency=np.array(agencies), platform=np.array(platforms, dtype=np.int8),
        zone=np.char.replace(ids, "ST-", "Z-"),
        name=np.char.add(np.char.add(district, np.char.replace(ids, "ST-", "")), "站"),
        lon=CITY_LON + dlon, lat=CITY_LAT + dlat,
        radius_m=rng.uniform(2000, 3000, n), vertex_scale=rng.uniform(0.95, 1.05, (n, 6)),
        rotation=rng.uniform(0, np.pi / 3, n),
        compressed=np.zeros(n, dtype=bool), english=np.zeros(n, dtype=bool),
        manager_zh=manager_zh, manager_en=unique_names(np.char.add("Manager ", manager_en)),
        manager_wxid=wxids(rng, n),
        chatroom=np.char.add(rng.integers(10_000_000, 99_999_999_999, n).astype(str), "@chatroom"))


def pick(rng: np.random.Generator, eligible: np.ndarray, share: float) -> np.ndarray:
    """A mask choosing round(share × eligible) of the eligible (at least one when any is)."""
    idx = np.flatnonzero(eligible)
    chosen = np.zeros(len(eligible), dtype=bool)
    if len(idx) and share > 0:
        k = min(len(idx), max(1, round(share * len(idx))))
        chosen[rng.choice(idx, k, replace=False)] = True
    return chosen


def build_world(seed_rng: np.random.Generator, n: int, knobs: Knobs) -> World:
    rng = seed_rng
    rtype = rider_types(rng, n)
    attached = rtype != CROWD
    # attached riders alternate platforms so both platforms have stations with riders
    platform = np.zeros(n, dtype=np.int8)
    att_idx = np.flatnonzero(attached)
    platform[rng.permutation(att_idx)] = np.arange(len(att_idx)) % 2
    platform[~attached] = rng.integers(0, 2, (~attached).sum())
    stations = build_stations(rng, [int((attached & (platform == p)).sum()) for p in (0, 1)], knobs)

    station = np.full(n, -1, dtype=np.int64)
    for p in (0, 1):  # riders dealt round-robin over the platform's stations: balanced sizes
        members = rng.permutation(np.flatnonzero(attached & (platform == p)))
        st = np.flatnonzero(stations.platform == p)
        station[members] = st[np.arange(len(members)) % len(st)]
    mark_station_plants(rng, stations, station)

    sub = np.select([rtype == STATION, rtype == MIXED], [rng.uniform(0.75, 0.95, n), rng.uniform(0.4, 0.65, n)],
                    rng.uniform(0.05, 0.3, n))
    is_st, is_mx = rtype == STATION, rtype == MIXED
    wage = np.where(is_st, uniform_int(rng, 50, 70, n) * 100.0, MINIMUM_WAGE)
    has_roster = is_st | (is_mx & (rng.random(n) < 0.6))
    shift_start = np.where(is_st, uniform_int(rng, 14, 21, n) * 30, uniform_int(rng, 20, 28, n) * 30)
    shift_len = np.where(is_st, uniform_int(rng, 15, 17, n) * 30, uniform_int(rng, 8, 12, n) * 30)
    in_english_station = station >= 0
    in_english_station[in_english_station] = stations.english[station[in_english_station]]
    whatsapp = in_english_station & pick_first(station, in_english_station, 3)

    zh, en = person_names(rng, n)
    anchor_lon = np.where(attached, stations.lon[np.maximum(station, 0)], CITY_LON)
    anchor_lat = np.where(attached, stations.lat[np.maximum(station, 0)], CITY_LAT)
    home_r, home_a = 6000 * np.sqrt(rng.random(n)), rng.random(n) * 2 * np.pi
    dlon, dlat = meters_to_deg(home_r * np.cos(home_a), home_r * np.sin(home_a), anchor_lat)
    anchor_lon = np.where(attached, anchor_lon, anchor_lon + dlon)  # crowd riders: a home area in the city
    anchor_lat = np.where(attached, anchor_lat, anchor_lat + dlat)
    inner = stations.inner_radius_m()[np.maximum(station, 0)]
    # station riders stay well inside their zone; mixed riders stray out of it; crowd riders roam
    roam = np.select([is_st, is_mx], [0.8 * inner, 1.3 * stations.radius_m[np.maximum(station, 0)]], 4000.0)

    nightly = pick(rng, attached, knobs.nightly_share)
    weekend = pick(rng, is_st & (~in_english_station | whatsapp), knobs.weekend_share)
    complaint = pick(rng, attached, knobs.complaint_share)
    gps_base = np.select([is_st, is_mx], [uniform_int(rng, 60, 120, n), uniform_int(rng, 180, 300, n)],
                         uniform_int(rng, 540, 660, n))
    return World(
        stations=stations,
        riders=Riders(
            id=np.char.add("R", np.char.zfill(np.arange(1, n + 1).astype(str), max(4, len(str(n))))),
            rtype=rtype, subordination=np.round(sub, 3), station=station, platform=platform,
            monthly_wage=wage, english=in_english_station | (attached & (rng.random(n) < 0.05)),
            gpx=pick(rng, np.ones(n, dtype=bool), knobs.gpx_share),
            whatsapp=whatsapp, has_roster=has_roster, shift_start_min=shift_start, shift_len_min=shift_len,
            rest_weekday=rng.integers(0, 7, n), extend_p=np.where(is_st, rng.uniform(0.15, 0.6, n), 0.1),
            works_rest_days=is_st & (rng.random(n) < 0.3),
            night_owl=pick(rng, rtype == CROWD, 0.15),
            speed_mps=rng.uniform(15, 22, n) / 3.6,
            gps_interval_s=np.maximum(1, np.round(gps_base * knobs.gps_scale)).astype(np.int64),
            anchor_lon=anchor_lon, anchor_lat=anchor_lat, roam_m=roam,
            name_zh=zh, name_en=unique_names(en), wxid=wxids(rng, n),
            nightly_min=np.where(nightly, uniform_int(rng, 89, 92, n) * 15, -1),  # 22:15 … 23:00
            weekend_duty=weekend, complaint=complaint),
        customer_wxid=wxids(rng, max(50, 3 * n)),
        customer_name=np.char.add("顾客", uniform_int(rng, 1000, 9999, max(50, 3 * n)).astype(str)),
    )


def pick_first(station: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """The first k riders (by id) of each station among mask."""
    chosen = np.zeros(len(station), dtype=bool)
    idx = np.flatnonzero(mask)
    order = idx[np.lexsort((idx, station[idx]))]
    st = station[order]
    first = np.concatenate(([0], np.flatnonzero(st[1:] != st[:-1]) + 1)) if len(st) else np.array([], dtype=int)
    run_start = np.repeat(first, np.diff(np.append(first, len(st))))
    chosen[order[(np.arange(len(st)) - run_start) < k]] = True
    return chosen


def mark_station_plants(rng: np.random.Generator, stations: Stations, station: np.ndarray) -> None:
    """Station-level plants: one or two stations with week-by-week deadline compression, and one
    small English-speaking station whose group chat runs on WhatsApp."""
    size = np.bincount(station[station >= 0], minlength=stations.n)
    staffed = np.flatnonzero(size > 0)
    if len(staffed) == 0:
        return
    stations.compressed[rng.choice(staffed, min(len(staffed), 1 if stations.n < 4 else 2), replace=False)] = True
    group_sized = staffed[size[staffed] >= 2]
    pool = group_sized if len(group_sized) else staffed
    stations.english[pool[np.argmin(size[pool])]] = True
