"""Places in a message below and beside the catalog's regions: streets, towns, communities and landmarks that
name a district (language/towns.yml, generated; language/landmarks.yml), and places we can't use (outside the
covered cities, or ambiguous). The regions themselves are the catalog's (catalog.query.Regions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from catalog.lexicon import load_regions
from catalog.query import Regions
from language.normalize import NUMERAL_CHARS, clean
from language.words import words

_CLAUSE = re.compile(r"[，,。.！!？?；;、：:\s]+")

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
def _index() -> tuple[dict[str, tuple[str, ...]], tuple[int, ...], dict[str, tuple[tuple[str, ...], str]]]:
    """Normalized name -> district codes, the name lengths (longest first), and two-character names -> (codes,
    the section saying how they must stand: short_names, home_names or bare_names)."""
    towns = words("towns")

    def table(section: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for code, names in towns.get(section, {}).items():
            for name in names:
                out.setdefault(clean(name) if set(name) & set(NUMERAL_CHARS) else name, set()).add(code)
        return out

    names = table("districts")
    by_name = {r["name"]: r["code"] for r in load_regions()}
    for district, landmarks in words("landmarks")["landmarks"].items():
        for name in landmarks:
            names[clean(name)] = {by_name[district]}
    index = {n: tuple(sorted(c)) for n, c in names.items()}
    short = {n: (tuple(sorted(c)), section) for section in ("short_names", "home_names", "bare_names")
             for n, c in table(section).items()}
    short |= {n: ((code,), "home_names") for n, code in words("places")["home_names"].items()}
    return index, tuple(sorted({len(n) for n in index}, reverse=True)), short


def _stands_as_place(message: str, start: int, end: int, section: str) -> bool:
    """Whether a two-character name stands as a place: the whole message, or with a cue. A town name (关山) after
    在/住… or before 那边/附近… or a service word (有食堂吗); a rare ordinary word (宗关) only after 住/家在… or before
    那边/附近…; a common ordinary word (纸坊) only as the whole message ("俺家是金口的" too). A town name or a rare
    word also stands at a clause's end, alone or after 在/住 ("要订午饭 在大集")."""
    cues = words("places")["short_name_cues"]
    before, after = message[:start], message[end:]
    if not (before + after).strip(cues["filler"]):
        return True
    if before.strip(cues["filler"]) in cues["bare_before"] and not after.strip(cues["filler"] + "的"):
        return True  # the whole answer: "俺家是金口的"
    clause_before, clause_after = _CLAUSE.split(before)[-1].strip(cues["filler"]), _CLAUSE.split(after)[0]
    if section != "bare_names" and not clause_after.strip(cues["filler"]) \
            and (not clause_before or clause_before.endswith(tuple(cues["before"]))):
        return True  # the end of a clause, alone or after 在/住 ("要订午饭 在大集")
    if section == "home_names":
        return before.endswith(tuple(cues["home_before"])) or after.startswith(tuple(cues["home_after"]))
    return section == "short_names" and (before.endswith(tuple(cues["before"]))
                                         or after.startswith(tuple(cues["after"] + cues["service_after"])))


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
            codes, section = short.get(message[i:i + 2], ((), ""))
            if codes and _stands_as_place(message, i, i + 2, section):
                found.append(SubPlace(message[i:i + 2], i, i + 2, codes))
                i += 2
            else:
                i += 1
    return found


def _options(regions: Regions, codes: tuple[str, ...]) -> list[str]:
    return [p.name for c in codes if (p := regions.place(c))]


def _known_spans(message: str, regions: Regions) -> list[range]:
    """Where the message names a known street, town, landmark or a region of more than two characters."""
    inside = [range(s.start, s.end) for s in sub_places(message)]
    return inside + [range(m.start(), m.end()) for k in regions.names() for m in re.finditer(re.escape(k), message)
                     if len(k) > 2]


def _ambiguous_names(message: str, regions: Regions) -> list[tuple[re.Match, list[str]]]:
    """Ambiguous names (places.yml ambiguous_places) in the message that are not part of a longer known name
    ("青山区", "蔡店街道", "汉口火车站"), with their options."""
    inside = _known_spans(message, regions)
    return [(m, list(options)) for name, options in words("places")["ambiguous_places"].items()
            for m in re.finditer(re.escape(name), message)
            if not any(m.start() in r and len(r) > len(name) for r in inside)]


def _meant_in_context(message: str, regions: Regions, city: str | None) -> tuple[str | None, str | None, str]:
    """(the district code an ambiguous name stands for by the message or the conversation's city, or None; the
    code of the name's usual option when nothing hints at a city, or None; the name, "" without one)."""
    found = [(m.group(), [p.code for o in options if (p := regions.resolve(o))])
             for m, options in _ambiguous_names(message, regions)]
    found += [(s.name, list(s.districts)) for s in sub_places(message) if len(s.districts) > 1]
    if not found:
        return None, None, ""
    name, codes = found[-1]
    rest = message.replace(name, "")
    named = [p for k in regions.names() if len(k) >= 2 and k in rest if (p := regions.resolve(k)) and p.city]
    named += [p for s in sub_places(rest) if len(s.districts) == 1 and (p := regions.place(s.districts[0]))]
    cities = {p.city for p in named} or ({city} if city else set())
    meant = [p for c in codes if (p := regions.place(c)) and p.city in cities]
    if len(cities) == 1 and len(meant) == 1:
        return meant[0].code, None, name
    default = regions.resolve(words("places")["ambiguous_defaults"].get(name, "")) if not cities else None
    return None, default.code if default and default.code in codes else None, name


def ambiguous_meant(message: str, regions: Regions, city: str | None = None) -> str | None:
    """The district code an ambiguous name (places.yml ambiguous_places, or a town name of several districts)
    stands for when its options lie in different cities and the message (any region or place named in it, even one
    the user moved away from) or else the conversation (`city`) places the user in one of them: "从武昌搬到青山"
    -> 青山区, not 崇阳县青山镇. Without any such hint, its usual option (places.yml ambiguous_defaults). None when it
    stays ambiguous."""
    meant, default, _ = _meant_in_context(message, regions, city)
    return meant or default


def ambiguous_default(message: str, regions: Regions, city: str | None = None) -> tuple[str, str, list[str]] | None:
    """(name, the option it was read as, its other options) when an ambiguous name of the message was read as its
    usual option (places.yml ambiguous_defaults) because nothing said which; None otherwise."""
    _, code, name = _meant_in_context(message, regions, city)
    if code is None:
        return None
    default = words("places")["ambiguous_defaults"][name]
    return name, default, [o for o in words("places")["ambiguous_places"][name] if o != default]


def ambiguous_city(message: str, regions: Regions) -> str | None:
    """The city an area spanning several districts lies in ("汉口": 江岸区, 江汉区, 硚口区 -> 武汉市; places.yml
    ambiguous_areas), the name of the whole city to answer for; None when there is none or it lies in several
    cities."""
    areas = words("places")["ambiguous_areas"]
    found = [[regions.resolve(o) for o in options] for m, options in _ambiguous_names(message, regions)
             if m.group() in areas]
    cities = {p.city for p in found[-1] if p} if found else set()
    return cities.pop() if len(cities) == 1 else None


def place_problem(message: str, regions: Regions) -> tuple[str, list[str]] | None:
    """A place the user named that we can't use: (name, options), options empty when it is not covered.

    Ambiguous: a name of several districts ("汉口", or a community name found in two districts).
    Not covered: a city outside the catalog ("北京", but not "北京路"), or an unknown name ending in 省/市/区/县.
    """
    tpl = words("places")
    subs = sub_places(message)
    known = regions.names()
    inside = _known_spans(message, regions)
    if ambiguous := _ambiguous_names(message, regions):
        return ambiguous[0][0].group(), ambiguous[0][1]
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
