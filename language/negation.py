"""Negation: whether a word is said after "不是/不要…" (negation.yml)."""

from __future__ import annotations

import re

from language.words import words


def negated(message: str, start: int | None, end: int | None = None) -> bool:
    """Whether the word starting at `start` follows a negation within a few characters, or (given its `end`)
    is followed by one."""
    if start is None:
        return False
    w = words("negation")
    base = max(0, start - w["window"])
    base += max((m.end() for m in re.finditer(r"[\s，,。；;！!？?]", message[base:start])), default=0)  # same clause
    found = [base + m.start() for n in w["negations"] for m in re.finditer(re.escape(n), message[base:start])]
    said = any(not (i and message[i - 1] in w["question_before"])  # "能办不 在…": a question
               and not (i and message[i - 1] == message[i + 1:i + 2])  # "是不是", "要不要": a question too
               for i in found)
    return said or (end is not None and bool(re.match(w["after"], message[end:])))
