"""Catalog queries at scale: the real query functions on a synthetic catalog, on SQLite and on PostgreSQL.

    python -m tools.bench_catalog [--points 1000000] [--queries 500] [--databases sqlite,postgresql]
                                                                             # what `make bench-catalog` calls

For each database: generate the synthetic catalog if it is missing (tools.synthetic; SQLite in
var/scale/catalog-<points>.db, PostgreSQL as a private cluster in var/scale/pg on a free loopback port, started and
stopped like tools.scaleout's), then time `--queries` calls of each kind through catalog.query, one session per call
as the action server does: "nearest 5 of a category" from a random position in a random district, the same for
rental points renting a given item ("nearest_item"), and "a category in a district" (find_services). The same
seeded queries on every database; 50 of each kind first, untimed, to warm caches. Prints p50/p95/p99 and writes
reports/catalog_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable

from bot.launcher import ROOT, VAR, free_port, log
from catalog import clock
from catalog.db import session_scope
from catalog.lexicon import load_taxonomy
from catalog.query import Regions, find_services, nearest_services
from tools.eval import percentile
from tools.scaleout import postgres
from tools.synthetic import POINTS, SEED, default_url, generate, generated, point_in_district, synthetic_regions

LIMIT = 5
WARMUP = 50
REPORT = ROOT / "reports" / "catalog_bench.json"

KINDS = {
    "nearest": lambda s, regions, lat, lng, category: nearest_services(s, regions, lat, lng, category, limit=LIMIT),
    "nearest_item": lambda s, regions, lat, lng, item: nearest_services(
        s, regions, lat, lng, "equipment_rental", item, LIMIT),
    "in_district": lambda s, regions, category, code: find_services(s, regions, category, code, limit=LIMIT),
}


def make_queries(points: int, count: int, seed: int) -> dict[str, list[tuple]]:
    """Seeded arguments of each kind: nearest (lat, lng, category), nearest_item (lat, lng, item),
    in_district (category, district code)."""
    rng = random.Random(seed + 1)
    districts = [r for r in synthetic_regions(points) if r["level"] == "district"]
    categories = sorted(load_taxonomy().categories)
    items = sorted(load_taxonomy().items)
    out: dict[str, list[tuple]] = {kind: [] for kind in KINDS}
    for _ in range(WARMUP + count):
        out["nearest"].append((*point_in_district(rng, rng.choice(districts)), rng.choice(categories)))
        out["nearest_item"].append((*point_in_district(rng, rng.choice(districts)), rng.choice(items)))
        out["in_district"].append((rng.choice(categories), rng.choice(districts)["code"]))
    return out


def _timed(url: str, regions: Regions, calls: list[tuple], run: Callable[..., list[dict]]) -> dict:
    ms, short = [], 0
    for i, args in enumerate(calls):
        with session_scope(url) as s:
            started = time.perf_counter()
            rows = run(s, regions, *args)
            elapsed = (time.perf_counter() - started) * 1000
        if i >= WARMUP:
            ms.append(elapsed)
            short += len(rows) < LIMIT
    return {"p50_ms": round(percentile(ms, 50), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2),
            "mean_ms": round(sum(ms) / len(ms), 2), "fewer_than_limit": short}


def bench_database(url: str, points: int, queries: dict[str, list[tuple]], seed: int) -> dict:
    """Time the catalog queries on one database: p50/p95/p99 per query kind."""
    meta = generated(url)
    fresh = meta is None or (meta["points"], meta["seed"]) != (points, seed)
    if fresh:
        log(f"生成 {points} 个合成服务点…")
        generate(url, points, seed)
        meta = generated(url)
    log(f"合成目录：{meta['points']} 个服务点、{meta['districts']} 个区县，生成用时 {meta['seconds']} 秒"
        f"{'' if fresh else '（此前生成，直接复用）'}；开始计时查询…")
    with session_scope(url) as s:
        regions = Regions(s)
    return {"generation_s": meta["seconds"], "generated_in_this_run": fresh, "districts": meta["districts"]} | {
        kind: _timed(url, regions, queries[kind], run) for kind, run in KINDS.items()}


def main(argv: list[str] | None = None) -> int:
    """Command line (python -m tools.bench_catalog): SQLite and PostgreSQL, reports/catalog_bench.json."""
    p = argparse.ArgumentParser(prog="python -m tools.bench_catalog")
    p.add_argument("--points", type=int, default=POINTS, help="合成服务点个数")
    p.add_argument("--queries", type=int, default=500, help="每种查询的次数")
    p.add_argument("--databases", default="sqlite,postgresql", help="逗号分隔：sqlite、postgresql")
    p.add_argument("--seed", type=int, default=SEED)
    args = p.parse_args(argv)
    names = args.databases.split(",")
    if set(names) - {"sqlite", "postgresql"}:
        p.error(f"未知的数据库：{args.databases}（可选 sqlite、postgresql）")
    queries = make_queries(args.points, args.queries, args.seed)
    load_before = os.getloadavg()[0]  # other work on the machine shows in the tail latencies
    results = {}
    for name in names:
        log(f"== {name} ==")
        if name == "sqlite":
            results[name] = bench_database(default_url(args.points), args.points, queries, args.seed)
        else:
            run_dir = VAR / "scale"
            run_dir.mkdir(parents=True, exist_ok=True)
            run_dir.chmod(0o755)  # the postgres user must reach its data folder
            with postgres(run_dir, free_port()) as url:
                results[name] = bench_database(url, args.points, queries, args.seed)
    print(f"\n{args.points} 个服务点，每种查询 {args.queries} 次（毫秒；本机 1 分钟负载 {load_before:.1f} → "
          f"{os.getloadavg()[0]:.1f}，{os.cpu_count()} 核）")
    print(f"{'数据库':<12}{'查询':<14}{'p50':>8}{'p95':>8}{'p99':>8}{'最大':>8}  生成用时")
    for name, r in results.items():
        for kind in KINDS:
            t = r[kind]
            print(f"{name:<14}{kind:<16}{t['p50_ms']:>8}{t['p95_ms']:>8}{t['p99_ms']:>8}{t['max_ms']:>8}"
                  f"  {r['generation_s']} 秒")
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps({
        "at": clock.now().isoformat(timespec="minutes"), "cpus": os.cpu_count(),
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "points": args.points,
        "queries_per_kind": args.queries, "limit": LIMIT, "warmup_per_kind": WARMUP, "seed": args.seed,
        "databases": results,
    }, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log(f"报告：{REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
