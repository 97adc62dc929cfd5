"""What the user said this turn and what the conversation already knows (slots)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from catalog.lexicon import load_taxonomy
from catalog.query import Place, Regions
from language.normalize import normalize
from replies import templates

SERVICE_PREFIX, POLICY_PREFIX = "find_", "policy_"


def intent(tracker: Tracker) -> str:
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


def text(tracker: Tracker) -> str:
    """The user's message as the NLU read it (normalized), so entity offsets match."""
    return normalize(tracker.latest_message.get("text") or "")


def _entities(tracker: Tracker, name: str) -> list[dict]:
    return [e for e in tracker.latest_message.get("entities") or [] if e.get("entity") == name]


def _negated(message: str, start: int | None) -> bool:
    if start is None:
        return False
    before = message[max(0, start - 3):start]
    return any(n in before for n in templates()["negations"])


def mentioned_place(tracker: Tracker, regions: Regions) -> Place | None:
    """The place named this turn: the last one not negated ("不是江汉区 是汉阳区" -> 汉阳区).

    A city followed by one of its districts ("武汉江岸") gives the district.
    """
    message = text(tracker)
    best: Place | None = None
    for e in _entities(tracker, "region"):
        if _negated(message, e.get("start")):
            continue
        place = regions.resolve(str(e.get("value"))) or regions.resolve(str(e.get("text", "")))
        if place is None:
            continue
        if best and best.level == "district" and place.level != "district" and place.name in (best.city, best.province):
            continue  # "江岸 武汉" keeps the district
        best = place
    return best


# A name of 2-3 characters ending in 省/市/区/县 that is not followed by 城/里/委… ("县城", "区里").
_PLACE_RE = re.compile(r"([\u4e00-\u9fff]{2,3}?(?:省|市|区|县))(?![城里委政医级内外长])")
_NOT_IN_NAMES = set("在的是我你他她住到去人老家和跟有没个这那哪")


def place_problem(message: str, regions: Regions) -> tuple[str, list[str]] | None:
    """A place the user named that we can't use: (name, options) — options empty when not covered."""
    tpl = templates()
    for name, options in tpl["ambiguous_places"].items():
        if name in message:
            return name, list(options)
    known = regions.names()
    for name in tpl["outside_places"]:
        if name in message and not any(k in message and name in k for k in known):
            return name, []
    for m in _PLACE_RE.finditer(message):
        word = m.group(1)
        if _NOT_IN_NAMES & set(word) or any(word.endswith(sw) for sw in tpl["place_suffix_stopwords"]):
            continue
        if not any(k in word or word in k for k in known):
            return word, []
    return None


def metadata(tracker: Tracker) -> dict:
    """What the channel says about where the user stands (a kiosk's configured place)."""
    meta = tracker.latest_message.get("metadata") or {}
    return meta if isinstance(meta, dict) else {}


def channel_place(tracker: Tracker, regions: Regions) -> Place | None:
    name = metadata(tracker).get("region")
    return regions.resolve(str(name)) if name else None


def channel_point(tracker: Tracker) -> tuple[float, float] | None:
    meta = metadata(tracker)
    try:
        lat, lng = float(meta["lat"]), float(meta["lng"])
    except (KeyError, TypeError, ValueError):
        return None
    return (lat, lng) if -90 <= lat <= 90 and -180 <= lng <= 180 else None


def wants_rental(message: str) -> bool:
    return any(w in message for w in templates()["rent_words"])


def wants_nearby(message: str) -> bool:
    return any(w in message for w in templates()["nearby_words"])


def current_place(tracker: Tracker, regions: Regions, state: State) -> Place | None:
    """The place named now, else the one the conversation knows, else the channel's own."""
    return (mentioned_place(tracker, regions)
            or state.place(regions)
            or channel_place(tracker, regions))


def mentioned_needs(message: str) -> list[str]:
    """Intents named by catalog words in the message, in order, skipping negated ones.

    "不要养老院 要日间照料" -> ["find_day_care"]; "助餐点 顺便问下能不能租轮椅" -> ["find_meal",
    "find_equipment_rental"]. Words come from catalog/data/taxonomy.yaml; longer words win.
    """
    tax = load_taxonomy()
    words = [(w, f"find_{c}") for c, v in tax.categories.items() for w in v["words"]]
    words += [(w, f"policy_{c}") for c, v in tax.topics.items() for w in v["words"]]
    words += [(w, "find_equipment_rental") for w in tax.item_words()]
    found: list[tuple[int, str]] = []
    taken = [False] * len(message)
    for word, need in sorted(words, key=lambda x: -len(x[0])):
        start = message.find(word)
        while start >= 0:
            span = range(start, start + len(word))
            if not any(taken[i] for i in span):
                for i in span:
                    taken[i] = True
                if not _negated(message, start):
                    found.append((start, need))
            start = message.find(word, start + len(word))
    return list(dict.fromkeys(need for _, need in sorted(found)))


def negated_needs(message: str) -> set[str]:
    """Intents whose catalog words appear only after a negation ("不要养老院")."""
    tax = load_taxonomy()
    out = set()
    for c, v in tax.categories.items():
        for w in v["words"]:
            pos = message.find(w)
            if pos >= 0 and _negated(message, pos):
                out.add(f"find_{c}")
    return out


def mentioned_item(tracker: Tracker) -> str | None:
    items = [e for e in _entities(tracker, "item") if not _negated(text(tracker), e.get("start"))]
    return str(items[-1]["value"]) if items else None


def ordinal(message: str) -> int | None:
    """1-based position named in "第二个" / "第2家"; -1 for "最后"."""
    for word, n in sorted(templates()["ordinals"].items(), key=lambda kv: -len(kv[0])):
        if word in message:
            return int(n)
    return None


def aspect(message: str) -> str | None:
    """Which part of the last answer a follow-up asks about (materials, where, phone, ...)."""
    best: tuple[int, str] | None = None
    for name, words in templates()["aspects"].items():
        for w in words:
            pos = message.find(w)
            if pos >= 0 and (best is None or pos < best[0]):
                best = (pos, name)
    return best[1] if best else None


def age(message: str) -> int | None:
    m = re.search(r"(\d{2,3})\s*(?:岁|周岁|了)?", message)
    if m and 40 <= int(m.group(1)) <= 120:
        return int(m.group(1))
    return None


def keyword_value(message: str, table: str) -> str | None:
    """First value of templates.yml table `table` whose key occurs in the message (longest key wins)."""
    for word, value in sorted(templates()[table].items(), key=lambda kv: -len(kv[0])):
        if word in message:
            return str(value)
    return None


@dataclass
class State:
    """The conversation's memory, kept in slots."""

    region_code: str | None
    category: str | None
    topic: str | None
    item: str | None
    last_task: str | None
    last_items: list[str]
    policy_id: str | None

    def place(self, regions: Regions) -> Place | None:
        return regions.place(self.region_code) if self.region_code else None

    @classmethod
    def of(cls, tracker: Tracker) -> State:
        g = tracker.get_slot
        return cls(g("region_code"), g("category"), g("topic"), g("item"), g("last_task"),
                   list(g("last_items") or []), g("policy_id"))


def remember(**slots: object) -> list[SlotSet]:
    return [SlotSet(k, v) for k, v in slots.items()]
