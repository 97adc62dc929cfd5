"""Finding service points: by category, region and item; details of a listed point."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from sqlalchemy.orm import Session
from typing_extensions import override

from actions.base import CatalogAction
from actions.context import (
    SERVICE_PREFIX,
    State,
    channel_point,
    current_place,
    intent,
    mentioned_item,
    mentioned_needs,
    mentioned_place,
    negated_needs,
    ordinal,
    place_problem,
    remember,
    text,
    wants_nearby,
    wants_rental,
)
from catalog.freshness import is_stale
from catalog.lexicon import covered_cities, load_taxonomy
from catalog.models import as_date
from catalog.query import Place, Regions, category_facts, find_services, get_service, nearest_services
from language.concepts import catalog_needs, concept_item, concept_needs, rents
from language.numbers import position_index
from replies import Button, Reply, button, intent_payload, t, templates
from replies.status import distance_line, level_label, point_status_note, status_short

LIMIT = 5


def point_lines(n: int, p: dict, head_key: str = "service_line") -> list[str]:
    """The lines of one listed point: number, name, status note, the fields that are set, rental prices, stale note."""
    fields = templates()["service_fields"]
    lines = [t(head_key, n=n, name=p["name"], demo=point_status_note(p))]
    if p.get("status") == "planned" and p.get("source"):
        lines.append("   " + t("planned_source", document=p["source"]))
    for key, tpl in fields.items():
        if p.get(key) not in (None, ""):
            lines.append("   " + (distance_line(p) if key == "distance_km" else tpl.format(value=p[key])))
    for it in p.get("items") or []:
        lines.append(t("rental_line", item=it["name"], **{k: _num(it.get(k)) for k in
                                                            ("price_day", "price_month", "deposit")}))
    d = as_date(p.get("last_verified"))
    if d is not None and is_stale(d):  # older than CATALOG_STALE_DAYS: say when, suggest a call
        lines.append("   " + t("stale_note", year=d.year, month=d.month))
    return lines


def _num(v: float | None) -> str:
    if v is None:
        return "—"
    return str(int(v)) if float(v).is_integer() else str(v)


def region_buttons(names: list[str] | None = None) -> list[Button]:
    """Buttons that answer "which place?" (the covered cities unless other names are given)."""
    names = names or [c for _, cities in covered_cities() for c in cities]
    return [button(n, intent_payload("inform", region=n)) for n in names]


def category_buttons() -> list[Button]:
    """One button per service category, each sending its find_<category> intent."""
    return [button(v["name"], intent_payload(f"find_{c}")) for c, v in load_taxonomy().categories.items()]


def ask_place(reply: Reply, problem: tuple[str, list[str]]) -> Reply:
    """Ask back about a place we can't use: ambiguous (with its options) or not covered."""
    name, options = problem
    reply.ask = "region"
    if options:
        reply.buttons = region_buttons(options)
        return reply.say(t("ambiguous_region", name=name, options="、".join(options)))
    reply.buttons = region_buttons()
    return reply.say(t("unknown_region", name=name))


def answer_service(
    session: Session, regions: Regions, category: str, place: Place | None, item: str | None,
) -> tuple[Reply, list[EventType]]:
    """List up to LIMIT points, or ask for the region when none is known."""
    names = load_taxonomy().categories
    label = item or names[category]["name"]
    if category != "equipment_rental":
        item = None
    reply = Reply("find_service", category=category, place=place, item=item)
    memory = remember(category=category, item=item, topic=None, last_task="find_service")
    if place is None:
        reply.ask = "region"
        reply.buttons = region_buttons()
        return reply.say(t("ask_region")), memory
    rows = find_services(session, regions, category, place.code, item, LIMIT)
    if not rows and item:
        reply.say(t("services_item_none", place=place.name, item=item))
        rows = find_services(session, regions, category, place.code, None, LIMIT)
    if not rows:
        reply.say(t("services_none", place=place.name, category=label))
    else:
        if not reply.texts:
            reply.say(t("services_head", place=place.name, category=label))
        for n, p in enumerate(rows, 1):
            reply.say(*point_lines(n, p))
        if place.level != "district":
            reply.say(t("services_city_hint", place=place.name))
        reply.say(t("more_hint"))
    planned = find_services(session, regions, category, place.code, item, LIMIT, status="planned")
    if planned:
        reply.say(t("planned_head"))
        for n, p in enumerate(planned, len(rows) + 1):
            reply.say(*point_lines(n, p))
    reply.say(*fact_lines(category_facts(session, regions, category, place.code), label))
    reply.items = rows + planned
    return reply, memory + remember(region_code=place.code, last_items=[p["id"] for p in reply.items])


def fact_lines(facts: list[dict], label: str) -> list[str]:
    """What the documents covering the place say about a service, subsidies first under their own heading."""
    lines = []
    for heading, group in (("facts_subsidy_head", [f for f in facts if f["subsidy"]]),
                           ("facts_head", [f for f in facts if not f["subsidy"]])):
        if group:
            lines.append(t(heading, category=label))
        for f in group:
            src = f["source"]
            lines.append(t("fact_line", level=level_label(f), title=f["title"], status=status_short(f),
                           summary=f["summary"], document=src.get("document"), clause=src.get("clause"),
                           quote=src.get("quote")))
    return lines


def wanted_place(tracker: Tracker, regions: Regions, state: State) -> Place | None:
    """The place to search: as current_place, widened to its city when the user asks across the city (全市/市内)."""
    place = current_place(tracker, regions, state)
    if place and place.level == "district" and place.city and "city_wide" in concept_needs(text(tracker)):
        return regions.resolve(place.city) or place
    return place


class ActionFindService(CatalogAction):
    """Service points of a category (and item) in the conversation's place, nearest first when asked."""

    task = "find_service"

    @override
    def name(self) -> str:
        return "action_find_service"

    @override
    def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        state = State.of(tracker)
        name = intent(tracker)
        category = name.removeprefix(SERVICE_PREFIX) if name.startswith(SERVICE_PREFIX) else state.category
        item = mentioned_item(tracker)
        message = text(tracker)
        needs = mentioned_needs(message)
        if len(needs) > 1 and name in needs and needs[0].startswith(SERVICE_PREFIX) \
                and needs[0] in catalog_needs(message, now_only=True) \
                and (needs[0] != "find_equipment_rental" or wants_rental(message)):  # an item can be a condition
            category = needs[0].removeprefix(SERVICE_PREFIX)  # several needs: answer the first, offer the rest
        if item and wants_rental(message) and needs[:1] == ["find_equipment_rental"]:
            category = "equipment_rental"  # "想租个洗澡凳": renting comes first, whatever the service words
        if not item and (category == "equipment_rental" or rents(message)):
            item = concept_item(message)  # described by what it does: "能把床头摇高的床"
            category = "equipment_rental" if item and rents(message) else category
        if not item and category == "equipment_rental" and state.category == "equipment_rental":
            item = state.item
        if name in negated_needs(message):  # "不要X 要Y": the service not refused
            category = next((n.removeprefix(SERVICE_PREFIX) for n in needs if n.startswith(SERVICE_PREFIX)), category)
        category = category or "meal"
        if mentioned_place(tracker, regions) is None and (problem := place_problem(message, regions)):
            reply = ask_place(Reply("find_service", category=category, item=item), problem)
            return reply, remember(category=category, item=item, topic=None, last_task="find_service")
        shared = tracker.get_slot("user_point")
        point = channel_point(tracker) or (tuple(shared) if shared else None)
        near = wants_nearby(message) or (shared and not state.region_code)  # location sent before the service
        if point and near and mentioned_place(tracker, regions) is None:
            reply, events = answer_nearby(session, regions, state, category, item, point)
        else:
            reply, events = answer_service(session, regions, category, wanted_place(tracker, regions, state), item)
        reply.offer([n for n in needs if n != f"{SERVICE_PREFIX}{category}"], item)
        return reply, events


def answer_point_detail(
    tracker: Tracker, session: Session, regions: Regions, state: State,
) -> tuple[Reply, list[EventType]]:
    """Details of the n-th point of the last list ("第二个电话多少")."""
    place = state.place(regions)
    reply = Reply("find_service", category=state.category, place=place, item=state.item)
    if not state.last_items:
        return reply.say(t("no_last_items")), []
    count = len(state.last_items)
    n = ordinal(text(tracker)) or (1 if count == 1 else None)
    if n is None:  # several places and no "第几个": ask rather than guess
        return reply.say(t("ask_which_item", count=count)), []
    index = position_index(n, count)
    if index is None:
        return reply.say(t("no_such_item", n=abs(n), count=count)), []
    point = get_service(session, regions, state.last_items[index])
    if point is None:
        return reply.say(t("no_last_items")), []
    reply.items = [point]
    reply.category = point.get("category") or reply.category
    memory = [] if reply.category == state.category else remember(category=reply.category, topic=None,
                                                                     last_task="find_service")
    return reply.say(*point_lines(index + 1, point, "service_detail_head")), memory


def _coordinate(tracker: Tracker, name: str) -> float | None:
    for e in tracker.latest_message.get("entities") or []:
        if e.get("entity") == name:
            try:
                return float(e["value"])
            except (TypeError, ValueError):
                return None
    return None


def answer_nearby(session: Session, regions: Regions, state: State, category: str | None, item: str | None,
                  point: tuple[float, float]) -> tuple[Reply, list[EventType]]:
    """The nearest points of a category to a point, by great-circle distance."""
    place = state.place(regions)
    reply = Reply("find_service", category=category, place=place, item=item)
    if not category:
        reply.ask = "category"
        reply.buttons = category_buttons()
        return reply.say(t("ask_category_near")), remember(user_point=list(point))
    rows = nearest_services(session, regions, point[0], point[1], category, item, LIMIT)
    reply.say(t("services_near_head", category=item or load_taxonomy().categories[category]["name"]))
    for n, p in enumerate(rows, 1):
        reply.say(*point_lines(n, p))
    reply.items = rows
    return reply, remember(category=category, item=item, last_items=[p["id"] for p in rows],
                           last_task="find_service", user_point=list(point))


class ActionNearby(CatalogAction):
    """A shared location (WeChat) or the kiosk's own: the nearest points of the conversation's service."""

    task = "find_service"

    @override
    def name(self) -> str:
        return "action_nearby"

    @override
    def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        state = State.of(tracker)
        lat, lng = _coordinate(tracker, "lat"), _coordinate(tracker, "lng")
        point = (lat, lng) if lat is not None and lng is not None else channel_point(tracker)
        if point is None or not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
            place = state.place(regions)
            return Reply("find_service", category=state.category, place=place).say(t("bad_location")), []
        return answer_nearby(session, regions, state, state.category, state.item, point)
