"""Work sessions: app time, order time and chat work merged per worker, split at the schedule.

Needs activity (worker_id, platform, ts, kind, src, src_row), orders (worker_id, platform,
outcome, responded_at/dispatched_at, picked_up_at, delivered_at, src, src_row), messages (worker_id,
conversation_id, sender_id, sender_role, ts, text, attachment_kind, src, src_row), participants
(participant_id, worker_id) and schedules (worker_id, start, end, src, src_row).

- Platform time: app online periods and order time (人社厅发〔2023〕50号 Art. 4). Waiting online
  counts: a rider logged in and available is at the platform's disposal. Platforms the user
  declared another job (``Settings.excluded_platforms``) are left out.
- Chat work: a worker's messages, each message once even when it appears in several exports (two
  exports of one group, or the worker's own export and a colleague's). Outside platform time they
  are stitched into chat sessions with ``Settings.chat_gap_minutes``; a session is work when the
  worker sent substantive content in it (criteria 1–2 of the 隐形加班 test).
- Sessions: platform time (stitched with ``device_gap_minutes``) and chat work (``chat_gap_minutes``)
  merged, then split at the working window (roster, else ``Settings.working_window`` on workdays).
"""

from __future__ import annotations

import json
from datetime import date

import polars as pl

from auditor import calendar
from auditor.analyzers import context, interval_sets
from auditor.analyzers.intervals import (
    daily_blocks,
    daily_refs,
    online_intervals,
    order_intervals,
)
from auditor.analyzers.messages import classified
from auditor.case import Case
from auditor.findings import Findings
from auditor.settings import Settings

ID = "work-sessions"
WORKER = interval_sets.WORKER
OWN_SENDER = "self"


def platform_activity(case: Case, settings: Settings) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(activity, orders) without the platforms the user declared another job."""
    excluded = list(settings.excluded_platforms)
    keep = ~pl.col("platform").is_in(excluded).fill_null(False)
    return case.table("activity").filter(keep), case.table("orders").filter(keep)


def platform_intervals(case: Case, settings: Settings) -> pl.LazyFrame:
    """App online periods and order time (taking → delivery): worker_id, start, end, refs."""
    return context.frame(case, without_excluded("platform intervals", settings), lambda: _platform_intervals(
        *platform_activity(case, settings))).lazy()


def _platform_intervals(activity: pl.LazyFrame, orders: pl.LazyFrame) -> pl.LazyFrame:
    return pl.concat([online_intervals(activity), order_intervals(orders)])


def without_excluded(name: str, settings: Settings) -> str:
    # Platform time depends on the settings only through the platforms left out: keyed on those
    # alone, one run shares it between analyzers whatever else their settings say.
    return f"{name} without {sorted(settings.excluded_platforms)}"


def platform_blocks(case: Case, settings: Settings) -> pl.LazyFrame:
    """Platform time merged per worker (interval_sets.union of platform_intervals): worker_id,
    start, end, disjoint and sorted; once per shared run. Unions, stitching and sweeps against
    platform time start from these few blocks instead of sorting every order again."""
    return context.frame(case, without_excluded("platform blocks", settings), lambda: interval_sets.union(
        platform_intervals(case, settings).select(WORKER, "start", "end"))).lazy()


def platform_days(case: Case, settings: Settings) -> pl.DataFrame:
    """Platform time per worker and local day (intervals.daily_union of platform_intervals)."""
    def build() -> pl.LazyFrame:
        days = daily_blocks(platform_blocks(case, settings), case.tz)
        return days.join(daily_refs(platform_intervals(case, settings), case.tz), on=[WORKER, "date"],
                         how="left").sort(WORKER, "date")
    return context.frame(case, without_excluded("platform days", settings), build)


def period(case: Case, settings: Settings) -> tuple[date, date] | None:
    """First and last local date with platform time or messages, or None for an empty case."""
    platform = platform_intervals(case, settings)
    stamps = pl.concat([platform.select(ts="start"), platform.select(ts="end"), case.table("messages").select("ts")])
    first, last = stamps.select(first=pl.col("ts").min(), last=pl.col("ts").max()).collect().row(0)
    if first is None:
        return None
    local = pl.Series([first, last]).dt.convert_time_zone(case.tz).dt.date()
    return local[0], local[1]


def schedule_windows(case: Case, settings: Settings, workers: pl.Series) -> pl.LazyFrame:
    """Working windows per worker (calendar.working_window): worker_id, start, end, source, src, src_row."""
    span = period(case, settings)
    if span is None:
        return calendar.default_windows(pl.LazyFrame({WORKER: []}, schema={WORKER: pl.String}),
                                        calendar.day_kinds("2000-01-01", "2000-01-01"), case.tz,
                                        settings.working_window)
    schedules = case.table("schedules") if settings.use_roster else case.table("schedules").head(0)
    return calendar.working_window(schedules, workers, span[0], span[1], case.tz, default=settings.working_window)


def workers(case: Case) -> pl.Series:
    names = [case.table(t).select(WORKER) for t in ("activity", "orders", "messages")]
    return context.frame(case, "workers", lambda: pl.concat(names).unique())[WORKER].drop_nulls().sort()


def case_windows(case: Case, settings: Settings) -> pl.LazyFrame:
    """:func:`schedule_windows` of every worker in the case, once per shared run."""
    return context.frame(case, "working windows", lambda: schedule_windows(case, settings, workers(case)),
                         settings).lazy()


def _mark_addressed(messages: pl.LazyFrame, participants: pl.LazyFrame) -> pl.LazyFrame:
    names = (participants.filter(pl.col(WORKER).is_not_null() & pl.col("display_name").is_not_null())
             .select(WORKER, name="display_name").unique())
    indexed = messages.with_row_index("_row")
    naming = (indexed.select("_row", WORKER, "text").join(names, on=WORKER)
              .filter(pl.col("text").fill_null("").str.contains(pl.col("name"), literal=True))
              .select("_row").unique().with_columns(_names_owner=pl.lit(True)))
    senders = pl.col("sender_id").drop_nulls().n_unique().over(WORKER, "conversation_id")
    return (indexed.join(naming, on="_row", how="left")
            .with_columns(addressed=(senders <= 2) | pl.col("_names_owner").fill_null(False))
            .drop("_row", "_names_owner"))


def attributed_messages(case: Case) -> pl.LazyFrame:
    """Classified messages, each attributed to the worker whose work record it belongs to, once.

    A worker's record holds their own exports (every sender, ``own`` for what they sent) and what
    they sent as seen in colleagues' exports (participants.csv maps the sender to the worker). The
    same message from two exports counts once: the key is worker, sender, time and content, not
    the conversation id, which differs between exports of one group. ``addressed``: the message
    speaks to the owner (a one-to-one chat, or it names them). Columns: the messages' columns,
    label, rule, is_instruction, instruction_rule, own, addressed."""
    return context.frame(case, "attributed messages", lambda: _attributed(case)).lazy()


def _attributed(case: Case) -> pl.LazyFrame:
    participants = case.table("participants")
    messages = classified(case)
    labelled = _mark_addressed(messages.lazy(), participants).cache()  # read twice below
    riders = (participants.filter(pl.col(WORKER).is_not_null())
              .select(sender_id="participant_id", sender_worker=WORKER).unique("sender_id"))
    in_own_export = labelled.with_columns(own=pl.col("sender_role") == OWN_SENDER, copy=pl.lit(0))
    seen_by_colleagues = (
        labelled.filter(pl.col("sender_role") == "colleague")
        .join(riders, on="sender_id")
        .filter(pl.col("sender_worker") != pl.col(WORKER))
        .with_columns(pl.col("sender_worker").alias(WORKER), own=pl.lit(True), addressed=pl.lit(False),
                      copy=pl.lit(1))
        .drop("sender_worker")
    )
    sender_key = pl.when("own").then(pl.lit(OWN_SENDER)).otherwise(pl.col("sender_id").fill_null(""))
    # The copy kept is the first in the worker's own exports, then by source and line: sorted on
    # those alone (sources as an ordered enum, so no text is compared), as nothing after needs time order.
    sources = pl.Enum(messages["src"].drop_nulls().unique().sort())
    return (
        pl.concat([in_own_export, seen_by_colleagues])
        .sort("copy", pl.col("src").cast(sources), "src_row")
        .unique([WORKER, sender_key.alias("_sender"), "ts", "text", "attachment_kind"], keep="first",
                maintain_order=True)
        .drop("copy")
    )


def _outside(points: pl.LazyFrame, cover: pl.LazyFrame) -> pl.LazyFrame:
    """Points (worker_id, ts) not inside any interval of ``cover`` (half-open [start, end))."""
    merged = interval_sets.union(cover.select(WORKER, "start", "end")).sort("start")
    return (points.sort("ts")
            # both sides are sorted by time overall, hence within each worker too
            .join_asof(merged, left_on="ts", right_on="start", by=WORKER, strategy="backward",
                       check_sortedness=False)
            .filter(pl.col("end").is_null() | (pl.col("ts") >= pl.col("end")))
            .drop("start", "end"))


def _reach(gap_minutes: float, tz: str, duty_rules: list[str]) -> pl.Expr:
    """How far each message carries a session: the stitching gap, or, from a standing duty
    addressed to the worker, the end of that local day (on duty, the worker is at disposal)."""
    local_day = pl.col("ts").dt.convert_time_zone(tz).dt.date()
    day_end = (local_day.dt.offset_by("1d").cast(pl.Datetime("us"))
               .dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC"))
    duty = pl.col("instruction_rule").is_in(duty_rules).fill_null(False) & pl.col("addressed")
    on_duty_since = pl.when(duty).then(pl.col("ts")).min().over(WORKER, local_day)
    on_duty = pl.col("ts") >= on_duty_since
    gap = pl.duration(microseconds=int(gap_minutes * 60e6))
    return pl.when(on_duty.fill_null(False)).then(day_end).otherwise(pl.col("ts") + gap)


def chat_sessions(messages: pl.LazyFrame, platform: pl.LazyFrame, gap_minutes: float, tz: str,
                  duty_rules: list[str]) -> pl.LazyFrame:
    """Chat sessions outside platform time: the worker's own messages and the substantive messages
    others address to them, stitched when less than ``gap_minutes`` apart (or through a standing
    duty's day); kept when the worker took part.

    A session runs from its first substantive message (often the manager's request) to the
    worker's last substantive message. Columns: session_id, worker_id, start, end, conversations,
    n_messages, n_substantive, n_own, n_own_substantive, substantive (criterion 1: work content),
    beyond_simple (criterion 2: the worker sent more than simple communication), rules, refs."""
    substantive = pl.col("label") == "substantive"
    stream = _outside(messages.filter(pl.col("own") | (substantive & pl.col("addressed"))), platform)
    points = stream.with_columns(start="ts", end="ts", reach=_reach(gap_minutes, tz, duty_rules),
                                 ref=pl.struct(table=pl.lit("messages"), src="src", src_row="src_row"))
    blocks = interval_sets.blocks(points, pl.col("reach"))
    own_substantive = pl.col("own") & substantive
    return (
        blocks.group_by(WORKER, "block")
        .agg(start=pl.col("ts").filter(substantive).min(),
             end=pl.col("ts").filter(own_substantive).max(),
             first_message=pl.col("ts").min(),
             conversations=pl.col("conversation_id").unique().sort(),
             n_messages=pl.len(),
             n_substantive=substantive.sum(),
             n_own=pl.col("own").sum(),
             n_own_substantive=own_substantive.sum(),
             rules=pl.col("rule").filter(own_substantive).unique().sort(),
             refs=pl.col("ref"))
        .filter(pl.col("n_own") > 0)
        .with_columns(substantive=pl.col("n_substantive") > 0, beyond_simple=pl.col("n_own_substantive") > 0,
                      start=pl.coalesce("start", "first_message"))
        .with_columns(end=pl.coalesce("end", "start"))
        .sort(WORKER, "start")
        .with_columns(session_id=pl.format("{}:chat:{}", WORKER, pl.col("start").dt.strftime("%Y%m%dT%H%M%S")))
        .drop("block", "first_message")
    )


def worker_chat_sessions(case: Case, settings: Settings) -> pl.LazyFrame:
    """:func:`chat_sessions` of the case with the run's gap and the law file's duty rules."""
    duty_rules = settings.law["hidden_overtime"]["standing_duty_rules"]
    return context.frame(case, "chat sessions", lambda: chat_sessions(
        attributed_messages(case), platform_blocks(case, settings), settings.chat_gap_minutes, case.tz, duty_rules),
        settings).lazy()


def chat_work(case: Case, settings: Settings) -> pl.LazyFrame:
    """Chat sessions that are work (criteria 1 and 2 met), outside platform time."""
    return worker_chat_sessions(case, settings).filter(pl.col("substantive") & pl.col("beyond_simple"))


def work_sessions(case: Case, settings: Settings, refs: bool = True) -> pl.LazyFrame:
    """Platform time and chat work merged into sessions, with their on- and off-schedule hours.
    Columns: session_id, worker_id, start, end, hours, on_schedule_hours, off_schedule_hours,
    schedule (roster / default window), refs (left out when ``refs`` is false)."""
    minutes = lambda m: pl.duration(microseconds=int(m * 60e6))
    # Platform time enters as its merged blocks: stitching those with the device gap joins what
    # stitching every online period and order would (one gap for all of them).
    parts = pl.concat([
        platform_blocks(case, settings).with_columns(gap=minutes(settings.device_gap_minutes)),
        chat_work(case, settings).select(WORKER, "start", "end", gap=minutes(settings.chat_gap_minutes)),
    ])
    sessions = (interval_sets.stitch(parts, pl.col("gap"), refs=None)
                .with_columns(session_id=pl.format("{}:{}", WORKER, pl.col("start").dt.strftime("%Y%m%dT%H%M%S")))
                .cache())
    windows = case_windows(case, settings)
    on = interval_sets.overlap(sessions, windows, "session_id").select(
        "session_id", on_schedule_hours=pl.col("inside").dt.total_microseconds() / 3.6e9)
    schedule = windows.group_by(WORKER).agg(schedule=pl.col("source").first())
    measured = (sessions.join(on, on="session_id", how="left")
                .join(schedule, on=WORKER, how="left")
                .with_columns(hours=interval_sets.hours(), on_schedule_hours=pl.col("on_schedule_hours").fill_null(0.0))
                .with_columns(off_schedule_hours=pl.col("hours") - pl.col("on_schedule_hours"))
                .select("session_id", WORKER, "start", "end", "hours", "on_schedule_hours", "off_schedule_hours",
                        "schedule"))
    if not refs:
        return measured
    sources = pl.concat([platform_intervals(case, settings).select(WORKER, "start", "end", "refs"),
                         chat_work(case, settings).select(WORKER, "start", "end", "refs")])
    behind = (interval_sets.member_of(sources, sessions, "session_id").group_by("session_id")
              .agg(pl.col("refs").list.explode(keep_nulls=False, empty_as_null=False)))
    return measured.join(behind, on="session_id", how="left")


@context.sharing
def run(case: Case, settings: Settings) -> Findings:
    """No findings of its own: the sessions are a measure the app and the dossier show, and the
    per-session split between scheduled and unscheduled time."""
    result = Findings.empty()
    sessions = work_sessions(case, settings, refs=False).sort(WORKER, "start").collect()
    result.measures["work_sessions"] = sessions.with_columns(
        parameters=pl.lit(json.dumps({"chat_gap_minutes": settings.chat_gap_minutes,
                                      "device_gap_minutes": settings.device_gap_minutes,
                                      "working_window": list(settings.working_window),
                                      "excluded_platforms": list(settings.excluded_platforms)})))
    return result

