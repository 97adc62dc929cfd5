"""Eligibility: a form gathers region, age, self-care ability and economic status, then matches policies."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session
from typing_extensions import override

from actions.base import CatalogAction
from actions.catalog_api import CatalogUnavailable, in_catalog
from actions.context import age, channel_place, intent, keyword_value, mentioned_place, remember, text
from actions.services import region_buttons
from catalog.conditions import Person
from catalog.lexicon import load_taxonomy
from catalog.query import Place, Regions, matching_policies
from language.concepts import catalog_needs
from replies import Reply, button, t, templates
from replies.contract import PolicyRef
from replies.status import level_label, status_short, verdict_asks, verdict_text

FORM = "eligibility_form"
ASKS = {"region_code": "region", "age": "age", "self_care": "self_care", "economic": "economic"}


OTHER_TASKS = ("emergency", "handoff", "greet", "thank", "goodbye", "bot_challenge", "capabilities")


def answers_the_form(name: str, message: str) -> bool:
    """Whether a message during the form is read as its answer: anything but another task ("七十九岁" whatever the
    classifier thought), and not a question that names a service or policy ("高龄津贴去哪领")."""
    return name not in OTHER_TASKS and not (name.startswith(("find_", "policy_")) and catalog_needs(message))


class ValidateEligibilityForm(FormValidationAction):
    """Reads every answer from each message, so "82岁 半失能 低保户" fills three slots at once.

    A message of another kind (a service, an emergency) extracts nothing, so the form rejects it
    and that message's own rule answers.
    """

    @override
    def name(self) -> str:
        return f"validate_{FORM}"

    @override
    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: dict[str, Any]) -> list[str]:
        return domain_slots if answers_the_form(intent(tracker), text(tracker)) else []

    async def extract_region_code(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: dict[str, Any]) -> dict[str, Any]:
        """The place named in this message, or the channel's place when none is known yet."""
        try:
            place = await in_catalog(lambda _session, regions: mentioned_place(tracker, regions) or (
                None if tracker.get_slot("region_code") else channel_place(tracker, regions)))
        except CatalogUnavailable:
            return {}
        return {"region_code": place.code} if place else {}

    async def extract_age(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: dict[str, Any]) -> dict[str, Any]:
        """The age said in this message ("85岁", "1945年出生")."""
        value = age(text(tracker))
        return {"age": float(value)} if value else {}

    async def extract_self_care(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: dict[str, Any]) -> dict[str, Any]:
        """Self-care ability from this message's words (self_care_words)."""
        value = keyword_value(text(tracker), "self_care_words")
        return {"self_care": value} if value else {}

    async def extract_economic(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: dict[str, Any]) -> dict[str, Any]:
        """Economic status from this message's words (economic_words)."""
        value = keyword_value(text(tracker), "economic_words")
        return {"economic": value} if value else {}


def ask_reply(tracker: Tracker, slot: str) -> Reply:
    """The form's question for a slot, with its buttons."""
    reply = Reply("eligibility", ask=ASKS[slot])
    if slot == "region_code":
        reply.buttons = region_buttons()
        return reply.say(t("ask_region"))
    if slot in ("self_care", "economic"):
        reply.buttons = [button(v) for v in templates()[f"{slot}_buttons"]]
    return reply.say(t(f"ask_{slot}"))


def _make_ask_action(slot: str) -> type[Action]:
    class AskSlot(CatalogAction):
        task = "eligibility"

        def name(self) -> str:
            return f"action_ask_{slot}"

        def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
            reply = ask_reply(tracker, slot)
            code = tracker.get_slot("region_code")
            reply.place = regions.place(code) if code else None
            return reply, []

    AskSlot.__name__ = f"ActionAsk_{slot}"
    return AskSlot


ASK_ACTIONS = [_make_ask_action(s) for s in ASKS]


def answer_eligibility(
    tracker: Tracker, session: Session, regions: Regions, place: Place,
) -> tuple[Reply, list[EventType]]:
    """Every policy covering the place whose stated conditions the person meets (and why), then those that
    depend on something not yet known (and what to ask)."""
    raw_age = tracker.get_slot("age")
    person = Person(int(raw_age) if raw_age else None, tracker.get_slot("self_care"), tracker.get_slot("economic"))
    topics = list(load_taxonomy().topics)
    found, to_check = matching_policies(session, regions, place.code, person, topics)
    facts = "，".join(x for x in (place.name, f"{person.age}岁" if person.age else "", person.self_care,
                                  person.economic) if x)
    reply = Reply("eligibility", place=place)
    labels = templates()["intent_labels"]
    if not found:
        reply.say(t("eligibility_none", facts=facts, place=place.name))
    else:
        reply.say(t("eligibility_head", facts=facts, place=place.name))
        for n, (p, v) in enumerate(found, 1):
            reply.say(t("eligibility_line", n=n, level=level_label(p), title=p["title"], status=status_short(p),
                        summary=p["summary"]),
                      t("eligibility_why", why=verdict_text(v)))
    if to_check:
        reply.say(t("eligibility_check_head"))
        for n, (p, v) in enumerate(to_check, 1):
            reply.say(t("eligibility_check_line", n=n, level=level_label(p), title=p["title"], asks=verdict_asks(v)))
    if found:
        reply.say(t("eligibility_tail"))
        topics_seen = list(dict.fromkeys(p["topic"] for p, _ in found))
        reply.buttons = [button(labels[f"policy_{tp}"], f"/policy_{tp}") for tp in topics_seen[:6]]
    reply.policies = [_ref(p, verdict_text(v)) for p, v in found]
    reply.policies_to_check = [_ref(p, verdict_asks(v)) for p, v in to_check]
    return reply, remember(region_code=place.code, last_task="eligibility", category=None, topic=None)


def _ref(p: dict, why: str) -> PolicyRef:
    return {"id": p["id"], "topic": p["topic"], "title": p["title"], "level": p["level"], "status": p["status"],
            "why": why}


class ActionEligibility(CatalogAction):
    """What an older person can get at the form's place, age, self-care ability and economic status."""

    task = "eligibility"

    @override
    def name(self) -> str:
        return "action_eligibility"

    @override
    def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        code = tracker.get_slot("region_code")
        place = regions.place(code) if code else None
        if place is None:
            return ask_reply(tracker, "region_code"), []
        return answer_eligibility(tracker, session, regions, place)
