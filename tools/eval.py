"""Score the bot on case files in the format of shared/eval/dev_cases.yaml.

    python -m tools.eval [FILE ...] [--url http://localhost:5005] [--show 40]

Without --url it starts its own bot on free loopback ports (catalog import and training if needed).
Each single case goes to a fresh conversation; a dialogue's turns share one. The turn's custom
payload is checked against `expect` ("a|b" accepts either value). Prints accuracy per task, per
field and for dialogue turns, the confusions, the failures and the latency.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

REGION_KEYS = {"district": "district", "city": "city", "province": "province"}


@dataclass
class Turn:
    """One turn as the REST channel returned it: the custom payload, the texts, the time taken."""

    payload: dict | None
    texts: list[str]
    seconds: float


@dataclass
class Outcome:
    """One single case, or one dialogue turn (kind "turn")."""

    label: str
    task: str
    kind: str = "single"  # single, turn, emergency, near_miss
    tier: str = ""
    got_task: str | None = None
    problems: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    fields: dict[str, bool] = field(default_factory=dict)  # expectation key -> met
    confusions: list[tuple[str, str, str]] = field(default_factory=list)  # (key, wanted, got)


def send(base_url: str, sender: str, message: str, timeout: float = 30) -> Turn:
    """Send one message through the REST channel and read the turn."""
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


def _checks(expect: dict, turn: Turn) -> list[tuple[str, str | None, tuple[str, str] | None]]:
    """(key, problem or None, (wanted, got) for label fields) for every expectation key."""
    p = turn.payload
    if p is None:
        return [(k, "no custom payload", None) for k in expect]
    text = "\n".join(turn.texts)
    region = p.get("region") or {}
    items = p.get("items") or []
    out: list[tuple[str, str | None, tuple[str, str] | None]] = []
    for key, want in expect.items():
        if key in ("task", "category", "topic", "item", "ask") or key in REGION_KEYS:
            got = region.get(REGION_KEYS[key]) if key in REGION_KEYS else p.get(key)
            ok = _accepts(want, got)
            out.append((key, None if ok else f"{key}: want {want}, got {got}", (str(want), str(got))))
        elif key == "items_min":
            ok = len(items) >= int(want)
            out.append((key, None if ok else f"items {len(items)} < {want}", None))
        elif key == "all_in_district":
            bad = [i.get("district") for i in items if i.get("district") != want]
            out.append((key, None if items and not bad else f"items outside {want}: {bad}", None))
        elif key == "has_phone":
            has = any(i.get("phone") for i in items) or bool((p.get("policy") or {}).get("phone"))
            out.append((key, None if has == bool(want) else f"has_phone {has}", None))
        elif key == "mentions":
            missing = [w for w in want if w not in text]
            out.append((key, f"text lacks {missing}" if missing else None, None))
        else:
            out.append((key, f"unknown expectation key {key}", None))
    return out


def _outcome(label: str, kind: str, expect: dict, turn: Turn, tier: str = "") -> Outcome:
    o = Outcome(label, expect.get("task", "?"), kind, tier, (turn.payload or {}).get("task"), seconds=[turn.seconds])
    for key, problem, pair in _checks(expect, turn):
        o.fields[key] = problem is None
        if problem:
            o.problems.append(problem)
            if pair and key in ("task", "category", "topic"):
                o.confusions.append((key, *pair))
    return o


def load_cases(path: Path) -> tuple[list[dict], list[dict]]:
    """Single cases (the `safety` section included, marked by its `kind`) and dialogues of a case file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return (data.get("cases") or []) + (data.get("safety") or []), data.get("dialogues") or []


def run_single(base_url: str, case: dict) -> Outcome:
    """Score one single-question case."""
    turn = send(base_url, f"eval-{uuid.uuid4().hex[:12]}", case["text"])
    kind = case.get("kind", "single")
    o = _outcome(case["text"], kind, case["expect"], turn, case.get("tier", ""))
    if kind == "emergency":
        first = turn.texts[0] if turn.texts else ""
        if case.get("number") and not any(n in first for n in str(case["number"]).split("|")):
            o.problems.append(f"first text lacks {case['number']}")
    return o


def run_dialogue(base_url: str, dialogue: dict) -> list[Outcome]:
    """Score every turn of one dialogue, in one conversation."""
    sender = f"eval-{uuid.uuid4().hex[:12]}"
    out = []
    for n, t in enumerate(dialogue["turns"], 1):
        turn = send(base_url, sender, t["user"])
        out.append(_outcome(f"{dialogue['id']} #{n} “{t['user']}”", "turn", t["expect"], turn))
    return out


def run(base_url: str, cases: list[dict], dialogues: list[dict], workers: int = 4) -> list[Outcome]:
    """Score the cases and dialogues with a few workers."""
    with ThreadPoolExecutor(workers) as pool:
        singles = list(pool.map(lambda c: run_single(base_url, c), cases))
        turns = [o for d in pool.map(lambda d: run_dialogue(base_url, d), dialogues) for o in d]
    return singles + turns


def summary(outcomes: list[Outcome]) -> dict[str, float]:
    """Share fully correct (single cases, their hard tier, dialogue turns, all), emergencies caught (task emergency
    and the first text names the number) and false alarms (near misses answered as emergencies)."""
    def share(xs: list[Outcome]) -> float:
        return sum(not o.problems for o in xs) / len(xs) if xs else 1.0
    singles = [o for o in outcomes if o.kind == "single"]
    near = [o for o in outcomes if o.kind == "near_miss"]
    return {"single": share(singles), "hard": share([o for o in singles if o.tier == "hard"]),
            "turns": share([o for o in outcomes if o.kind == "turn"]),
            "emergencies": share([o for o in outcomes if o.kind == "emergency"]),
            "false_alarms": sum(o.got_task == "emergency" for o in near) / len(near) if near else 0.0,
            "near_misses": share(near), "all": share(outcomes)}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of the values (0 for none)."""
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def report(outcomes: list[Outcome], show: int = 40) -> str:
    """The scores as text: per task, per field, confusions, and the failures shown."""
    lines = ["task            pass/total  accuracy"]
    by_task: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_task[o.task].append(o)
    for task, outs in sorted(by_task.items()):
        ok = sum(not o.problems for o in outs)
        lines.append(f"{task:<15} {ok:>4}/{len(outs):<6} {ok / len(outs):7.1%}")
    fields: dict[str, list[bool]] = defaultdict(list)
    for o in outcomes:
        for k, met in o.fields.items():
            fields[k].append(met)
    lines.append("\nfield           correct/total accuracy")
    for k, vals in sorted(fields.items()):
        lines.append(f"{k:<15} {sum(vals):>5}/{len(vals):<7} {sum(vals) / len(vals):7.1%}")
    sm = summary(outcomes)
    count = Counter(o.kind for o in outcomes)
    n_hard = sum(o.kind == "single" and o.tier == "hard" for o in outcomes)
    lines.append(f"\nfully correct: single {sm['single']:.1%} of {count['single']} (hard tier {sm['hard']:.1%} of "
                 f"{n_hard}), dialogue turns {sm['turns']:.1%} of {count['turn']}, all {sm['all']:.1%}")
    if count["emergency"] or count["near_miss"]:
        lines.append(f"safety: emergencies caught {sm['emergencies']:.1%} of {count['emergency']}, false alarms "
                     f"{sm['false_alarms']:.1%} of {count['near_miss']} near misses "
                     f"(fully right {sm['near_misses']:.1%})")
    secs = [s * 1000 for o in outcomes for s in o.seconds]
    lines.append(f"latency per turn: p50 {statistics.median(secs):.0f} ms, p95 {percentile(secs, 95):.0f} ms")
    confusions = Counter(c for o in outcomes for c in o.confusions)
    if confusions:
        lines.append("\nconfusions (field: wanted -> got, count):")
        lines += [f"  {k}: {w} -> {g}  ×{n}" for (k, w, g), n in confusions.most_common(20)]
    failures = [o for o in outcomes if o.problems]
    if failures:
        lines.append(f"\nfailures ({len(failures)}, first {min(show, len(failures))}):")
        lines += [f"- {o.label}: " + "; ".join(o.problems) for o in failures[:show]]
    return "\n".join(lines)


DEFAULT_FILES = sorted(Path("tests/eval").glob("dev_*.yaml"))


def evaluate(base_url: str, files: list[Path], show: int) -> bool:
    """Score each file and print its report; True when every case and turn passed."""
    all_ok = True
    for path in files:
        cases, dialogues = load_cases(path)
        outcomes = run(base_url, cases, dialogues)
        print(f"=== {path} ===\n{report(outcomes, show)}\n", flush=True)
        all_ok &= all(not o.problems for o in outcomes)
    return all_ok


def main(argv: list[str] | None = None) -> int:
    """Command line (python -m tools.eval): start the bot on free ports (or use --url) and score the sets."""
    p = argparse.ArgumentParser(prog="python -m tools.eval")
    p.add_argument("files", type=Path, nargs="*", default=DEFAULT_FILES)
    p.add_argument("--url", help="已在运行的机器人地址；不给则自己启动一个")
    p.add_argument("--show", type=int, default=40)
    args = p.parse_args(argv)
    if args.url:
        return 0 if evaluate(args.url, args.files, args.show) else 1
    from bot.launcher import VAR, ensure_catalog, ensure_model, free_port, serving

    url = f"sqlite:///{VAR / 'eval.db'}"
    ensure_catalog(url)
    with serving(ensure_model(), free_port(), free_port(), url=url, log_dir=VAR / "logs") as servers:
        return 0 if evaluate(servers.rasa_url, args.files, args.show) else 1


if __name__ == "__main__":
    sys.exit(main())
