"""Policies: every document on a topic that covers the place (local to provincial), and follow-ups about its parts."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
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
    place_problem,
    remember,
    text,
    wants_rental,
)
from actions.services import answer_service, ask_place, fact_lines, region_buttons
from catalog.lexicon import load_taxonomy
from catalog.query import Place, Regions, category_facts, get_policy, policies_for
from language.concepts import concept_needs
from replies import Reply, t, templates
from replies.status import level_label, status_line, status_short

SECTIONS = ("summary", "eligibility", "steps", "materials", "where", "phone")


def _numbered(values: list[str]) -> list[str]:
    return [f"   {n}. {v}" for n, v in enumerate(values, 1)]


def policy_lines(p: dict, sections: tuple[str, ...] = SECTIONS) -> list[str]:
    """The policy's text: its level and status, section by section, ending with its source and any guidance note."""
    lines = [t("policy_head", title=p["title"])]
    if p.get("level"):
        lines.append(t("policy_level", level=level_label(p)))
    lines.append(status_line(p))
    for s in sections:
        value = p.get(s)
        if not value:
            continue
        if s == "summary":
            lines.append(t("policy_summary", summary=value))
        elif s in ("eligibility", "steps", "materials"):
            lines += [t(f"policy_{s}"), *_numbered(value)]
        else:
            lines.append(t(f"policy_{s}", **{s: value}))
    names = templates()["guidance_field_names"]
    guided = [names[f] for f in p.get("guidance") or [] if f in sections and p.get(f) and f in names]
    if guided:
        lines.append(t("policy_guidance", fields="、".join(guided)))
    src = p["source"]
    lines.append(t("policy_source", document=src.get("document"), issuer=src.get("issuer"),
                   date=src.get("date"), clause=src.get("clause"), quote=src.get("quote")))
    return lines


def policy_brief(n: int, p: dict) -> list[str]:
    """A further document on the topic: level, title, status, summary and source, and any merged records."""
    lines = []
    for q in [p, *p.get("merged", [])]:
        src = q["source"]
        lines += [t("policy_more", n=n, level=level_label(q), title=q["title"], status=status_short(q),
                    summary=q["summary"]),
                  t("policy_more_source", document=src.get("document"), clause=src.get("clause"),
                    quote=src.get("quote"))]
    return lines


def answer_policy(
    session: Session, regions: Regions, topic: str, place: Place | None,
) -> tuple[Reply, list[EventType]]:
    """A topic's policies for the place, most local first, or a question for the place when it is unknown."""
    reply = Reply("policy", topic=topic, place=place)
    memory = remember(topic=topic, category=None, item=None, last_task="policy")
    if place is None:
        reply.ask = "region"
        reply.buttons = region_buttons()
        return reply.say(t("ask_region_policy")), memory + remember(policy_id=None)
    found = policies_for(session, regions, topic, place.code)
    memory += remember(region_code=place.code)
    if not found:
        name = load_taxonomy().topics[topic]["name"]
        return reply.say(t("policy_none", place=place.name, topic=name)), memory + remember(policy_id=None)
    first = found[0]
    reply.policy = first
    if len(found) > 1:
        name = load_taxonomy().topics.get(topic, {}).get("name", topic)
        reply.say(t("policy_scope_head", place=place.name, topic=name, count=len(found)))
    reply.say(*policy_lines(first))
    for q in first["merged"]:
        reply.say(*policy_brief(1, q))
    for n, p in enumerate(found[1:], 2):
        reply.say(*policy_brief(n, p))
    return reply, memory + remember(policy_id=first["id"])


class ActionPolicy(CatalogAction):
    """A policy topic explained: summary, who qualifies, steps, materials, where, with the source."""

    task = "policy"

    @override
    def name(self) -> str:
        return "action_policy"

    @override
    def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        state = State.of(tracker)
        name = intent(tracker)
        topic = name.removeprefix(POLICY_PREFIX) if name.startswith(POLICY_PREFIX) else state.topic
        topic = topic or "care_subsidy"
        item = mentioned_item(tracker)
        needs = mentioned_needs(text(tracker))
        if item and wants_rental(text(tracker)) and needs[:1] == ["find_equipment_rental"] \
                and "reimburse" not in concept_needs(text(tracker)):  # "…的钱能报吗" stays the policy
            # an aid to borrow is a rental; whether an insurance pays for renting one stays a policy question
            return answer_service(session, regions, "equipment_rental", current_place(tracker, regions, state), item)
        if mentioned_place(tracker, regions) is None and (problem := place_problem(text(tracker), regions)):
            return ask_place(Reply("policy", topic=topic), problem), remember(topic=topic, last_task="policy")
        place = current_place(tracker, regions, state)
        reply, events = answer_policy(session, regions, topic, place)
        services = [n.removeprefix(SERVICE_PREFIX) for n in needs if n.startswith(SERVICE_PREFIX)]
        if place and services:  # "助餐有补贴吗": also what the documents say about that service
            name = load_taxonomy().categories[services[0]]["name"]
            reply.say(*fact_lines(category_facts(session, regions, services[0], place.code), name))
        reply.offer([n for n in needs if n != f"{POLICY_PREFIX}{topic}"])
        return reply, events


def answer_policy_detail(
    tracker: Tracker, session: Session, regions: Regions, state: State,
) -> tuple[Reply, list[EventType]]:
    """One part of the last policy ("要带什么材料", "去哪办", "多久能批")."""
    place = state.place(regions)
    pol = get_policy(session, regions, state.policy_id) if state.policy_id else None
    if pol is None:
        if state.topic and place:
            return answer_policy(session, regions, state.topic, place)
        reply = Reply("policy", topic=state.topic, place=place)
        if state.topic:
            reply.ask, reply.buttons = "region", region_buttons()
            return reply.say(t("ask_region_policy")), []
        return reply.say(t("policy_no_last")), []
    reply = Reply("policy", topic=pol["topic"], place=place, policy=pol)
    part = aspect(text(tracker))
    phone = pol.get("phone") or templates()["hotline"]
    sections = {"materials": ("materials",), "where": ("where", "phone"), "steps": ("steps",),
                "eligibility": ("eligibility",), "phone": ("phone", "where"),
                "time": ()}.get(part or "", SECTIONS)
    if part == "time":
        return reply.say(t("policy_head", title=pol["title"]), t("policy_time", phone=phone)), []
    if not any(pol.get(s) for s in sections):
        field = templates()["guidance_field_names"].get(sections[0], "相关内容")
        reply.say(t("policy_empty_field", field=field, phone=phone))
        return reply, []
    return reply.say(*policy_lines(pol, sections)), []
