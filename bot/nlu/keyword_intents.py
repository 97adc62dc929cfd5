"""Rasa graph component: phrases that decide the intent whatever the classifier said (emergency first)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

PHRASES = Path(__file__).with_name("keyword_intents.yml")


@lru_cache(maxsize=1)
def phrases() -> dict[str, list[str]]:
    return yaml.safe_load(PHRASES.read_text(encoding="utf-8"))


def keyword_intent(text: str) -> str | None:
    """The first intent (in file order) one of whose phrases occurs in the text."""
    for name, words in phrases().items():
        if any(w in text for w in words):
            return name
    return None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class KeywordIntents(GraphComponent):
    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> KeywordIntents:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            name = keyword_intent(message.get(TEXT) or "")
            if name is None:
                continue
            top = {"name": name, "confidence": 1.0}
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != name]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        return messages
