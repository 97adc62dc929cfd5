"""Follow-ups, emergencies, hand-over to a person, small talk, out-of-scope and clarification."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session
from typing_extensions import override

from actions.base import CatalogAction
from actions.context import (
    POLICY_PREFIX,
    SERVICE_PREFIX,
    State,
    aspect,
    current_place,
    intent,
    mentioned_item,
    mentioned_needs,
    mentioned_place,
    ordinal,
    place_problem,
    remember,
    text,
)
from actions.eligibility import answer_eligibility, answers_the_form, ask_reply
from actions.policies import answer_policy, answer_policy_detail
from actions.services import answer_point_detail, answer_service, ask_place, category_buttons
from catalog.query import Regions
from language.concepts import concept_item, concept_needs, off_topic, rents, story_only
from language.keywords import emergency_kind
from language.numbers import age
from replies import Reply, button, t, templates
from replies.contract import Task

NEED_PREFIXES = (SERVICE_PREFIX, POLICY_PREFIX)


class ActionFollowUp(CatalogAction):
    """A turn that only adds to the last one: a place, an item, or a question about the answer."""

    task = "find_service"

    @override
    def name(self) -> str:
        return "action_follow_up"

    @override
    def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        state = State.of(tracker)
        place = mentioned_place(tracker, regions)
        item = mentioned_item(tracker)
        if item is None and (state.category == "equipment_rental" or rents(text(tracker))):
            item = concept_item(text(tracker))
        known = place or state.place(regions)
        if place is None and (problem := place_problem(text(tracker), regions)):
            task: Task = "policy" if state.last_task == "policy" else "find_service"
            return ask_place(Reply(task, category=state.category, topic=state.topic, item=state.item), problem), []
        if item:
            return answer_service(session, regions, "equipment_rental", known, item)
        if not state.last_task and place is None:
            return clarify(tracker, session, regions, state)  # a "follow-up" with nothing to follow
        if intent(tracker) == "ask_detail" and place is None:
            message = text(tracker)
            needs = mentioned_needs(message) + concept_needs(message)
            of_list = ordinal(message) and state.last_items \
                and (any(n.startswith("find_") for n in needs) or "list_followup" in needs or rents(message))
            if state.last_task == "policy" and not of_list:  # an ordinal after a policy answer: the list
                return answer_policy_detail(tracker, session, regions, state)
            return answer_point_detail(tracker, session, regions, state)
        if state.last_task == "policy" and state.topic:
            return answer_policy(session, regions, state.topic, known)
        if state.last_task == "eligibility" and known:
            return answer_eligibility(tracker, session, regions, known)
        if state.last_task == "find_service" and state.category:
            return answer_service(session, regions, state.category, known, state.item)
        reply = Reply("find_service", place=known, ask="category")
        reply.buttons = category_buttons()
        reply.say(t("ask_category", place=known.name if known else ""))
        return reply, remember(region_code=known.code) if known else []


def _emergency_first(message: str) -> tuple[str, str]:
    """(kind of situation, the first line's template): the number(s) to call come first (language/safety.yml)."""
    kind = emergency_kind(message)
    return kind, f"emergency_{kind}" if f"emergency_{kind}" in templates() else "emergency"


class ActionEmergency(CatalogAction):
    """Falls, unconsciousness, a missing person…: the emergency number first, then what to do meanwhile."""

    task = "emergency"

    @override
    def name(self) -> str:
        return "action_emergency"

    @override
    def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        kind, first = _emergency_first(text(tracker))
        tips = templates()["emergency_tips"]
        state = State.of(tracker)
        place = state.place(regions)
        reply = Reply("emergency", place=place).say(t(first), tips.get(kind, tips["default"]))
        return reply, []

    @override
    def apology(self, tracker: Tracker) -> Reply:
        # Without the database the first words still send the user to 120/110.
        _, first = _emergency_first(text(tracker))
        return Reply("emergency").say(t(first), templates()["emergency_tips"]["default"])


class ActionHandoff(CatalogAction):
    """Give the hotline and flag the conversation for the operators' console."""

    task = "handoff"

    @override
    def name(self) -> str:
        return "action_handoff"

    @override
    def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        state = State.of(tracker)
        place = current_place(tracker, regions, state)  # the operators see where a complaint is about
        reply = Reply("handoff", place=place, category=state.category, topic=state.topic)
        reply.say(t("handoff", phones=templates()["hotline"]))
        reply.handoff = True
        return reply, [SlotSet("handoff", True), *remember(region_code=place.code if place else state.region_code)]


class ActionChitchat(CatalogAction):
    """Greetings, thanks, goodbye, "are you a robot" and "what can you do"."""

    @override
    def name(self) -> str:
        return "action_chitchat"

    @override
    def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        name = intent(tracker)
        state = State.of(tracker)
        place = state.place(regions)
        reply = Reply("chitchat", place=place)
        reply.say(t(name if name in ("greet", "thank", "goodbye", "bot_challenge") else "capabilities"))
        if name in ("greet", "capabilities"):
            reply.buttons = list(templates()["capability_buttons"])
        return reply, []


class ActionOutOfScope(CatalogAction):
    """Anything else: what the bot can help with, unless the message still names a known need."""

    task = "out_of_scope"

    @override
    def name(self) -> str:
        return "action_out_of_scope"

    @override
    def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        state = State.of(tracker)
        if answer := understood(tracker, session, regions, state):
            return answer
        place = state.place(regions)
        reply = Reply("out_of_scope", place=place).say(t("out_of_scope", capabilities=t("capabilities")))
        reply.buttons = list(templates()["capability_buttons"])
        return reply, []


def _clarified_last_turn(tracker: Tracker) -> bool:
    """Whether the bot's previous turn was already a clarification."""
    seen_user = False
    for e in reversed(tracker.events):
        if e.get("event") == "user":
            if seen_user:
                return False
            seen_user = True
        elif seen_user and e.get("event") == "action" and e.get("name") != "action_listen":
            return e.get("name") == "action_clarify"
    return False


def understood(tracker: Tracker, session: Session, regions: Regions,
               state: State) -> tuple[Reply, list[EventType]] | None:
    """An answer for a message the classifier was unsure of, when its words say what it is: a question about the
    last answer, or a service or policy named (catalog words) or described (language/concepts.yml)."""
    message = text(tracker)
    if off_topic(message) or story_only(message):
        return None  # the weather in Wuhan is no follow-up of a list of Wuhan's canteens, nor is gossip a request
    slot = tracker.get_slot("requested_slot")
    if tracker.active_loop.get("name") and slot and answers_the_form(intent(tracker), message):
        reply = ask_reply(tracker, slot)  # an answer to the form's question that could not be read: ask again
        reply.place = state.place(regions)
        reply.texts.insert(0, t("form_unclear"))
        return reply, []
    place = mentioned_place(tracker, regions)
    if place and state.last_task == "find_service" and state.category:  # the place the bot asked for
        return answer_service(session, regions, state.category, place, state.item)
    if place and state.last_task == "policy" and state.topic:
        return answer_policy(session, regions, state.topic, place)
    if state.last_task == "policy" and aspect(message):
        return answer_policy_detail(tracker, session, regions, state)
    described = concept_needs(message)
    needs = mentioned_needs(message) or [n for n in described if n.startswith(NEED_PREFIXES)]
    if state.last_task == "policy" and state.topic \
            and ((age(message) and not described) or ("reimburse" in described and not needs)):
        return answer_policy(session, regions, state.topic, current_place(tracker, regions, state))  # the person's
        # age, or how much is paid back, asked after a policy answer: the same policy, nothing else asked
    if state.last_task == "find_service" and state.category and (ordinal(message) or aspect(message)):
        return answer_point_detail(tracker, session, regions, state)
    if state.last_task == "find_service" and state.category and not needs and "nearby" in described:
        return answer_service(session, regions, state.category, current_place(tracker, regions, state), state.item)
    if not needs:
        return None
    known = current_place(tracker, regions, state)
    if needs[0].startswith(SERVICE_PREFIX):
        category = needs[0].removeprefix(SERVICE_PREFIX)
        reply, events = answer_service(session, regions, category, known, mentioned_item(tracker)
                                       or concept_item(message))
    else:
        reply, events = answer_policy(session, regions, needs[0].removeprefix(POLICY_PREFIX), known)
    return reply.offer(needs[1:]), events


def clarify(tracker: Tracker, session: Session, regions: Regions, state: State) -> tuple[Reply, list[EventType]]:
    """Two-stage fallback: the likeliest intents first, then the hotline and a person."""
    if answer := understood(tracker, session, regions, state):
        return answer
    reply = Reply("out_of_scope", place=state.place(regions))
    labels = templates()["intent_labels"]
    if _clarified_last_turn(tracker):
        reply.buttons = [button(labels["handoff"], "/handoff")]
        return reply.say(t("clarify_give_up")), []
    ranking = tracker.latest_message.get("intent_ranking") or []
    likely = [r["name"] for r in ranking if r.get("name") in labels][:3]
    if len(likely) < 2 or not any("\u4e00" <= c <= "\u9fff" for c in text(tracker)):
        # Nothing to choose from ("嗯。"): a short prompt with the things people ask most.
        reply.buttons = list(templates()["capability_buttons"])
        return reply.say(t("clarify_empty")), []
    reply.buttons = [button(labels[n], f"/{n}") for n in likely] + [button(t("clarify_other"), "/out_of_scope")]
    return reply.say(t("clarify")), []


class ActionClarify(CatalogAction):
    """Rasa's nlu_fallback (low confidence) lands here."""

    task = "out_of_scope"

    @override
    def name(self) -> str:
        return "action_clarify"

    @override
    def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        return clarify(tracker, session, regions, State.of(tracker))


class ActionSessionStart(Action):
    """A new session keeps only the region: not the location, age, economic status, hand-off flag or last list."""

    @override
    def name(self) -> str:
        return "action_session_start"

    @override
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        if region := tracker.get_slot("region_code"):
            events.append(SlotSet("region_code", region))
        return [*events, ActionExecuted("action_listen")]
