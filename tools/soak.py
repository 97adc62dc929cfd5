"""Soak: a bounded run at steady load, to see whether memory or latency creep up (loopback only).

    python -m tools.soak [--minutes 30] [--concurrency 10]     # what `make soak` calls

Starts the bot on free ports with a fresh SQLite database (var/soak.db), then keeps `--concurrency` conversations
(bench's realistic ones, each under a new sender) going for `--minutes`. Every minute it samples that minute's
turns, turns per second, p95 and errors, the memory (RSS and PSS) of Rasa and of the action server, and the
machine's load average (other work on the machine skews p95: run it when the machine is quiet). The first minute
is warm-up; the first steady window (minutes 2–4 on a 30-minute run) is compared with the last one of the same
length: memory growth (RSS) and p95 drift must both stay within 10 % and no turn may fail. Prints the verdict and
writes reports/soak.json; exit code 1 when a check fails. A benchmark, not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle
from pathlib import Path

import yaml

from bot.launcher import VAR, ensure_catalog, ensure_model, free_port, log, serving
from catalog import clock
from tools.bench import CONVERSATIONS, REPORTS, memory_kb, replay
from tools.eval import percentile

WARMUP_MINUTES = 1
WINDOW_MINUTES = 3
LIMIT = 0.10


def windows(minutes: list[dict]) -> tuple[list[dict], list[dict]]:
    """The first steady window and the last one, of equal length (shorter on a short run, never overlapping)."""
    steady = minutes[WARMUP_MINUTES:]
    width = max(1, min(WINDOW_MINUTES, len(steady) // 2))
    return steady[:width], steady[-width:]


def growth(before: float, after: float) -> float:
    """Relative growth from before to after (0 when before is 0)."""
    return (after - before) / before if before else 0.0


def verdict(minutes: list[dict], latencies: list[list[float]]) -> dict:
    """Compare the first steady window with the last: memory growth, p95 drift, errors."""
    first, last = windows(minutes)

    def p95(window: list[dict]) -> float:
        return percentile([ms for m in window for ms in latencies[m["minute"] - 1]], 95)

    def mb(window: list[dict], kind: str) -> float:
        return sum(m[f"rasa_{kind}_kb"] + m[f"actions_{kind}_kb"] for m in window) / len(window) / 1024

    spans = {"first": [first[0]["minute"], first[-1]["minute"]], "last": [last[0]["minute"], last[-1]["minute"]]}
    # Judged on RSS: PSS splits shared pages among every process mapping them, so it moves whenever another
    # Python process on the machine starts or stops (±20 % seen in a 3-minute run with RSS steady within 1 %).
    memory = {f"{kind}_{end}_mb": round(mb(window, kind)) for kind in ("rss", "pss")
              for end, window in (("first", first), ("last", last))}
    memory["growth"] = round(growth(mb(first, "rss"), mb(last, "rss")), 3)
    latency = {"first_ms": round(p95(first), 1), "last_ms": round(p95(last), 1),
               "drift": round(growth(p95(first), p95(last)), 3)}
    errors = sum(m["errors"] for m in minutes)
    checks = {"memory_growth_within_10pct": memory["growth"] <= LIMIT,
              "p95_drift_within_10pct": latency["drift"] <= LIMIT, "no_errors": errors == 0}
    return {"windows": spans, "memory": memory, "p95": latency, "errors": errors, "checks": checks,
            "passed": all(checks.values())}


def soak(base_url: str, pids: dict[str, int], conversations: list[list[str]], minutes: int,
         concurrency: int) -> tuple[list[dict], list[list[float]]]:
    """Keep `concurrency` conversations going for `minutes`; one sample per minute."""
    end = time.monotonic() + minutes * 60
    lock = threading.Lock()
    current: dict = {"latencies": [], "errors": 0}
    plan = cycle(conversations)

    def worker() -> None:
        while time.monotonic() < end:
            with lock:
                turns = next(plan)
            latencies, errors = replay(base_url, turns, end)
            with lock:
                current["latencies"] += [x * 1000 for x in latencies]
                current["errors"] += errors

    samples: list[dict] = []
    latencies: list[list[float]] = []
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
        started = time.monotonic()
        for minute in range(1, minutes + 1):
            time.sleep(max(0.0, started + minute * 60 - time.monotonic()))
            with lock:
                ms, errors = current["latencies"], current["errors"]
                current["latencies"], current["errors"] = [], 0
            memory = {name: memory_kb(pid) for name, pid in pids.items()}
            sample = {"minute": minute, "turns": len(ms), "turns_per_s": round(len(ms) / 60, 1),
                      "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
                      "errors": errors, "load_1m": round(os.getloadavg()[0], 2)}  # other work skews p95
            sample |= {f"{name}_{kind}": kb for name, m in memory.items() for kind, kb in m.items()}  # rss_kb, pss_kb
            samples.append(sample)
            latencies.append(ms)
            print(f"第 {minute:>2} 分钟: {sample['turns']} 轮, {sample['turns_per_s']} 轮/秒, "
                  f"p95 {sample['p95_ms']} ms, 错误 {errors}, Rasa {sample['rasa_rss_kb'] / 1024:.0f} MB "
                  f"（PSS {sample['rasa_pss_kb'] / 1024:.0f}）, 动作服务器 {sample['actions_rss_kb'] / 1024:.0f} MB "
                  f"（PSS {sample['actions_pss_kb'] / 1024:.0f}）, 负载 {sample['load_1m']}",
                  flush=True)
    return samples, latencies


def main(argv: list[str] | None = None) -> int:
    """Command line (python -m tools.soak): run the bot for minutes, compare the first and last windows."""
    p = argparse.ArgumentParser(prog="python -m tools.soak")
    p.add_argument("--minutes", type=int, default=30, help="运行分钟数（第 1 分钟为预热）")
    p.add_argument("--concurrency", type=int, default=10, help="同时进行的对话数")
    args = p.parse_args(argv)
    if args.minutes < WARMUP_MINUTES + 2:
        p.error(f"--minutes 至少为 {WARMUP_MINUTES + 2}（预热之后要有前后两个窗口）")
    conversations = yaml.safe_load(CONVERSATIONS.read_text(encoding="utf-8"))["conversations"]
    model = ensure_model()
    db = VAR / "soak.db"
    for f in (db, db.with_name("soak.db-wal"), db.with_name("soak.db-shm")):
        f.unlink(missing_ok=True)  # a fresh tracker store: every run starts from the same state
    url = f"sqlite:///{db}"
    ensure_catalog(url)
    log(f"浸泡测试：{args.minutes} 分钟，{args.concurrency} 个并发对话（仅本机回环地址）…")
    with serving(model, free_port(), free_port(), url=url, log_dir=VAR / "logs") as servers:
        pids = {"rasa": servers.procs[1].pid, "actions": servers.procs[0].pid}
        samples, latencies = soak(servers.rasa_url, pids, conversations, args.minutes, args.concurrency)
    result = verdict(samples, latencies)
    m, q, w = result["memory"], result["p95"], result["windows"]
    print(f"内存 (RSS，Rasa + 动作服务器)：第 {w['first'][0]}–{w['first'][1]} 分钟 {m['rss_first_mb']} MB → "
          f"第 {w['last'][0]}–{w['last'][1]} 分钟 {m['rss_last_mb']} MB，增长 {m['growth']:+.1%}"
          f"（PSS {m['pss_first_mb']} → {m['pss_last_mb']} MB）", flush=True)
    print(f"p95：{q['first_ms']} ms → {q['last_ms']} ms，漂移 {q['drift']:+.1%}；错误 {result['errors']}", flush=True)
    print("通过" if result["passed"] else "未通过：" + "、".join(k for k, ok in result["checks"].items() if not ok),
          flush=True)
    report = {"when": clock.now().isoformat(timespec="seconds"), "command": "python -m tools.soak " + " ".join(
        argv if argv is not None else sys.argv[1:]), "minutes": args.minutes, "concurrency": args.concurrency,
        "limit": LIMIT, **result, "samples": samples}
    REPORTS.mkdir(exist_ok=True)
    path: Path = REPORTS / "soak.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    log(f"结果已写入 {path}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
