"""Chat export reading speed: messages per second per format on synthetic exports, per core.

``python -m benchmarks.chat_parsing [--messages N]`` writes N-message files in the real export
layouts to a temporary folder (never into the repository) and reads each with its connector in a
child process per polars thread count: ``POLARS_MAX_THREADS=1`` (the per-core figure) and 2 (best
of five runs each). ``benchmarks/results/chat_parsing.json`` gets, per thread count and format, the
messages, the file size, the wall and CPU seconds and the messages per second of each, and the
machine's CPU count and load. CPU seconds count every thread of the process: with one polars thread
they are one core's work, and other work on the machine inflates them far less than wall time.
One message in six is a media notice and one in six runs over two lines, as in real chats."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "chat_parsing.json"
NAMES = ("Li Wei", "王站长", "Zhang Qiang", "Dispatch")
TEXTS = ("ok", "收到", "report by 22:00 tonight please", "<Media omitted>", "明天早班\n七点到站", "on my way")


def _minute(i: int) -> tuple[int, int, int]:
    m = i // 2
    return 1 + (m // 1440) % 28, (m // 60) % 24, m % 60


def whatsapp(n: int) -> str:
    return "\n".join(f"{d:02d}/04/2026, {h:02d}:{mi:02d} - {NAMES[i % 4]}: {TEXTS[i % 6]}"
                     for i, (d, h, mi) in ((i, _minute(i)) for i in range(n))) + "\n"


def wechat(n: int) -> str:
    header = "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender"
    rows = (f'{i},20001@chatroom,1,0,{i % 2},{1777291200 + i},2,"{TEXTS[i % 6]}",2026-04-27 20:00:00,,,wxid_{i % 4}'
            for i in range(n))
    return "\ufeff" + header + "\n" + "\n".join(rows) + "\n"


def wechat_msg(n: int) -> str:
    header = "id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime"
    rows = (f'{i},{9_000_000 + i},文本,{i % 2},wxid_{i % 4},20001@chatroom,"{TEXTS[i % 6]}",,{1777291200 + i}'
            for i in range(n))
    return header + "\n" + "\n".join(rows) + "\n"


def wechat_text(n: int) -> str:
    return "\n".join(f"2026-04-{d:02d} {h:02d}:{mi:02d}:00 {NAMES[i % 4]}\n{TEXTS[i % 6]}\n"
                     for i, (d, h, mi) in ((i, _minute(i)) for i in range(n)))


FORMATS = {  # name -> (connector module, file name, writer)
    "whatsapp-txt": ("whatsapp_txt", "WhatsApp Chat.txt", whatsapp),
    "wechat-csv": ("wechat_csv", "wechat_R0007.csv", wechat),
    "wechat-msg-csv": ("wechat_msg_csv", "20001@chatroom.csv", wechat_msg),
    "wechat-txt": ("wechat_txt", "站点群.txt", wechat_text),
}
THREADS = (1, 2)  # polars threads: 1 is the per-core figure


def measure(folder: Path, n: int, runs: int = 5) -> dict:
    """Read every format's file ``runs`` times in this process; the best wall and CPU time of each."""
    import polars as pl  # imported here: POLARS_MAX_THREADS must be set before polars starts

    from connectors.base import ReadOptions
    results = {}
    for name, (module_name, file_name, _) in FORMATS.items():
        module, path = importlib.import_module(f"connectors.{module_name}"), folder / file_name
        walls, cpus = [], []
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            result = module.read(path, ReadOptions(owner="wxid_0"))
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        assert result.rows_kept == n, f"{name}: {result.rows_kept} of {n} messages kept"
        results[name] = {"messages": n, "megabytes": round(path.stat().st_size / 1e6, 1),
                         "seconds": round(min(walls), 3), "cpu_seconds": round(min(cpus), 3),
                         "messages_per_second": round(n / min(walls)), "messages_per_cpu_second": round(n / min(cpus))}
    return {"polars_max_threads": pl.thread_pool_size(), "formats": results}


def in_child(folder: Path, n: int, threads: int) -> dict:
    env = {**os.environ, "POLARS_MAX_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.chat_parsing", "--messages", str(n), "--measure",
                           str(folder)], env=env, capture_output=True, text=True, check=True,
                          cwd=Path(__file__).parent.parent)
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child: read the files in this folder
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.messages)))
        return
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as scratch:
        for _, file_name, write in FORMATS.values():
            (Path(scratch) / file_name).write_text(write(args.messages), encoding="utf-8")
        by_threads = {}
        for threads in THREADS:
            by_threads[str(threads)] = run = in_child(Path(scratch), args.messages, threads)
            for name, figures in run["formats"].items():
                print(f"{threads} thread(s)  {name:16} {figures['messages']:>9,} messages  {figures['seconds']:6.2f} s"
                      f" wall {figures['messages_per_second']:>10,}/s  {figures['cpu_seconds']:6.2f} s CPU"
                      f" {figures['messages_per_cpu_second']:>10,}/s")
    after = os.getloadavg()[0]
    results = {"cpus": os.cpu_count(), "load_average": {"before": round(load, 2), "after": round(after, 2)},
               "per_core": by_threads["1"], "two_threads": by_threads["2"]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
