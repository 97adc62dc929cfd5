"""Rasa graph component: phrases that decide the intent whatever the classifier said (emergency first)."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from language.keywords import keyword_intent


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
