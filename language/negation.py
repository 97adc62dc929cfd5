"""Negation: whether a word is said after "不是/不要…" (negation.yml)."""

from __future__ import annotations

from language.words import words


def negated(message: str, start: int | None) -> bool:
    """Whether the word starting at `start` follows a negation within a few characters."""
    if start is None:
        return False
    w = words("negation")
    before = message[max(0, start - w["window"]):start]
    return any(n in before for n in w["negations"])
