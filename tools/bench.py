"""Benchmark: replay realistic conversations against freshly started bots (loopback only, bounded).

    python -m tools.bench [--concurrency 1,10,20] [--conversations 120] [--only single|scaleout] [--instances 2]

Runs one process (make run's layout: Rasa + action server, SQLite) and the scale-out layout (tools/scaleout.py:
nginx, several Rasa instances, PostgreSQL, Redis) in one run and prints their ratio. For each: per-turn latency
p50/p95/p99, turns per second, errors, the memory (PSS) of every serving process and the cold start (servers
started to first answer), checked against the targets below. Writes reports/bench.json and a latency/throughput
plot reports/bench.png. A benchmark, not a test: nothing here fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import yaml

from bot.launcher import ROOT, VAR, ensure_catalog, ensure_model, free_port, log, serving
from catalog import clock
from tools.eval import percentile

CONVERSATIONS = Path(__file__).with_name("bench_conversations.yml")
REPORTS = ROOT / "reports"
# Issue 9's targets on this 2-core machine.
TARGETS = {"p95_1_ms": 100, "p95_20_ms": 500, "turns_per_s_20": 50, "errors": 0, "pss_mb": 2048, "cold_start_s": 30}


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
    """Play one conversation's turns; the latency of each turn and the number of failed turns."""
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
    """Replay conversations at one concurrency: turns/s, p50/p95/p99 latency, errors."""
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


def first_answer(base_url: str, started: float) -> float:
    """Seconds from `started` (servers launched) to the first full answer; also warms the bot up."""
    replay(base_url, ["江汉区助餐点"], time.monotonic() + 60)
    seconds = time.monotonic() - started
    replay(base_url, ["您好", "高龄津贴怎么申请"], time.monotonic() + 60)
    print(f"冷启动：从启动服务到第一个回答 {seconds:.1f} 秒", flush=True)
    return round(seconds, 1)


def run_levels(base_url: str, conversations: list[list[str]], args: argparse.Namespace) -> list[dict]:
    """run_level at each concurrency asked for."""
    levels = []
    for c in (int(x) for x in args.concurrency.split(",")):
        res = run_level(base_url, conversations, c, max(args.conversations, c), args.max_seconds)
        levels.append(res)
        print(f"并发 {c:>3}: {res['turns']} 轮, {res['turns_per_s']} 轮/秒, p50 {res['p50_ms']} ms, "
              f"p95 {res['p95_ms']} ms, p99 {res['p99_ms']} ms, 错误 {res['errors']}", flush=True)
    return levels


def print_memory(mem: dict[str, dict[str, int]], other: dict[str, dict[str, int]] | None = None) -> int:
    """Print the PSS of each serving process (and of the infrastructure); return the serving total in kB."""
    total = sum(m["pss_kb"] for m in mem.values())
    parts = ", ".join(f"{name} {m['pss_kb'] / 1024:.0f} MB" for name, m in mem.items())
    print(f"内存 (PSS): {parts}; 服务进程合计 {total / 1024:.0f} MB", flush=True)
    if other:
        print("基础设施 (PSS): " + ", ".join(f"{n} {m['pss_kb'] / 1024:.0f} MB" for n, m in other.items()), flush=True)
    return total


def bench_single(model: Path, conversations: list[list[str]], args: argparse.Namespace) -> dict:
    """The benchmark of one process (Rasa + action server on SQLite): levels, memory, cold start."""
    url = f"sqlite:///{VAR / 'bench.db'}"
    ensure_catalog(url)
    log("单进程：启动服务并开始压测（仅本机回环地址）…")
    started = time.monotonic()
    with serving(model, free_port(), free_port(), url=url, log_dir=VAR / "logs") as servers:
        cold = first_answer(servers.rasa_url, started)
        levels = run_levels(servers.rasa_url, conversations, args)
        mem = {"rasa": memory_kb(servers.procs[1].pid), "actions": memory_kb(servers.procs[0].pid)}
    total = print_memory(mem)
    return {"setup": "single", "description": "1 个 Rasa 进程 + 动作服务器，SQLite", "levels": levels,
            "memory_kb": mem, "total_pss_mb": round(total / 1024), "cold_start_s": cold}


def bench_scaleout(model: Path, conversations: list[list[str]], args: argparse.Namespace) -> dict:
    """The benchmark of the scale-out layout (nginx, Rasa instances, PostgreSQL, Redis)."""
    from tools.scaleout import scaled

    log(f"横向扩展：启动 PostgreSQL、Redis、{args.instances} 个 Rasa 实例、动作服务器和 nginx…")
    started = time.monotonic()
    with scaled(model, args.instances) as cluster:
        cold = first_answer(cluster.url, started)
        levels = run_levels(cluster.url, conversations, args)
        mem = {name: memory_kb(pid) for name, pid in cluster.serving_pids().items()}
        infra = {name: memory_kb(pid) for name, pid in cluster.infrastructure_pids().items()}
    total = print_memory(mem, infra)
    return {"setup": "scaleout",
            "description": f"nginx → {args.instances} 个 Rasa 实例 + 动作服务器，PostgreSQL + Redis 锁",
            "levels": levels, "memory_kb": mem, "infrastructure_memory_kb": infra, "total_pss_mb": round(total / 1024),
            "cold_start_s": cold}


def check_targets(setup: dict) -> dict[str, bool]:
    """Each of TARGETS met or not by one setup (a target whose concurrency level was not run is left out)."""
    by_conc = {lv["concurrency"]: lv for lv in setup["levels"]}
    checks = {"errors": sum(lv["errors"] for lv in setup["levels"]) <= TARGETS["errors"],
              "pss_mb": setup["total_pss_mb"] <= TARGETS["pss_mb"],
              "cold_start_s": setup["cold_start_s"] <= TARGETS["cold_start_s"]}
    if 1 in by_conc:
        checks["p95_1_ms"] = by_conc[1]["p95_ms"] <= TARGETS["p95_1_ms"]
    if 20 in by_conc:
        checks["p95_20_ms"] = by_conc[20]["p95_ms"] <= TARGETS["p95_20_ms"]
        checks["turns_per_s_20"] = by_conc[20]["turns_per_s"] >= TARGETS["turns_per_s_20"]
    names = {"p95_1_ms": "1 个对话 p95 ≤ 100 ms", "p95_20_ms": "20 路并发 p95 ≤ 500 ms",
             "turns_per_s_20": "20 路并发 ≥ 50 轮/秒", "errors": "错误 0", "pss_mb": "服务进程内存 ≤ 2.0 GB PSS",
             "cold_start_s": "启动到第一个回答 ≤ 30 秒"}
    print(f"目标（{setup['description']}）：" + "；".join(
        f"{names[k]} {'达到' if ok else '未达到'}" for k, ok in checks.items()), flush=True)
    return checks


def ratios(base: dict, other: dict) -> list[dict]:
    """Scale-out figures relative to one process, per concurrency."""
    out = []
    for a, b in zip(base["levels"], other["levels"], strict=False):
        out.append({"concurrency": a["concurrency"],
                    "turns_per_s": round(b["turns_per_s"] / a["turns_per_s"], 2) if a["turns_per_s"] else None,
                    "p95_ms": round(b["p95_ms"] / a["p95_ms"], 2) if a["p95_ms"] else None})
    return out


def plot(setups: list[dict], path: Path) -> None:
    """Latency (p50/p95) and throughput against concurrency, one line per setup."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lat, thr) = plt.subplots(1, 2, figsize=(10, 4))
    for n, s in enumerate(setups):
        conc, color = [lv["concurrency"] for lv in s["levels"]], f"C{n}"
        lat.plot(conc, [lv["p95_ms"] for lv in s["levels"]], color=color, marker="o", label=f"{s['setup']} p95")
        lat.plot(conc, [lv["p50_ms"] for lv in s["levels"]], color=color, marker=".", linestyle="--",
                 label=f"{s['setup']} p50")
        thr.plot(conc, [lv["turns_per_s"] for lv in s["levels"]], color=color, marker="o", label=s["setup"])
    lat.set(xlabel="concurrent conversations", ylabel="latency per turn (ms)", title="Latency")
    thr.set(xlabel="concurrent conversations", ylabel="turns per second", title="Throughput")
    for ax in (lat, thr):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Command line (python -m tools.bench): run the benchmarks, check the targets, write reports/bench.json."""
    p = argparse.ArgumentParser(prog="python -m tools.bench")
    p.add_argument("--concurrency", default="1,10,20", help="逗号分隔的并发对话数")
    p.add_argument("--conversations", type=int, default=120, help="每一档回放的对话数")
    p.add_argument("--max-seconds", type=float, default=120, help="每一档的时间上限")
    p.add_argument("--only", choices=["single", "scaleout"], help="只测单进程或只测横向扩展（默认两者都测并比较）")
    p.add_argument("--instances", type=int, default=2, help="横向扩展的 Rasa 实例数")
    args = p.parse_args(argv)
    conversations = yaml.safe_load(CONVERSATIONS.read_text(encoding="utf-8"))["conversations"]
    model = ensure_model()
    setups = []
    if args.only != "scaleout":
        setups.append(bench_single(model, conversations, args))
    if args.only != "single":
        setups.append(bench_scaleout(model, conversations, args))
    for setup in setups:
        setup["targets"] = check_targets(setup)
    report: dict = {"when": clock.now().isoformat(timespec="seconds"), "machine": f"{os.cpu_count()} 核",
                    "command": "python -m tools.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "targets": TARGETS}
    report |= {k: setups[0][k] for k in ("levels", "memory_kb", "total_pss_mb")}  # the first setup, as before
    report["setups"] = setups
    if len(setups) == 2:
        report["ratio"] = ratios(setups[0], setups[1])
        for r in report["ratio"]:
            print(f"比值（横向扩展 / 单进程）并发 {r['concurrency']:>3}: 每秒轮数 ×{r['turns_per_s']}, "
                  f"p95 ×{r['p95_ms']}", flush=True)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    plot(setups, REPORTS / "bench.png")
    log(f"结果已写入 {REPORTS / 'bench.json'} 和 {REPORTS / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
