"""What the user said this turn and what the conversation already knows (slots)."""

from __future__ import annotations

from dataclasses import dataclass

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from catalog.query import Place, Regions
from language.aspects import aspect as aspect
from language.needs import mentioned_needs as mentioned_needs
from language.needs import negated_needs as negated_needs
from language.needs import wants_nearby as wants_nearby
from language.needs import wants_rental as wants_rental
from language.negation import negated
from language.normalize import normalize
from language.numbers import age as age
from language.numbers import ordinal as ordinal
from language.person import keyword_value as keyword_value
from language.places import ambiguous_city, ambiguous_default, ambiguous_meant, sub_place_district, sub_places
from language.places import place_problem as place_problem
from replies import t

SERVICE_PREFIX, POLICY_PREFIX = "find_", "policy_"


def intent(tracker: Tracker) -> str:
    """The intent Rasa predicted for the latest message ("" when none)."""
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


def text(tracker: Tracker) -> str:
    """The user's message as the NLU read it (normalized), so entity offsets match."""
    return normalize(tracker.latest_message.get("text") or "")


def _entities(tracker: Tracker, name: str) -> list[dict]:
    return [e for e in tracker.latest_message.get("entities") or [] if e.get("entity") == name]


def mentioned_place(tracker: Tracker, regions: Regions) -> Place | None:
    """The place named this turn: the last one not negated ("不是X区 是Y区" -> Y区).

    A city followed by one of its districts gives the district. Without a region or with only a city, an
    unambiguous street, town, community or landmark (of that city) gives its district; a region name inside such a
    name ("江汉二桥", "临沂市人民医院") is not a region. An ambiguous name (青山) is read in the city the message or the
    conversation is in (places.yml); an area spanning one city's districts (汉口) gives that city.
    """
    message = text(tracker)
    inside = [range(s.start, s.end) for s in sub_places(message)]
    best: Place | None = None
    for e in _entities(tracker, "region"):
        if negated(message, e.get("start")) or any(e.get("start") in r for r in inside):
            continue
        place = regions.resolve(str(e.get("value"))) or regions.resolve(str(e.get("text", "")))
        if place is None:
            continue
        if best and best.level == "district" and place.level != "district" and place.name in (best.city, best.province):
            continue  # "江岸 武汉" keeps the district
        best = place
    if (best is None or best.level == "city") and (code := sub_place_district(message)) \
            and (sub := regions.place(code)) and (best is None or sub.city == best.name):
        best = sub  # "咸宁温泉街道": the street's district of that city
    if best is None:
        if code := ambiguous_meant(message, regions, _known_city(tracker, regions)):
            best = regions.place(code)
        elif city := ambiguous_city(message, regions):
            best = regions.resolve(city)  # "汉口": every option in Wuhan, so the whole city
    return best


def _known_city(tracker: Tracker, regions: Regions) -> str | None:
    """The city the conversation or the channel already places the user in."""
    known = State.of(tracker).place(regions) or channel_place(tracker, regions)
    return known.city if known else None


def default_place_note(tracker: Tracker, regions: Regions, place: Place) -> str | None:
    """The line saying an ambiguous name (青山) was read as its usual place and how to ask for the other, when the
    answer is for that place."""
    found = ambiguous_default(text(tracker), regions, _known_city(tracker, regions))
    if found is None or found[1] != place.name:
        return None
    name, chosen, others = found
    return t("ambiguous_default", name=name, chosen=chosen, others="、".join(others))


def metadata(tracker: Tracker) -> dict:
    """What the channel says about where the user stands (a kiosk's configured place)."""
    meta = tracker.latest_message.get("metadata") or {}
    return meta if isinstance(meta, dict) else {}


def channel_place(tracker: Tracker, regions: Regions) -> Place | None:
    """The place the channel reports (the kiosk's region), if it names a known region."""
    name = metadata(tracker).get("region")
    return regions.resolve(str(name)) if name else None


def channel_point(tracker: Tracker) -> tuple[float, float] | None:
    """The coordinates the channel reports (the kiosk's position), if valid."""
    meta = metadata(tracker)
    try:
        lat, lng = float(meta["lat"]), float(meta["lng"])
    except (KeyError, TypeError, ValueError):
        return None
    return (lat, lng) if -90 <= lat <= 90 and -180 <= lng <= 180 else None


def current_place(tracker: Tracker, regions: Regions, state: State) -> Place | None:
    """The place named now, else the one the conversation knows, else the channel's own. A city or province named
    around a district already known keeps the district ("临沂天冷不冷" after 河东区)."""
    known = state.place(regions)
    named = mentioned_place(tracker, regions)
    if named and known and named.level != "district" and known.level == "district" \
            and named.name in (known.city, known.province):
        return known
    return named or known or channel_place(tracker, regions)


def mentioned_item(tracker: Tracker) -> str | None:
    """The last equipment item named in this message that is not negated."""
    items = [e for e in _entities(tracker, "item") if not negated(text(tracker), e.get("start"))]
    return str(items[-1]["value"]) if items else None


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
        """The conversation's place, if its region code is known."""
        return regions.place(self.region_code) if self.region_code else None

    @classmethod
    def of(cls, tracker: Tracker) -> State:
        """The conversation's state from the tracker's slots."""
        g = tracker.get_slot
        return cls(g("region_code"), g("category"), g("topic"), g("item"), g("last_task"),
                   list(g("last_items") or []), g("policy_id"))


def remember(**slots: object) -> list[SlotSet]:
    """SlotSet events for the given slots."""
    return [SlotSet(k, v) for k, v in slots.items()]
