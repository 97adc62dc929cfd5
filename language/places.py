"""Places in a message below and beside the catalog's regions: streets, towns, communities and landmarks that
name a district (language/towns.yml, generated; landmarks in places.yml), and places we can't use (outside the
covered cities, or ambiguous). The regions themselves are the catalog's (catalog.query.Regions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from catalog.lexicon import load_regions
from catalog.query import Regions
from language.normalize import NUMERAL_CHARS, clean
from language.words import words

# A name of 2-3 characters ending in 省/市/区/县 that is not followed by 城/里/委… ("县城", "区里").
_PLACE_RE = re.compile(r"([\u4e00-\u9fff]{2,3}?(?:省|市|区|县))(?![城里委政医级内外长])")
_NOT_IN_NAMES = set("在的是我你他她住到去人老家和跟有没个这那哪")


@dataclass(frozen=True)
class SubPlace:
    """A street, town, community or landmark found in a message, and the districts (codes) it may lie in."""

    name: str
    start: int
    end: int
    districts: tuple[str, ...]


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, tuple[str, ...]], tuple[int, ...], dict[str, tuple[tuple[str, ...], bool]]]:
    """Normalized name -> district codes, the name lengths (longest first), and two-character names -> (codes,
    read only as a whole message)."""
    towns = words("towns")

    def table(section: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for code, names in towns[section].items():
            for name in names:
                out.setdefault(clean(name) if set(name) & set(NUMERAL_CHARS) else name, set()).add(code)
        return out

    names = table("districts")
    by_name = {r["name"]: r["code"] for r in load_regions()}
    for name, district in words("places")["landmarks"].items():
        names[clean(name)] = {by_name[district]}
    index = {n: tuple(sorted(c)) for n, c in names.items()}
    short = {n: (tuple(sorted(c)), False) for n, c in table("short_names").items()}
    short |= {n: (tuple(sorted(c)), True) for n, c in table("bare_names").items()}
    return index, tuple(sorted({len(n) for n in index}, reverse=True)), short


def _stands_as_place(message: str, start: int, end: int, bare_only: bool) -> bool:
    """Whether a two-character name stands as a place: the whole message, or (unless it is also an ordinary word)
    after 在/住… or before 那边/附近…"""
    cues = words("places")["short_name_cues"]
    if not (message[:start] + message[end:]).strip(cues["filler"]):
        return True
    return not bare_only and (message[:start].endswith(tuple(cues["before"]))
                              or message[end:].startswith(tuple(cues["after"])))


def sub_places(message: str) -> list[SubPlace]:
    """Streets, towns, communities and landmarks named in a normalized message, longest first, not overlapping;
    a two-character town name ("纸坊") only where it stands as a place."""
    index, lengths, short = _index()
    found, i = [], 0
    while i < len(message):
        for n in lengths:
            codes = index.get(message[i:i + n]) if i + n <= len(message) else None
            if codes:
                found.append(SubPlace(message[i:i + n], i, i + n, codes))
                i += n
                break
        else:
            codes, bare_only = short.get(message[i:i + 2], ((), False))
            if codes and _stands_as_place(message, i, i + 2, bare_only):
                found.append(SubPlace(message[i:i + 2], i, i + 2, codes))
                i += 2
            else:
                i += 1
    return found


def _options(regions: Regions, codes: tuple[str, ...]) -> list[str]:
    return [p.name for c in codes if (p := regions.place(c))]


def place_problem(message: str, regions: Regions) -> tuple[str, list[str]] | None:
    """A place the user named that we can't use: (name, options), options empty when it is not covered.

    Ambiguous: a name of several districts ("汉口", or a community name found in two districts).
    Not covered: a city outside the catalog ("北京", but not "北京路"), or an unknown name ending in 省/市/区/县.
    """
    tpl = words("places")
    subs = sub_places(message)
    known = regions.names()
    inside = [range(s.start, s.end) for s in subs]
    inside += [range(m.start(), m.end()) for k in known for m in re.finditer(re.escape(k), message) if len(k) > 2]
    for name, options in tpl["ambiguous_places"].items():
        for m in re.finditer(re.escape(name), message):
            if not any(m.start() in r and len(r) > len(name) for r in inside):  # not inside "青山区", "蔡店街道"
                return name, list(options)
    for sub in subs:
        if len(sub.districts) > 1:
            return sub.name, _options(regions, sub.districts)
    streets = tuple(tpl["street_suffixes"])
    for name in tpl["outside_places"]:
        for m in re.finditer(re.escape(name), message):
            if message[m.end():].startswith(streets) or any(m.start() in r for r in inside):
                continue
            if not any(k in message and name in k for k in known):
                return name, []
    for m in _PLACE_RE.finditer(message):
        word = m.group(1)
        if _NOT_IN_NAMES & set(word) or any(word.endswith(sw) for sw in tpl["place_suffix_stopwords"]):
            continue
        if any(m.start(1) in r for r in inside):
            continue
        if not any(k in word or word in k for k in known):
            return word, []
    return None



def sub_place_district(message: str) -> str | None:
    """The district code named by the last unambiguous street, town, community or landmark in the message."""
    codes = [s.districts[0] for s in sub_places(message) if len(s.districts) == 1]
    return codes[-1] if codes else None
