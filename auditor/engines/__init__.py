"""Engines: where the analyzers run.

``local`` runs them in this process over polars LazyFrames (``auditor.analyzers.run_all``);
``spark`` (``pip install -e '.[spark]'``) runs the same analyzers on Apache Spark, partitioned by
worker (``auditor.engines.spark``). Both return the same ``Findings``.
"""

from __future__ import annotations

ENGINES = ("local", "spark")
