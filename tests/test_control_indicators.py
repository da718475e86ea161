"""Control indicators on tiny hand-made cases with round numbers, and the shared statistics."""

from datetime import timedelta

import polars as pl
import pytest
import shapely
from conftest import local

from auditor import schema
from auditor.analyzers import control
from auditor.analyzers.control import deadlines, geofence, network
from auditor.analyzers.control.common import Inputs, theil_sen, wilson
from auditor.case import Case
from auditor.settings import Settings


def orders(rows: list[dict]) -> pl.DataFrame:
    """rows: worker, dispatched (local), minutes promised, minutes taken, km, outcome, pay, penalty."""
    frame = pl.DataFrame({
        "worker_id": [r["worker"] for r in rows], "order_id": [f"o{i}" for i in range(len(rows))],
        "platform": [r.get("platform", "A") for r in rows],
        "dispatched_at": [local(r["at"]) for r in rows],
        "deadline_at": [local(r["at"]) + timedelta(minutes=r.get("promised", 30)) for r in rows],
        "delivered_at": [local(r["at"]) + timedelta(minutes=r.get("taken", 20)) for r in rows],
        "distance_m": [r.get("km", 2.5) * 1000.0 for r in rows], "outcome": [r.get("outcome", "accepted") for r in rows],
        "pay": [r.get("pay", 5.0) for r in rows], "penalty": [r.get("penalty", 0.0) for r in rows],
        "src": ["S1"] * len(rows), "src_row": list(range(2, len(rows) + 2))},
        schema_overrides={c: schema.UTC for c in ("dispatched_at", "deadline_at", "delivered_at")})
    return schema.validate("orders", schema.conform("orders", frame))


def case_of(**tables: pl.DataFrame) -> Case:
    return Case(tables={name: frame.lazy() for name, frame in tables.items()}, tz="Asia/Shanghai")


def table_of(case: Case) -> pl.DataFrame:
    return control.run(case, Settings()).measures["control_indicators"]


def value(table: pl.DataFrame, worker: str, indicator: str) -> float:
    return table.filter((pl.col("worker_id") == worker) & (pl.col("indicator") == indicator))["value"].item()


def test_wilson_interval_matches_the_textbook_figures():
    low, high = wilson(pl.col("k"), pl.col("n"))
    frame = pl.DataFrame({"k": [0, 5], "n": [10, 10]}).with_columns(low=low, high=high)
    assert frame["low"][0] == pytest.approx(0.0) and frame["high"][0] == pytest.approx(0.2775, abs=1e-4)
    assert frame["low"][1] == pytest.approx(0.2366, abs=1e-4) and frame["high"][1] == pytest.approx(0.7634, abs=1e-4)


def test_theil_sen_recovers_a_slope_despite_an_outlier():
    points = pl.DataFrame({"g": ["a"] * 10, "x": list(range(10)), "y": [2.0 * x for x in range(10)]})
    points = points.with_columns(y=pl.when(pl.col("x") == 4).then(100.0).otherwise("y"))
    fit = theil_sen(points.lazy(), ["g"]).collect()
    assert fit["slope"].item() == pytest.approx(2.0)
    assert fit["ci_low"].item() <= 2.0 <= fit["ci_high"].item()


def test_deadline_tightness_counts_orders_promised_less_than_the_median_time():
    # the median time for 2.5 km is 20 min (four orders taking 20 min); R1's two orders are promised
    # 15 min (tight) and 30 min; R2's both 30 min
    case = case_of(orders=orders([
        {"worker": "R1", "at": "2026-04-27 10:00:00", "promised": 15},
        {"worker": "R1", "at": "2026-04-27 11:00:00", "promised": 30},
        {"worker": "R2", "at": "2026-04-27 10:00:00"}, {"worker": "R2", "at": "2026-04-27 11:00:00"},
    ]))
    table = table_of(case)
    assert value(table, "R1", "deadline-tightness") == 0.5
    assert value(table, "R2", "deadline-tightness") == 0.0
    row = table.filter((pl.col("worker_id") == "R1") & (pl.col("indicator") == "deadline-tightness"))
    assert row["score"].item() == pytest.approx((0.5 - row["zero_at"].item()) / (row["full_at"].item() - row["zero_at"].item()))


def test_a_user_set_speed_replaces_the_median_time():
    case = case_of(orders=orders([{"worker": "R1", "at": "2026-04-27 10:00:00", "promised": 15, "km": 5}]))
    ratios = deadlines.order_ratios(Inputs(case, Settings(deadline_speed_kmh=10.0)))
    assert ratios["realistic_s"].item() == pytest.approx(1800.0)  # 5 km at 10 km/h
    assert ratios["ratio"].item() == pytest.approx(0.5)


def test_deadline_compression_finds_a_shrinking_deadline_and_not_a_steady_one():
    days = [f"2026-04-{d:02d} 12:00:00" if d <= 30 else f"2026-05-{d - 30:02d} 12:00:00" for d in range(1, 29)]
    rows = []
    for i, day in enumerate(days):
        rows.append({"worker": "R1", "at": day, "promised": 40 * 0.99 ** i, "taken": 20})
        rows.append({"worker": "R2", "at": day, "promised": 40, "taken": 20})
    table = table_of(case_of(orders=orders(rows)))
    assert value(table, "R1", "deadline-compression") > 0.05  # 1 % a day ≈ 7 % a week
    assert value(table, "R2", "deadline-compression") <= 0


def test_auto_assignment_penalties_and_refusal_consequences():
    case = case_of(orders=orders([
        {"worker": "R1", "at": "2026-04-27 10:00:00", "outcome": "auto_assigned", "pay": 10.0, "penalty": 2.0},
        {"worker": "R1", "at": "2026-04-27 11:00:00", "outcome": "auto_assigned", "pay": 10.0},
        {"worker": "R1", "at": "2026-04-27 12:00:00", "outcome": "accepted", "pay": 10.0},
        {"worker": "R1", "at": "2026-04-27 13:00:00", "outcome": "rejected", "pay": 0.0, "penalty": 2.0},
    ]))
    table = table_of(case)
    assert value(table, "R1", "auto-assignment") == 0.5
    assert value(table, "R1", "penalty-share") == pytest.approx(4.0 / 30.0)
    assert value(table, "R1", "rejection-consequence") == 1.0


def square(x: float, y: float, size: float) -> bytes:
    return shapely.to_wkb(shapely.box(x, y, x + size, y + size))


def gps_case(assigned: bool) -> Case:
    times = ["2026-04-27 10:00:00", "2026-04-27 10:01:00", "2026-04-27 10:02:00", "2026-04-27 10:03:00"]
    rows = [("R1", "A", "2026-04-27 09:59:00", "online", None, None)]
    rows += [("R1", "A", t, "gps", lon, 31.05) for t, lon in zip(times, (121.05, 121.06, 121.07, 121.5))]
    rows += [("R1", "A", "2026-04-27 10:30:00", "offline", None, None)]
    activity = pl.DataFrame({
        "worker_id": [r[0] for r in rows], "platform": [r[1] for r in rows], "ts": [local(r[2]) for r in rows],
        "kind": [r[3] for r in rows], "lon": [r[4] for r in rows], "lat": [r[5] for r in rows],
        "src": ["S2"] * len(rows), "src_row": list(range(2, len(rows) + 2))},
        schema_overrides={"ts": schema.UTC, "lon": pl.Float64, "lat": pl.Float64})
    zones = pl.DataFrame({"zone_id": ["Z1", "Z2"], "geometry": [square(121.0, 31.0, 0.1), square(121.4, 31.0, 0.2)],
                          "src": ["S3", "S3"], "src_row": [1, 2]})
    tables = {"activity": schema.conform("activity", activity), "zones": schema.conform("zones", zones)}
    if assigned:
        tables["relations"] = schema.conform("relations", pl.DataFrame({
            "from_party": ["R1"], "to_party": ["Z2"], "relation": ["assigned_zone"], "src": ["S4"], "src_row": [2]}))
    return case_of(**tables)


def test_zone_confinement_uses_the_assigned_zone_or_the_most_visited_one():
    assert value(table_of(gps_case(assigned=True)), "R1", "zone-confinement") == 0.25
    assert value(table_of(gps_case(assigned=False)), "R1", "zone-confinement") == 0.75


def test_point_in_polygon_prefilter_keeps_exact_answers():
    zone_table = pl.DataFrame({"zone_id": ["Z"], "geom_index": [0], "xmin": [0.0], "ymin": [0.0], "xmax": [2.0],
                               "ymax": [2.0]})
    triangle = shapely.polygons([[0, 0], [2, 0], [0, 2]])
    points = pl.DataFrame({"zone_id": ["Z", "Z", "Z"], "lon": [0.5, 1.5, 3.0], "lat": [0.5, 1.5, 0.5]})
    assert geofence.inside(points, zone_table, pl.Series([triangle]).to_numpy()).to_list() == [True, False, False]


def test_missing_inputs_are_not_measurable_never_zero():
    result = control.run(case_of(orders=orders([{"worker": "R1", "at": "2026-04-27 10:00:00"}])), Settings())
    table = result.measures["control_indicators"]
    assert "zone-confinement" not in set(table["indicator"]) and "gps-ping-interval" not in set(table["indicator"])
    status = dict(result.measures["measurability"].select("indicator", "status").iter_rows())
    assert status["zone-confinement"] == "not measurable from these inputs"
    assert status["supervisor-instructions"] == "not measurable from these inputs"
    card = result.measures["scorecard"]
    assert "zone-confinement" in card["not_measured"].item()
    assert "无法从现有数据计量" in card["reasons_zh"].item()


def test_every_finding_has_evidence_and_recomputable_score():
    result = control.run(gps_case(assigned=True), Settings())
    assert result.findings.height and result.findings.join(result.evidence, on="finding_id", how="anti").height == 0
    assert result.findings["explanation_en"].str.contains("Score = ").all()


def chain_inputs(relations: list[tuple[str, str, str]], instructions: list[tuple[str, str]]) -> Inputs:
    """Inputs over relations (from, to, relation) and supervisors' instructions (sender, worker),
    the messages already classified."""
    rel = pl.DataFrame({"from_party": [r[0] for r in relations], "to_party": [r[1] for r in relations],
                        "relation": [r[2] for r in relations], "src": ["S9"] * len(relations),
                        "src_row": list(range(2, len(relations) + 2))})
    inputs = Inputs(case_of(relations=schema.conform("relations", rel)), Settings())
    inputs.__dict__["messages"] = pl.DataFrame({
        "worker_id": [i[1] for i in instructions], "sender_id": [i[0] for i in instructions],
        "sender_role": ["supervisor"] * len(instructions), "is_instruction": [True] * len(instructions),
        "src": ["S8"] * len(instructions), "src_row": list(range(2, len(instructions) + 2))})
    return inputs


def test_who_directs_a_rider_and_the_contracting_chain_to_them():
    chain = [("A", "AG1", "contracts"), ("AG1", "ST1", "subcontracts"), ("SUP1", "ST1", "manages"),
             ("AG1", "R1", "engages"), ("AG2", "R2", "engages"), ("AG1", "R3", "engages"),
             ("AG1", "R4", "engages"), ("AG3", "R4", "engages"), ("AG3", "R5", "engages")]
    said = [("SUP1", "R1"), ("SUP1", "R1"), ("SUP2", "R1"), ("SUP1", "R2"), ("SUP2", "R3"), ("SUP1", "R5")]
    table = network.direction(chain_inputs(chain, said))
    rows = {row["worker_id"]: row for row in table.iter_rows(named=True)}
    assert sorted(rows) == ["R1", "R2", "R3", "R5"]  # R4 received no instruction
    one = rows["R1"]  # engaged by AG1, directed by SUP1 (2 of 3 instructions), who manages ST1
    assert (one["directed_by"], one["instructions"], one["directing_party"], one["engaged_by"], one["mismatch"]) == (
        "SUP1", 2, "ST1", ["AG1"], True)
    assert one["path"] == "AG1 —subcontracts→ ST1 ←manages— SUP1 —instructs ×2→ R1"
    # evidence: the engagement, the management and the first instruction
    assert [(r["table"], r["src_row"]) for r in one["refs"]] == [("relations", 5), ("relations", 4), ("messages", 2)]
    # AG2 is linked to no organisation: the path starts at the directing one
    assert rows["R2"]["path"] == "ST1 ←manages— SUP1 —instructs ×1→ R2" and rows["R2"]["mismatch"] is True
    # a director who manages nothing known directs as themselves; whether that is the contracting party is unknown
    three = rows["R3"]
    assert (three["directing_party"], three["mismatch"], three["path"]) == ("SUP2", None, "SUP2 —instructs ×1→ R3")
    assert [(r["table"], r["src_row"]) for r in three["refs"]] == [("relations", 7), ("messages", 6)]
    # AG3 reaches ST1 only through another rider engaged by both (R4): not a contracting chain
    assert rows["R5"]["path"] == "ST1 ←manages— SUP1 —instructs ×1→ R5"
