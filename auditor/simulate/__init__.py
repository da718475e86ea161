"""The synthetic city: a seeded, vectorised simulation of two delivery platforms, their agencies,
stations and riders, written as the raw exports an inspector receives (docs/sample_formats.md)
together with the ground truth of what was planted.

    from auditor.simulate import simulate
    summary = simulate("sample_logs", seed=20260427, riders=40)

Stages (each its own module, each fed by its own random sub-stream):
world (entities) → blocks (working time) → orders → activity (app events, GPS) → chats →
truth (ground truth) → writers (files)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path

from auditor.simulate import activity, blocks, chats, orders, truth, writers
from auditor.simulate.common import Knobs, build_calendar, substream
from auditor.simulate.world import build_world

__all__ = ["Knobs", "simulate"]


def simulate(out_dir: str | Path, seed: int = 20260427, riders: int = 40, start: date = date(2026, 4, 27),
             days: int = 28, **knobs) -> dict:
    """Write the synthetic city's exports and ground truth into out_dir; return row counts per file.

    Same arguments → byte-identical files. Knobs (see Knobs): gps_scale, order_rate, chat_rate,
    max_station_size, gpx_share, nightly_share, weekend_share, complaint_share."""
    k = Knobs.of(knobs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cal = build_calendar(start, days)
    world = build_world(substream(seed, "world"), riders, k)
    work = blocks.working_blocks(substream(seed, "blocks"), cal, world)
    dispatched = orders.dispatches(substream(seed, "orders"), substream(seed, "orders", "busy"), cal, world,
                                    work, k.order_rate)
    sanctions = orders.sanctions(substream(seed, "sanctions"), cal, dispatched, world)
    messages = chats.generate(substream(seed, "chats"), cal, world, work, dispatched, k.chat_rate)
    counts = {
        "platform_a/orders.csv": writers.platform_a_orders(dispatched, world, out / "platform_a/orders.csv"),
        "platform_b/orders.json": writers.platform_b_orders(dispatched, world, cal, out / "platform_b/orders.json"),
    }
    del dispatched  # a city's largest frame after the activity's: written and let go before that is made
    app, phone = activity.activity(substream(seed, "activity"), work, world, sanctions)
    rows = chats.exports(messages, world)

    counts |= {
        "platform_a/activity.csv": writers.activity_csv(app, world, 0, out / "platform_a/activity.csv"),
        "platform_b/activity.csv": writers.activity_csv(app, world, 1, out / "platform_b/activity.csv"),
        "schedules/roster.csv": writers.roster_csv(blocks.roster(cal, world, work), world, cal,
                                                   out / "schedules/roster.csv"),
        "gps/*.gpx": phone.height,
        "chats/wechat_*.csv": writers.wechat_files(rows, out / "chats"),
        "chats/whatsapp_*.txt": int(rows["whatsapp"].sum()),
        "zones/zones.geojson": writers.zones_geojson(world, out / "zones/zones.geojson"),
        "participants.csv": writers.participants_csv(world, out / "participants.csv"),
        "relations.csv": writers.relations_csv(world, out / "relations.csv"),
    }
    owners = writers.gpx_files(phone, world, out / "gps") | writers.whatsapp_files(rows, world, out / "chats")
    params = {"seed": seed, "riders": riders, "start": start.isoformat(), "days": days, "knobs": asdict(k)}
    writers.case_toml(out / "case.toml", owners, seed, riders, start, days)

    daily = truth.daily_hours(cal, world, work, messages)
    offhours = truth.offhours_work(world, messages, rows)
    tables = {"riders": truth.riders_table(world), "daily_hours": daily, "offhours_work": offhours,
              "messages": truth.messages_table(rows, work), "overtime": truth.overtime(world, daily)}
    truth.write(out / "ground_truth", tables,
                truth.planted(world, cal, params, orders.PayRules(), orders.rate_change_day(days), offhours))
    counts |= {f"ground_truth/{name}.parquet": t.height for name, t in tables.items()}
    return {"out_dir": str(out), "riders": riders, "days": days, "seed": seed, "rows": counts}
