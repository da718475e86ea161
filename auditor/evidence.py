"""Evidence rows resolved back to what a person can check: the original file, its line or record
number, the local time and a one-line rendering of the canonical record.

Analyzers cite evidence as (table, src, src_row). The app and the dossier show, for each such
row, the input file's path as recorded in the manifest and the canonical record it became, so a
reader can open the export at that line and see the same thing.
"""

from __future__ import annotations

import polars as pl

from auditor.case import Case

RESOLVED = {
    "finding_id": pl.String,
    "table": pl.String,
    "src": pl.String,
    "file": pl.String,
    "src_row": pl.Int64,
    "time": pl.String,
    "record": pl.String,
}
LOCAL = "%Y-%m-%d %H:%M:%S"


def _text(*parts: pl.Expr | str) -> pl.Expr:
    """Join the non-empty parts with spaces (null parts are left out, not turned into 'null')."""
    exprs = [pl.lit(p) if isinstance(p, str) else p.cast(pl.String) for p in parts]
    return pl.concat_str(exprs, separator=" ", ignore_nulls=True).str.strip_chars()


def _labelled(label: str, value: pl.Expr) -> pl.Expr:
    return pl.when(value.is_not_null()).then(pl.lit(f"{label}=") + value.cast(pl.String))


def _local(column: str, tz: str) -> pl.Expr:
    return pl.col(column).dt.convert_time_zone(tz).dt.strftime(LOCAL)


def record_columns(table: str, tz: str) -> tuple[pl.Expr, pl.Expr]:
    """(local time, one-line record) of a canonical row of ``table``; null for tables without time."""
    no_time = pl.lit(None, pl.String)
    if table == "messages":
        sender = pl.coalesce("sender_name", "sender_id", pl.lit("?"))
        return _local("ts", tz), _text(sender, pl.lit("(") + pl.col("sender_role") + pl.lit("):"), pl.col("text"),
                                       pl.lit("[") + pl.col("attachment_kind") + pl.lit("]"))
    if table == "orders":
        return _local("dispatched_at", tz), _text(
            pl.col("order_id"), pl.col("platform"), pl.col("outcome"),
            _labelled("delivered", _local("delivered_at", tz)), _labelled("deadline", _local("deadline_at", tz)),
            _labelled("pay", pl.col("pay")), _labelled("penalty", pl.col("penalty")), pl.col("penalty_reason"))
    if table == "activity":
        return _local("ts", tz), _text(pl.col("platform"), pl.col("kind"), pl.col("detail"),
                                       _labelled("lon", pl.col("lon")), _labelled("lat", pl.col("lat")))
    if table == "schedules":
        return _local("start", tz), _text(pl.col("kind"), _local("start", tz), pl.lit("→"), _local("end", tz))
    if table == "zones":
        return no_time, _text(pl.col("zone_id"), pl.col("name"), pl.col("station_id"))
    if table == "relations":
        return no_time, _text(pl.col("from_party"), pl.col("relation"), pl.col("to_party"), pl.col("evidence"))
    if table == "participants":
        return no_time, _text(pl.col("participant_id"), pl.col("display_name"), pl.col("role"), pl.col("worker_id"))
    return no_time, no_time


def files(case: Case) -> pl.DataFrame:
    return pl.DataFrame({"src": [s.src for s in case.sources], "file": [s.path for s in case.sources]},
                        schema={"src": pl.String, "file": pl.String})


def resolve(evidence: pl.DataFrame, case: Case) -> pl.DataFrame:
    """Each evidence row with its file, local time and rendered record (columns: ``RESOLVED``).

    A row that cites a table the case does not hold, or a row that is not in it, keeps its
    reference with an empty record: the reference itself is still evidence to look up."""
    parts = []
    for table in evidence["table"].unique().sort():
        cited = evidence.filter(pl.col("table") == table)
        time, record = record_columns(table, case.tz)
        if table in case.tables:
            wanted = cited.select("src", "src_row").unique()
            # first what the Parquet reader can decide from each row group's statistics: a worker's
            # rows lie in few of a city's row groups (a rider's activity: 0.50 -> 0.004 s)
            near = (pl.col("src").is_in(wanted["src"].unique().implode())
                    & pl.col("src_row").is_between(wanted["src_row"].min(), wanted["src_row"].max()))
            rows = (case.table(table).filter(near).join(wanted.lazy(), on=["src", "src_row"], how="semi")
                    .select("src", "src_row", time=time, record=record)
                    .unique(["src", "src_row"], keep="first").collect())
            cited = cited.join(rows, on=["src", "src_row"], how="left", maintain_order="left")
        else:
            cited = cited.with_columns(time=pl.lit(None, pl.String), record=pl.lit(None, pl.String))
        parts.append(cited)
    resolved = pl.concat(parts) if parts else pl.DataFrame(schema={**RESOLVED})
    return (resolved.join(files(case), on="src", how="left", maintain_order="left")
            .select(list(RESOLVED)).cast(RESOLVED).sort(["finding_id", "time", "file", "src_row"], nulls_last=True))
