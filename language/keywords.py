"""What decides the intent whatever the classifier said: an emergency situation (safety.py) first, then the
phrases of keyword_intents.yml."""

from __future__ import annotations

import re
from functools import lru_cache

from language.safety import assess
from language.words import words as word_list


@lru_cache(maxsize=1)
def phrases() -> dict[str, list[str]]:
    """Intent name -> phrases, in file order."""
    return word_list("keyword_intents")


def keyword_intent(text: str) -> str | None:
    """"emergency" for an emergency now, else the first intent (in file order) one of whose phrases (regular
    expressions) occurs."""
    if assess(text).emergency:
        return "emergency"
    for name, words in phrases().items():
        if any(re.search(w, text) for w in words):
            return name
    return None


def danger_now(text: str) -> bool:
    """A cue of danger told of now (language/safety.yml), whether or not it makes a whole emergency situation."""
    return assess(text).danger_now


def false_alarm(text: str, request: bool) -> bool:
    """Whether the classifier's "emergency" is wrong where the situation is not one: words of an ordinary request
    (想租, 想申请 …), or no cue of danger told of now and either danger words told only of the past or prevention
    ("前年迷过一回路") or a service or policy named or described (`request`)."""
    a = assess(text)
    return not a.emergency and (a.asks or (not a.danger_now and (bool(a.discounted) or request)))
