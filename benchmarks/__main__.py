"""Run the city-scale benchmarks and write ``benchmarks/results/city.json``.

    python -m benchmarks            # 1,000 / 3,000 / 10,000 riders × 30 days (long: run in background)
    python -m benchmarks --small    # 50 / 100 / 200 riders × 7 days, one run a stage: under a minute

Each stage runs three times in its own process (wall time and peak RSS; spark once
from 3,000 riders; ``--small`` once: a check that every stage runs, where starting the processes
is most of the time); the figures keep the min and the median. ``--reuse`` keeps a city already
simulated with the same parameters; ``--stages`` measures some stages only. The scaling exponent k fits time ∝ riders^k over the sizes."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
TIMED = ("ingest", "floor", "audit", "worktime", "control", "app", "app_saved", "dossier_sample", "spark")
ONCE = ("spark",)  # tens of minutes at city scale: measured once per size from 3,000 riders
SEED, START = 20260427, date(2026, 4, 27)


def run_stage(stage: str, data: Path, case: Path, out: Path, timeout: float) -> dict:
    # Spark's Python workers must run this interpreter (the one with polars), activated or not
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.stages", stage, str(data), str(case), str(out)],
                              capture_output=True, text=True, check=False, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"stage": stage, "error": [f"stopped after the --timeout of {timeout:.0f} s"]}
    if proc.returncode:
        lines = proc.stderr.strip().splitlines()
        causes = [line for line in lines if "Error" in line or "Exception" in line or "Killed" in line]
        return {"stage": stage, "error": (causes or lines)[-1:] + [f"exit status {proc.returncode}"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(stage: str, data: Path, case: Path, out: Path, repeats: int, timeout: float) -> dict:
    runs = []
    for _ in range(repeats):
        runs.append(run_stage(stage, data, case, out, timeout))
        if "error" in runs[-1]:
            break
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


def totals(rows: dict[str, int]) -> dict[str, int]:
    """The city's size in the issue's terms. A dispatch record is a row of either platform's order
    export: every dispatch to a rider, carried or not (accepted, auto-assigned, rejected, timed out,
    reassigned, cancelled). Activity/GPS rows are both apps' event logs (their GPS pings included)
    and the phones' GPX points; chat messages are the WeChat and WhatsApp exports' messages."""
    return {"dispatch_records": rows["platform_a/orders.csv"] + rows["platform_b/orders.json"],
            "activity_gps_rows": rows["platform_a/activity.csv"] + rows["platform_b/activity.csv"] + rows["gps/*.gpx"],
            "chat_messages": rows["chats/wechat_*.csv"] + rows["chats/whatsapp_*.txt"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="small cities, one run a stage: under a minute")
    parser.add_argument("--work", type=Path, default=Path("/tmp/auditor-bench"), help="scratch folder for the cities")
    parser.add_argument("--repeats", type=int, help="runs of each stage (default 3; --small: 1)")
    parser.add_argument("--sizes", type=int, nargs="*", help="riders per city (default by mode)")
    parser.add_argument("--stages", nargs="*", choices=TIMED,
                        help="stages to measure (default: all; --small: all but spark). Later stages read the case "
                             "ingest saved, so leaving ingest out reuses the saved case")
    parser.add_argument("--reuse", action="store_true",
                        help="keep a city already simulated with the same riders, days, seed and order rate")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before a stage run is stopped")
    parser.add_argument("--order-rate", type=float, default=4.0,
                        help="simulator demand (4.0: a busy city of stacked and relayed orders, ~9.6 M dispatch "
                             "records at 10,000 riders × 30 days; 1.0: the sample's density, ~4.7 M)")
    args = parser.parse_args()
    sizes = args.sizes or ([50, 100, 200] if args.small else [1000, 3000, 10000])
    days = 7 if args.small else 30
    args.repeats = args.repeats or (1 if args.small else 3)
    args.stages = args.stages or [s for s in TIMED if not (args.small and s == "spark")]
    figures: dict = {"machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
                     "days": days, "sizes": {}, "date": date.today().isoformat()}
    for riders in sizes:
        data, case, out = (args.work / f"{riders}" / p for p in ("raw", "case", "report"))
        city = {"riders": riders, "days": days, "seed": SEED, "order_rate": args.order_rate}
        entry = {"measured": date.today().isoformat(), "order_rate": args.order_rate,
                 **simulated(data, city, args.reuse)}
        entry["totals"] = totals(entry["rows"])
        shutil.rmtree(out, ignore_errors=True)
        for stage in args.stages:  # every stage after ingest reads the case ingest saved
            if stage != "ingest" and "error" in entry.get("ingest", {}):
                entry[stage] = {"skipped": "ingest failed"}
                continue
            if stage == "ingest":
                shutil.rmtree(case, ignore_errors=True)
            once = stage in ONCE and riders >= 3000
            report = out.with_name(f"report-{stage}")  # its own: a check must not read another stage's files
            shutil.rmtree(report, ignore_errors=True)
            entry[stage] = measure(stage, data, case, report, 1 if once else args.repeats, args.timeout)
            if stage == "spark" and "error" not in entry[stage]:
                entry[stage]["equal_to_local"] = equal_to_local(case, report, args.timeout)
        figures["sizes"][str(riders)] = entry
        write(figures, "city_small.json" if args.small else "city.json")
        merged = figures["sizes"][str(riders)]  # after each size: a long run reports as it goes
        print(json.dumps({riders: {k: merged[k] for k in ("simulate_s", "audit_over_floor") if k in merged}}), flush=True)


def equal_to_local(case: Path, report: Path, timeout: float) -> dict:
    """The Spark report compared with the local engine's audit (benchmarks/engines_equal.py), untimed."""
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.engines_equal", str(case), str(report)],
                              capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after the --timeout of {timeout:.0f} s"}
    if proc.returncode:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def simulated(data: Path, city: dict, reuse: bool) -> dict:
    """Simulate the city into ``data`` (or keep the one there if ``reuse`` and its stamp matches)."""
    from auditor.simulate import simulate

    stamp = data.parent / "simulated.json"  # beside the exports: the case reader would list it as unrecognised
    if reuse and stamp.is_file() and (earlier := json.loads(stamp.read_text(encoding="utf-8")))["city"] == city:
        return {"simulate_s": earlier["simulate_s"], "rows": earlier["rows"]}
    shutil.rmtree(data, ignore_errors=True)
    started = time.perf_counter()
    summary = simulate(data, seed=city["seed"], riders=city["riders"], start=START, days=city["days"],
                       order_rate=city["order_rate"])
    made = {"simulate_s": round(time.perf_counter() - started, 2), "rows": summary["rows"]}
    stamp.write_text(json.dumps({"city": city, **made}), encoding="utf-8")
    return made


def write(figures: dict, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    earlier = json.loads((RESULTS / name).read_text(encoding="utf-8")) if (RESULTS / name).is_file() else {}
    if earlier.get("days") == figures["days"]:  # sizes and stages measured by an earlier run are kept
        for size, before in earlier["sizes"].items():
            now = figures["sizes"].get(size)
            if now is None:
                figures["sizes"][size] = before
            elif before.get("order_rate") == now["order_rate"]:  # the same city: --stages measured a part
                figures["sizes"][size] = {**{k: v for k, v in before.items() if k in TIMED}, **now}
    for entry in figures["sizes"].values():  # after the merge: audit and floor may come from different runs
        if "wall_s_min" in entry.get("audit", {}) and "wall_s_min" in entry.get("floor", {}):
            entry["audit_over_floor"] = round(entry["audit"]["wall_s_min"] / entry["floor"]["wall_s_min"], 1)
    figures["scaling_exponents"] = {}
    for stage in TIMED:
        done = [int(s) for s, e in figures["sizes"].items() if "wall_s_min" in e.get(stage, {})]
        figures["scaling_exponents"][stage] = exponent(done, [figures["sizes"][str(s)][stage]["wall_s_min"] for s in done])
    figures["audit_scaling_exponent"] = figures["scaling_exponents"]["audit"]
    (RESULTS / name).write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {RESULTS / name}", flush=True)

if __name__ == "__main__":
    main()
