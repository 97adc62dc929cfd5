"""Turn cost against conversation length: one conversation of many turns through REST (loopback only).

    python -m tools.bench_turns [--turns 260] [--model models/….tar.gz]     # what `make bench-turns` calls

Starts the bot (bot.launcher.serving, free ports, a fresh SQLite database in var/), warms it up on another
conversation, then sends one conversation a cycle of ten everyday messages again and again, so turns 1-10 and
241-250 are the same messages. Prints the mean latency of turns 1-10 and 241-250 and their ratio (target: at most
1.3), writes reports/bench_turns.json with the mean of every block of ten turns. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from bot.launcher import VAR, ensure_catalog, ensure_model, free_port, log, serving
from tools.bench import REPORTS
from tools.eval import send

# Region, list, item detail, another category, policy and its follow-up, rental, small talk: the context carries.
CYCLE = ["江汉区有没有助餐点", "第二个电话多少", "那养老院呢", "第一个在哪", "高龄津贴怎么申请", "要带什么材料",
         "想给我妈租个轮椅", "那护理床呢", "谢谢", "您好"]
EARLY, LATE = (1, 10), (241, 250)
TARGET = 1.3


def mean_ms(seconds: list[float], turns: tuple[int, int]) -> float:
    """Mean latency in ms of turns (first, last), counted from 1."""
    return round(1000 * statistics.fmean(seconds[turns[0] - 1:turns[1]]), 1)


def converse(base_url: str, turns: int) -> list[float]:
    """One new conversation of `turns` turns through REST; the seconds of each."""
    sender = f"long-{uuid.uuid4().hex[:8]}"
    seconds = []
    for n in range(turns):
        turn = send(base_url, sender, CYCLE[n % len(CYCLE)])
        if turn.payload is None:
            raise RuntimeError(f"第 {n + 1} 轮没有回复载荷：{turn}")
        seconds.append(turn.seconds)
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Start the bot, run the long conversation, print and write the figures."""
    p = argparse.ArgumentParser(prog="python -m tools.bench_turns")
    p.add_argument("--turns", type=int, default=260, help="对话轮数（至少 250）")
    p.add_argument("--model", type=Path, help="模型文件（默认：按需训练的当前模型）")
    args = p.parse_args(argv)
    if args.turns < LATE[1]:
        p.error(f"--turns 至少 {LATE[1]}")
    db = VAR / "bench_turns.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    ensure_catalog(url)
    model = args.model or ensure_model()
    log(f"启动服务，一个对话 {args.turns} 轮（仅本机回环地址）…")
    # One sender sends faster than a person may (bot/guard.py): the limit is lifted for this measurement only.
    env = {"GUARD_RATE_PER_SENDER": "100000"}
    with serving(model, free_port(), free_port(), url=url, log_dir=VAR / "logs", extra_env=env) as servers:
        converse(servers.rasa_url, len(CYCLE))  # warm-up: lazy loading happens in the first turns
        started = time.monotonic()
        seconds = converse(servers.rasa_url, args.turns)
        elapsed = time.monotonic() - started
    early, late = mean_ms(seconds, EARLY), mean_ms(seconds, LATE)
    ratio = round(late / early, 2)
    blocks = [{"turns": f"{i + 1}-{i + 10}", "mean_ms": mean_ms(seconds, (i + 1, i + 10))}
              for i in range(0, len(seconds) - 9, 10)]
    print(f"第 {EARLY[0]}-{EARLY[1]} 轮平均 {early} ms，第 {LATE[0]}-{LATE[1]} 轮平均 {late} ms，"
          f"比值 {ratio}（目标 ≤ {TARGET}：{'达到' if ratio <= TARGET else '未达到'}）", flush=True)
    report = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": f"{os.cpu_count()} 核",
              "load_average": os.getloadavg(), "model": model.name, "turns": args.turns,
              "seconds": round(elapsed, 1), "early_mean_ms": early, "late_mean_ms": late, "ratio": ratio,
              "target_ratio": TARGET, "met": ratio <= TARGET, "blocks": blocks}
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench_turns.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    log(f"结果已写入 {REPORTS / 'bench_turns.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
