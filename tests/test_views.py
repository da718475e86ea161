"""The contracting network at city scale: too many nodes to draw at once, so a station's part is
drawn — its riders, managers, agency and platform — stations in the order of the stations table."""

import polars as pl

from auditor import schema, views
from auditor.case import Case
from auditor.findings import Findings


def city_relations(stations: int, riders_per_station: int) -> Case:
    """Platform P contracts agency AG, which subcontracts every station; each station engages its
    riders and a manager manages it."""
    rows = [("P", "platform", "AG", "agency", "contracts")]
    for s in range(stations):
        station = f"ST{s}"
        rows += [("AG", "agency", station, "station", "subcontracts"), (f"M{s}", "person", station, "station", "manages")]
        rows += [(station, "station", f"R{s}-{r}", "worker", "engages") for r in range(riders_per_station)]
    frame = pl.DataFrame(rows, schema=["from_party", "from_kind", "to_party", "to_kind", "relation"], orient="row")
    relations = schema.conform("relations", frame.with_columns(src=pl.lit("S1"), src_row=pl.int_range(2, len(rows) + 2)))
    return Case(tables={"relations": relations.lazy()}, tz="Asia/Shanghai")


def test_a_city_network_is_drawn_a_station_at_a_time_riskiest_first():
    case = city_relations(stations=4, riders_per_station=100)
    nodes, _ = views.network(case, Findings.empty())
    assert nodes.height == 2 + 4 * 102 > views.NETWORK_DRAWN_NODES
    ranked = pl.DataFrame({"station_id": ["ST2", "ST0", "elsewhere"]})
    assert views.network_stations(nodes, ranked) == ["ST2", "ST0", "ST1", "ST3"]
    part, edges = views.network(case, Findings.empty(), focus="ST2")
    riders = part.filter(pl.col("kind") == "worker")["node"]
    assert riders.str.starts_with("R2-").all() and riders.len() == 100
    assert {"P", "AG", "M2"} <= set(part["node"]) and part.height <= views.NETWORK_DRAWN_NODES
    assert set(edges["relation"]) == {"contracts", "subcontracts", "manages", "engages"}
