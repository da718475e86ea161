"""Pseudonymised export for researchers: one row per rider with their indicator figures, and
optionally their classified messages — people replaced by stable salted hashes, locations
coarsened to a grid, message text removed unless asked for. The pseudonymisation settings go
into the export's manifest (the salt itself never does: whoever holds it can re-identify).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from auditor.case import Case
from auditor.export import run_stamp, write_manifest, write_tables
from auditor.findings import Findings
from auditor.views import risk_ranking, stations, workers

PSEUDONYM_HEX = 16
POSITIONS_PER_PASS = 8_000_000  # located rows grouped at once for their medians (~1 GB)


@dataclass(frozen=True)
class Pseudonymisation:
    salt: str
    grid_degrees: float = 0.01  # about 1 km: a neighbourhood, not a home address
    include_text: bool = False

    def manifest(self) -> dict:
        recorded = {k: v for k, v in asdict(self).items() if k != "salt"}
        return {**recorded, "method": f"HMAC-SHA256(salt, id), first {PSEUDONYM_HEX} hex digits",
                "salt_fingerprint": hashlib.sha256(self.salt.encode()).hexdigest()[:8]}


def pseudonymise(column: pl.Series, salt: str) -> pl.Series:
    """Each distinct id → its salted hash; the same id and salt give the same pseudonym in every
    export, so a researcher can link exports without learning who anyone is."""
    key = salt.encode()
    mapping = {v: hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
               for v in column.drop_nulls().unique().to_list()}
    return column.replace_strict(mapping, default=None, return_dtype=pl.String)


def _pseudonymised(frame: pl.DataFrame, columns: list[str], salt: str) -> pl.DataFrame:
    return frame.with_columns(pseudonymise(frame[c], salt).alias(c) for c in columns if c in frame.columns)


def median_positions(activity: pl.LazyFrame) -> pl.DataFrame:
    """worker_id, lon, lat: the median of each worker's located rows. A median needs every value
    of its group at once, so a city's positions (42 M at 10,000 riders) are taken a share of the
    workers at a time, at most POSITIONS_PER_PASS rows a pass: memory follows the pass."""
    located = activity.filter(pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
    passes = max(1, math.ceil(located.select(pl.len()).collect().item() / POSITIONS_PER_PASS))
    share = pl.col("worker_id").hash(seed=0) % passes
    return pl.concat([located.filter(share == i).group_by("worker_id").agg(
        lon=pl.col("lon").median(), lat=pl.col("lat").median()).collect() for i in range(passes)])


def rider_table(result: Findings, case: Case, options: Pseudonymisation) -> pl.DataFrame:
    """Per rider: risk and family scores, per indicator the number of findings and mean score,
    the station, and the median located position snapped to the grid."""
    ranking = risk_ranking(result.findings, workers(case, result))
    per_indicator = (result.findings.group_by("worker_id", "indicator").agg(n=pl.len(), score=pl.col("score").mean())
                     .sort("indicator"))  # the indicators' columns in one order, run after run
    wide = per_indicator.pivot("indicator", index="worker_id", values=["n", "score"]) if per_indicator.height else None
    grid = options.grid_degrees
    where = median_positions(case.table("activity")).with_columns(
        ((pl.col(c) / grid).round(0) * grid).round(6) for c in ("lon", "lat"))
    table = ranking.join(stations(case), on="worker_id", how="left").join(where, on="worker_id", how="left")
    if wide is not None:
        table = table.join(wide, on="worker_id", how="left")
    return _pseudonymised(table, ["worker_id"], options.salt).sort("worker_id")


def message_table(result: Findings, options: Pseudonymisation) -> pl.DataFrame | None:
    classified = result.measures.get("messages")
    if classified is None:
        return None
    keep = ["worker_id", "conversation_id", "sender_id", "sender_role", "ts", "attachment_kind", "label", "rule",
            "is_instruction", *(["text"] if options.include_text else [])]
    return _pseudonymised(classified.select(c for c in keep if c in classified.columns),
                          ["worker_id", "conversation_id", "sender_id"], options.salt)


def write_research(result: Findings, case: Case, out: str | Path, options: Pseudonymisation,
                   settings: dict) -> list[Path]:
    """Write ``riders.*`` (and ``messages.*``) plus ``manifest.json`` into ``out``: Parquet, and
    CSV where a spreadsheet opens every row (a city's classified messages are millions; the
    manifest says which CSV was left out and why). Returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"riders": rider_table(result, case, options)}
    if (messages := message_table(result, options)) is not None:
        tables["messages"] = messages
    written, not_written = write_tables(tables, out)
    write_manifest(out, {**run_stamp(), "pseudonymisation": options.manifest(), "settings": settings,
                         # file names often carry a worker id (wechat_R0003.csv): only the hashes are recorded
                         "inputs": [{"sha256": s.sha256} for s in case.sources],
                         **({"not_written": not_written} if not_written else {})})
    return [*(out / name for name in written), out / "manifest.json"]
