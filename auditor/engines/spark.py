"""The Spark engine: the same polars analyzers, run per group of workers on Apache Spark.

No indicator is implemented twice. Spark only moves rows: it reads the saved case's Parquet files
(local, HDFS or S3-style paths), routes every per-worker row to the *bucket* of its worker
(``pmod(hash(worker_id), buckets)``), and in ``groupBy(bucket).applyInArrow`` hands each bucket's
rows (Arrow in) to ``auditor.analyzers.run_all`` on a Case of its own; the results leave as Arrow
IPC payloads (Arrow out), which the executors write as Parquet to a scratch folder and the driver
reads back one batch at a time and concatenates. Not ``collect()``: that gathers every payload in the
driver's JVM before Python gets its own copy (40 buckets, 85 M evidence rows: the JVM was killed for memory).

Several tables per group: ``applyInArrow`` gives a group one Arrow table and ``cogroup`` only two
frames, while a worker has five tables (orders, activity, messages, schedules, offers). So the
tables are tagged and unioned into one frame (``unionByName`` with ``_table`` naming the table;
the canonical tables use each shared column name with one type, so columns line up and a table's
rows leave the other tables' columns null), grouped once, and split again by ``_table`` inside the
group. This costs one shuffle and keeps Spark's typed columns (no per-table serialisation pass).

Case-wide small tables (zones, relations, participants) and the case time zone go to every group
as a broadcast. A worker's record also holds what they wrote in colleagues' exports of a shared
group chat (``sessions.attributed_messages``), and a message is read with the rest of its
conversation (instructions before it, how many people take part): so each conversation in which
a colleague mapped to worker W wrote is routed to W's bucket too, whole. Every row carries
``_for``, the worker whose bucket it was routed to; a bucket keeps only the results of the
workers it is home for (findings, evidence, measures with a ``worker_id``), so a worker's
results come from exactly one bucket and carry no partial copies.

Case-wide references: some indicators compare a worker with the case (the median delivery time
per distance band, a platform's per-km rate changes, the case period). The analyzers get each
through ``auditor.analyzers.context.reference``, and a bucket must not compute them from its own
workers, so the engine computes them from the whole case and injects them into every bucket
(``context.shared(case, references=…)``):

- ``KEYED_REFERENCES`` before the buckets, one ``applyInArrow`` group per value of a column of the
  orders (platform; distance band), each group running the analyzer's own function: one group
  holds every row its part of the reference is computed from, so the parts together are the case's;
- ``SPAN_REFERENCES``, periods (first and last local date): a bucket's rows are rows of the case,
  so its period lies within the case's, which is the min and max over the buckets. Each bucket
  reports the periods it computed; a bucket whose period is not the case's (a city's buckets
  rarely differ) runs again with the case's injected.

So with any number of buckets every finding, evidence row and per-worker measure equals the local
engine's (tests/test_spark_engine.py checks one bucket and several).

Results that are about a population rather than a worker are computed after the buckets:
``rate_changes`` is the reference itself, ``deadline_weeks``/``deadline_compression`` per station in
``applyInArrow`` over the station's orders with the analyzers' own functions (and the injected
references); the scorecard's ``measurability``, ``stations``, ``platforms`` and
``inspection_sample`` by the scorecard functions on the collected per-worker scored table (small:
one row per worker and indicator). The number of buckets depends only on the data and the
``buckets`` argument, never on the cluster, so a run is reproducible; it is recorded in the
``spark_engine`` measure.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from auditor import schema
from auditor.analyzers import context
from auditor.analyzers.control.common import CARRIED, Inputs, carried
from auditor.case import MANIFEST, Case, Scratch, Source
from auditor.engines.parts import (
    KEYED_REFERENCES,
    PER_WORKER_TABLES,
    SHARED_TABLES,
    WORKER,
    Keyed,
    Result,
    assemble,
    case_spans,
    grouped,
    keyed_reference,
    reference,
    run_part,
    stale_parts,
    station_measures,
)
from auditor.export import write_evidence_file
from auditor.findings import Findings, scan_evidence_files
from auditor.settings import Settings

WORKERS_PER_BUCKET = 250  # one bucket is a town-sized polars run (~2 GB); the count follows the data only
PAYLOAD = "bucket int, kind string, name string, payload binary"


def require_spark():
    """pyspark, imported on first use: the extra is optional."""
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession, functions
    except ImportError:
        raise ImportError("the spark engine needs pyspark: pip install -e '.[spark]' "
                          "(and Java 17 or later: java -version)") from None
    return SparkSession, functions


def session(master: str | None = None):
    """A SparkSession in UTC (the canonical time basis). Under spark-submit the master and
    resources come from spark-submit; otherwise ``master`` (default ``local[*]``)."""
    SparkSession, _ = require_spark()
    builder = (SparkSession.builder.appName("platform-work-auditor")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    if master:
        builder = builder.master(master)
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit started this driver: its settings rule
    if not submitted and (master or "local").startswith("local"):
        # local Python workers run this interpreter (the one with polars), not the first python3 on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # local mode runs every task in the driver's JVM: it holds the shuffle and the Arrow batches to
        # and from the Python workers (Spark's 1 GB default fails from ~1,000 workers). The results
        # no longer pass through it (the tasks write them as Parquet, Python reads the files), so a
        # quarter of this machine's memory; the rest goes to the Python workers (a bucket each, ~2 GB)
        # and to the driver's Python, which holds the results. No cap on the small tables' toArrow.
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.25
        builder = (builder.config("spark.driver.memory", f"{max(2, int(memory / 2**30))}g")
                   .config("spark.driver.maxResultSize", "0"))
    return builder.getOrCreate()


def audit(case_dir: str, settings: Settings | None = None, spark=None, buckets: int | None = None,
          scratch: str | None = None) -> Findings:
    """Run every analyzer over the case saved at ``case_dir`` (``Case.save`` / ``auditor ingest``;
    any path Spark reads: a folder, ``hdfs://…``, ``s3a://…``) and return the findings, evidence
    and measures, as ``analyzers.run_all`` does. The executors write the results under ``scratch``
    for the driver to read: by default a local temporary folder, removed after reading (local mode);
    on a cluster a folder both reach (``hdfs://…``, ``s3a://…``), whose ``auditor-spark-…`` folders
    are left to that storage's clean-up."""
    _, F = require_spark()
    settings = settings or Settings()
    settings.law  # noqa: B018 — fail early and clearly on an unknown jurisdiction
    spark = spark or session()
    _scratch_on_driver(spark, scratch)  # a cluster without a shared scratch folder fails before any work
    case_dir = str(case_dir).rstrip("/")
    manifest = json.loads(spark.read.text(f"{case_dir}/{MANIFEST}", wholetext=True).first()[0])
    tz = manifest["timezone"]
    tables = {name: _read(spark, case_dir, name) for name in schema.TABLES}
    small = {name: _to_polars(tables[name], name) for name in SHARED_TABLES}
    n_workers = (tables["orders"].select(WORKER).union(tables["activity"].select(WORKER))
                 .union(tables["messages"].select(WORKER)).distinct().count())
    buckets = buckets or max(1, math.ceil(n_workers / WORKERS_PER_BUCKET))
    broadcast = spark.sparkContext.broadcast({name: _ipc(frame) for name, frame in small.items()})
    orders = tables["orders"]
    references = {name: _keyed_reference(orders, name, keyed, tz, settings, scratch)
                  for name, keyed in KEYED_REFERENCES.items()}
    references[CARRIED] = _carried(tables, F)

    routed = _routed(tables, small["participants"], buckets, F)
    spill = Scratch(prefix="auditor-spark-evidence-")  # the buckets' evidence, on the driver's disk
    # in the audit's output form (the original file next to the source id): an audit's folder
    # takes the files as they are
    sourced = Case({}, tz=tz, sources=[Source.from_dict(source) for source in manifest.get("sources", [])])
    evidence_file = lambda bucket: spill.path / f"evidence-{bucket:06d}.parquet"
    keep = lambda bucket, frame: write_evidence_file(frame, sourced, evidence_file(bucket))
    results = _run_buckets(routed, broadcast, references, tz, settings, scratch, keep)
    spans = case_spans(results)
    if stale := stale_parts(results, spans):  # a bucket's period short of the case's: run it again
        again = _run_buckets(routed.filter(F.col("_bucket").isin(stale)), broadcast, {**references, **spans}, tz,
                             settings, scratch, keep)
        results = [row for row in results if row[0] not in stale] + again
    parts = grouped(results)
    parts["measure"].update(grouped(_collect(_per_group(orders, "station_id", station_measures, references, tz,
                                                       settings), scratch))["measure"])
    spilled = sorted(spill.path.glob("evidence-*.parquet"))
    evidence = scan_evidence_files(spilled) if spilled else None
    result = assemble(parts, references, tz, settings, evidence=evidence)
    result.scratch = spill
    # a bucket's evidence file holds every row of its home workers' findings
    homes = [frame.select(WORKER, path=pl.lit(str(evidence_file(bucket))))
             for bucket, kind, _, frame in results if kind == "findings"]
    result.evidence_files = pl.concat(homes).unique(WORKER) if homes and spilled else None
    result.measures["spark_engine"] = pl.DataFrame(
        {"buckets": buckets, "workers": n_workers, "workers_per_bucket": WORKERS_PER_BUCKET,
         "buckets_run_again": len(stale)})
    return result


def _carried(tables: dict, F) -> pl.DataFrame:
    """The CARRIED reference of the whole case: ``carried`` over what decides it (the activity's
    distinct sanction and check-in kinds and details, one schedule, one message)."""
    kinds = tables["activity"].filter(F.col("kind").isin("sanction", "check_in")).select("kind", "detail").distinct()
    first = lambda name: pl.LazyFrame({"rows": [0] * tables[name].limit(1).count()})
    return carried(_collected(kinds).lazy().cast({"kind": pl.String, "detail": pl.String}), first("schedules"),
                   first("messages"))


def _read(spark, case_dir: str, name: str):
    """One canonical table as a Spark DataFrame, in canonical column order."""
    return spark.read.parquet(f"{case_dir}/{name}.parquet").select(*schema.TABLES[name])


def _to_polars(frame, table: str) -> pl.DataFrame:
    """A small Spark DataFrame of canonical table ``table`` collected to the driver as polars."""
    return _canonical(_collected(frame), table)


def _collected(frame) -> pl.DataFrame:
    """A small Spark DataFrame collected to the driver as polars (Arrow all the way)."""
    import pyarrow as pa

    if hasattr(frame, "toArrow"):  # pyspark 4
        return pl.from_arrow(frame.toArrow())
    return pl.from_arrow(pa.Table.from_batches(frame._collect_as_arrow(), schema=None))  # pyspark 3.5


def _canonical(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    if frame.height == 0:
        return schema.empty(table)
    return frame.select(pl.col(c).cast(t) for c, t in schema.TABLES[table].items())


def _routed(tables: dict, participants: pl.DataFrame, buckets: int, F):
    """Per-worker rows of every table tagged with ``_table`` and the worker ``_for`` whose bucket
    they go to; a conversation in which a colleague mapped to worker W wrote goes to W as well."""
    spark = tables["orders"].sparkSession
    riders = (participants.filter(pl.col(WORKER).is_not_null())
              .select(sender_id="participant_id", _for=WORKER).unique())
    riders = spark.createDataFrame(riders.to_arrow()) if riders.height else None
    own = [tables[name].withColumn("_table", F.lit(name)).withColumn("_for", F.col(WORKER))
           for name in PER_WORKER_TABLES]
    frames = own
    if riders is not None:
        messages = tables["messages"]
        shared = (messages.filter(F.col("sender_role") == "colleague")
                  .join(F.broadcast(riders), "sender_id")
                  .filter(F.col("_for") != F.col(WORKER))
                  .select(WORKER, "conversation_id", "_for").distinct())
        copies = messages.join(shared, [WORKER, "conversation_id"]).withColumn("_table", F.lit("messages"))
        frames = [*own, copies]
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame, allowMissingColumns=True)
    # a conversation W owns and also wrote in as a colleague's copy arrives twice when both
    # routes meet in one bucket; the bucket drops the repeat (cheaper than a shuffle here)
    return union.withColumn("_bucket", F.pmod(F.hash("_for"), F.lit(buckets)))


def _ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="lz4")
    return buffer.getvalue()


def _frame(payload: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(payload))


def _payload_table(bucket: int, rows: list[tuple[str, str, pl.DataFrame]]):
    import pyarrow as pa

    return pa.table({"bucket": pa.array([bucket] * len(rows), pa.int32()),
                     "kind": [kind for kind, _, _ in rows], "name": [name for _, name, _ in rows],
                     "payload": pa.array([_ipc(frame) for _, _, frame in rows], pa.binary())})


def _run_buckets(routed, broadcast, references: dict[str, pl.DataFrame], tz: str,
                 settings: Settings, scratch: str | None, spill: Callable[[int, pl.DataFrame], object]) -> list[Result]:
    """Every bucket of ``routed`` audited with ``references`` injected; each bucket's evidence
    given to ``spill(bucket, frame)`` as it is read (a bucket run again replaces its file), not returned."""
    shipped = routed.sparkSession.sparkContext.broadcast({name: _ipc(frame) for name, frame in references.items()})
    return _collect(routed.groupBy("_bucket").applyInArrow(
        lambda rows: _analyse_bucket(rows, broadcast, shipped, tz, settings), PAYLOAD), scratch, spill)


def _analyse_bucket(rows, broadcast, references, tz: str, settings: Settings):
    """Inside Spark: one bucket's rows → run_all with the case-wide references → the results of the
    workers it is home for, and the periods the bucket computed itself."""
    data = pl.from_arrow(rows)
    bucket = int(data["_bucket"][0])
    home = data.select(pl.col("_for").unique())
    # Rows in the case's own order (source file, then line), which is the order the local engine
    # reads: where an analyzer keeps the first of equals (a day's first evidence row) or sums
    # floats, the same order gives the same figures to the last digit.
    tables = {name: _bucket_table(data, name) for name in PER_WORKER_TABLES}
    tables.update({name: _frame(payload) for name, payload in broadcast.value.items()})
    case = Case({name: frame.lazy() for name, frame in tables.items()}, tz=tz)
    injected = {name: _frame(payload) for name, payload in references.value.items()}
    return _payload_table(bucket, run_part(case, home.rename({"_for": WORKER}), injected, settings))


def _bucket_table(data: pl.DataFrame, name: str) -> pl.DataFrame:
    """Table ``name``'s rows of a bucket, only its own columns (the union carries every table's).
    Only messages can arrive twice (a conversation routed as the worker's own and as a copy)."""
    frame = _canonical(data.lazy().filter(pl.col("_table") == name).select(list(schema.TABLES[name])).collect(), name)
    if name == "messages":
        frame = frame.unique(maintain_order=True)
    return frame.sort("src", "src_row", maintain_order=True)


def _keyed_reference(orders, name: str, keyed: Keyed, tz: str, settings: Settings,
                     scratch: str | None) -> pl.DataFrame:
    """A keyed reference of the whole case: the analyzer's function on the orders of each value of
    its column (one applyInArrow group each), the groups' rows together."""
    _, F = require_spark()
    groups = orders.withColumn("_bucket", keyed.key(F)).groupBy("_bucket").applyInArrow(
        lambda rows: _reference_of_group(rows, name, keyed.use, tz, settings), PAYLOAD)
    return keyed_reference([frame for _, _, _, frame in _collect(groups, scratch)], tz, name, settings)


def _reference_of_group(rows, name: str, use: Callable, tz: str, settings: Settings):
    """Inside Spark: the orders of one value of a keyed reference's column → its rows."""
    orders = _canonical(pl.from_arrow(rows).drop("_bucket"), "orders")
    return _payload_table(0, [("reference", name, reference(Case({"orders": orders.lazy()}, tz=tz), name, use,
                                                              settings))])


def _analyse_group(rows, tz: str, settings: Settings, measures: Callable[[Inputs], dict], references):
    """Inside Spark: one station's orders → the measures about it, against the case-wide references."""
    orders = _canonical(pl.from_arrow(rows).drop("_bucket"), "orders")
    case = Case({"orders": orders.lazy()}, tz=tz)
    with context.shared(case, references={name: _frame(payload) for name, payload in references.value.items()}):
        found = measures(Inputs(case, settings))
    return _payload_table(0, [("measure", name, frame) for name, frame in found.items()])


def _per_group(orders, key: str, measures: Callable[[Inputs], dict], references: dict[str, pl.DataFrame], tz: str,
               settings: Settings):
    _, F = require_spark()
    shipped = orders.sparkSession.sparkContext.broadcast({name: _ipc(frame) for name, frame in references.items()})
    keyed = orders.filter(F.col(key).isNotNull()).withColumn("_bucket", F.col(key))
    return keyed.groupBy("_bucket").applyInArrow(
        lambda rows: _analyse_group(rows, tz, settings, measures, shipped), PAYLOAD)


def _collect(payloads, scratch: str | None, spill: Callable[[int, pl.DataFrame], object] | None = None) -> list[Result]:
    """(bucket, kind, name, frame) of every payload, in bucket order. The executors write the payloads
    as Parquet under ``scratch`` and the driver reads them a batch at a time, so neither the JVM nor
    Python holds them all as raw bytes; the evidence goes to ``spill`` at once (the result scans it
    there). Sorted here, not by Spark: an ``orderBy`` samples its input to place the ranges, and
    that sampling job runs every bucket's analysis once more before the sort runs it again (1,000
    riders: 135 s with it, 85 s without)."""
    spark = payloads.sparkSession
    folder, local = _scratch_folder(spark, scratch)
    try:
        # no Parquet compression: the payloads are LZ4-compressed IPC already
        payloads.write.option("compression", "none").parquet(Path(folder).as_uri() if local else folder)
        rows = _local_rows(folder) if local else _rows_through_spark(spark, folder)
        results = []
        for bucket, kind, name, payload in rows:
            frame = _frame(payload)
            if spill is not None and kind == "evidence":  # to disk at once: most of a city's results
                spill(bucket, frame)
            else:
                results.append((bucket, kind, name, frame))
    finally:
        if local:
            shutil.rmtree(Path(folder).parent, ignore_errors=True)
    return sorted(results, key=lambda result: result[:3])


def _scratch_on_driver(spark, scratch: str | None) -> bool:
    """Whether ``scratch`` is on the driver's own disk (read with pyarrow, removed afterwards) rather
    than a cluster's storage (read through Spark)."""
    if scratch and "://" in scratch and not scratch.startswith("file://"):
        return False
    if not spark.sparkContext.master.startswith("local"):
        # executors on other machines would write to their own disks, out of the driver's sight
        raise ValueError("the spark engine on a cluster needs scratch=: a folder the executors and the "
                         "driver both reach (hdfs://…, s3a://…)")
    return True


def _scratch_folder(spark, scratch: str | None) -> tuple[str, bool]:
    """A new folder for one write of payloads under ``scratch``, and whether it is on the driver's disk."""
    if not _scratch_on_driver(spark, scratch):
        return f"{scratch.rstrip('/')}/auditor-spark-{uuid.uuid4().hex}", False
    parent = scratch.removeprefix("file://") if scratch else None
    return str(Path(tempfile.mkdtemp(prefix="auditor-spark-", dir=parent)) / "payloads"), True


def _local_rows(folder: str) -> Iterator[tuple[int, str, str, bytes]]:
    """The payload rows of the Parquet files in ``folder``, one batch at a time."""
    import pyarrow.parquet as pq

    for part in sorted(Path(folder).glob("*.parquet")):
        for batch in pq.ParquetFile(part).iter_batches(batch_size=1):
            yield from zip(*(batch.column(column).to_pylist() for column in ("bucket", "kind", "name", "payload")))


def _rows_through_spark(spark, folder: str) -> Iterator[tuple[int, str, str, bytes]]:
    """The payload rows written to a cluster's storage, one partition at a time through the driver."""
    for row in spark.read.schema(PAYLOAD).parquet(folder).toLocalIterator():
        yield row["bucket"], row["kind"], row["name"], bytes(row["payload"])
