"""Writing the raw export folder in the exact shapes of docs/sample_formats.md.

Byte-identical output for the same inputs: rows are sorted before writing, numbers are written
from integers with a fixed number of decimals, no wall-clock time is written anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from auditor.simulate.activity import KIND_ORDER
from auditor.simulate.common import PLATFORMS, TZ, Calendar, meters_to_deg
from auditor.simulate.orders import (
    ACCEPTED,
    AUTO_ASSIGNED,
    CANCELLED,
    REASSIGNED,
    REJECTED,
    TIMED_OUT,
)
from auditor.simulate.world import World

OUTCOME_A = {ACCEPTED: "接单", AUTO_ASSIGNED: "接单", REJECTED: "拒单", TIMED_OUT: "超时未响应",
             REASSIGNED: "改派", CANCELLED: "取消"}
OUTCOME_B = {ACCEPTED: "accepted", AUTO_ASSIGNED: "accepted", REJECTED: "rejected", TIMED_OUT: "timeout",
             REASSIGNED: "reassigned", CANCELLED: "cancelled"}
PENALTY_REASONS = {"pen_late": ("超时送达", "late_delivery"), "pen_reject": ("拒单", "rejection"),
                   "pen_rating": ("差评", "bad_rating"), "pen_checkin": ("未按时签到", "late_check_in")}
CHUNK_ROWS = 500_000


def fixed(col: str | pl.Expr, decimals: int) -> pl.Expr:
    """A non-negative float as text with exactly `decimals` decimals, via integers (no float
    formatting differences between platforms or library versions)."""
    expr = pl.col(col) if isinstance(col, str) else col
    scale = 10 ** decimals
    v = (expr * scale).round(0).cast(pl.Int64)
    return pl.concat_str([(v // scale).cast(pl.String), pl.lit("."),
                          (v % scale).cast(pl.String).str.zfill(decimals)])


def cents(col: str) -> pl.Expr:
    return pl.concat_str([(pl.col(col) // 100).cast(pl.String), pl.lit("."),
                          (pl.col(col) % 100).cast(pl.String).str.zfill(2)])


def instant(col: str) -> pl.Expr:
    """Epoch seconds (−1 for none) → UTC datetime (null for none)."""
    return pl.when(pl.col(col) >= 0).then(pl.from_epoch(col, time_unit="s").dt.replace_time_zone("UTC"))


def local_text(col: str, fmt: str = "%Y-%m-%d %H:%M:%S", tz: str = TZ) -> pl.Expr:
    return instant(col).dt.convert_time_zone(tz).dt.strftime(fmt)


def iso_local(col: str) -> pl.Expr:
    return local_text(col, "%Y-%m-%dT%H:%M:%S+08:00")


def write_csv(frame: pl.DataFrame, path: Path, bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    empty_as_null = pl.col(pl.String).replace("", None)  # an empty field is written bare, not as ""
    frame.with_columns(empty_as_null).write_csv(path, include_bom=bom, line_terminator="\n", null_value="")


def write_lines(lines: pl.Series, path: Path, head: str = "", tail: str = "") -> None:
    """Text lines written as they are (no CSV quoting), between a fixed head and tail."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(head.encode())
        pl.DataFrame({"l": lines}).write_csv(f, include_header=False, quote_style="never", line_terminator="\n")
        f.write(tail.encode())


def rider_col(world: World) -> pl.Expr:
    return pl.col("rider").replace_strict(np.arange(world.riders.n), world.riders.id, return_dtype=pl.String)


def station_cols(world: World) -> list[pl.Expr]:
    """Station and zone ids of the order's rider (empty for crowd riders)."""
    station = world.riders.station
    st_id = pl.Series(np.where(station >= 0, world.stations.id[np.maximum(station, 0)], "")).replace("", None)
    zone = pl.Series(np.where(station >= 0, world.stations.zone[np.maximum(station, 0)], "")).replace("", None)
    idx = np.arange(world.riders.n)
    return [pl.col("rider").replace_strict(idx, st_id, return_dtype=pl.String).alias("station_id"),
            pl.col("rider").replace_strict(idx, zone, return_dtype=pl.String).alias("zone_id")]


def order_ids(prefix: str, width: int) -> pl.Expr:
    return pl.concat_str([pl.lit(prefix), pl.col("order_no").cast(pl.String).str.zfill(width)])


def platform_a_orders(orders: pl.DataFrame, world: World, path: Path) -> int:
    a = orders.filter(pl.col("platform") == 0).with_columns(*station_cols(world))
    reasons = pl.concat_str([pl.when(pl.col(c) > 0).then(pl.lit(zh)) for c, (zh, _) in PENALTY_REASONS.items()],
                            separator="; ", ignore_nulls=True)
    frame = a.select(
        order_ids("A", max(8, len(str(a.height)))).alias("订单编号"), rider_col(world).alias("骑手编号"),
        pl.col("station_id").alias("站点编号"), pl.col("zone_id").alias("区域编号"),
        local_text("dispatched").alias("派单时间"), local_text("responded").alias("响应时间"),
        pl.when(pl.col("auto")).then(pl.lit("系统派单")).otherwise(pl.lit("抢单")).alias("派单方式"),
        pl.col("outcome").replace_strict(OUTCOME_A, return_dtype=pl.String).alias("接单结果"),
        local_text("picked").alias("取餐时间"), local_text("delivered").alias("送达时间"),
        local_text("deadline").alias("预计送达时间"),
        fixed("pickup_lon", 6).alias("取餐经度"), fixed("pickup_lat", 6).alias("取餐纬度"),
        fixed("dropoff_lon", 6).alias("送餐经度"), fixed("dropoff_lat", 6).alias("送餐纬度"),
        pl.col("distance").alias("配送距离(米)"), cents("pay").alias("配送费(元)"),
        cents("penalty").alias("罚款(元)"), reasons.alias("扣款原因"))
    write_csv(frame, path, bom=True)
    return frame.height


def json_str(expr: pl.Expr) -> pl.Expr:
    """A JSON string literal, or null. Only ids, ISO times and fixed reason codes pass here:
    nothing needs escaping."""
    return pl.when(expr.is_null()).then(pl.lit("null")).otherwise(pl.concat_str([pl.lit('"'), expr, pl.lit('"')]))


def platform_b_orders(orders: pl.DataFrame, world: World, cal: Calendar, path: Path) -> int:
    """Nested JSON written as text built by columns (one expression over all orders), in chunks."""
    b = orders.filter(pl.col("platform") == 1).with_columns(*station_cols(world))
    deductions = pl.concat_str(
        [pl.when(pl.col(c) > 0).then(pl.concat_str([pl.lit('{"amount": '), cents(c), pl.lit(f', "reason": "{en}"}}')]))
         for c, (_, en) in PENALTY_REASONS.items()], separator=", ", ignore_nulls=True)
    lit = pl.lit
    record = pl.concat_str([
        lit('  {"order_id": '), json_str(order_ids("B-", max(6, len(str(b.height))))),
        lit(', "courier": {"id": '), json_str(rider_col(world)), lit(', "station": '), json_str(pl.col("station_id")),
        lit(', "zone": '), json_str(pl.col("zone_id")),
        lit('}, "dispatch": {"at": '), json_str(iso_local("dispatched")),
        lit(', "mode": '), json_str(pl.when(pl.col("auto")).then(lit("auto")).otherwise(lit("offer"))),
        lit(', "response": '), json_str(pl.col("outcome").replace_strict(OUTCOME_B, return_dtype=pl.String)),
        lit(', "responded_at": '), json_str(iso_local("responded")),
        lit('}, "pickup": {"at": '), json_str(iso_local("picked")), lit(', "lon": '), fixed("pickup_lon", 6),
        lit(', "lat": '), fixed("pickup_lat", 6),
        lit('}, "dropoff": {"at": '), json_str(iso_local("delivered")), lit(', "lon": '), fixed("dropoff_lon", 6),
        lit(', "lat": '), fixed("dropoff_lat", 6),
        lit('}, "promised_at": '), json_str(iso_local("deadline")),
        lit(', "distance_m": '), pl.col("distance").cast(pl.String), lit(', "fare": '), cents("pay"),
        lit(', "deductions": ['), deductions, lit("]}"),
        pl.when(pl.col("last") & (pl.int_range(pl.len()) == pl.len() - 1)).then(lit("")).otherwise(lit(",")),
    ])
    generated = int(cal.day_start[-1]) + 10 * 3600  # a fixed time after the window: never the clock
    stamp = pl.select(pl.from_epoch(pl.lit(generated), time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).item()
    head = f'{{"export": {{"platform": "B", "generated_at": "{stamp}", "timezone": "+08:00"}},\n "orders": [\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(head.encode())
        for lo in range(0, b.height, CHUNK_ROWS):  # bounded memory for city-scale runs
            chunk = b.slice(lo, CHUNK_ROWS).with_columns(last=pl.lit(lo + CHUNK_ROWS >= b.height))
            chunk.select(record.alias("r")).write_csv(f, include_header=False, quote_style="never",
                                                      line_terminator="\n")
        f.write(b" ]}\n")
    return b.height


def activity_csv(app: pl.DataFrame, world: World, platform: int, path: Path) -> int:
    """Platform A writes epoch milliseconds, platform B ISO 8601 UTC; both sorted by rider, time."""
    rows = app.filter(pl.col("platform") == platform)
    when = ((pl.col("ts") * 1000).cast(pl.String) if platform == 0
            else pl.from_epoch("ts", time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    has_pos = pl.col("lon").is_not_nan()
    frame = rows.select(rider_col(world).alias("rider_id"), when.alias("event_time"),
                        pl.col("kind").replace_strict(range(len(KIND_ORDER)), KIND_ORDER, return_dtype=pl.String)
                        .alias("event"),
                        pl.when(has_pos).then(fixed("lon", 6)).alias("lon"),
                        pl.when(has_pos).then(fixed("lat", 6)).alias("lat"), pl.col("detail"))
    write_csv(frame, path)
    return frame.height


def hhmm(minutes: str) -> pl.Expr:
    """Minutes after local midnight as HH:MM (a shift ending after midnight shows the next day's clock)."""
    return pl.concat_str([(pl.col(minutes) // 60 % 24).cast(pl.String).str.zfill(2), pl.lit(":"),
                          (pl.col(minutes) % 60).cast(pl.String).str.zfill(2)])


def roster_csv(roster: pl.DataFrame, world: World, cal: Calendar, path: Path) -> int:
    dates = pl.Series([d.isoformat() for d in cal.dates])
    frame = roster.sort("rider", "day").select(
        rider_col(world).alias("骑手编号"), pl.col("day").replace_strict(range(cal.days), dates).alias("日期"),
        hhmm("start_min").alias("班次开始"), hhmm("end_min").alias("班次结束"), pl.lit("排班").alias("类型"))
    write_csv(frame, path, bom=True)
    return frame.height


GPX_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<gpx version="1.1" creator="auditor simulate" xmlns="http://www.topografix.com/GPX/1/1">\n'
            '<trk><name>{name}</name><trkseg>\n')
GPX_TAIL = "</trkseg></trk></gpx>\n"


def gpx_files(phone: pl.DataFrame, world: World, folder: Path) -> dict[str, str]:
    """One GPX per owner (a loop over riders for writing only); returns file → owner."""
    lines = phone.select("rider", line=pl.concat_str([
        pl.lit('<trkpt lat="'), fixed("lat", 6), pl.lit('" lon="'), fixed("lon", 6), pl.lit('"><time>'),
        pl.from_epoch("ts", time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ"), pl.lit("</time></trkpt>")]))
    owners = {}
    by_rider = lines.partition_by("rider", as_dict=True, maintain_order=True)
    for r in np.flatnonzero(world.riders.gpx):
        rid = str(world.riders.id[r])
        part = by_rider.get((r,), pl.DataFrame({"line": []}, schema={"line": pl.String}))
        write_lines(part["line"], folder / f"{rid}.gpx", GPX_HEAD.format(name=rid), GPX_TAIL)
        owners[f"gps/{rid}.gpx"] = rid
    return owners


def wechat_files(rows: pl.DataFrame, folder: Path) -> int:
    """chats/wechat_<id>.csv in the common export tool's layout, one file per phone."""
    wc = rows.filter(~pl.col("whatsapp")).select(
        "file", pl.col("native_id").alias("localId"), pl.col("talker").alias("TalkerId"), pl.col("type").alias("Type"),
        pl.lit(0).alias("SubType"), pl.col("is_sender").cast(pl.Int8).alias("IsSender"), pl.col("ts").alias("CreateTime"),
        pl.when(pl.col("is_sender")).then(2).otherwise(3).alias("Status"), pl.col("text").alias("StrContent"),
        local_text("ts").alias("StrTime"), pl.col("conv_name").alias("Remark"), pl.col("conv_name").alias("NickName"),
        pl.col("sender_id").alias("Sender"))
    for name, part in sorted(wc.partition_by("file", as_dict=True, maintain_order=True).items()):
        write_csv(part.drop("file"), folder / name[0], bom=True)
    return wc.height


def whatsapp_files(rows: pl.DataFrame, world: World, folder: Path) -> dict[str, str]:
    """chats/whatsapp_<id>.txt: Android, English, 24 h, day-first; returns file → owner."""
    wa = rows.filter(pl.col("whatsapp")).select("file", "worker", line=pl.concat_str([
        local_text("ts", "%d/%m/%Y, %H:%M"), pl.lit(" - "),
        pl.when(pl.col("sender_name").fill_null("") != "").then(pl.col("sender_name") + ": ").otherwise(pl.lit("")),
        pl.col("text")]))
    owners = {}
    for (name,), part in sorted(wa.partition_by("file", as_dict=True, maintain_order=True).items()):
        write_lines(part["line"], folder / name)
        owners[f"chats/{name}"] = part["worker"][0]
    return owners


def hexagon(world: World) -> np.ndarray:
    """(S, 7, 2) closed rings of each station's jittered hexagon, [lon, lat]."""
    st = world.stations
    angle = st.rotation[:, None] + np.arange(6)[None, :] * np.pi / 3
    r = st.radius_m[:, None] * st.vertex_scale
    dlon, dlat = meters_to_deg(r * np.cos(angle), r * np.sin(angle), st.lat[:, None])
    ring = np.stack([st.lon[:, None] + dlon, st.lat[:, None] + dlat], axis=-1)
    return np.round(np.concatenate([ring, ring[:, :1]], axis=1), 6)


def zones_geojson(world: World, path: Path) -> int:
    st = world.stations
    features = [{"type": "Feature",
                 "properties": {"zone_id": str(st.zone[i]), "name": f"{st.name[i]}配送区",
                                "station_id": str(st.id[i]), "platform": PLATFORMS[st.platform[i]]},
                 "geometry": {"type": "Polygon", "coordinates": [ring.tolist()]}}
                for i, ring in enumerate(hexagon(world))]  # one per station: a handful
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1) + "\n",
                    encoding="utf-8")
    return len(features)


def participants_csv(world: World, path: Path) -> int:
    rd, st = world.riders, world.stations
    att = rd.station >= 0
    wa = att & st.english[np.maximum(rd.station, 0)]
    wa_st = np.flatnonzero(st.english)
    parts = [  # wxids of the riders' phones, managers, customers; then WhatsApp display names
        (rd.wxid[att], rd.name_zh[att], "worker", rd.id[att]),
        (st.manager_wxid, st.manager_zh, "supervisor", ""),
        (world.customer_wxid, world.customer_name, "customer", ""),
        (rd.name_en[wa], rd.name_en[wa], "worker", rd.id[wa]),
        (st.manager_en[wa_st], st.manager_en[wa_st], "supervisor", ""),
    ]
    cols = [np.concatenate([np.broadcast_to(p[i], p[0].shape).astype(str) for p in parts]) for i in range(4)]
    frame = pl.DataFrame(dict(zip(("participant_id", "display_name", "role", "worker_id"), cols)))
    write_csv(frame, path)
    return frame.height


def relations_csv(world: World, path: Path) -> int:
    """The contracting chain platform → agency → station → rider, who manages each station, who
    engaged each rider (crowd riders: the platforms directly), membership and zone assignment."""
    rd, st = world.riders, world.stations
    agencies, first = np.unique(st.agency, return_index=True)
    plat = np.array(PLATFORMS)
    att = np.flatnonzero(rd.station >= 0)
    crowd = np.flatnonzero(rd.station < 0)
    station_ft = att[rd.rtype[att] == 0]
    mixed = att[rd.rtype[att] != 0]
    rows = [
        (plat[st.platform[first]], "platform", agencies, "agency", "contracts", "配送服务合同"),
        (st.agency, "agency", st.id, "station", "subcontracts", "站点承包协议"),
        (st.manager_wxid, "person", st.id, "station", "manages", "站长任命"),
        (st.agency[rd.station[station_ft]], "agency", rd.id[station_ft], "worker", "engages", "劳务外包协议"),
        (st.id[rd.station[mixed]], "station", rd.id[mixed], "worker", "engages", "个体工商户合作协议"),
        (np.repeat(plat, len(crowd)), "platform", np.tile(rd.id[crowd], 2), "worker", "engages",
         "众包服务协议（平台注册）"),
        (rd.id[att], "worker", st.id[rd.station[att]], "station", "member_of", "站点骑手名册"),
        (rd.id[att], "worker", st.zone[rd.station[att]], "zone", "assigned_zone", "排班表区域"),
    ]
    cols = {k: [] for k in ("from_party", "from_kind", "to_party", "to_kind", "relation", "evidence")}
    for row in rows:  # eight relation kinds
        n = len(row[0])
        for k, v in zip(cols, row):
            cols[k].append(np.broadcast_to(np.asarray(v), (n,)))
    frame = pl.DataFrame({k: np.concatenate(v).astype(str) for k, v in cols.items()})
    write_csv(frame, path)
    return frame.height


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def case_toml(path: Path, owners: dict[str, str], seed: int, riders: int, start, days: int) -> None:
    lines = [f"timezone = {toml_str(TZ)}", 'exclude = ["ground_truth/**", "README.md"]', "", "[owners]"]
    lines += [f"{toml_str(f)} = {toml_str(o)}" for f, o in sorted(owners.items())]
    lines += ["", "[simulation]", f"seed = {seed}", f"riders = {riders}", f'start = "{start.isoformat()}"',
              f"days = {days}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
