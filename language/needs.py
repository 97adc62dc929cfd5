"""What a message asks for: the services and policies it names (catalog/data/taxonomy.yaml), in order and
without negated ones, and whether it wants to rent or the nearest places (needs.yml)."""

from __future__ import annotations

from collections.abc import Callable

from catalog.lexicon import load_taxonomy
from language.negation import negated
from language.words import words


def _need_words() -> list[tuple[str, str]]:
    """(word, intent) for every catalog word, longest first."""
    tax = load_taxonomy()
    out = [(w, f"find_{c}") for c, v in tax.categories.items() for w in v["words"]]
    out += [(w, f"policy_{c}") for c, v in tax.topics.items() for w in v["words"]]
    out += [(w, "find_equipment_rental") for w in tax.item_words()]
    return sorted(out, key=lambda x: -len(x[0]))


def catalog_words() -> set[str]:
    """Every catalog word: the names of services, policies and items and their synonyms."""
    return {w for w, _ in _need_words()}


def mentioned_needs(message: str, keep: Callable[[int, int], bool] | None = None) -> list[str]:
    """Intents named by catalog words in the message, in order, skipping negated ones; longer words win.

    "不要X 要Y" gives Y's intent only; "X 顺便问下 Y" gives both in order. `keep(start, end)` may drop more
    mentions (e.g. those told of the past).
    """
    found: list[tuple[int, str]] = []
    taken = [False] * len(message)
    for word, need in _need_words():
        start = message.find(word)
        while start >= 0:
            span = range(start, start + len(word))
            if not any(taken[i] for i in span):
                for i in span:
                    taken[i] = True
                end = start + len(word)
                if not negated(message, start, end) and (keep is None or keep(start, end)):
                    found.append((start, need))
            start = message.find(word, start + len(word))
    return list(dict.fromkeys(need for _, need in sorted(found)))


def negated_needs(message: str) -> set[str]:
    """Service intents whose catalog words appear after a negation ("不要养老院")."""
    out = set()
    for c, v in load_taxonomy().categories.items():
        for w in v["words"]:
            pos = message.find(w)
            if pos >= 0 and negated(message, pos, pos + len(w)):
                out.add(f"find_{c}")
    return out


def wants_rental(message: str) -> bool:
    """True when the message asks to rent or borrow (rent_words)."""
    return any(w in message for w in words("needs")["rent_words"])


def wants_nearby(message: str) -> bool:
    """True when the message asks for the nearest place (nearby_words)."""
    return any(w in message for w in words("needs")["nearby_words"])
