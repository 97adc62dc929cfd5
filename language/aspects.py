"""Which part of the last answer a follow-up asks about (aspects.yml): materials, where, phone, price..."""

from __future__ import annotations

from language.words import words


def aspect(message: str) -> str | None:
    """The aspect whose word comes first in the message, None when there is none."""
    best: tuple[int, str] | None = None
    for name, terms in words("aspects")["aspects"].items():
        for w in terms:
            pos = message.find(w)
            if pos >= 0 and (best is None or pos < best[0]):
                best = (pos, name)
    return best[1] if best else None
