"""Emergencies read as situations (language/safety.yml): who is in what state since when, not single keywords.

A cue counts only in a clause that is about now: past events ("前年迷过一回路", "上个月跌过一跤") and prevention
("想在厨房装个报警器") inside an ordinary request are not emergencies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import permutations

from language.words import words as word_list

_CLAUSE = re.compile(r"[，,。.！!？?；;、：:\s]+")
CJK_CHAR = re.compile(r"[\u4e00-\u9fff]")  # one Chinese character
_PERSON = re.compile("[他她人]")  # a cue that names a person is about the person, even after a device word
_PAST = re.compile("[倒伤翻到着住]?过(?![去来])")  # 摔过, 推倒过: the cue told as done before (not 晕过去)
DEVICE_REACH = 10  # characters before a cue of unresponsiveness where a device word makes it the device's


@dataclass(frozen=True)
class Assessment:
    """What the message says about danger now."""

    emergency: bool
    kind: str = "default"  # fire, unseen, missing, gas, default; without an emergency, what the cues lean to
    numbers: tuple[str, ...] = ()
    groups: frozenset[str] = field(default_factory=frozenset)  # cue groups that count
    discounted: frozenset[str] = field(default_factory=frozenset)  # cue groups seen only in the past or prevention
    asks: bool = False  # words of an ordinary request (想租, 想申请 …)
    alone: bool = False  # an emergency only if the message asks for nothing else (a cry for help: "救命")
    told: bool = False  # a story is told (news, hearsay, a dream), or a fear with no cue at all: not about now
    leaning: bool = False  # without an emergency, whether cues lean to a kind (else kind is only the default)

    @property
    def _danger(self) -> frozenset[str]:
        """Cue groups told of now beyond the circumstances (when, where, who tells)."""
        return self.groups - set(_data()["context"])

    @property
    def danger_now(self) -> bool:
        """A cue of danger told of now."""
        return bool(self._danger)

    @property
    def weak_only(self) -> bool:
        """Cues of danger told of now, but only of groups too weak to keep the classifier's emergency beside a
        request ("起不来" beside a commode chair asked for)."""
        return bool(self._danger) and self._danger <= set(_data()["weak"])


@lru_cache(maxsize=1)
def _data() -> dict:
    data = dict(word_list("safety"))
    data["compiled"] = {g: re.compile("|".join(f"(?:{c})" for c in cues)) for g, cues in data["cues"].items()}
    data["scored"] = {g for f in data["frames"] for g in f.get("weights", {})}
    lists = {k: data[k] for k in ("before", "after", "prevention", "upgrade", "present", "chronic", "over", "story",
                                  "request", "pet")}
    lists["urgent"] = data["cues"]["urgent"]
    data["markers"] = {k: [re.compile(w) for w in words] for k, words in lists.items()}
    return data


def _joined(text: str) -> str:
    """Spaces between single characters (voice input, "老 人 摔 了") removed; word gaps kept."""
    tokens = text.split()
    singles = sum(len(tok) == 1 and bool(CJK_CHAR.match(tok)) for tok in tokens)
    return "".join(tokens) if len(tokens) > 3 and singles >= 0.6 * len(tokens) else text


def _positions(markers: list[re.Pattern], clause: str) -> list[tuple[int, int]]:
    """(start, end) of every marker (compiled in _data; most are plain words) in the clause."""
    return [(m.start(), m.end()) for w in markers for m in w.finditer(clause)]


def about_now(text: str, start: int, end: int) -> bool:
    """Whether the words at [start, end) of the text (a service's name) tell of now, not of the past (a service for
    prevention, "防骗的课", is still asked for now)."""
    whole = _joined(text)
    if whole != text:
        return True
    pos = 0
    for clause in _CLAUSE.split(text):
        found = text.find(clause, pos)
        if found <= start < found + len(clause):
            return _about_now(clause, start - found, end - found, plans_count=False)
        pos = found + len(clause)
    return True


def _about_now(clause: str, start: int, end: int, group: str | None = None, plans_count: bool = True) -> bool:
    """Whether the cue at [start, end) (of `group`) is about now: not followed by 过 (摔过, not 晕过去 or 没动过), and
    no time marker, nor (`plans_count`) a prevention or upgrade marker, reaches it across a present marker (a
    device's upgrade spares a fraud or a crime)."""
    d = _data()
    if _PAST.match(clause, end) and "没" not in clause[start:end]:
        return False
    reach = d["reach"]
    markers = d["markers"]
    presents = [s for s, _ in _positions(markers["present"], clause)]

    def blocked(a: int, b: int) -> bool:
        return any(a <= p < b for p in presents)

    if any((b < start and start - e <= reach and not blocked(e, end))  # a marker may share the cue's start ("总走丢")
           or (start < b < end and clause[e:e + 1] != "的")  # or lie inside it ("热水器旧了怕漏气"), unless it only
           for b, e in _positions(markers["before"], clause)):  # dates a person or thing the cue names ("当年的")
        return False
    if any(0 <= s - end <= reach and not blocked(end, s) for s, _ in _positions(markers["after"], clause)):
        return False
    if not plans_count:
        return True
    kinds = ["prevention"] + (["upgrade"] if group not in d["upgrade_spares"] else [])
    return not any(-reach <= s - end <= reach for k in kinds for s, _ in _positions(markers[k], clause))


def story_told(text: str) -> bool:
    """Whether the message tells a story (news, hearsay, gossip: safety.yml story markers)."""
    return bool(_positions(_data()["markers"]["story"], _joined(text)))


def _device_before(clause: str, start: int) -> bool:
    """Whether a device word comes shortly before `start` with no person named between ("收音机拍了半天没动静", not
    "电视还开着 老伴歪在椅子上喊不应")."""
    d = _data()
    window = clause[max(0, start - DEVICE_REACH):start]
    found = [window.rfind(w) + len(w) for w in d["devices"] if w in window]
    return bool(found) and not re.search(d["pet_person"], window[max(found):])


def _groups(text: str) -> tuple[dict[str, int], set[str]]:
    """(cue group -> number of distinct cues about now, cue groups seen only about the past or prevention)."""
    d = _data()
    now: dict[str, set[str]] = {}
    past: set[str] = set()
    whole = _joined(text)
    chronic = max((e for _, e in _positions(d["markers"]["chronic"], whole)), default=-1)
    urgent = max((s for s, _ in _positions(d["markers"]["urgent"], whole)), default=-1)
    over = max((e for _, e in _positions(d["markers"]["over"], whole)), default=-1)
    stories = [e for _, e in _positions(d["markers"]["story"], whole)]
    renewals = [s for s, _ in _positions(d["markers"]["present"], whole)]

    def told(pos: int) -> bool:  # after a story marker ("看了个新闻") with no present marker between
        return any(e <= pos and not any(e <= r < pos for r in renewals) for e in stories)

    offset = 0
    for clause in _CLAUSE.split(whole):
        offset = whole.find(clause, offset)
        for group, pattern in d["compiled"].items():
            for m in pattern.finditer(clause):
                if group in d["person_groups"] and not _PERSON.search(m.group()) and _device_before(clause, m.start()):
                    continue  # a device that does not respond, not a person ("跟他说话 … 不回答" is a person)
                if group in d["negatable"] and clause[:m.start()].endswith(tuple(d["negation"])):
                    continue  # "没冒烟", "打不着火", "没摔倒": denied
                pos = offset + m.start()
                fresh = (pos >= over or group in d["over_keeps"]) and not told(pos) \
                    and _about_now(clause, m.start(), m.end(), group)
                if fresh and group in d["scored"] and chronic >= 0 and urgent < chronic:
                    fresh = False
                if fresh:
                    now.setdefault(group, set()).add(m.group())
                else:
                    past.add(group)
        offset += len(clause)
    pets = [s for s, _ in _positions(d["markers"]["pet"], whole)]
    owners = {m.start() for m in re.finditer(d["pet_owner"], whole)}
    if pets and not any(m.start() not in owners for m in re.finditer(d["pet_person"], whole)):
        past |= {g for g in d["pet_groups"] if now.pop(g, None)}
    return {g: len(c) for g, c in now.items()}, past - set(now)


def _holds(frame: dict, groups: dict[str, int], asks: bool) -> bool:
    if "score" in frame:  # a group counts at most twice ("头晕 想吐"); a request needs one point more
        signs = [g for g in frame["weights"] if g not in _data()["context"]]
        if signs and not any(groups.get(g) for g in signs):
            return False  # haste alone ("紧急 快点") is no sign of danger
        cap = frame.get("cap", 2)
        bar = frame["score"] + (asks and not frame.get("despite_request", False))
        return sum(w * min(groups.get(g, 0), cap) for g, w in frame["weights"].items()) >= bar
    if frame.get("unless_request") and asks:
        return False
    needs = frame["all"]
    options = [g for g in groups if any(g in n for n in needs)]
    return any(all(g in n for g, n in zip(pick, needs, strict=True))
               for pick in permutations(options, len(needs)))


@lru_cache(maxsize=512)
def assess(text: str) -> Assessment:
    """Whether the message describes an emergency now, and which numbers to call first."""
    now, past = _groups(text)
    markers, whole = _data()["markers"], _joined(text)
    asks = bool(_positions(markers["request"], whole))
    told = bool(_positions(markers["story"], whole)) \
        or (not now and not past and any(_positions(markers[k], whole) for k in ("prevention", "before")))
    for frame in _data()["frames"]:
        if _holds(frame, now, asks):
            return Assessment(True, frame["kind"], tuple(frame["numbers"]), frozenset(now), frozenset(past), asks,
                              frame.get("alone", False), told)
    kind = next((k["kind"] for k in _data()["unsure"] if set(k["groups"]) & set(now)), None)
    return Assessment(False, kind or "default", groups=frozenset(now), discounted=frozenset(past), asks=asks,
                      told=told, leaning=kind is not None)
