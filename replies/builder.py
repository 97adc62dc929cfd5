"""The one reply builder: texts from templates.yml plus exactly one contract payload per turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk.executor import CollectingDispatcher

from catalog.lexicon import DATA_DIR, covered_cities, short_name
from catalog.query import Place

TEMPLATES = Path(__file__).resolve().parent / "templates.yml"
ITEM_KEYS = ("id", "name", "category", "district", "address", "phone", "hours", "price", "verified", "source")
POLICY_KEYS = ("id", "title", "region", "summary", "eligibility", "steps", "materials", "where", "phone")
SOURCE_KEYS = ("document", "issuer", "date", "clause", "quote", "file")


@lru_cache(maxsize=1)
def templates() -> dict[str, Any]:
    return yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))


def coverage(data_dir: Path = DATA_DIR) -> str:
    """我们目前覆盖…: the covered cities of the regions data by province, so a new place needs no code change."""
    tpl = templates()
    sep = tpl["coverage_separators"]
    groups = [short_name(p) + sep["city"].join(short_name(c) for c in cities)
              for p, cities in covered_cities(data_dir)]
    places = sep["province"].join(groups[:-1]) + sep["last_province"] + groups[-1] if len(groups) > 1 else groups[0]
    return str(tpl["coverage"]).format(places=places)


def t(key: str, **values: Any) -> str:
    """Render a template; {hotline} and {coverage} are always available."""
    tpl = templates()
    return str(tpl[key]).format(hotline=tpl["hotline"], coverage=coverage(), **values)


def button(title: str, payload: str | None = None) -> dict:
    return {"title": title, "payload": payload or title}


@dataclass
class Reply:
    """What the bot says this turn; `send` utters the texts and the single custom payload."""

    task: str
    texts: list[str] = field(default_factory=list)
    buttons: list[dict] = field(default_factory=list)
    category: str | None = None
    topic: str | None = None
    place: Place | None = None
    item: str | None = None
    ask: str | None = None
    items: list[dict] = field(default_factory=list)
    policy: dict | None = None
    extra: dict = field(default_factory=dict)

    def offer(self, needs: list[str], item: str | None = None) -> Reply:
        """Offer the other needs of a message ("…顺便问下能不能租轮椅") as buttons after the answer."""
        labels = templates()["intent_labels"]
        needs = [n for n in needs if n in labels][:2]
        if not needs:
            return self
        self.say(t("also_asked", needs="、".join(labels[n] for n in needs)))
        for n in needs:
            payload = f"/{n}" + (f'{{"item": "{item}"}}' if item and n == "find_equipment_rental" else "")
            self.buttons.append(button(labels[n], payload))
        return self

    def say(self, *texts: str) -> Reply:
        self.texts.extend(x for x in texts if x)
        return self

    def payload(self) -> dict:
        region = self.place.as_contract() if self.place else {"province": None, "city": None, "district": None}
        out = {
            "task": self.task, "category": self.category, "topic": self.topic, "region": region,
            "item": self.item, "ask": self.ask,
            "items": [{k: i.get(k) for k in ITEM_KEYS} | _extra_item_fields(i) for i in self.items],
            "policy": _policy_payload(self.policy) if self.policy else None,
            "text": "\n".join(self.texts),
            "buttons": self.buttons,
        }
        out.update(self.extra)
        return out

    def send(self, dispatcher: CollectingDispatcher) -> None:
        text = "\n".join(self.texts)
        if self.buttons:
            dispatcher.utter_message(text=text, buttons=self.buttons)
        elif text:
            dispatcher.utter_message(text=text)
        dispatcher.utter_message(json_message=self.payload())


def _extra_item_fields(item: dict) -> dict:
    keys = ("lat", "lng", "approximate", "distance_km", "items", "offers", "city", "province", "last_verified")
    return {k: item[k] for k in keys if item.get(k) not in (None, [])}


def _policy_payload(p: dict) -> dict:
    out = {k: p.get(k) for k in POLICY_KEYS}
    out["source"] = {k: p["source"].get(k) for k in SOURCE_KEYS}
    out["guidance"] = p.get("guidance", [])
    return out
