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


def _sure(text: str, request: bool) -> bool:
    """An emergency situation that stands: a cry for help alone does not beside a `request` ("救命 这表咋填")."""
    a = assess(text)
    return a.emergency and not (a.alone and (request or a.asks))


def keyword_intent(text: str, request: bool = False) -> str | None:
    """"emergency" for an emergency now (`request`: a service, policy or person is named or described), else the
    first intent (in file order) one of whose phrases (regular expressions) occurs."""
    phrase = next((name for name, words in phrases().items() if any(re.search(w, text) for w in words)), None)
    return "emergency" if _sure(text, request or phrase is not None) else phrase


def danger_now(text: str) -> bool:
    """A cue of danger told of now (language/safety.yml), whether or not it makes a whole emergency situation."""
    return assess(text).danger_now


def false_alarm(text: str, request: bool) -> bool:
    """Whether the classifier's "emergency" is wrong where the situation is not one: words of an ordinary request
    (想租, 想申请 …); a service or policy named or described (`request`) beside only weak cues of danger ("起不来"
    beside a commode chair); or no cue of danger told of now and either danger words told only of the past or
    prevention ("前年迷过一回路"), a `request`, or a story told (news, hearsay, or only a fear or a past time with no
    cue of danger at all)."""
    a = assess(text)
    return not _sure(text, request) and (a.asks or (request and a.weak_only)
                                         or (not a.danger_now and (bool(a.discounted) or request or a.told)))
