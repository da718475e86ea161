"""The instruction network and the contracting chain: who in fact directs the rider's work, and
whether it is the party that contracts with them.

Needs classified messages (worker_id = the export's owner, sender_id, sender_role,
is_instruction, src, src_row), relations (contracts, subcontracts, manages, engages) and
working days.

The rider's director is the supervisor who sent them most instructions (supervisor → worker
edges, weight = count); the directing organisation is what that person ``manages``
(relations.csv). The path printed runs along the contracting chain from the party that engages the
rider to the directing organisation, then to the rider. The chain is the organisations' own
relations (contracts, subcontracts, manages): a small networkx graph, searched once per distinct
pair of engaging party and organisation, never per rider; a path through another rider who
happens to be engaged by two agencies is not a contracting chain.
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
ORGANISATIONAL = CHAIN[:3]  # between organisations: a contracting chain never runs through a rider


def instructions(inputs: Inputs) -> pl.DataFrame:
    """Work instructions from a known supervisor, each in the export of the worker it reached."""
    return inputs.messages.filter(pl.col("is_instruction") & (pl.col("sender_role") == "supervisor")
                                  & pl.col("sender_id").is_not_null())


def instruction_edges(inputs: Inputs) -> pl.DataFrame:
    """supervisor → worker: instructions, and the first message row behind them."""
    return (instructions(inputs).group_by("sender_id", "worker_id")
            .agg(instructions=pl.len(), first_ref=ref("messages").first())
            .sort("worker_id", "instructions", "sender_id", descending=[False, True, False]))


def case_graph(relations: pl.DataFrame) -> nx.DiGraph:
    """The organisations' chain (``ORGANISATIONAL`` relations), each edge with its relation."""
    graph = nx.DiGraph()
    graph.add_edges_from((a, b, {"relation": r}) for a, b, r in
                         relations.filter(pl.col("relation").is_in(ORGANISATIONAL))
                         .select("from_party", "to_party", "relation").iter_rows())
    return graph


def _hop(graph: nx.DiGraph, a: str, b: str) -> str:
    if graph.has_edge(a, b):
        return f" —{graph.edges[a, b]['relation']}→ {b}"
    return f" ←{graph.edges[b, a]['relation']}— {b}"


def render_path(graph: nx.DiGraph, nodes: list[str]) -> str:
    return nodes[0] + "".join(_hop(graph, a, b) for a, b in pairwise(nodes))


def chain_paths(graph: nx.DiGraph, pairs: pl.DataFrame) -> pl.DataFrame:
    """engager, organisation, chain: the contracting chain from each engaging party to each
    directing organisation, rendered (null where none links them). One search per distinct pair
    of organisations, not per rider."""
    chain = graph.to_undirected(as_view=True)
    def path(engager: str, organisation: str) -> str | None:
        if engager in chain and organisation in chain and nx.has_path(chain, engager, organisation):
            return render_path(graph, nx.shortest_path(chain, engager, organisation))
        return None
    return pairs.with_columns(chain=pl.Series([path(*pair) for pair in pairs.iter_rows()], dtype=pl.String))


def direction(inputs: Inputs) -> pl.DataFrame:
    """Per worker with a director: who directs, which organisation, who engages them, whether they
    differ, and the path through the case graph."""
    # a pair of parties related twice: its last row stands
    relations = (inputs.table("relations").filter(pl.col("relation").is_in(CHAIN)).collect()
                 .unique(["from_party", "to_party"], keep="last", maintain_order=True)
                 .with_columns(ref=ref("relations")))
    engaged = (relations.filter(pl.col("relation") == "engages").sort("from_party", maintain_order=True)
               .group_by(worker_id="to_party").agg(engaged_by="from_party", engaged_refs="ref"))
    managed = (relations.filter(pl.col("relation") == "manages")
               .group_by(sender_id="from_party", maintain_order=True).agg(managed="to_party", managed_refs="ref"))
    # each worker's top director (the edges come sorted by instructions) and the first of their messages
    tops = (instruction_edges(inputs).group_by("worker_id", maintain_order=True).first()
            .join(managed, on="sender_id", how="left", maintain_order="left")
            .join(engaged, on="worker_id", how="left", maintain_order="left")
            .with_columns(pl.col("engaged_by", "engaged_refs", "managed_refs").fill_null([]),
                          organisation=pl.coalesce(pl.col("managed").list.first(), "sender_id")))
    graph = case_graph(relations)
    engagers = tops.select("worker_id", "organisation", engager="engaged_by").explode("engager").drop_nulls()
    paths = chain_paths(graph, engagers.select("engager", "organisation").unique(maintain_order=True))
    # the first engaging party (in name order) the chain links to the organisation
    linked = (engagers.join(paths, on=["engager", "organisation"], maintain_order="left").drop_nulls("chain")
              .group_by("worker_id", maintain_order=True).agg(pl.col("chain").first()))
    hops = tops.filter(pl.col("managed").is_not_null()).select("organisation", "sender_id").unique(maintain_order=True)
    hops = hops.with_columns(hop=pl.Series([_hop(graph, *pair) for pair in hops.iter_rows()], dtype=pl.String))
    directed = (tops.join(linked, on="worker_id", how="left", maintain_order="left")
                .join(hops, on=["organisation", "sender_id"], how="left", maintain_order="left"))
    return directed.select(
        "worker_id", directed_by="sender_id", instructions=pl.col("instructions").cast(pl.Int64),
        directing_party="organisation", engaged_by="engaged_by",
        # unknown (null) when no relation says whom the director manages
        mismatch=pl.when((pl.col("engaged_by").list.len() > 0) & pl.col("managed").is_not_null())
        .then(~pl.col("engaged_by").list.contains(pl.col("organisation"))),
        path=pl.concat_str(pl.coalesce("chain", "organisation"), pl.col("hop").fill_null(""),
                           pl.format(" —instructs ×{}→ {}", "instructions", "worker_id")),
        refs=pl.concat_list("engaged_refs", "managed_refs", "first_ref"))


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
