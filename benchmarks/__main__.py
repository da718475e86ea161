"""Run the city-scale benchmarks and write ``benchmarks/results/city.json``.

    python -m benchmarks            # 1,000 / 3,000 / 10,000 riders × 30 days (long: run in background)
    python -m benchmarks --small    # 50 / 100 / 200 riders × 7 days, under a minute

Each stage runs three times in its own process (wall time and peak RSS); the figures keep the
min and the median. The scaling exponent k fits time ∝ riders^k over the sizes."""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
TIMED = ("ingest", "floor", "audit", "worktime", "control", "app")


def run_stage(stage: str, data: Path, case: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.stages", stage, str(data), str(case), str(out)],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        return {"stage": stage, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(stage: str, data: Path, case: Path, out: Path, repeats: int) -> dict:
    runs = [run_stage(stage, data, case, out) for _ in range(repeats)]
    if any("error" in r for r in runs):
        return {"error": next(r["error"] for r in runs if "error" in r)}
    walls, rss = [r["wall_s"] for r in runs], [r["peak_rss_mb"] for r in runs]
    extra = {k: v for k, v in runs[-1].items() if k not in ("stage", "wall_s", "peak_rss_mb")}
    return {"wall_s_min": min(walls), "wall_s_median": statistics.median(walls), "peak_rss_mb_max": max(rss),
            "runs": len(runs), **extra}


def exponent(sizes: list[int], times: list[float]) -> float | None:
    """Least-squares slope of log(time) on log(riders)."""
    if len(sizes) < 2 or min(times) <= 0:
        return None
    xs, ys = [math.log(s) for s in sizes], [math.log(t) for t in times]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="small cities, under a minute")
    parser.add_argument("--work", type=Path, default=Path("/tmp/auditor-bench"), help="scratch folder for the cities")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", help="riders per city (default by mode)")
    parser.add_argument("--order-rate", type=float, default=2.0,
                        help="simulator dispatch density (2.0: ~5.7 M dispatches at 10,000 riders × 30 days; trips are "
                             "back to back, so more needs riders carrying overlapping orders in the model)")
    args = parser.parse_args()
    sizes = args.sizes or ([50, 100, 200] if args.small else [1000, 3000, 10000])
    days = 7 if args.small else 30
    figures: dict = {"machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
                     "days": days, "sizes": {}, "date": date.today().isoformat()}
    from auditor.simulate import simulate

    for riders in sizes:
        data, case, out = (args.work / f"{riders}" / p for p in ("raw", "case", "report"))
        for p in (data, case, out):
            shutil.rmtree(p, ignore_errors=True)
        started = time.perf_counter()
        summary = simulate(data, seed=20260427, riders=riders, start=date(2026, 4, 27), days=days,
                           order_rate=args.order_rate)
        entry = {"measured": date.today().isoformat(), "order_rate": args.order_rate,
                 "simulate_s": round(time.perf_counter() - started, 2),
                 "rows": summary["rows"]}
        entry["ingest"] = measure("ingest", data, case, out, 1 if riders >= 3000 else args.repeats)
        for stage in TIMED[1:]:  # every later stage reads the case ingest saved
            entry[stage] = ({"skipped": "ingest failed"} if "error" in entry["ingest"]
                            else measure(stage, data, case, out, args.repeats))
        if "wall_s_min" in entry["audit"] and "wall_s_min" in entry["floor"]:
            entry["audit_over_floor"] = round(entry["audit"]["wall_s_min"] / entry["floor"]["wall_s_min"], 1)
        figures["sizes"][str(riders)] = entry
        print(json.dumps({riders: {k: entry[k] for k in ("simulate_s", "audit_over_floor") if k in entry}}), flush=True)
        write(figures, "city_small.json" if args.small else "city.json")  # after each size: a long run reports as it goes


def write(figures: dict, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    earlier = json.loads((RESULTS / name).read_text(encoding="utf-8")) if (RESULTS / name).is_file() else {}
    if earlier.get("days") == figures["days"]:  # sizes measured by an earlier run (--sizes) are kept
        figures["sizes"] = {**{k: v for k, v in earlier["sizes"].items() if k not in figures["sizes"]},
                            **figures["sizes"]}
    figures["scaling_exponents"] = {}
    for stage in TIMED:
        done = [int(s) for s, e in figures["sizes"].items() if "wall_s_min" in e.get(stage, {})]
        figures["scaling_exponents"][stage] = exponent(done, [figures["sizes"][str(s)][stage]["wall_s_min"] for s in done])
    figures["audit_scaling_exponent"] = figures["scaling_exponents"]["audit"]
    (RESULTS / name).write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {RESULTS / name}", flush=True)

if __name__ == "__main__":
    main()
