"""One audit run's shared intermediate frames: each derived once, reused by every analyzer.

Analyzers stand on common ground: the classified messages, platform time, chat work sessions,
worker-days, the working windows. Deriving each again in every analyzer that needs it was most of
the cost of an audit at city scale. Inside ``shared(case)`` (``run_all`` opens one, and so does
each analyzer's ``run`` through ``@sharing``, so a lone analyzer reuses within itself)
``frame(case, name, build)`` collects ``build()`` the first time and hands the same DataFrame to
every later caller. Outside a shared run it just collects and keeps nothing, so a notebook that
edits a case never sees a stale frame. The frames are dropped when the outermost run ends.

Some frames are *case-wide references* a worker's figures are compared with: the median delivery
time per distance band, a platform's per-km rate changes, the case period. ``reference(case, name,
build)`` keeps one like a frame, but an engine that audits the workers in parts (auditor.engines.
spark) computes it once from the whole case and injects it, ``shared(case, references={name: frame})``,
so every part compares with the case and not with its own workers. ``span`` is a reference that is
a period (first and last local date): parts combine theirs by min and max. ``built_references``
lists the ones a run computed itself (not injected).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import polars as pl

from auditor.case import Case
from auditor.settings import Settings

_runs: dict[int, dict[tuple[str, str], pl.DataFrame]] = {}
_injected: dict[int, dict[str, pl.DataFrame]] = {}  # references an engine supplied, by name
_built: dict[int, dict[str, pl.DataFrame]] = {}  # references the run computed itself, by name
SPAN = {"first": pl.Date, "last": pl.Date}


@contextmanager
def shared(case: Case, references: dict[str, pl.DataFrame] | None = None) -> Iterator[None]:
    """Share derived frames of ``case`` until the block ends (re-entrant: an inner block reuses
    the outer run's frames). ``references``: case-wide references computed elsewhere (from the
    whole case, when ``case`` holds part of it), used instead of building them from ``case``; they
    apply when this block opens the run."""
    key = id(case)
    if key in _runs:
        if references:
            raise ValueError("references are injected by the block that opens the shared run of a case")
        yield
        return
    _runs[key], _injected[key], _built[key] = {}, dict(references or {}), {}
    try:
        yield
    finally:
        for store in (_runs, _injected, _built):
            store.pop(key, None)


def sharing(run: Callable) -> Callable:
    """Decorate an analyzer's ``run(case, settings)`` so it runs inside ``shared(case)``."""
    @functools.wraps(run)
    def shared_run(case: Case, settings: Settings, *args, **kwargs):
        with shared(case):
            return run(case, settings, *args, **kwargs)
    return shared_run


def _fingerprint(settings: Settings | None) -> str:
    return "" if settings is None else json.dumps(settings.to_dict(), sort_keys=True, default=str)


def frame(case: Case, name: str, build: Callable[[], pl.LazyFrame], settings: Settings | None = None) -> pl.DataFrame:
    """``build().collect()``, once per shared run; pass ``settings`` when the frame depends on them."""
    store = _runs.get(id(case))
    if store is None:
        return build().collect()
    key = (name, _fingerprint(settings))
    if key not in store:
        store[key] = build().collect()
    return store[key]


def reference(case: Case, name: str, build: Callable[[], pl.DataFrame | pl.LazyFrame],
              settings: Settings | None = None) -> pl.DataFrame:
    """A case-wide reference: the frame injected for this run under ``name`` (``shared(case,
    references=…)``), else ``build()`` collected once per shared run, like ``frame``."""
    injected = _injected.get(id(case), {})
    if name in injected:
        return injected[name]
    store = _runs.get(id(case))
    if store is None:
        return _collected(build())
    key = (f"reference {name}", _fingerprint(settings))
    if key not in store:
        store[key] = _built[id(case)][name] = _collected(build())
    return store[key]


def span(case: Case, name: str, build: Callable[[], tuple[date | None, date | None] | None],
         settings: Settings | None = None) -> tuple[date, date] | None:
    """A case-wide period, first and last local date (None for an empty case), as a reference:
    a one-row frame ``SPAN``, which parts of a case combine by min and max."""
    period = reference(case, name, lambda: pl.DataFrame([build() or (None, None)], schema=SPAN, orient="row"),
                       settings)
    first, last = period.row(0) if period.height else (None, None)
    return None if first is None or last is None else (first, last)


def built_references(case: Case) -> dict[str, pl.DataFrame]:
    """The references the current shared run of ``case`` built itself (not injected), by name."""
    return dict(_built.get(id(case), {}))


def _collected(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame
