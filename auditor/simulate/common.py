"""Shared pieces of the simulator: knobs, random sub-streams, the local calendar, array helpers.

All times inside the simulator are int64 epoch seconds (UTC). Whole seconds on purpose: every
file writes whole seconds, so nothing the ground truth counts is lost to rounding."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import numpy as np

TZ = "Asia/Shanghai"
CITY_LON, CITY_LAT = 121.47, 31.23
M_PER_DEG_LAT = 111_320.0

STATION, CROWD, MIXED = 0, 1, 2
RIDER_TYPES = ("station_fulltime", "crowd_parttime", "mixed")
PLATFORMS = ("A", "B")
WORKDAY, REST_DAY, HOLIDAY = 0, 1, 2
DAY_KINDS = ("workday", "rest_day", "statutory_holiday")


@dataclass(frozen=True)
class Knobs:
    """Tunable densities and shares. Defaults make the < 20 MB 40-rider sample."""

    gps_scale: float = 1.25  # multiplies every rider's GPS ping interval (2.0 = half the pings)
    order_rate: float = 1.0  # demand: multiplies the trip rate; above 1 orders also stack (orders.busy_share)
    chat_rate: float = 1.0  # multiplies in-shift instructions and group chatter
    max_station_size: int = 30  # riders per station before more stations are opened
    gpx_share: float = 0.2  # riders whose pings come from their phone's GPX, not the apps
    nightly_share: float = 0.35  # station/mixed riders planted with a nightly report
    weekend_share: float = 0.2  # station riders planted with rest-day group duty
    complaint_share: float = 0.25  # station/mixed riders planted with one evening complaint

    @classmethod
    def of(cls, overrides: dict) -> Knobs:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown simulation knob(s) {unknown}; known: {sorted(known)}")
        return cls(**overrides)


def substream(seed: int, *names: object) -> np.random.Generator:
    """An independent generator per named part, so changing one part's knob leaves the others'
    draws untouched. crc32 rather than hash(): str hashes are salted per process."""
    keys = [zlib.crc32(str(n).encode()) for n in names]
    return np.random.default_rng([seed, *keys])


@dataclass(frozen=True)
class Calendar:
    """The simulated window as local days: local midnights in UTC seconds and the legal day kind."""

    dates: tuple[date, ...]
    day_start: np.ndarray  # int64, len(dates) + 1 entries: each local midnight, then the window end
    weekday: np.ndarray  # 0 = Monday
    kind: np.ndarray  # WORKDAY / REST_DAY / HOLIDAY

    @property
    def days(self) -> int:
        return len(self.dates)

    def local_day(self, ts: np.ndarray) -> np.ndarray:
        """Index of the local day containing each instant (-1 before, days after the window)."""
        return np.searchsorted(self.day_start, ts, side="right") - 1


def build_calendar(start: date, days: int, tz: str = TZ) -> Calendar:
    zone = ZoneInfo(tz)
    dates = tuple(start + timedelta(d) for d in range(days))
    all_dates = dates + (start + timedelta(days),)
    day_start = np.array([int(datetime(d.year, d.month, d.day, tzinfo=zone).timestamp()) for d in all_dates],
                         dtype=np.int64)
    years = sorted({d.year for d in all_dates})
    cal = holidays.China(years=years, language="en_US")
    kind = np.array([day_kind(d, cal) for d in dates], dtype=np.int8)
    weekday = np.array([d.weekday() for d in dates], dtype=np.int8)
    return Calendar(dates, day_start, weekday, kind)


def day_kind(d: date, cal: holidays.HolidayBase) -> int:
    """300 % applies only on the statutory dates; observed and substituted days off are rest days;
    a weekend that is a substituted workday (调休上班) is an ordinary workday."""
    name = cal.get(d)
    if name is not None:
        observed = "observed" in name or "Day off" in name
        return REST_DAY if observed else HOLIDAY
    if d.weekday() >= 5 and d not in cal.weekend_workdays:
        return REST_DAY
    return WORKDAY


def seg_cumsum(values: np.ndarray, seg_first: np.ndarray, seg_of: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum restarting at each segment. seg_first[s] is the first index of
    segment s; seg_of[i] the segment of element i (segments contiguous, in order)."""
    total = np.cumsum(values)
    before = total[seg_first] - values[seg_first]
    return total - before[seg_of]


def seg_first_index(counts: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)


def within_segment(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For segments of the given sizes: the segment of every element and its position in it."""
    seg = np.repeat(np.arange(len(counts)), counts)
    pos = np.arange(len(seg)) - seg_first_index(counts)[seg]
    return seg, pos


def uniform_int(rng: np.random.Generator, lo, hi, size) -> np.ndarray:
    """Integers in [lo, hi] (both ends included), lo/hi may be arrays."""
    return (lo + np.floor(rng.random(size) * (np.asarray(hi) - np.asarray(lo) + 1))).astype(np.int64)


def random_tokens(rng: np.random.Generator, n: int, length: int, alphabet: str) -> np.ndarray:
    """n random strings drawn from alphabet, built as one character matrix (no loop per string)."""
    chars = np.array(list(alphabet))
    matrix = np.ascontiguousarray(chars[rng.integers(0, len(chars), (n, length))])
    return matrix.view(f"<U{length}").ravel()


def meters_to_deg(dx_m: np.ndarray, dy_m: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return dx_m / (M_PER_DEG_LAT * np.cos(np.radians(lat))), dy_m / M_PER_DEG_LAT


def overlaps_sorted(starts: np.ndarray, ends: np.ndarray, owner: np.ndarray,
                    q_owner: np.ndarray, q_start: np.ndarray, q_end: np.ndarray) -> np.ndarray:
    """Does [q_start, q_end) meet any interval of the same owner? Intervals must be sorted by
    (owner, start) and not overlap each other, so their ends are sorted too: one searchsorted."""
    shift = np.int64(1) << np.int64(40)
    end_key = owner.astype(np.int64) * shift + ends
    start_key = owner.astype(np.int64) * shift + starts
    i = np.searchsorted(end_key, q_owner.astype(np.int64) * shift + q_start, side="right")
    inside = i < len(end_key)
    hit = np.zeros(len(q_start), dtype=bool)
    hit[inside] = start_key[i[inside]] < q_owner[inside].astype(np.int64) * shift + q_end[inside]
    return hit
