"""What decides the intent whatever the classifier said: an emergency situation (safety.py) first, then the
phrases of keyword_intents.yml."""

from __future__ import annotations

import re
from functools import lru_cache

from language.safety import CJK_CHAR, Assessment, assess
from language.situation import likelihood, likely_number
from language.words import words as word_list


@lru_cache(maxsize=1)
def phrases() -> dict[str, list[str]]:
    """Intent name -> phrases, in file order."""
    return word_list("keyword_intents")


def _doubted(text: str, a: Assessment, request: bool) -> bool:
    """Why a statistical emergency falls: words of an ordinary request (想租, 想申请 …); a service or policy named or
    described (`request`) beside only weak cues of danger ("起不来" beside a commode chair); or no cue of danger told
    of now and either danger words told only of the past or prevention ("前年迷过一回路"), a `request`, a story told
    (news, hearsay, or only a fear or a past time with no cue of danger at all), or a learned reading that finds an
    emergency unlikely (a question about an ambulance's fee)."""
    return a.asks or (request and a.weak_only) or (not a.danger_now and (
        bool(a.discounted) or request or a.told or likelihood(text) < word_list("safety")["learned"]["unlikely"]))


def _learned(text: str, a: Assessment, request: bool) -> bool:
    """The learned reading (situation.py) says emergency: likely with a danger told of now and no service, policy or
    person asked for (`request`); or sure, where a danger is told of or the message says enough to tell a situation
    (a few words, "就在菜场旁边", only answer where)."""
    bars = word_list("safety")["learned"]
    p = likelihood(text)
    if a.danger_now:
        return p >= bars["sure"] or (not request and p >= bars["likely"])
    return p >= bars["sure"] and len(CJK_CHAR.findall(text)) >= bars["sure_length"]


def _sure(text: str, request: bool) -> bool:
    """An emergency that stands: a situation the rules see (a cry for help alone does not beside a `request`:
    "救命 这表咋填"), or the learned reading's where nothing doubts it."""
    a = assess(text)
    if a.emergency:
        return not (a.alone and (request or a.asks))
    return _learned(text, a, request) and not _doubted(text, a, request)


def keyword_intent(text: str, request: bool = False) -> str | None:
    """"emergency" for an emergency now (`request`: a service, policy or person is named or described), else the
    first intent (in file order) one of whose phrases (regular expressions) occurs."""
    phrase = next((name for name, words in phrases().items() if any(re.search(w, text) for w in words)), None)
    return "emergency" if _sure(text, request or phrase is not None) else phrase


def danger_now(text: str) -> bool:
    """A cue of danger told of now (language/safety.yml), whether or not it makes a whole emergency situation."""
    return assess(text).danger_now


def false_alarm(text: str, request: bool) -> bool:
    """Whether the classifier's "emergency" is wrong: no emergency stands and something doubts it (`_doubted`)."""
    return not _sure(text, request) and _doubted(text, assess(text), request)


def emergency_kind(text: str) -> str:
    """The kind of emergency, which names the numbers to call first (replies/templates.yml emergency_<kind>): the
    situation's, else what its cues lean to, else the kind of the number the learned reading gives."""
    a = assess(text)
    if a.emergency or a.leaning:
        return a.kind
    return word_list("safety")["learned_kinds"][likely_number(text)]
