"""Raw reading speed per connector on a folder of exports (a simulated city's ``raw``).

``python -m benchmarks.connector_reading RAW [--runs N]`` detects and reads every file of RAW with
its connector, as ``connectors.load`` does, and times each connector (wall clock and CPU seconds,
the best of N runs), then the whole ``connectors.load`` (its best wall time). It writes
``benchmarks/results/connector_reading.json``, keyed by the folder, with the machine's CPU count
(polars uses every core it is given, so CPU seconds can exceed wall seconds)."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

from connectors import registry
from connectors.base import ReadOptions, SourceError

RESULTS = Path(__file__).parent / "results" / "connector_reading.json"


def read_each(root: Path) -> dict[str, dict[str, float]]:
    """Per connector: files, rows read, wall and CPU seconds of detecting and reading its files."""
    _, files, config = registry.discover([root])
    presets = tuple(root / name for name in config.presets)
    per: dict[str, dict[str, float]] = defaultdict(lambda: {"files": 0, "rows": 0, "wall_s": 0.0, "cpu_s": 0.0})
    for path in files:
        options = ReadOptions(tz=config.tz, owner=registry._owner(config.owners, registry._relative(path, root)),
                              presets=presets)
        wall, cpu = time.perf_counter(), time.process_time()
        module, _ = registry.detect(path, options)
        if module is None:
            continue
        try:
            rows = module.read(path, options).rows_read
        except SourceError:
            rows = 0
        entry = per[module.NAME]
        entry["files"] += 1
        entry["rows"] += rows
        entry["wall_s"] += time.perf_counter() - wall
        entry["cpu_s"] += time.process_time() - cpu
    return per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.runs):
        for name, entry in read_each(args.raw).items():
            kept = best.setdefault(name, entry)
            kept.update(wall_s=min(kept["wall_s"], entry["wall_s"]), cpu_s=min(kept["cpu_s"], entry["cpu_s"]))
    loads = []
    for _ in range(args.runs):
        start = time.perf_counter()
        registry.load(args.raw)
        loads.append(time.perf_counter() - start)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["cpus"] = os.cpu_count()
    results.setdefault("folders", {})[str(args.raw)] = {
        "measured": time.strftime("%Y-%m-%d"), "runs": args.runs, "load_wall_s_min": round(min(loads), 2),
        "connectors": {name: {k: round(v, 2) if isinstance(v, float) else v for k, v in entry.items()}
                       for name, entry in sorted(best.items(), key=lambda item: -item[1]["wall_s"])}}
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results["folders"][str(args.raw)], indent=2))


if __name__ == "__main__":
    main()
