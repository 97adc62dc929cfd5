"""The reply when the action server (or the database behind it) fails: the hotline, in the contract.

Runs inside the Rasa server, so it reads no database: the place comes from the slots and the
regions file, the task from the intent.
"""

from __future__ import annotations

from typing import cast

from catalog.query import Regions
from replies import Reply, t, templates
from replies.contract import Task


def failure_message(intent: str | None, slots: dict) -> dict:
    """A Rasa bot message {"text", "custom"}: an apology with the hotline (120/110 first in an emergency)."""
    intent = intent or ""
    code = slots.get("region_code")
    reply = Reply("out_of_scope", place=Regions.from_data().place(code) if code else None)
    if intent.startswith("find_"):
        reply.task, reply.category, reply.item = "find_service", intent.removeprefix("find_"), slots.get("item")
    elif intent.startswith("policy_"):
        reply.task, reply.topic = "policy", intent.removeprefix("policy_")
    elif intent in ("emergency", "handoff", "eligibility"):
        reply.task = cast(Task, intent)
    elif intent in ("inform", "ask_detail"):
        reply.task = cast(Task, slots.get("last_task") or "find_service")  # last_task holds a task
        reply.category, reply.topic, reply.item = slots.get("category"), slots.get("topic"), slots.get("item")
    elif intent in ("greet", "thank", "goodbye", "bot_challenge", "capabilities"):
        reply.task = "chitchat"
    if intent == "emergency":
        reply.say(t("emergency"), templates()["emergency_tips"]["default"])
    else:
        reply.say(t("error"))
    return {"text": "\n".join(reply.texts), "custom": reply.payload()}
