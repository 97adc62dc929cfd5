"""Phrases that decide the intent whatever the classifier said (emergency first): keyword_intents.yml."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

PHRASES = Path(__file__).with_name("keyword_intents.yml")


@lru_cache(maxsize=1)
def phrases() -> dict[str, list[str]]:
    """Intent name -> phrases, in file order."""
    return yaml.safe_load(PHRASES.read_text(encoding="utf-8"))


def keyword_intent(text: str) -> str | None:
    """The first intent (in file order) one of whose phrases occurs in the text."""
    for name, words in phrases().items():
        if any(w in text for w in words):
            return name
    return None
