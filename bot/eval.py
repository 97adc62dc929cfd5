"""Score a running bot on a case file in the format of shared/eval/dev_cases.yaml.

    python -m bot.eval tests/eval/cases.yaml [--url http://localhost:5005] [--show 40]

Each single case goes to a fresh conversation; a dialogue's turns share one. The turn's custom
payload is checked against `expect` ("a|b" accepts either value).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

REGION_KEYS = {"district": "district", "city": "city", "province": "province"}


@dataclass
class Turn:
    payload: dict | None
    texts: list[str]
    seconds: float


@dataclass
class Outcome:
    label: str
    task: str
    problems: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def send(base_url: str, sender: str, message: str, timeout: float = 30) -> Turn:
    started = time.perf_counter()
    r = requests.post(f"{base_url}/webhooks/rest/webhook", json={"sender": sender, "message": message},
                      timeout=timeout)
    elapsed = time.perf_counter() - started
    r.raise_for_status()
    msgs = r.json()
    customs = [m["custom"] for m in msgs if "custom" in m]
    texts = [m["text"] for m in msgs if m.get("text")]
    return Turn(customs[-1] if customs else None, texts, elapsed)


def _accepts(expected: object, actual: object) -> bool:
    if isinstance(expected, str) and "|" in expected:
        return actual in expected.split("|")
    return expected == actual


def check(expect: dict, turn: Turn) -> list[str]:
    """What in this turn differs from the expectation (empty when it passes)."""
    p = turn.payload
    if p is None:
        return ["no custom payload"]
    customs_text = "\n".join(turn.texts)
    problems = []
    region = p.get("region") or {}
    items = p.get("items") or []
    for key, want in expect.items():
        if key in ("task", "category", "topic", "item", "ask"):
            got = p.get(key)
        elif key in REGION_KEYS:
            got = region.get(REGION_KEYS[key])
        elif key == "items_min":
            if len(items) < int(want):
                problems.append(f"items {len(items)} < {want}")
            continue
        elif key == "all_in_district":
            bad = [i.get("district") for i in items if i.get("district") != want]
            if bad or not items:
                problems.append(f"items outside {want}: {bad}")
            continue
        elif key == "has_phone":
            has = any(i.get("phone") for i in items) or bool((p.get("policy") or {}).get("phone"))
            if has != bool(want):
                problems.append(f"has_phone {has}")
            continue
        elif key == "mentions":
            missing = [w for w in want if w not in customs_text]
            if missing:
                problems.append(f"text lacks {missing}")
            continue
        else:
            problems.append(f"unknown expectation key {key}")
            continue
        if not _accepts(want, got):
            problems.append(f"{key}: want {want}, got {got}")
    return problems


def load_cases(path: Path) -> tuple[list[dict], list[dict]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data.get("cases") or [], data.get("dialogues") or []


def run_single(base_url: str, case: dict) -> Outcome:
    turn = send(base_url, f"eval-{uuid.uuid4().hex[:12]}", case["text"])
    return Outcome(case["text"], case["expect"].get("task", "?"), check(case["expect"], turn), [turn.seconds])


def run_dialogue(base_url: str, dialogue: dict) -> Outcome:
    sender = f"eval-{uuid.uuid4().hex[:12]}"
    out = Outcome(dialogue["id"], "dialogue")
    for n, t in enumerate(dialogue["turns"], 1):
        turn = send(base_url, sender, t["user"])
        out.seconds.append(turn.seconds)
        out.problems += [f"turn {n} “{t['user']}”: {p}" for p in check(t["expect"], turn)]
    return out


def run(base_url: str, cases: list[dict], dialogues: list[dict], workers: int = 4) -> list[Outcome]:
    with ThreadPoolExecutor(workers) as pool:
        singles = list(pool.map(lambda c: run_single(base_url, c), cases))
        dias = list(pool.map(lambda d: run_dialogue(base_url, d), dialogues))
    return singles + dias


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def report(outcomes: list[Outcome], show: int = 40) -> str:
    by_task: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_task[o.task].append(o)
    lines = ["task            pass/total  accuracy"]
    for task, outs in sorted(by_task.items()):
        ok = sum(not o.problems for o in outs)
        lines.append(f"{task:<15} {ok:>4}/{len(outs):<6} {ok / len(outs):7.1%}")
    ok = sum(not o.problems for o in outcomes)
    lines.append(f"{'ALL':<15} {ok:>4}/{len(outcomes):<6} {ok / max(1, len(outcomes)):7.1%}")
    secs = [s * 1000 for o in outcomes for s in o.seconds]
    lines.append(f"latency per turn: p50 {statistics.median(secs):.0f} ms, p95 {percentile(secs, 95):.0f} ms")
    failures = [o for o in outcomes if o.problems]
    if failures:
        lines.append(f"\nfailures ({len(failures)}, first {min(show, len(failures))}):")
        for o in failures[:show]:
            lines.append(f"- {o.label}: " + "; ".join(o.problems))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot.eval")
    p.add_argument("cases", type=Path)
    p.add_argument("--url", default="http://localhost:5005")
    p.add_argument("--show", type=int, default=40)
    args = p.parse_args(argv)
    cases, dialogues = load_cases(args.cases)
    outcomes = run(args.url, cases, dialogues)
    print(report(outcomes, args.show))
    return 0 if all(not o.problems for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
