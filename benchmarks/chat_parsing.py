"""Chat export reading speed: messages per second per format on synthetic exports.

``python benchmarks/chat_parsing.py [--messages N]`` writes N-message files in the real export
layouts to a temporary folder (never into the repository), reads each with its connector (best of
three runs, wall clock) and writes ``benchmarks/results/chat_parsing.json``: per format the
messages, the file size, the seconds and messages per second, and the machine's CPU count (polars
uses every core it is given). One message in six is a media notice and one in six runs over two
lines, as in real chats."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from connectors import wechat_csv, wechat_msg_csv, wechat_txt, whatsapp_txt
from connectors.base import ReadOptions

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


FORMATS = {  # name -> (connector, file name, writer)
    "whatsapp-txt": (whatsapp_txt, "WhatsApp Chat.txt", whatsapp),
    "wechat-csv": (wechat_csv, "wechat_R0007.csv", wechat),
    "wechat-msg-csv": (wechat_msg_csv, "20001@chatroom.csv", wechat_msg),
    "wechat-txt": (wechat_txt, "站点群.txt", wechat_text),
}


def measure(n: int, runs: int = 3) -> dict:
    results = {}
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as scratch:
        for name, (module, file_name, write) in FORMATS.items():
            path = Path(scratch) / file_name
            path.write_text(write(n), encoding="utf-8")
            seconds = []
            for _ in range(runs):
                start = time.perf_counter()
                result = module.read(path, ReadOptions(owner="wxid_0"))
                seconds.append(time.perf_counter() - start)
            assert result.rows_kept == n, f"{name}: {result.rows_kept} of {n} messages kept"
            best = min(seconds)
            results[name] = {"messages": n, "megabytes": round(path.stat().st_size / 1e6, 1),
                             "seconds": round(best, 2), "messages_per_second": round(n / best)}
            print(f"{name:16} {n:>9,} messages  {best:6.2f} s  {n / best:>10,.0f} messages/s")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    args = parser.parse_args()
    results = {"cpus": os.cpu_count(), "formats": measure(args.messages)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
