"""Working-time calendar: what kind of day each date is, and the hours a worker was scheduled.

Day kinds come from the ``holidays`` package's China calendar (State Council notices, with its
substituted workdays), never from a hand-written table:

- ``statutory_holiday``: the statutory holiday dates themselves (work on them earns 300 %);
- ``rest_day``: weekends, and weekdays made rest days by the holiday arrangement — substituted
  days off (调休) and "observed" days (补假). Work on them is rest-day work (200 %), not holiday work;
- ``workday``: other weekdays, and weekend days made working days (调休上班).

Schedules: a worker's roster rows when the case has any for them in the period, else a default
window on the calendar's workdays. Which of the two was used is recorded on every window.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta

import holidays
import polars as pl

DAY_KINDS = ("workday", "rest_day", "statutory_holiday")
DEFAULT_WINDOW = ("09:00", "18:00")
ROSTER = "roster"
DEFAULT = "default window"


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _substituted_day_off(calendar: holidays.HolidayBase) -> re.Pattern:
    """The package names a substituted day off with its own label template
    ("休息日（由 %s 调休）" / "Day off (substituted from %s)"); match names against that
    template in whatever language the calendar speaks, so no label text is copied here."""
    template = calendar.tr(calendar.substituted_label)
    return re.compile("^" + re.escape(template).replace(re.escape("%s"), ".+") + "$")


def _statutory_dates(years: list[int], language: str) -> set[date]:
    # Without observance the calendar holds the statutory dates plus the substituted days off
    # (the State Council's arrangement); "observed" (补假) days are left out by construction.
    bare = holidays.China(years=years, observed=False, language=language)
    substituted = _substituted_day_off(bare)
    return {d for d in bare if not all(substituted.match(name) for name in bare.get_list(d))}


def day_kinds(start: date | str, end: date | str, language: str = "zh_CN") -> pl.DataFrame:
    """One row per local date from ``start`` to ``end`` inclusive: date, day_kind, holiday_name
    (the calendar's name for a holiday, a substituted day off or an observed day; null otherwise).
    ``language`` is one of the package's languages for China (zh_CN, zh_TW, en_US, th)."""
    start, end = _as_date(start), _as_date(end)
    if end < start:
        raise ValueError(f"calendar period ends ({end}) before it starts ({start})")
    years = list(range(start.year, end.year + 1))
    calendar = holidays.China(years=years, language=language)
    statutory = _statutory_dates(years, language)
    rows = []
    for offset in range((end - start).days + 1):  # ≤ a few hundred days: the only Python loop
        day = start + timedelta(days=offset)
        rows.append((day, _kind(day, calendar, statutory), calendar.get(day)))
    return pl.DataFrame(rows, schema={"date": pl.Date, "day_kind": pl.String, "holiday_name": pl.String},
                        orient="row")


def _kind(day: date, calendar: holidays.HolidayBase, statutory: set[date]) -> str:
    if day in statutory:
        return "statutory_holiday"
    if day in calendar:
        return "rest_day"
    if day.weekday() in calendar.weekend and day not in calendar.weekend_workdays:
        return "rest_day"
    return "workday"


def premium_bands(law: dict) -> pl.DataFrame:
    """The overtime premium per day kind from the law file: day_kind, multiplier, applies_to
    (which hours earn it), sources. Join on ``day_kind`` with :func:`day_kinds`."""
    bands = law["overtime_premium"]
    missing = [kind for kind in DAY_KINDS if kind not in bands]
    if missing:
        raise ValueError(f"law file {law.get('name')!r} has no overtime_premium for {missing}")
    return pl.DataFrame(
        [(kind, float(bands[kind]["multiplier"]), bands[kind]["applies_to"], bands[kind]["sources"])
         for kind in DAY_KINDS],
        schema={"day_kind": pl.String, "multiplier": pl.Float64, "applies_to": pl.String,
                "sources": pl.List(pl.String)}, orient="row")


def _local_instant(day: pl.Expr, hhmm: str, tz: str) -> pl.Expr:
    wall_clock = day.dt.combine(pl.lit(hhmm).str.to_time("%H:%M"))
    return wall_clock.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def default_windows(workers: pl.LazyFrame, days: pl.DataFrame, tz: str, window: tuple[str, str],
                    on: Iterable[str] = ("workday",)) -> pl.LazyFrame:
    """The window ``(from, to)`` in local wall-clock time on every date whose kind is in ``on``,
    for each worker; a window whose end is not after its start ends the next day (night shift)."""
    begin, finish = window
    dates = days.lazy().filter(pl.col("day_kind").is_in(list(on))).select("date")
    next_day = pl.lit(finish <= begin)
    return workers.join(dates, how="cross").select(
        "worker_id",
        start=_local_instant(pl.col("date"), begin, tz),
        end=_local_instant(pl.when(next_day).then(pl.col("date").dt.offset_by("1d")).otherwise(pl.col("date")),
                           finish, tz),
        source=pl.lit(DEFAULT),
        src=pl.lit(None, dtype=pl.String),
        src_row=pl.lit(None, dtype=pl.Int64),
    )


def working_window(schedules: pl.LazyFrame, workers: Iterable[str] | pl.Series, start: date | str,
                   end: date | str, tz: str, default: tuple[str, str] = DEFAULT_WINDOW,
                   default_on: Iterable[str] = ("workday",)) -> pl.LazyFrame:
    """Scheduled working time per worker over the local dates ``start``..``end``.

    Needs schedules (worker_id, start, end, src, src_row). A worker with at least one schedule row
    starting in the period is taken at their roster (a day without a row is a day off); any other
    worker gets ``default`` on the calendar's workdays. Columns: worker_id, start, end (UTC),
    source ("roster" | "default window"), src, src_row (null for default windows)."""
    start, end = _as_date(start), _as_date(end)
    roster = (
        schedules.with_columns(local_date=pl.col("start").dt.convert_time_zone(tz).dt.date())
        .filter(pl.col("local_date").is_between(start, end))
        .select("worker_id", "start", "end", source=pl.lit(ROSTER), src="src", src_row="src_row")
    )
    everyone = pl.LazyFrame({"worker_id": pl.Series(list(workers), dtype=pl.String)}).unique()
    without = everyone.join(roster.select("worker_id").unique(), on="worker_id", how="anti")
    fallback = default_windows(without, day_kinds(start, end), tz, default, default_on)
    return pl.concat([roster.join(everyone, on="worker_id", how="semi"), fallback]).sort("worker_id", "start")
