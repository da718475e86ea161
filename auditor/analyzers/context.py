"""One audit run's shared intermediate frames: each derived once, reused by every analyzer.

Analyzers stand on common ground: the classified messages, platform time, chat work sessions,
worker-days, the working windows. Deriving each again in every analyzer that needs it was most of
the cost of an audit at city scale. Inside ``shared(case)`` (``run_all`` opens one, and so does
each analyzer's ``run`` through ``@sharing``, so a lone analyzer reuses within itself)
``frame(case, name, build)`` collects ``build()`` the first time and hands the same DataFrame to
every later caller. Outside a shared run it just collects and keeps nothing, so a notebook that
edits a case never sees a stale frame. The frames are dropped when the outermost run ends.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import polars as pl

from auditor.case import Case
from auditor.settings import Settings

_runs: dict[int, dict[tuple[str, str], pl.DataFrame]] = {}


@contextmanager
def shared(case: Case) -> Iterator[None]:
    """Share derived frames of ``case`` until the block ends (re-entrant: an inner block reuses
    the outer run's frames)."""
    key = id(case)
    if key in _runs:
        yield
        return
    _runs[key] = {}
    try:
        yield
    finally:
        _runs.pop(key, None)


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
