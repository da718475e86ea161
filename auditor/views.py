"""Frames the app and the dossier draw: risk ranking, station aggregates, a rider's day timeline,
the hour × weekday heatmap of off-hours messages, map layers and the contracting/instruction
network. Pure polars (networkx and shapely on small per-case data); no Streamlit here, so every
view can be computed and tested from a notebook.

These are views of the analyzers' output, not analyzers: they make no findings.
"""

from __future__ import annotations

import polars as pl

from auditor.analyzers import scorecard
from auditor.analyzers.intervals import (
    online_intervals,
    order_intervals,
    split_local_days,
)
from auditor.case import Case
from auditor.findings import FAMILIES, Findings

INTERVAL_COLUMNS = {"worker_id", "start", "end"}
MAX_MAP_POINTS = 5000  # enough to see routes and zones; more only slows the browser
SCORECARD_FAMILIES = ("personal", "organisational", "economic")  # the families the control scorecard weighs
SCORECARD_COLUMNS = ("overall", "category", "category_zh", "category_en", "reasons_zh", "reasons_en")
NETWORK_DRAWN_NODES = 300  # more nodes than this draw as a blot of lines: the app draws a station's part
SPRING_MAX_NODES = 499  # networkx's spring layout turns to scipy (not a dependency) from 500 nodes


def family_scores(findings: pl.DataFrame) -> pl.DataFrame:
    """Per worker × family: the mean over the family's indicators of the worker's mean finding
    score per indicator (indicators without a finding count as 0), and the number of findings.
    The family's indicators are those any worker in ``findings`` has, so one indicator with many
    findings does not outweigh the others."""
    indicators = findings.select("family", "indicator").unique()
    per_indicator = findings.group_by("worker_id", "family", "indicator").agg(score=pl.col("score").mean(), n=pl.len())
    grid = findings.select("worker_id").unique().join(indicators, how="cross")
    return (grid.join(per_indicator, on=["worker_id", "family", "indicator"], how="left")
            .group_by("worker_id", "family").agg(score=pl.col("score").fill_null(0).mean(),
                                                 findings=pl.col("n").fill_null(0).sum()))


def risk_ranking(findings: pl.DataFrame, workers: list[str]) -> pl.DataFrame:
    """Every worker (also those without findings) with one column per family score and ``risk`` =
    the mean of the families measured (a family no analyzer measures is left empty), so breadth of
    control counts as well as depth."""
    per_family = family_scores(findings)
    wide = (pl.DataFrame({"worker_id": workers}, schema={"worker_id": pl.String})
            .join(per_family.pivot("family", index="worker_id", values="score", on_columns=list(FAMILIES)),
                  on="worker_id", how="left")
            .join(per_family.group_by("worker_id").agg(findings=pl.col("findings").sum()), on="worker_id", how="left"))
    measured = [f for f in FAMILIES if f in set(per_family["family"])]
    for family in FAMILIES:  # a family no analyzer measured stays empty ("—"), not a score of 0
        if family not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(family))
    return (wide.with_columns(pl.col(*measured, "findings").fill_null(0))
            .with_columns(risk=pl.mean_horizontal(*FAMILIES))
            .select("worker_id", "risk", *FAMILIES, "findings")
            .sort(["risk", "findings", "worker_id"], descending=[True, True, False]))


def ranking(result: Findings, workers: list[str]) -> pl.DataFrame:
    """``risk_ranking`` and, where the control scorecard exists, its 56号 view: the scorecard's
    personal / organisational / economic scores (weighted, over measured indicators only) replace
    the finding means of those families, ``risk`` is recomputed from them, and ``overall``,
    ``category`` and the reasons in zh and en are added; riders ranked by overall, then risk."""
    base = risk_ranking(result.findings, workers)
    card = result.measures.get("scorecard")
    if card is None:
        return base
    card = card.select("worker_id", *SCORECARD_FAMILIES, *SCORECARD_COLUMNS)
    return (base.drop(*SCORECARD_FAMILIES).join(card, on="worker_id", how="left", maintain_order="left")
            .with_columns(pl.col(*SCORECARD_FAMILIES).fill_null(0))
            .with_columns(risk=pl.mean_horizontal(*FAMILIES))
            .select("worker_id", *SCORECARD_COLUMNS[:2], "risk", *FAMILIES, "findings", *SCORECARD_COLUMNS[2:])
            .sort(["overall", "risk", "worker_id"], descending=[True, True, False], nulls_last=True))


def worker_views(result: Findings, worker: str, view: str | None = None) -> pl.DataFrame:
    """One worker's rows of the ``views`` measure (the primary view unless ``view`` names one)."""
    frame = result.measures.get("views")
    if frame is None:
        return pl.DataFrame()
    chosen = pl.col("primary") if view is None else pl.col("view") == view
    return frame.filter((pl.col("worker_id") == worker) & chosen).with_columns(pl.col("by").list.join(", "))


def workers(case: Case, result: Findings) -> list[str]:
    """Every worker seen in orders, activity, messages or findings, sorted."""
    # each table's distinct ids, not its rows: a city's tables hold tens of millions
    seen = [case.table(t).select("worker_id").unique() for t in ("orders", "activity", "messages", "schedules")]
    frame = pl.concat([*seen, result.findings.lazy().select("worker_id")]).unique().collect(engine="streaming")
    return frame["worker_id"].drop_nulls().sort().to_list()


def stations(case: Case) -> pl.DataFrame:
    """worker_id → station_id from the ``member_of`` relations (crowd workers have none)."""
    return (case.table("relations").filter(pl.col("relation") == "member_of")
            .select(worker_id="from_party", station_id="to_party").unique("worker_id", keep="first").collect())


def station_aggregates(ranking: pl.DataFrame, case: Case) -> pl.DataFrame:
    """Mean and highest risk, riders and findings per station; riders without a station together."""
    return (ranking.join(stations(case), on="worker_id", how="left")
            .with_columns(pl.col("station_id").fill_null("—"))
            .group_by("station_id")
            .agg(riders=pl.len(), mean_risk=pl.col("risk").mean(), max_risk=pl.col("risk").max(),
                 findings=pl.col("findings").sum())
            .sort("mean_risk", descending=True))


def overview(case: Case, result: Findings) -> dict:
    """What the app's overview draws: the ranking, stations (the scorecard's, ranked by mean
    overall score, else the ranking's per station), the network's nodes and edges, the zones."""
    ranked = ranking(result, workers(case, result))
    nodes, edges = network(case, result)
    scored = result.measures.get("stations")
    return {"ranking": ranked, "stations": station_aggregates(ranked, case) if scored is None else scored,
            "nodes": nodes, "edges": edges, "zones": zone_polygons(case)}


def random_sample(candidates: list[str], n: int, seed: int) -> list[str]:
    """双随机 from the app: the same draw as the analyzers' recorded ``inspection_sample``."""
    return scorecard.draw(candidates, n, seed)


def interval_measures(result: Findings) -> dict[str, pl.DataFrame]:
    """Measures shaped as intervals (worker_id, start, end), e.g. off-hours sessions from another
    analyzer: the timeline draws each as its own lane without knowing the analyzer."""
    return {name: frame for name, frame in result.measures.items()
            if INTERVAL_COLUMNS <= set(frame.columns) and frame.schema["start"] == frame.schema["end"]
            and isinstance(frame.schema["start"], pl.Datetime)}


def _work_intervals(case: Case, worker: str) -> pl.LazyFrame:
    """Online periods, order time and rostered shifts of one worker, each with its lane name."""
    mine = pl.col("worker_id") == worker
    return pl.concat([
        online_intervals(case.table("activity").filter(mine)).select("worker_id", "start", "end", lane=pl.lit("online")),
        order_intervals(case.table("orders").filter(mine)).select("worker_id", "start", "end", lane=pl.lit("order")),
        case.table("schedules").filter(mine).select("worker_id", "start", "end", lane=pl.lit("roster")),
    ])


def _hour_of_day(column: str) -> pl.Expr:
    return (pl.col(column).dt.hour() + pl.col(column).dt.minute() / 60 + pl.col(column).dt.second() / 3600)


def timeline(case: Case, result: Findings, worker: str) -> pl.DataFrame:
    """One worker's intervals cut at local midnight: lane, date, from_h, to_h (hours of the day).

    Lanes: online, order, roster, and any interval-shaped measure (e.g. off-hours sessions)."""
    extra = [frame.lazy().filter(pl.col("worker_id") == worker).select(
        "worker_id", pl.col("start").cast(pl.Datetime("us", "UTC")), pl.col("end").cast(pl.Datetime("us", "UTC")),
        lane=pl.lit(name)) for name, frame in interval_measures(result).items()]
    pieces = split_local_days(pl.concat([_work_intervals(case, worker), *extra]).with_columns(refs=pl.lit(None)),
                              case.tz)
    return (pieces.select("lane", "date", from_h=_hour_of_day("start"),
                          to_h=pl.when(pl.col("end").dt.date() > pl.col("date")).then(24.0).otherwise(_hour_of_day("end")))
            .sort("date", "lane", "from_h").collect())


def worker_messages(case: Case, result: Findings, worker: str) -> pl.DataFrame:
    """One worker's messages in local time with their label and whether they fall outside every
    online period, order and rostered shift of that worker (``off_hours``)."""
    classified = result.measures.get("messages")
    messages = (classified.lazy() if classified is not None else
                case.table("messages").with_columns(label=pl.lit(None, pl.String), rule=pl.lit(None, pl.String)))
    mine = messages.filter(pl.col("worker_id") == worker).with_row_index("_i")
    inside = (mine.select("_i", "ts").join(_work_intervals(case, worker).select("start", "end"), how="cross")
              .filter(pl.col("ts").is_between("start", "end", closed="left")).select("_i").unique())
    local = pl.col("ts").dt.convert_time_zone(case.tz)
    return (mine.join(inside.with_columns(_in=pl.lit(True)), on="_i", how="left")
            .select("ts", date=local.dt.date(), hour=local.dt.hour() + local.dt.minute() / 60, weekday=local.dt.weekday(),
                    sender=pl.coalesce("sender_name", "sender_id"), sender_role="sender_role", text="text",
                    label="label", rule="rule", off_hours=pl.col("_in").is_null(), src="src", src_row="src_row")
            .sort("ts").collect())


def offhours_heatmap(messages: pl.DataFrame) -> pl.DataFrame:
    """Hour × weekday counts of the worker's own off-hours messages (all and substantive)."""
    own = messages.filter(pl.col("off_hours") & (pl.col("sender_role") == "self"))
    return (own.group_by("weekday", hour=pl.col("hour").floor().cast(pl.Int8))
            .agg(messages=pl.len(), substantive=(pl.col("label") == "substantive").sum())
            .sort("weekday", "hour"))


def map_points(case: Case, worker: str) -> pl.DataFrame:
    """The worker's located activity (GPS pings, check-ins), evenly thinned to MAX_MAP_POINTS."""
    points = (case.table("activity").filter((pl.col("worker_id") == worker) & pl.col("lon").is_not_null()
                                            & pl.col("lat").is_not_null())
              .sort("ts").select("lon", "lat", "kind", time=pl.col("ts").dt.convert_time_zone(case.tz)
                                 .dt.strftime("%Y-%m-%d %H:%M")).collect())
    step = max(1, -(-points.height // MAX_MAP_POINTS))
    return points.gather_every(step)


def zone_polygons(case: Case) -> pl.DataFrame:
    """Zones as lists of [lon, lat] rings for a map layer (exterior ring of each polygon)."""
    import shapely

    zones = case.table("zones").select("zone_id", "name", "station_id", "geometry").collect()
    if zones.is_empty():
        return pl.DataFrame(schema={"zone_id": pl.String, "name": pl.String, "station_id": pl.String,
                                    "polygon": pl.List(pl.List(pl.Float64))})
    rings = shapely.get_exterior_ring(shapely.from_wkb(zones["geometry"].to_numpy()))
    return zones.drop("geometry").with_columns(
        polygon=pl.Series([shapely.get_coordinates(r).tolist() for r in rings], dtype=pl.List(pl.List(pl.Float64))))


def network(case: Case, result: Findings, focus: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(nodes, edges) of the contracting chain (relations) and of who instructs whom in chats
    (supervisor messages flagged as instructions, sender id → the worker who received them; a
    manager's chat id is their ``person`` id in the relations, so both chains meet), laid
    out with a seeded spring layout. ``focus`` keeps a worker's neighbourhood (two steps away)."""
    import networkx as nx

    relations = case.table("relations").select(
        source="from_party", target="to_party", relation="relation", kind_s="from_kind", kind_t="to_kind").collect()
    relations = relations.filter(pl.col("relation") != "assigned_zone")
    classified = result.measures.get("messages")
    instructions = pl.DataFrame(schema={"source": pl.String, "target": pl.String, "relation": pl.String,
                                        "kind_s": pl.String, "kind_t": pl.String})
    if classified is not None and "is_instruction" in classified.columns:
        instructions = (classified.filter(pl.col("is_instruction") & (pl.col("sender_role") == "supervisor"))
                        .select(source=pl.coalesce("sender_id", "sender_name"), target="worker_id",
                                relation=pl.lit("instructs"), kind_s=pl.lit("person"), kind_t=pl.lit("worker")))
    edges = (pl.concat([relations, instructions]).group_by("source", "target", "relation")
             .agg(pl.col("kind_s", "kind_t").first(), weight=pl.len()).sort("source", "target", "relation"))
    graph = nx.DiGraph()
    graph.add_edges_from(edges.select("source", "target").iter_rows())
    if focus is not None:
        if focus not in graph:
            return _empty_nodes(), edges.clear()
        keep = set(nx.ego_graph(graph.to_undirected(), focus, radius=2))
        graph = graph.subgraph(keep)
        edges = edges.filter(pl.col("source").is_in(keep) & pl.col("target").is_in(keep))
    if graph.number_of_nodes() == 0:
        return _empty_nodes(), edges
    layout = _layout(graph, edges)
    kinds = pl.concat([edges.select(node="source", kind="kind_s"), edges.select(node="target", kind="kind_t")]
                      ).unique("node", keep="first")
    nodes = (pl.DataFrame({"node": list(layout), "x": [float(p[0]) for p in layout.values()],
                           "y": [float(p[1]) for p in layout.values()]})
             .join(kinds, on="node", how="left").join(_display_names(case), on="node", how="left")
             .with_columns(label=pl.coalesce("label", "node")).sort("node"))
    xy = nodes.select("node", "x", "y")
    edges = (edges.join(xy.rename({"node": "source"}), on="source").join(
        xy.rename({"node": "target", "x": "x2", "y": "y2"}), on="target").drop("kind_s", "kind_t"))
    return nodes, edges


def network_stations(nodes: pl.DataFrame, stations: pl.DataFrame) -> list[str]:
    """The network's station nodes, in the order of the stations table (riskiest first when the
    scorecard ranked them), then any others by id: the choice of a city network's part to draw."""
    present = set(nodes.filter(pl.col("kind") == "station")["node"])
    ranked = [s for s in stations["station_id"].to_list() if s in present] if "station_id" in stations.columns else []
    return ranked + sorted(present - set(ranked))


def _layout(graph, edges: pl.DataFrame) -> dict:
    """A seeded spring layout; above SPRING_MAX_NODES (where networkx would need scipy and
    minutes), concentric shells by kind: platforms, agencies and stations inside, people, then
    workers outside."""
    import networkx as nx

    if graph.number_of_nodes() <= SPRING_MAX_NODES:
        return nx.spring_layout(graph, seed=7)
    kinds = dict(pl.concat([edges.select(node="source", kind="kind_s"), edges.select(node="target", kind="kind_t")])
                 .unique("node", keep="first").iter_rows())
    rings = ({"platform", "agency", "station"}, {"person"}, {"worker"})
    shells = [sorted(n for n in graph if kinds.get(n) in ring) for ring in rings]
    shells.append(sorted(n for n in graph if not any(kinds.get(n) in ring for ring in rings)))
    return nx.shell_layout(graph, nlist=[shell for shell in shells if shell])


def _display_names(case: Case) -> pl.DataFrame:
    """Chat ids (a manager's ``wxid_…``) → the name people know them by."""
    return (case.table("participants").select(node="participant_id", label="display_name")
            .unique("node", keep="first").collect())


def _empty_nodes() -> pl.DataFrame:
    return pl.DataFrame(schema={"node": pl.String, "x": pl.Float64, "y": pl.Float64, "kind": pl.String,
                                "label": pl.String})


def for_worker(frame: pl.DataFrame, worker: str) -> pl.DataFrame:
    """A measure's rows for one worker (the whole frame when it has no worker column)."""
    return frame.filter(pl.col("worker_id") == worker) if "worker_id" in frame.columns else frame
