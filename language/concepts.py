"""Things and needs described by what they do (concepts.yml).

"能把床头摇高的床" is a 护理床, "天天有人送饭来" is meal.
"""

from __future__ import annotations

import re
from functools import lru_cache

from catalog.lexicon import load_taxonomy
from language.needs import mentioned_needs
from language.safety import about_now, story_told
from language.words import words as word_list


@lru_cache(maxsize=1)
def _data() -> dict:
    return word_list("concepts")


def _score(groups: list[list[str]], text: str) -> int:
    """Characters of the words found, those of the first group (what it is) twice; 0 unless every group finds one."""
    found = [{w for w in words if w in text} for words in groups]
    if not all(found):
        return 0
    return sum(len(w) for w in found[0]) + sum(len(w) for w in set().union(*found))


def _pattern_score(patterns: list[str], text: str) -> int:
    """Twice the characters of the longest match of any of the patterns, 0 without one."""
    return max((2 * len(m.group(0)) for p in patterns if (m := re.search(p, text))), default=0)


def _need_score(name: str, text: str) -> int:
    """How well the text describes the need: its words, or its patterns (concepts.yml: needs, patterns)."""
    d = _data()
    return max(_score(d["needs"][name], text) if name in d["needs"] else 0,
               _pattern_score(d["patterns"].get(name, []), text))


@lru_cache(maxsize=1024)
def _ranked(section: str, text: str) -> tuple[str, ...]:
    """Names of the section's entries the text describes, best first (cached: decide asks several times)."""
    d = _data()
    text = re.sub(d["either"], " ", re.sub(d["negated"], " ", text))
    if section == "needs":
        scores = {name: _need_score(name, text) for name in dict.fromkeys([*d["needs"], *d["patterns"]])}
        if scores.get("eligibility") and any(s for n, s in scores.items() if n.startswith("policy_")):
            scores["eligibility"] = _need_score("eligibility", re.sub("|".join(d["yes_no_benefit"]), " ", text))
    else:
        scores = {name: _score(groups, text) for name, groups in d[section].items()}
    groups = {name: len(g) for name, g in d[section].items()}  # on a tie, more kinds of evidence win
    return tuple(n for n, s in sorted(scores.items(), key=lambda kv: (-kv[1], -groups.get(kv[0], 0))) if s)


def concept_item(text: str) -> str | None:
    """The equipment the message describes (canonical name), or None."""
    found = _ranked("items", text)
    return found[0] if found else None


def concept_needs(text: str) -> list[str]:
    """Needs the message describes, best first: intent names (find_*, policy_*, eligibility) and care_home_search."""
    return list(_ranked("needs", text))


def requested(text: str) -> str | None:
    """The service or policy a request verb asks for (concepts.yml: request_before, request_after): just after the
    verb, an aid described, else the last catalog name, else a need described; or the last policy named just before
    a verb of applying; None without."""
    d = _data()
    reach = d["request_reach"]
    for m in re.finditer(d["request_before"], text):
        window = text[m.end():m.end() + reach]
        if concept_item(window) and rents(text):
            return "find_equipment_rental"
        described = [n for n in concept_needs(window) if n.startswith(("find_", "policy_"))
                     and n not in d["request_generic"]]
        found = mentioned_needs(window)[-1:] or described  # the named head of "护士在的养老院"
        if found:
            return found[0]
    for m in re.finditer(d["request_after"], text):
        named = [n for n in mentioned_needs(text[max(0, m.start() - reach):m.start()]) if n.startswith("policy_")]
        if named:
            return named[-1]
    return None


def asked_whether(text: str) -> str | None:
    """The last catalog name after the last "有没有" (concepts.yml: whether): what a yes/no question asks about
    ("我照顾瘫痪的老伴 … 有没有喘息服务"), None without."""
    found = list(re.finditer(_data()["whether"], text))
    named = mentioned_needs(text[found[-1].end():]) if found else []
    return named[-1] if named else None


def bare_detail(text: str) -> bool:
    """Whether the message is only a short question of a detail ("一次几多钱"), no other subject in it."""
    d = _data()
    words = sorted(d["needs"]["list_detail"][0], key=len, reverse=True)
    rest = re.sub("|".join(map(re.escape, words)), "", text)
    return rest != text and re.fullmatch(d["bare_detail"], rest) is not None


def asks_question(text: str) -> bool:
    """Whether the message asks something (concepts.yml: question), so thanks in it are no mere thanks."""
    return bool(re.search(_data()["question"], text))


def story_only(text: str) -> bool:
    """News, hearsay or gossip told with nothing asked: no catalog name, no question, no request verb."""
    return story_told(text) and not catalog_needs(text) and not asks_question(text) and not requested(text)


def off_topic(text: str, first: bool = False) -> bool:
    """Whether the message is about a subject the bot has no answer for (the weather, a shop's hours, first aid);
    `first`: one that outweighs a need described beside it (concepts.yml: off_topic_first)."""
    return bool(set(concept_needs(text)) & set(_data()["off_topic_first" if first else "off_topic"]))


def narrowed(text: str, names: list[str], described: list[str]) -> str | None:
    """The described need that narrows one of the general services `names` (or is one of them) when the message
    asks for a place for this kind of person (concepts.yml: narrows, specialized), or None."""
    d = _data()
    if not any(w in text for w in d["specialized"]):
        return None
    return next((n for n, wider in d["narrows"].items() if n in described and {n, *wider} & set(names)), None)


def rents(text: str) -> bool:
    """Whether the message asks to rent or borrow."""
    return _score(_data()["rent"], text) > 0


def without_conditions(text: str) -> str:
    """The message without the aids told as the person's state ("一个坐轮椅"): they ask for nothing."""
    items = "|".join(sorted(map(re.escape, load_taxonomy().item_words()), key=len, reverse=True))
    return re.sub(f"{_data()['condition']}({items})", " ", text)


def catalog_needs(text: str, now_only: bool = False) -> list[str]:
    """Intents whose catalog names (taxonomy.yaml: services, policies, items) occur in the message, not negated,
    in order; with now_only, not those told of the past (a fraud years ago is not what is asked for now)."""
    return mentioned_needs(text, (lambda start, end: about_now(text, start, end)) if now_only else None)
