"""Who a policy is for: the condition words of a record (conditions.yaml) checked against a person's answers.

Each word is met ("yes"), ruled out ("no") or unknown; a record's `requires` is a list of groups, every group
must hold and a group holds when any of its words does. Legacy keys min_age/self_care/economic still count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from catalog.lexicon import DATA_DIR

YES, NO, UNKNOWN = "yes", "no", "unknown"
POLICY_STATUSES = ("in_effect", "draft", "ended", "planned")
STATUS_ALIASES = {"in effect": "in_effect", "period ended": "ended"}  # the words the documentation also allows
POINT_STATUSES = ("open", "planned")


@lru_cache(maxsize=4)
def load_terms(data_dir: Path = DATA_DIR) -> dict[str, dict]:
    """The condition words of conditions.yaml: word -> how a person's answers meet or exclude it."""
    return yaml.safe_load((data_dir / "conditions.yaml").read_text(encoding="utf-8"))["terms"]


@lru_cache(maxsize=4)
def load_documents(data_dir: Path = DATA_DIR) -> dict[str, dict]:
    """Source file name -> its status record (documents.yaml); empty when the file is absent."""
    path = data_dir / "documents.yaml"
    if not path.is_file():
        return {}
    return {Path(str(d["file"])).name: d for d in yaml.safe_load(path.read_text(encoding="utf-8"))["documents"]}


@dataclass(frozen=True)
class Person:
    """What the bot knows about the older person (None: not asked or not said)."""

    age: int | None = None
    self_care: str | None = None
    economic: str | None = None


@dataclass
class Verdict:
    """yes/no/unknown for a record, with what met it and what is still to ask."""

    result: str
    met: list[str] = field(default_factory=list)  # condition words met (with notes)
    unknown: list[str] = field(default_factory=list)  # condition words still unknown
    asks: list[str] = field(default_factory=list)  # fact keys (age/self_care/economic) or question texts
    notes: list[str] = field(default_factory=list)


def _term(word: str, person: Person, v: Verdict, terms: dict[str, dict]) -> str:
    spec = terms.get(word, {})
    if "any_of" in spec:
        sub = Verdict(YES)
        results = [_term(w, person, sub, terms) for w in spec["any_of"]]
        if YES in results:
            v.met.append(f"{word}（{'、'.join(sub.met)}）")
            return YES
        if all(r == NO for r in results):
            return NO
        v.asks.append(spec.get("ask", word))
        v.unknown.append(word)
        return UNKNOWN
    for fact in ("self_care", "economic"):
        if fact in spec:
            value = getattr(person, fact)
            if value in spec[fact].get("meets", ()):
                v.met.append(word)
                return YES
            if value in spec[fact].get("excludes", ()):
                return NO
            v.unknown.append(word)
            v.asks.append(fact if value is None else spec.get("ask", word))
            return UNKNOWN
    if "not_below" in spec:
        if person.age is not None and person.age < int(spec["not_below"]):
            return NO
        if spec.get("note"):
            v.notes.append(f"{word}：{spec['note']}")
    v.unknown.append(word)
    v.asks.append("age" if "not_below" in spec and person.age is None else spec.get("ask", word))
    return UNKNOWN


def _legacy(cond: dict, person: Person, v: Verdict) -> list[str]:
    """min_age / self_care / economic lists of the first schema."""
    out = []
    if cond.get("min_age"):
        if person.age is None:
            v.asks.append("age")
            out.append(UNKNOWN)
        else:
            out.append(YES if person.age >= int(cond["min_age"]) else NO)
    for fact in ("self_care", "economic"):
        allowed = cond.get(fact)
        if not allowed:
            continue
        value = getattr(person, fact)
        if value is None:
            v.asks.append(fact)
            v.unknown.append("、".join(allowed))
            out.append(UNKNOWN)
        elif value in allowed:
            v.met.append(value)
            out.append(YES)
        else:
            out.append(NO)
    return out


def check(conditions: dict | None, person: Person, terms: dict[str, dict] | None = None) -> Verdict:
    """Whether the person meets a record's conditions: yes, no, or unknown (and what to ask)."""
    terms = terms if terms is not None else load_terms()
    cond = conditions or {}
    v = Verdict(YES)
    results = _legacy(cond, person, v)
    for group in cond.get("requires") or []:
        words = [group] if isinstance(group, str) else list(group)
        sub = Verdict(YES)
        found = [_term(w, person, sub, terms) for w in words]
        if YES in found:
            results.append(YES)
            v.met += sub.met
            v.notes += sub.notes
        elif all(r == NO for r in found):
            results.append(NO)
        else:
            results.append(UNKNOWN)
            v.unknown += sub.unknown
            v.asks += sub.asks
            v.notes += sub.notes
    v.result = NO if NO in results else UNKNOWN if UNKNOWN in results else YES
    v.asks = list(dict.fromkeys(v.asks))
    return v


def words_of(conditions: dict | None) -> list[str]:
    """Every condition word a record uses in `requires`."""
    out = []
    for group in (conditions or {}).get("requires") or []:
        out += [group] if isinstance(group, str) else list(group)
    return out
