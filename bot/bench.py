"""Benchmark: replay realistic conversations against a freshly started bot (loopback only, bounded).

    python -m bot.bench [--concurrency 1,10] [--conversations 40]

Prints per-turn latency p50/p95/p99, turns per second, errors and the servers' memory, and writes
reports/bench.json. A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import yaml

from bot.eval import percentile
from bot.launcher import ROOT, VAR, ensure_catalog, ensure_model, free_port, log, serving

CONVERSATIONS = Path(__file__).with_name("bench_conversations.yml")
REPORTS = ROOT / "reports"


def memory_kb(pid: int) -> dict[str, int]:
    """RSS and PSS of a process and its children, from /proc (Linux)."""
    out = {"rss_kb": 0, "pss_kb": 0}
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    out[f"{key.lower()}_kb"] += int(rest.split()[0])
        except OSError:
            continue
    return out


def replay(base_url: str, turns: list[str], deadline: float) -> tuple[list[float], int]:
    sender = f"bench-{uuid.uuid4().hex[:12]}"
    latencies, errors = [], 0
    with requests.Session() as http:
        for text in turns:
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            try:
                r = http.post(f"{base_url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                              timeout=30)
                ok = r.ok and any("custom" in m for m in r.json())
            except requests.RequestException:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += 0 if ok else 1
    return latencies, errors


def run_level(base_url: str, conversations: list[list[str]], concurrency: int, count: int,
              max_seconds: float) -> dict:
    plan = [conversations[i % len(conversations)] for i in range(count)]
    deadline = time.monotonic() + max_seconds
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda turns: replay(base_url, turns, deadline), plan))
    wall = time.perf_counter() - started
    ms = [x * 1000 for lat, _ in results for x in lat]
    return {
        "concurrency": concurrency, "conversations": count, "turns": len(ms),
        "errors": sum(e for _, e in results), "seconds": round(wall, 2),
        "turns_per_s": round(len(ms) / wall, 1),
        "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot.bench")
    p.add_argument("--concurrency", default="1,10", help="逗号分隔的并发对话数")
    p.add_argument("--conversations", type=int, default=40, help="每一档回放的对话数")
    p.add_argument("--max-seconds", type=float, default=120, help="每一档的时间上限")
    args = p.parse_args(argv)
    conversations = yaml.safe_load(CONVERSATIONS.read_text(encoding="utf-8"))["conversations"]
    url = f"sqlite:///{VAR / 'bench.db'}"
    ensure_catalog(url)
    model = ensure_model()
    log("启动服务并开始压测（仅本机回环地址）…")
    levels = []
    with serving(model, free_port(), free_port(), url=url, log_dir=VAR / "logs") as servers:
        replay(servers.rasa_url, ["您好", "江汉区助餐点"], time.monotonic() + 60)  # warm-up
        for c in (int(x) for x in args.concurrency.split(",")):
            res = run_level(servers.rasa_url, conversations, c, max(args.conversations, c), args.max_seconds)
            levels.append(res)
            print(f"并发 {c:>3}: {res['turns']} 轮, {res['turns_per_s']} 轮/秒, p50 {res['p50_ms']} ms, "
                  f"p95 {res['p95_ms']} ms, p99 {res['p99_ms']} ms, 错误 {res['errors']}", flush=True)
        mem = {"rasa": memory_kb(servers.procs[1].pid), "actions": memory_kb(servers.procs[0].pid)}
    total_pss = sum(m["pss_kb"] for m in mem.values())
    print(f"内存: Rasa {mem['rasa']['pss_kb'] / 1024:.0f} MB PSS, 动作服务器 {mem['actions']['pss_kb'] / 1024:.0f} MB "
          f"PSS, 合计 {total_pss / 1024:.0f} MB")
    REPORTS.mkdir(exist_ok=True)
    report = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "levels": levels, "memory_kb": mem,
              "total_pss_mb": round(total_pss / 1024)}
    (REPORTS / "bench.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    log(f"结果已写入 {REPORTS / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
