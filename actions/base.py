"""Base for actions that read the catalog: off the event loop, and a failing or slow database gives the hotline,
never silence (actions/catalog_api.py)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session
from typing_extensions import override

from actions.catalog_api import CatalogUnavailable, in_catalog
from actions.context import State, default_place_note
from catalog.query import Regions
from replies import Reply, t
from replies.contract import Task

log = logging.getLogger(__name__)
ENDS_FORM = ("emergency", "handoff")
ANSWERS = ("find_service", "policy", "eligibility")


class CatalogAction(Action, ABC):
    """An action that answers from the catalog: one Reply per turn, an apology when the catalog fails."""

    task: Task = "chitchat"

    @abstractmethod
    def name(self) -> str:
        """The action's name, as in domain.yml."""

    @abstractmethod
    def respond(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        """The reply and the slot events of this turn."""

    @override
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            reply, events = await in_catalog(lambda session, regions: self._answer(tracker, session, regions))
        except CatalogUnavailable:
            log.exception("catalog unavailable in %s", self.name())
            reply, events = self.apology(tracker), []
        loop = tracker.active_loop.get("name")
        if loop and reply.task in ENDS_FORM:
            # An emergency or a hand-over ends the eligibility form.
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        elif loop and self.task != "eligibility":
            # A side question: answered, then the form asks its own question again and waits for the answer.
            slot = tracker.get_slot("requested_slot")
            if slot and reply.task != "eligibility":
                reply.say(t("resume_form", question=t("ask_region" if slot == "region_code" else f"ask_{slot}")))
            events += [ActiveLoop(loop), FollowupAction("action_listen")]
        reply.send(dispatcher)
        return events

    def _answer(self, tracker: Tracker, session: Session, regions: Regions) -> tuple[Reply, list[EventType]]:
        """`respond`, and a line on how to ask for another place when a name of several was read as its usual one."""
        reply, events = self.respond(tracker, session, regions)
        if reply.task in ANSWERS and reply.place and (note := default_place_note(tracker, regions, reply.place)):
            reply.say(note)
        return reply, events

    def apology(self, tracker: Tracker) -> Reply:
        """The reply when the catalog is unavailable: the hotline, in this action's task."""
        state = State.of(tracker)
        return Reply(self.task, category=state.category, topic=state.topic, item=state.item).say(t("error"))
