"""Chart specifications (Altair / Vega-Lite, pydeck) for the app's views. Pure functions from the
frames in ``auditor.views`` to chart objects: no Streamlit, no data fetched from the network —
the map has no base-map tiles, only the case's own zones and points."""

from __future__ import annotations

import altair as alt
import polars as pl
import pydeck as pdk

from auditor.findings import FAMILIES
from auditor.i18n import strings, t

LANE_COLOURS = {"roster": "#c7d7ea", "online": "#6b9bd1", "order": "#1f4e8c"}
LABEL_COLOURS = {"substantive": "#c0392b", "simple": "#e3a33b", "social": "#8e9aa6"}
NO_BASE_MAP = "__MAP_STYLE__"  # pydeck's "no style given" sentinel: Streamlit then draws no base map


def _hours_axis(lang: str) -> alt.X:
    return alt.X("from_h:Q", title=t("hour_of_day", lang), scale=alt.Scale(domain=[0, 24]),
                 axis=alt.Axis(values=list(range(0, 25, 3))))


def timeline_chart(intervals: pl.DataFrame, messages: pl.DataFrame, lang: str) -> alt.LayerChart:
    """Days as rows, hours 0–24 across: rostered shifts, online periods and orders as bars (other
    interval measures in their own colour), the worker's messages as ticks — red when substantive,
    drawn large when off-hours, so off-schedule work stands out."""
    lanes = intervals["lane"].unique().sort().to_list()
    domain = [*LANE_COLOURS, *(lane for lane in lanes if lane not in LANE_COLOURS)]
    colours = [*LANE_COLOURS.values(), *(["#8e44ad", "#16a085", "#d35400"] * 3)][: len(domain)]
    bars = alt.Chart(intervals.with_columns(pl.col("date").cast(pl.String))).mark_bar(opacity=0.85).encode(
        x=_hours_axis(lang), x2="to_h:Q", y=alt.Y("date:O", title=None),
        color=alt.Color("lane:N", title=t("lane", lang), scale=alt.Scale(domain=domain, range=colours)),
        yOffset=alt.YOffset("lane:N", scale=alt.Scale(domain=domain)),
        tooltip=["lane", "date", alt.Tooltip("from_h:Q", format=".2f"), alt.Tooltip("to_h:Q", format=".2f")])
    own = messages.filter(pl.col("sender_role") == "self").with_columns(
        pl.col("date").cast(pl.String), from_h=pl.col("hour"), text=pl.col("text").str.slice(0, 80),
        label=pl.col("label").fill_null("?"))
    ticks = alt.Chart(own.select("date", "from_h", "label", "off_hours", "text", "rule")).mark_tick(
        thickness=2).encode(
        x=_hours_axis(lang), y=alt.Y("date:O", title=None),
        color=alt.Color("label:N", title=t("message_label", lang),
                        scale=alt.Scale(domain=list(LABEL_COLOURS), range=list(LABEL_COLOURS.values()))),
        size=alt.condition("datum.off_hours", alt.value(18), alt.value(7)),
        tooltip=["date", "text", "label", "rule", "off_hours"])
    days = intervals["date"].n_unique()
    return alt.layer(bars, ticks).resolve_scale(color="independent").properties(
        height=max(160, days * (6 * len(domain) + 8)), title=t("timeline_title", lang))


def heatmap_chart(cells: pl.DataFrame, lang: str) -> alt.Chart:
    """Hour × weekday of the worker's own off-hours messages (1 = Monday)."""
    full = (pl.DataFrame({"weekday": list(range(1, 8))}, schema={"weekday": pl.Int8})
            .join(pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8}), how="cross")
            .join(cells, on=["weekday", "hour"], how="left").with_columns(pl.col("messages", "substantive").fill_null(0)))
    names = [t(f"weekday_{d}", lang) for d in range(1, 8)]
    full = full.with_columns(day=pl.col("weekday").replace_strict(dict(zip(range(1, 8), names)), return_dtype=pl.String))
    return alt.Chart(full).mark_rect().encode(
        x=alt.X("hour:O", title=t("hour_of_day", lang)),
        y=alt.Y("day:N", sort=names, title=None),
        color=alt.condition("datum.messages > 0", alt.Color(
            "substantive:Q", title=t("substantive_messages", lang), scale=alt.Scale(scheme="reds", domainMin=0)),
            alt.value("#f3f3f3")),
        tooltip=["day", "hour", "messages", "substantive"]).properties(height=260, title=t("heatmap_title", lang))


def family_chart(ranking: pl.DataFrame, lang: str, top: int = 20) -> alt.Chart:
    """Stacked family scores of the riskiest workers (a family contributes score ÷ families)."""
    long = (ranking.head(top).unpivot(index="worker_id", on=list(FAMILIES), variable_name="family", value_name="score")
            .with_columns(share=pl.col("score") / len(FAMILIES),
                          family=pl.col("family").replace_strict({f: t("family_" + f, lang) for f in FAMILIES})))
    order = ranking.head(top)["worker_id"].to_list()
    return alt.Chart(long).mark_bar().encode(
        x=alt.X("share:Q", title=t("risk", lang), stack="zero"),
        y=alt.Y("worker_id:N", sort=order, title=None),
        color=alt.Color("family:N", title=t("family", lang)),
        tooltip=["worker_id", "family", alt.Tooltip("score:Q", format=".2f")]).properties(height=alt.Step(16))


def network_chart(nodes: pl.DataFrame, edges: pl.DataFrame, lang: str) -> alt.LayerChart:
    """The contracting chain and the instruction edges on a seeded spring layout; party kinds and
    relations named in ``lang`` (a kind without a translation keeps its data name)."""
    edges = edges.with_columns(relation=_translated(pl.col("relation"), "relation_", lang))
    nodes = nodes.with_columns(kind_name=_translated(pl.col("kind"), "kind_", lang))
    axis = alt.Axis(labels=False, ticks=False, grid=False, title=None, domain=False)
    lines = alt.Chart(edges).mark_rule(opacity=0.5).encode(
        x=alt.X("x:Q", axis=axis), y=alt.Y("y:Q", axis=axis), x2="x2:Q", y2="y2:Q",
        color=alt.Color("relation:N", title=t("relation", lang)),
        strokeWidth=alt.StrokeWidth("weight:Q", scale=alt.Scale(range=[1, 5]), legend=None),
        tooltip=["source", "relation", "target", "weight"])
    points = alt.Chart(nodes).mark_circle(size=140, stroke="white").encode(
        x=alt.X("x:Q", axis=axis), y=alt.Y("y:Q", axis=axis),
        fill=alt.Fill("kind_name:N", title=t("party_kind", lang)), tooltip=["label", "node", "kind_name"])
    labels = alt.Chart(nodes.filter(pl.col("kind") != "worker")).mark_text(dy=-10, fontSize=10).encode(
        x="x:Q", y="y:Q", text="label:N")
    return alt.layer(lines, points, labels).resolve_scale(color="independent").properties(height=520)


def _translated(column: pl.Expr, prefix: str, lang: str) -> pl.Expr:
    names = {key.removeprefix(prefix): value for key, value in strings(lang).items() if key.startswith(prefix)}
    return column.replace(names)


def map_deck(points: pl.DataFrame, zones: pl.DataFrame) -> pdk.Deck:
    """Zones as outlined polygons and pings as dots, on no base map (nothing is fetched)."""
    centre = points if points.height else zones.select(
        pl.col("polygon").list.first().list.get(0).alias("lon"), pl.col("polygon").list.first().list.get(1).alias("lat"))
    view = pdk.ViewState(longitude=float(centre["lon"].mean()), latitude=float(centre["lat"].mean()), zoom=11.5)
    layers = [
        pdk.Layer("PolygonLayer", zones.to_dicts(), get_polygon="polygon", get_fill_color=[31, 78, 140, 30],
                  get_line_color=[31, 78, 140, 200], line_width_min_pixels=1, pickable=True),
        pdk.Layer("ScatterplotLayer", points.to_dicts(), get_position=["lon", "lat"], get_radius=25,
                  radius_min_pixels=2, get_fill_color=[192, 57, 43, 160], pickable=True),
    ]
    return pdk.Deck(layers=layers, initial_view_state=view, map_provider=None, map_style=NO_BASE_MAP,
                    tooltip={"text": "{name}{time} {kind}"})
