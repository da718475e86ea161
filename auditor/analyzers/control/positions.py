"""Positions while online, streamed and reduced (gps-ping-interval and zone-confinement).

Needs activity (worker_id, platform, ts, kind = gps and the session kinds, lon, lat, src, src_row).

GPS positions are most of a city's activity table (4.2 M of 4.3 M rows at 1,000 riders × 30
days). Holding them whole, sorting them by worker and time and as-of joining them to the online
periods took most of the control stage's time and memory, and grew with the city. So they are
streamed, and reduced on the way (``summarise``): per online span and clock hour, the positions,
how many lie inside the zone they are measured against, and the earliest such row and the
earliest row the platform's app logged, as citations. The ping gaps read a second, leaner pass:
the times of the app's positions, sorted within each span, never as a whole (``gaps``).

A position counts while the worker is online as before: it belongs to the latest online period
(on any platform) started at or before it, if that period has not ended yet. ``spans`` gives each
period the stretch of time that rule hands it, so the spans of one worker never overlap and a
position meets its span in a hash join on (worker, clock hour): no sort, no as-of join.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from auditor.analyzers.intervals import online_intervals

HOUR = "1h"
# a citation is the earliest row by time, then source row: both folded into one number for the
# streaming group-by's min_by, which takes one key and leaves ties open (source rows < 2**40)
ORDER = pl.col("ts").dt.epoch("us").cast(pl.Int128) * 2**40 + pl.col("src_row")


def spans(activity: pl.LazyFrame) -> pl.DataFrame:
    """span (an id), worker_id, online_start, until (inclusive) and hour: one row per clock hour
    the span touches. A period overlapped by a later start hands over at that start; of periods
    starting together the longest keeps the span."""
    periods = online_intervals(activity).select("worker_id", "start", "end").collect().sort("worker_id", "start", "end")
    handover = pl.col("start").shift(-1).over("worker_id") - pl.duration(microseconds=1)
    return (periods.select("worker_id", online_start="start", until=pl.min_horizontal("end", handover))
            .filter(pl.col("until") >= pl.col("online_start"))
            .with_row_index("span")
            .with_columns(hour=pl.datetime_ranges(pl.col("online_start").dt.truncate(HOUR), "until", HOUR))
            .explode("hour"))


def stream(activity: pl.LazyFrame, online: pl.DataFrame) -> pl.LazyFrame:
    """GPS positions inside an online span: worker_id, ts, lon, lat, app (true for the platform's
    own log, false for the worker's phone), src, src_row, and the span's columns (span, hour …)."""
    gps = (activity.filter((pl.col("kind") == "gps") & pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
           .select("worker_id", "ts", "lon", "lat", "src", "src_row", app=pl.col("platform").is_not_null(),
                   hour=pl.col("ts").dt.truncate(HOUR)))
    # the spans are the hash table: left to choose, the streaming join buffers millions of
    # positions first to estimate which side is smaller
    return (gps.join(online.lazy(), on=["worker_id", "hour"], build_side="force_right")
            .filter(pl.col("ts").is_between("online_start", "until")))


def earliest(where: pl.Expr) -> pl.Expr:
    """The group's earliest row where ``where`` holds, as {src, src_row} (null if none)."""
    first = pl.when(where).then(ORDER)
    return pl.struct(src=pl.col("src").min_by(first), src_row=pl.col("src_row").min_by(first))


def hourly(entries: pl.LazyFrame) -> pl.LazyFrame:
    """Per span, clock hour and zone, from one row per position and zone it is measured against
    (columns zone, inside, and position: true on the row that stands for the position itself,
    false on the other zones it touches): positions, hits (the other zones' rows), passed (inside),
    first_app and first_passed (citations)."""
    return entries.group_by("span", "hour", "zone").agg(
        positions=pl.col("position").sum(), hits=pl.col("position").not_().sum(), passed=pl.col("inside").sum(),
        first_app=earliest(pl.col("app") & pl.col("position")), first_passed=earliest(pl.col("inside")))


@dataclass
class Summary:
    """The positions while online, reduced.

    periods: span, worker_id, online_start;
    hours: span, hour, zone (the worker's own, or null), worker_id, online_start, positions, passed,
    first_app, first_passed: one row per span and clock hour;
    visits: span, hour, zone, hits, passed, first_passed: the other zones the positions touched."""

    periods: pl.DataFrame
    hours: pl.DataFrame
    visits: pl.DataFrame

    def with_periods(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` (with a span column) with each span's worker_id and online_start."""
        return frame.join(self.periods, on="span")


def periods(online: pl.DataFrame) -> pl.DataFrame:
    return online.unique("span").select("span", "worker_id", "online_start")


def summarise(activity: pl.LazyFrame, online: pl.DataFrame,
              entries: Callable[[pl.LazyFrame], pl.LazyFrame]) -> Summary:
    """``hourly`` over ``entries(positions)``, in one streaming pass."""
    counted = hourly(entries(stream(activity, online))).collect(engine="streaming")
    spans_of = periods(online)
    hours = counted.filter(pl.col("positions") > 0).drop("hits").join(spans_of, on="span")
    visits = counted.filter(pl.col("hits") > 0).select("span", "hour", "zone", "hits", "passed", "first_passed")
    return Summary(spans_of, hours, visits)


def first_each_hour(hours: pl.DataFrame, citation: str) -> pl.DataFrame:
    """worker_id, hour, src, src_row: the earliest cited row of each worker's clock hour. Position
    evidence is cited this way: a GPS log holds thousands of rows a day, and one per hour shows the
    pattern (the value itself is computed from every row and can be recomputed from the activity
    table). An hour holding two online periods cites the earlier period's row."""
    return (hours.filter(pl.col(citation).struct.field("src_row").is_not_null())
            .sort("worker_id", "hour", "online_start")
            .unique(["worker_id", "hour"], keep="first", maintain_order=True)
            .select("worker_id", "hour", pl.col(citation).struct.unnest()))


def gaps(activity: pl.LazyFrame, online: pl.DataFrame) -> pl.DataFrame:
    """worker_id, gap_s: per online span, the list of seconds between consecutive positions the
    platform's app logged. A pass of its own: sharing the summary's scan would make polars hold the
    whole stream for this second output (1 GB more at 3,000 riders). Each span's times are sorted
    on their own (a sort of every position by span and time took longer) and stay a list per span:
    a worker's statistics explode them."""
    times = stream(activity, online).filter("app").select("span", "ts").collect(engine="streaming")
    per_span = times.lazy().group_by("span").agg(
        gap_s=pl.col("ts").sort().diff().slice(1).dt.total_microseconds() / 1e6)
    return per_span.join(periods(online).lazy(), on="span").select("worker_id", "gap_s").collect()
