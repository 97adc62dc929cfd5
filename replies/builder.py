"""The one reply builder: texts from templates.yml plus exactly one contract payload per turn."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import yaml
from rasa_sdk.executor import CollectingDispatcher

from catalog.lexicon import DATA_DIR, covered_cities, short_name
from catalog.query import Place
from replies.contract import Button, ItemOut, Payload, PolicyOut, PolicyRef, RegionOut, SourceOut, Task

TEMPLATES = Path(__file__).resolve().parent / "templates.yml"
ITEM_KEYS = ("id", "name", "category", "district", "address", "phone", "hours", "price", "verified", "source")
ITEM_EXTRA_KEYS = ("lat", "lng", "approximate", "distance_km", "items", "offers", "city", "province", "last_verified",
                   "status")
POLICY_KEYS = ("id", "title", "region", "summary", "eligibility", "steps", "materials", "where", "phone")
POLICY_EXTRA_KEYS = ("level", "status", "draft", "end_date")  # issue 17: level and status of the record
SOURCE_KEYS = ("document", "issuer", "date", "clause", "quote", "file")


@lru_cache(maxsize=1)
def templates() -> dict[str, Any]:
    """The reply templates (templates.yml), loaded once."""
    return yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))


def coverage(data_dir: Path = DATA_DIR) -> str:
    """我们目前覆盖…: the covered cities of the regions data by province, so a new place needs no code change."""
    tpl = templates()
    sep = tpl["coverage_separators"]
    groups = [short_name(p) + sep["city"].join(short_name(c) for c in cities)
              for p, cities in covered_cities(data_dir)]
    places = sep["province"].join(groups[:-1]) + sep["last_province"] + groups[-1] if len(groups) > 1 else groups[0]
    return str(tpl["coverage"]).format(places=places)


def t(key: str, **values: object) -> str:
    """Render a template; {hotline} and {coverage} are always available."""
    tpl = templates()
    return str(tpl[key]).format(hotline=tpl["hotline"], coverage=coverage(), **values)


def button(title: str, payload: str | None = None) -> Button:
    """A button that sends `payload` (default: its title, as if typed)."""
    return {"title": title, "payload": payload or title}


def intent_payload(intent: str, **entities: str) -> str:
    """A button payload that triggers `intent` with entities: /intent or /intent{"entity": "value"} (JSON)."""
    return f"/{intent}" + (json.dumps(entities, ensure_ascii=False) if entities else "")


@dataclass
class Reply:
    """What the bot says this turn; `send` utters the texts and the single custom payload."""

    task: Task
    texts: list[str] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    category: str | None = None
    topic: str | None = None
    place: Place | None = None
    item: str | None = None
    ask: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)  # catalog.query.point_dict rows
    policy: dict[str, Any] | None = None  # a catalog.query.policy_dict row
    handoff: bool = False  # the conversation is handed to a person
    policies: list[PolicyRef] | None = None  # the policies an eligibility answer lists
    policies_to_check: list[PolicyRef] | None = None  # eligibility: policies that depend on an unknown condition

    def offer(self, needs: list[str], item: str | None = None) -> Reply:
        """Offer the other needs of a message ("…顺便问下能不能租轮椅") as buttons after the answer."""
        labels = templates()["intent_labels"]
        needs = [n for n in needs if n in labels][:2]
        if not needs:
            return self
        self.say(t("also_asked", needs="、".join(labels[n] for n in needs)))
        for n in needs:
            entities = {"item": item} if item and n == "find_equipment_rental" else {}
            self.buttons.append(button(labels[n], intent_payload(n, **entities)))
        return self

    def say(self, *texts: str) -> Reply:
        """Add the non-empty texts; returns the reply for chaining."""
        self.texts.extend(x for x in texts if x)
        return self

    def payload(self) -> Payload:
        """The turn's contract payload (replies/contract.py)."""
        out: Payload = {
            "task": self.task, "category": self.category, "topic": self.topic, "region": _region(self.place),
            "item": self.item, "ask": self.ask,
            "items": [_item_payload(i) for i in self.items],
            "policy": _policy_payload(self.policy) if self.policy else None,
            "text": "\n".join(self.texts),
            "buttons": self.buttons,
        }
        if self.handoff:
            out["handoff"] = True
        if self.policies is not None:
            out["policies"] = self.policies
        if self.policies_to_check is not None:
            out["policies_to_check"] = self.policies_to_check
        return out

    def send(self, dispatcher: CollectingDispatcher) -> None:
        """Utter the texts (with the buttons) and then the one custom payload."""
        text = "\n".join(self.texts)
        if self.buttons:
            dispatcher.utter_message(text=text, buttons=self.buttons)
        elif text:
            dispatcher.utter_message(text=text)
        dispatcher.utter_message(json_message=dict(self.payload()))


def _region(place: Place | None) -> RegionOut:
    return cast(RegionOut, place.as_contract()) if place else {"province": None, "city": None, "district": None}


def _item_payload(item: dict[str, Any]) -> ItemOut:
    out: dict[str, Any] = {k: item.get(k) for k in ITEM_KEYS}
    out.update((k, item[k]) for k in ITEM_EXTRA_KEYS if item.get(k) not in (None, []))
    return cast(ItemOut, out)  # tests/test_contract.py checks these keys against ItemOut


def _policy_payload(p: dict[str, Any]) -> PolicyOut:
    out: dict[str, Any] = {k: p.get(k) for k in POLICY_KEYS}
    out["source"] = cast(SourceOut, {k: p["source"].get(k) for k in SOURCE_KEYS})
    out["guidance"] = p.get("guidance", [])
    out.update((k, p[k]) for k in POLICY_EXTRA_KEYS if p.get(k) is not None)
    return cast(PolicyOut, out)  # tests/test_contract.py checks these keys against PolicyOut
