"""Engines: where the analyzers run.

``local`` runs them in this process over polars LazyFrames: the whole case at once
(``auditor.analyzers.run_all``) or, for a city beyond ``local.ROWS_AT_ONCE`` rows, part by
part, two parts at a time in processes of their own, with the results spilled to disk
(``auditor.engines.local``), so memory follows the parts running.
``spark`` (``pip install -e '.[spark]'``) runs the same analyzers on Apache Spark, partitioned by
worker (``auditor.engines.spark``). What auditing in parts needs (home results, case-wide
references, assembly) is shared in ``auditor.engines.parts``. All return the same ``Findings``.
"""

from __future__ import annotations

ENGINES = ("local", "spark")
