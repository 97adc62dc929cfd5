"""Numbers people say about a list or a person: ordinals ("倒数第二个") and ages ("八十出头", "1945年出生").

Numerals are read with cn2an (via language.normalize); words in numbers.yml.
"""

from __future__ import annotations

import re

from catalog.clock import today
from language.normalize import chinese_number, normalize
from language.words import words

_NUM = r"\d+|[零〇一二两三四五六七八九十百]+"


def _alt(items: list[str]) -> str:
    return "|".join(map(re.escape, sorted(items, key=len, reverse=True)))


def _value(s: str) -> int | None:
    return int(s) if s.isdigit() else chinese_number(s)


def ordinal(message: str) -> int | None:
    """The position a message names in a list: 1-based from the start, negative from the end ("最后一个" -> -1,
    "倒数第二个" -> -2); None when it names none ("第一次来" is not a position)."""
    w = words("numbers")
    text = normalize(message)
    counters = _alt(w["ordinal_counters"])
    m = re.search(rf"({_alt(w['ordinal_from_end'])})?第\s*({_NUM})\s*(?:{counters})", text)
    if m and (n := _value(m.group(2))):
        return -n if m.group(1) else n
    if re.search(rf"(?:{_alt(w['ordinal_last'])})(?:一|那|这)?\s*(?:{counters})", text):
        return -1
    if re.search(rf"(?:{_alt(w['ordinal_first'])})\s*(?:{counters})", text):
        return 1
    return None


def position_index(position: int, count: int) -> int | None:
    """The 0-based index of a position from `ordinal` in a list of `count` items, None when out of range."""
    index = position - 1 if position > 0 else count + position
    return index if 0 <= index < count else None


def _now_year() -> int:
    return today().year


def age(message: str, year: int | None = None) -> int | None:
    """A person's age in the message, in 40-120. Several ages ("老伴80 我75"): the older person, whom the
    question is about. Reads "85岁", a bare "今年85", "八十出头" (81), "快八十了" (79) and a year of birth
    ("1945年出生", with the current year in China); skips floors, money, dates and other counted things."""
    w = words("numbers")
    text = normalize(message)
    low, high = w["age_range"]
    found: list[int] = []
    this_year = year or _now_year()
    for m in re.finditer(rf"(?<!\d)((?:19|20)?\d{{2}})\s*(?:{_alt(w['birth_year_after'])})", text):
        born = int(m.group(1))
        born += 0 if born >= 1000 else 1900
        found.append(this_year - born)
    full_year = rf"(?<!\d)(19\d{{2}})(?:{_alt(w['full_year_after'])})"
    found += [this_year - int(m.group(1)) for m in re.finditer(full_year, text)]
    not_after = _alt(w["not_age_after"])
    for m in re.finditer(r"(?<![\d.])(\d{2,3})(?![\d.])", text):
        after, before = text[m.end():].lstrip(), text[:m.start()].rstrip()
        value = int(m.group(1))
        if re.match(rf"(?:{_alt(w['age_units'])})", after):
            after = after[2 if after.startswith("周岁") else 1:].lstrip()
        elif re.match(rf"(?:{not_after})", after) or before.endswith(tuple(w["not_age_before"])):
            continue
        if re.match(rf"(?:{_alt(w['age_more'])})", after):
            value += 1
        elif before.endswith(tuple(w["age_less"])):
            value -= 1
        found.append(value)
    ages = [a for a in found if low <= a <= high]
    return max(ages) if ages else None
