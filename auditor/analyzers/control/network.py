"""The instruction network and the contracting chain: who in fact directs the rider's work, and
whether it is the party that contracts with them.

Needs classified messages (worker_id = the export's owner, sender_id, sender_role,
is_instruction, src, src_row), relations (contracts, subcontracts, manages, engages) and
working days.

One directed networkx graph per case: relation edges from relations.csv, and ``instructs`` edges
from each supervisor to each worker whose export holds their instructions (weight = count). The
rider's director is the supervisor who sent them most instructions; the directing organisation is
what that person ``manages``. The path printed runs along the contracting chain from the party
that engages the rider to the directing organisation, then to the rider.
"""

from __future__ import annotations

from itertools import pairwise

import networkx as nx
import polars as pl

from auditor.analyzers.control.common import Inputs, Measured, cited, listed, rows
from auditor.findings import ref

INSTRUCTIONS = "supervisor-instructions"
MISMATCH = "direction-contract-mismatch"
CHAIN = ("contracts", "subcontracts", "manages", "engages")


def instructions(inputs: Inputs) -> pl.DataFrame:
    """Work instructions from a known supervisor, each in the export of the worker it reached."""
    return inputs.messages.filter(pl.col("is_instruction") & (pl.col("sender_role") == "supervisor")
                                  & pl.col("sender_id").is_not_null())


def instruction_edges(inputs: Inputs) -> pl.DataFrame:
    """supervisor → worker: instructions, and the first message row behind them."""
    return (instructions(inputs).group_by("sender_id", "worker_id")
            .agg(instructions=pl.len(), first_ref=ref("messages").first())
            .sort("worker_id", "instructions", "sender_id", descending=[False, True, False]))


def case_graph(relations: pl.DataFrame, edges: pl.DataFrame) -> nx.DiGraph:
    graph = nx.DiGraph()
    for row in relations.filter(pl.col("relation").is_in(CHAIN)).iter_rows(named=True):
        graph.add_edge(row["from_party"], row["to_party"], relation=row["relation"],
                       ref={"table": "relations", "src": row["src"], "src_row": row["src_row"]})
    for row in edges.select("sender_id", "worker_id", "instructions").iter_rows(named=True):
        graph.add_edge(row["sender_id"], row["worker_id"], relation="instructs", weight=row["instructions"])
    return graph


def _hop(graph: nx.DiGraph, a: str, b: str) -> str:
    if graph.has_edge(a, b):
        data = graph.edges[a, b]
        label = f"instructs ×{data['weight']}" if data["relation"] == "instructs" else data["relation"]
        return f" —{label}→ {b}"
    return f" ←{graph.edges[b, a]['relation']}— {b}"


def render_path(graph: nx.DiGraph, nodes: list[str]) -> str:
    return nodes[0] + "".join(_hop(graph, a, b) for a, b in pairwise(nodes))


def direction(inputs: Inputs) -> pl.DataFrame:
    """Per worker with a director: who directs, which organisation, who engages them, whether they
    differ, and the path through the case graph."""
    relations = inputs.table("relations").collect()
    edges = instruction_edges(inputs)
    graph = case_graph(relations, edges)
    # undirected, in the same node and edge order as to_undirected(), which deep-copies every edge's data
    chain = nx.Graph(graph.edge_subgraph([(a, b) for a, b, r in graph.edges(data="relation") if r != "instructs"]))
    out = []
    # each worker's top director (the edges come sorted by instructions) and the first of their messages
    tops = edges.group_by("worker_id", maintain_order=True).first()
    for top in tops.iter_rows(named=True):
        worker, director = top["worker_id"], top["sender_id"]
        managed = [b for _, b, r in graph.out_edges(director, data="relation") if r == "manages"]
        organisation = managed[0] if managed else director
        engaged_by = sorted(a for a, _, r in graph.in_edges(worker, data="relation") if r == "engages")
        path = [director, worker]
        if managed:
            path = [organisation, director, worker]
        linked = [e for e in engaged_by if e in chain and organisation in chain and nx.has_path(chain, e, organisation)]
        if linked:
            path = nx.shortest_path(chain, linked[0], organisation)[:-1] + path
        refs = [graph.edges[a, b]["ref"] for a, b in
                [(e, worker) for e in engaged_by] + [(director, m) for m in managed]]
        out.append({"worker_id": worker, "directed_by": director, "instructions": top["instructions"],
                    "directing_party": organisation, "engaged_by": engaged_by,
                    # unknown (null) when no relation says whom the director manages
                    "mismatch": organisation not in engaged_by if engaged_by and managed else None,
                    "path": render_path(graph, path), "refs": [*refs, top["first_ref"]]})
    schema = {"worker_id": pl.String, "directed_by": pl.String, "instructions": pl.Int64, "directing_party": pl.String,
              "engaged_by": pl.List(pl.String), "mismatch": pl.Boolean, "path": pl.String,
              "refs": pl.List(pl.Struct({"table": pl.String, "src": pl.String, "src_row": pl.Int64}))}
    return pl.DataFrame(out, schema=schema)


def supervisor_instructions(inputs: Inputs) -> Measured:
    """Instructions from supervisors per active week, for workers whose chats are in the case."""
    with_chats = inputs.messages.select("worker_id").unique()
    edges = instruction_edges(inputs).group_by("worker_id").agg(k=pl.col("instructions").sum(), senders=pl.len())
    weeks = inputs.working_days.lazy().group_by("worker_id").agg(
        weeks=pl.col("date").dt.truncate("1w").n_unique())
    per_worker = (with_chats.lazy().join(weeks, on="worker_id").join(edges.lazy(), on="worker_id", how="left")
                  .with_columns(pl.col("k").fill_null(0), pl.col("senders").fill_null(0)))
    return rows(per_worker.with_columns(
        value=pl.col("k") / pl.col("weeks"), n=pl.col("k"),
        detail_zh=pl.format("{} 个工作周内收到 {} 名管理人员的 {} 条工作指令", "weeks", "senders", "k"),
        detail_en=pl.format("{} work instructions from {} supervisor(s) over {} active weeks", "k", "senders",
                            "weeks")), INSTRUCTIONS, cited(instructions(inputs), "messages"))


def mismatch(directions: pl.DataFrame) -> Measured:
    known = directions.filter(pl.col("mismatch").is_not_null())
    return rows(known.with_columns(
        value=pl.col("mismatch").cast(pl.Float64), n=pl.col("instructions"),
        detail_zh=pl.format("实际指挥工作的是 {}（{}），签约方为 {}；路径：{}", "directing_party", "directed_by",
                            pl.col("engaged_by").list.join("、"), "path"),
        detail_en=pl.format("the work is directed by {} ({}), the contracting party is {}; path: {}", "directing_party",
                            "directed_by", pl.col("engaged_by").list.join(", "), "path")), MISMATCH, listed(known))
