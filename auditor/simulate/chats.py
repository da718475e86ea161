"""Chat messages: station groups, one-to-one chats with the manager and with customers, and the
planted off-hours work (nightly reports, rest-day duty, a customer complaint).

Messages are made per *episode kind* (a dozen generators, each vectorised over all riders,
stations and days), then rendered from templates/texts.py, then copied into every export that
holds them: a group message into each member's phone, a one-to-one message into its owner's.
Group volume is set per station-day, not per rider, because every group message is copied into
every member's export."""

from __future__ import annotations

import numpy as np
import polars as pl

from auditor.simulate.blocks import H, M
from auditor.simulate.common import (
    Calendar,
    overlaps_sorted,
    uniform_int,
    within_segment,
)
from auditor.simulate.texts import TEMPLATES
from auditor.simulate.world import World

GROUP, DM = 0, 1
RIDER, MANAGER, CUSTOMER, SYSTEM = 0, 1, 2, 3
PLANT_KINDS = ("nightly_report", "weekend_duty", "complaint")
NIGHTLY, WEEKEND, COMPLAINT = range(3)
PERIODIC = (True, True, False)
TYPE_OF_KEY = {"sticker": 47, "report_image": 3, "system": 10000}

KEYS = np.array([t[0] for t in TEMPLATES])
COLUMNS = {  # every generator fills what it knows; the rest takes these defaults
    "conv": GROUP, "station": -1, "owner": -1, "sender": RIDER, "sender_rider": -1, "customer": -1,
    "mention": -1, "shop": 0, "n": 0, "late": 0, "bad": 0, "clock": 0, "mins": 0,
    "plant": -1, "plant_kind": -1, "plant_worker": -1,
}


class Messages:
    """Collects generator output as column arrays; the template is drawn at random from its key."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.parts: list[dict] = []

    def add(self, key: str, ts: np.ndarray, **cols) -> None:
        n = len(ts)
        if n == 0:
            return
        choices = np.flatnonzero(KEYS == key)
        part = {c: np.broadcast_to(np.asarray(cols.get(c, d), dtype=np.int64), (n,)) for c, d in COLUMNS.items()}
        part["ts"] = np.asarray(ts, dtype=np.int64)
        part["tmpl"] = choices[self.rng.integers(0, len(choices), n)]
        self.parts.append(part)

    def frame(self) -> pl.DataFrame:
        cols = {c: np.concatenate([np.zeros(0, np.int64)] + [p[c] for p in self.parts]) for c in [*COLUMNS, "ts", "tmpl"]}
        return pl.DataFrame(cols).with_row_index("uid").with_columns(pl.col("uid").cast(pl.Int64))


def members_of(world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Riders sorted by station, with each station's first index and size into that list."""
    station = world.riders.station
    order = np.flatnonzero(station >= 0)
    order = order[np.argsort(station[order], kind="stable")]
    size = np.bincount(station[order], minlength=world.stations.n)
    first = np.concatenate(([0], np.cumsum(size)[:-1]))
    return order, first, size


def random_member(rng, world: World, station: np.ndarray) -> np.ndarray:
    order, first, size = members_of(world)
    return order[first[station] + np.floor(rng.random(len(station)) * size[station]).astype(np.int64)]


def station_days(cal: Calendar, world: World) -> tuple[np.ndarray, np.ndarray]:
    """Every (station with members, day) pair."""
    _, _, size = members_of(world)
    staffed = np.flatnonzero(size > 0)
    return np.repeat(staffed, cal.days), np.tile(np.arange(cal.days), len(staffed))


def at_local(rng, cal: Calendar, day: np.ndarray, lo_h: float, hi_h: float) -> np.ndarray:
    return cal.day_start[day] + uniform_int(rng, int(lo_h * H), int(hi_h * H), len(day))


def instructions(msgs: Messages, cal: Calendar, world: World, blocks: pl.DataFrame, rate: float) -> None:
    """In-shift dispatch instructions in the group, each naming a rider who is online, who
    answers within three minutes. ~4 per station-day, spread over members' blocks by length."""
    rng, rd = msgs.rng, world.riders
    b = blocks.filter(pl.Series(rd.station[blocks["rider"].to_numpy()] >= 0)
                      & ((pl.col("end") - pl.col("start")) > 20 * M))
    r, start, end = b["rider"].to_numpy(), b["start"].to_numpy(), b["end"].to_numpy()
    sd = rd.station[r] * (cal.days + 1) + cal.local_day(start)
    length = (end - start).astype(np.float64)
    share = length / np.bincount(sd, weights=length)[sd]
    count = rng.poisson(4.0 * rate * share)
    blk, _ = within_segment(count)
    t = start[blk] + uniform_int(rng, 60, end[blk] - start[blk] - 400, len(blk))
    rider, station = r[blk], rd.station[r[blk]]
    msgs.add("mgr_instr", t, station=station, sender=MANAGER, mention=rider, shop=uniform_int(rng, 1, 12, len(t)))
    replied = rng.random(len(t)) < 0.85
    work = rng.random(len(t)) < 0.4
    reply_t = t + uniform_int(rng, 20, 180, len(t))
    for key, mask in (("reply_ack", replied & ~work), ("reply_work", replied & work)):
        msgs.add(key, reply_t[mask], station=station[mask], sender_rider=rider[mask],
                 shop=uniform_int(rng, 1, 12, mask.sum()))


def group_life(msgs: Messages, cal: Calendar, world: World, rate: float) -> None:
    """The rest of a station group's day: the peak-hour orders to stay online, an evening notice
    answered by a few "收到"s, social chatter and stickers, and one join notice at the start."""
    rng = msgs.rng
    st, day = station_days(cal, world)
    for key, hours in (("mgr_lunch", (10.75, 11.0)), ("mgr_dinner", (16.5, 16.75))):
        peak = rng.random(len(st)) < 0.6
        msgs.add(key, at_local(rng, cal, day[peak], *hours), station=st[peak], sender=MANAGER)

    notice = rng.random(len(st)) < 0.5
    n_st, n_day = st[notice], day[notice]
    t = at_local(rng, cal, n_day, 20.5, 21.25)
    msgs.add("notice", t, station=n_st, sender=MANAGER)
    acks = uniform_int(rng, 1, 3, len(t))
    i, k = within_segment(acks)
    msgs.add("evening_ack", t[i] + 60 * (k + 1) + uniform_int(rng, 0, 59, len(i)), station=n_st[i],
             sender_rider=random_member(rng, world, n_st[i]))

    chat = within_segment(rng.poisson(2.0 * rate, len(st)))[0]
    c_st = st[chat]
    t = at_local(rng, cal, day[chat], 12.0, 23.5)
    by_manager = rng.random(len(t)) < 0.1
    sticker = rng.random(len(t)) < 0.2
    sender_rider = np.where(by_manager, -1, random_member(rng, world, c_st))
    for key, mask in (("social", ~sticker), ("sticker", sticker)):
        msgs.add(key, t[mask], station=c_st[mask], sender=np.where(by_manager[mask], MANAGER, RIDER),
                 sender_rider=sender_rider[mask])

    first = np.unique(st)
    msgs.add("system", at_local(rng, cal, np.zeros(len(first), np.int64), 8.0, 9.0), station=first,
             sender=SYSTEM, mention=random_member(rng, world, first))


def customer_dms(msgs: Messages, world: World, orders: pl.DataFrame, rate: float) -> None:
    """A customer asks where the food is while the rider carries it; the rider answers."""
    rng, rd = msgs.rng, world.riders
    o = orders.filter((pl.col("delivered") >= 0) & pl.Series(rd.station[orders["rider"].to_numpy()] >= 0))
    o = o.filter(pl.Series(rng.random(o.height) < 0.03 * rate))
    rider, picked, delivered = o["rider"].to_numpy(), o["picked"].to_numpy(), o["delivered"].to_numpy()
    t = np.maximum(picked, delivered - uniform_int(rng, 120, 600, len(rider)))
    customer = rng.integers(0, len(world.customer_wxid), len(rider))
    dm = {"conv": DM, "owner": rider, "customer": customer}
    msgs.add("cust_ask", t, sender=CUSTOMER, **dm)
    msgs.add("cust_reply", np.minimum(t + uniform_int(rng, 10, 60, len(t)), delivered), sender_rider=rider, **dm)


def lateness_dms(msgs: Messages, world: World, blocks: pl.DataFrame) -> None:
    """The manager tells a late rider, one to one, about the fine; the rider answers."""
    rng = msgs.rng
    late = blocks.filter(pl.col("late") & ((pl.col("end") - pl.col("start")) > 2 * H))
    r, start = late["rider"].to_numpy(), late["start"].to_numpy()
    t = start + uniform_int(rng, 10 * M, H, len(r))
    minutes = (start - late["shift_start"].to_numpy()) // M
    msgs.add("late_dm", t, conv=DM, owner=r, sender=MANAGER, mins=minutes)
    msgs.add("late_reply", t + uniform_int(rng, 30, 300, len(r)), conv=DM, owner=r, sender_rider=r)


def nightly_reports(msgs: Messages, cal: Calendar, world: World, blocks: pl.DataFrame,
                    daily_orders: pl.DataFrame, first_plant: int) -> int:
    """Planted (a): on (nearly) every day worked, at the rider's fixed time the manager asks for
    the daily report one to one; the rider acknowledges and sends it 10–30 min later, often
    with a screenshot. The counts are the rider's real counts of that day."""
    rng, rd = msgs.rng, world.riders
    days = (pl.DataFrame({"rider": blocks["rider"], "day": cal.local_day(blocks["start"].to_numpy())})
            .unique().sort("rider", "day"))
    days = days.filter(pl.Series(rd.nightly_min[days["rider"].to_numpy()] >= 0))
    days = days.filter(pl.Series(rng.random(days.height) < 0.92))
    days = days.join(daily_orders, on=["rider", "day"], how="left").fill_null(0)
    r, day = days["rider"].to_numpy(), days["day"].to_numpy()
    k = len(r)
    plant = first_plant + np.arange(k)
    dm = {"conv": DM, "owner": r, "plant": plant, "plant_kind": NIGHTLY, "plant_worker": r}
    prompt = cal.day_start[day] + rd.nightly_min[r] * M + uniform_int(rng, 0, 120, k)
    msgs.add("report_prompt", prompt, sender=MANAGER, mention=r, **dm)
    msgs.add("report_ack", prompt + uniform_int(rng, 60, 300, k), sender_rider=r, **dm)
    report = prompt + uniform_int(rng, 600, 1800, k)
    msgs.add("report", report, sender_rider=r, n=days["n"], late=days["late"], bad=days["bad"], **dm)
    image = rng.random(k) < 0.7
    msgs.add("report_image", report[image] + uniform_int(rng, 10, 60, image.sum()), sender_rider=r[image],
             conv=DM, owner=r[image], plant=plant[image], plant_kind=NIGHTLY, plant_worker=r[image])
    return first_plant + k


def weekend_duties(msgs: Messages, cal: Calendar, world: World, blocks: pl.DataFrame, first_plant: int) -> int:
    """Planted (b): on the rider's weekly rest day (when not working in the app) the manager puts
    the rider on duty in the group; over 1–3 h the rider handles 4–8 questions and orders."""
    rng, rd = msgs.rng, world.riders
    r = np.repeat(np.flatnonzero(rd.weekend_duty), cal.days)
    day = np.tile(np.arange(cal.days), rd.weekend_duty.sum())
    worked = np.zeros((rd.n, cal.days), dtype=bool)
    worked[blocks["rider"].to_numpy(), cal.local_day(blocks["start"].to_numpy())] = True
    duty = (cal.weekday[day] == rd.rest_weekday[r]) & ~worked[r, day] & (rng.random(len(r)) < 0.9)
    r, day = r[duty], day[duty]
    k = len(r)
    if k == 0:
        return first_plant
    plant = first_plant + np.arange(k)
    station = rd.station[r]
    start = at_local(rng, cal, day, 10.0, 15.0)
    length = uniform_int(rng, H, 3 * H, k)
    group = {"station": station, "plant_kind": WEEKEND, "plant_worker": r}
    msgs.add("duty_assign", start, sender=MANAGER, mention=r, plant=plant, **group)
    i, j = within_segment(uniform_int(rng, 4, 8, k))
    # the rider's messages: sorted random fractions of the duty span, the last one at its end
    frac = np.sort(rng.random(len(i)) + i) - i
    frac[np.r_[np.flatnonzero(np.diff(i)), len(i) - 1]] = 1.0
    t = start[i] + 120 + np.round(frac * (length[i] - 120)).astype(np.int64)
    asked = (rng.random(len(i)) < 0.4) & (j > 0)
    msgs.add("duty_ask", t[asked] - uniform_int(rng, 30, 110, asked.sum()), sender=MANAGER,
             station=station[i][asked], plant=plant[i][asked], plant_kind=WEEKEND, plant_worker=r[i][asked],
             shop=uniform_int(rng, 1, 12, asked.sum()))
    clock = t + uniform_int(rng, 2, 6, len(t)) * 30 * M  # "改约18:30送达": a half hour 1–3 h ahead
    msgs.add("duty_work", t, sender_rider=r[i], station=station[i], plant=plant[i], plant_kind=WEEKEND,
             plant_worker=r[i], shop=uniform_int(rng, 1, 12, len(t)), clock=clock - clock % (30 * M))
    return first_plant + k


def complaints(msgs: Messages, cal: Calendar, world: World, blocks: pl.DataFrame, first_plant: int) -> int:
    """Planted (c), one-off: an evening after the rider's last block of the day, a customer
    complains one to one and the rider spends 10–40 minutes sorting it out."""
    rng, rd = msgs.rng, world.riders
    day = cal.local_day(blocks["start"].to_numpy())
    end_of_day = blocks.with_columns(day=pl.Series(day)).group_by("rider", "day").agg(pl.col("end").max())
    done_h = (end_of_day["end"].to_numpy() - cal.day_start[end_of_day["day"].to_numpy()]) / H
    cand = (end_of_day.filter(pl.Series(rd.complaint[end_of_day["rider"].to_numpy()] & (done_h < 19.0)))
            .sort("rider", "day"))
    cand = (cand.with_columns(key=pl.Series(rng.random(cand.height))).sort("rider", "key")
            .unique("rider", keep="first", maintain_order=True))  # one random evening per rider
    r, end, day = cand["rider"].to_numpy(), cand["end"].to_numpy(), cand["day"].to_numpy()
    k = len(r)
    evening = cal.day_start[day] + int(19.5 * H)
    start = np.maximum(end + uniform_int(rng, 30 * M, H, k), evening) + uniform_int(rng, 0, 30 * M, k)
    plant = first_plant + np.arange(k)
    dm = {"conv": DM, "owner": r, "plant": plant, "plant_kind": COMPLAINT, "plant_worker": r}
    customer = rng.integers(0, len(world.customer_wxid), k)
    t = start
    for step in range(4):  # customer, rider, customer, rider: four messages of one exchange
        t = t + (0 if step == 0 else uniform_int(rng, 60, 480, k))
        if step % 2 == 0:
            msgs.add("complaint_cust", t, sender=CUSTOMER, customer=customer, **dm)
        else:
            msgs.add("complaint_rider", t, sender_rider=r, customer=customer, **dm)
    return first_plant + k


def daily_order_counts(cal: Calendar, orders: pl.DataFrame) -> pl.DataFrame:
    """Delivered, late and badly rated orders per rider and local day: the nightly report's figures."""
    done = orders.filter(pl.col("delivered") >= 0)
    return (done.with_columns(day=pl.Series(cal.local_day(done["delivered"].to_numpy())))
            .group_by("rider", "day")
            .agg(n=pl.len(), late=(pl.col("delivered") > pl.col("deadline")).sum(), bad=(pl.col("pen_rating") > 0).sum())
            .with_columns(pl.col("n", "late", "bad").cast(pl.Int64)))


def whatsapp_minutes(frame: pl.DataFrame, world: World) -> pl.DataFrame:
    """WhatsApp exports keep only minutes: make those messages whole minutes from the start so
    the ground truth counts exactly what the file shows."""
    on_wa = (pl.col("conv") == GROUP) & pl.Series(world.stations.english[frame["station"].to_numpy()])
    return frame.with_columns(ts=pl.when(on_wa).then(pl.col("ts") - pl.col("ts") % 60).otherwise("ts"),
                              whatsapp=on_wa)


def plant_spans(frame: pl.DataFrame) -> pl.DataFrame:
    return (frame.filter(pl.col("plant") >= 0).group_by("plant")
            .agg(pl.col("plant_worker", "plant_kind").first(), start=pl.col("ts").min(), end=pl.col("ts").max())
            .sort("plant"))


def drop_colliding_plants(frame: pl.DataFrame, cal: Calendar, blocks: pl.DataFrame) -> pl.DataFrame:
    """Off-hours work must lie outside every working block and inside one local day; an episode
    that would not (rare by construction) is dropped whole rather than bent."""
    spans = plant_spans(frame)
    start, end = spans["start"].to_numpy(), spans["end"].to_numpy()
    hit = overlaps_sorted(blocks["start"].to_numpy(), blocks["end"].to_numpy(), blocks["rider"].to_numpy(),
                          spans["plant_worker"].to_numpy(), start, end + 1)
    bad = spans["plant"].filter(pl.Series(hit | (cal.local_day(start) != cal.local_day(end))))
    return frame.filter(~pl.col("plant").is_in(bad.implode()))


def clock_text(cal: Calendar, ts: np.ndarray) -> np.ndarray:
    minute = (ts - cal.day_start[np.clip(cal.local_day(ts), 0, cal.days)]) // M
    return np.char.add(np.char.add(np.char.zfill((minute // 60).astype(str), 2), ":"),
                       np.char.zfill((minute % 60).astype(str), 2))


def render(frame: pl.DataFrame, cal: Calendar, world: World) -> pl.DataFrame:
    """Text, language, message type, label, conversation and sender ids of every message."""
    rd, st = world.riders, world.stations
    a = {c: frame[c].to_numpy() for c in ("conv", "station", "owner", "sender", "sender_rider", "customer",
                                          "mention", "tmpl", "clock")}
    group, sender, sr, cust = a["conv"] == GROUP, a["sender"], a["sender_rider"], a["customer"]
    station = np.where(group, a["station"], rd.station[a["owner"]])
    english = np.select([sender == RIDER, group], [rd.english[sr], st.english[station]], rd.english[a["owner"]])
    zh, en = (np.array([t[i] for t in TEMPLATES]) for i in (2, 3))
    label = np.array([t[1] for t in TEMPLATES])[a["tmpl"]]
    msg_type = np.array([TYPE_OF_KEY.get(t[0], 1) for t in TEMPLATES])[a["tmpl"]]
    to_customer = cust >= 0
    talker = np.where(group, st.chatroom[station],
                      np.where(to_customer, world.customer_wxid[cust], st.manager_wxid[station]))
    conv_name = np.where(group, np.char.add(st.name[station], "骑手群"),
                         np.where(to_customer, world.customer_name[cust], np.char.add("站长 ", st.manager_zh[station])))
    sender_id = np.select([sender == RIDER, sender == MANAGER, sender == CUSTOMER],
                          [rd.wxid[sr], st.manager_wxid[station], world.customer_wxid[cust]], "")
    sender_name = np.select([sender == RIDER, sender == MANAGER], [rd.name_en[sr], st.manager_en[station]], "")
    fill = {"{name}": np.where(english, rd.name_en[a["mention"]], rd.name_zh[a["mention"]]),
            "{time}": clock_text(cal, a["clock"])}
    text = pl.col("text")
    for key in ("{name}", "{time}", "{shop}", "{n}", "{late}", "{bad}", "{min}"):  # the template placeholders
        value = pl.Series(fill[key]) if key in fill else pl.col(key.strip("{}").replace("min", "mins")).cast(pl.String)
        text = text.str.replace_all(key, value, literal=True)
    return (frame.with_columns(text=pl.Series(np.where(english, en[a["tmpl"]], zh[a["tmpl"]])),
                               station=pl.Series(station), type=pl.Series(msg_type), label=pl.Series(label),
                               talker=pl.Series(talker), conv_name=pl.Series(conv_name),
                               sender_id=pl.Series(sender_id), sender_name=pl.Series(sender_name))
            .with_columns(text=text))


def generate(rng: np.random.Generator, cal: Calendar, world: World, blocks: pl.DataFrame,
             orders: pl.DataFrame, rate: float) -> pl.DataFrame:
    """All chat messages, once each (not yet copied into exports), rendered."""
    msgs = Messages(rng)
    instructions(msgs, cal, world, blocks, rate)
    group_life(msgs, cal, world, rate)
    customer_dms(msgs, world, orders, rate)
    lateness_dms(msgs, world, blocks)
    next_plant = nightly_reports(msgs, cal, world, blocks, daily_order_counts(cal, orders), 0)
    next_plant = weekend_duties(msgs, cal, world, blocks, next_plant)
    complaints(msgs, cal, world, blocks, next_plant)
    frame = drop_colliding_plants(whatsapp_minutes(msgs.frame(), world), cal, blocks)
    return render(frame, cal, world)


E2E_NOTICE = ("Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, "
              "can read or listen to them. Tap to learn more.")


def exports(messages: pl.DataFrame, world: World) -> pl.DataFrame:
    """One row per message per export that holds it, with its file and native id: WeChat localId
    (1, 2, … in the file), WhatsApp the line number of the message's header."""
    rd = world.riders
    attached = np.flatnonzero(rd.station >= 0)
    members = pl.DataFrame({"member": attached, "station": rd.station[attached], "wa": rd.whatsapp[attached]})
    groups = messages.filter(pl.col("conv") == GROUP).join(members, on="station", how="inner")
    wechat_group = groups.filter(~pl.col("whatsapp"))
    wa_group = groups.filter(pl.col("whatsapp") & pl.col("wa"))
    notices = (wa_group.group_by("member").agg(pl.col("ts").min(), pl.col("station").first())
               .with_columns(uid=pl.lit(-1, pl.Int64), text=pl.lit(E2E_NOTICE), type=pl.lit(10000),
                             sender=pl.lit(SYSTEM), label=pl.lit("simple"), whatsapp=pl.lit(True)))
    wa = pl.concat([wa_group.drop("owner", "wa"), notices], how="diagonal_relaxed").rename({"member": "owner"})
    rows = pl.concat([messages.filter(pl.col("conv") == DM), wechat_group.drop("owner", "wa").rename({"member": "owner"}),
                      wa], how="diagonal_relaxed")
    rider_id = pl.Series(rd.id)
    rows = (rows.with_columns(worker=rider_id.gather(rows["owner"]))
            .with_columns(file=pl.when(pl.col("whatsapp")).then(pl.format("whatsapp_{}.txt", "worker"))
                          .otherwise(pl.format("wechat_{}.csv", "worker")))
            .sort("owner", "file", "ts", "uid")
            .with_columns(lines=pl.col("text").str.count_matches("\n", literal=True) + 1))
    native = (pl.when(pl.col("whatsapp")).then(pl.col("lines").cum_sum().over("file") - pl.col("lines") + 1)
              .otherwise(pl.int_range(1, pl.len() + 1).over("file")))
    return rows.with_columns(native_id=native, is_sender=(pl.col("sender_rider") == pl.col("owner")).fill_null(False))
