"""Rasa graph component: an emergency situation or a hand-over phrase decides the intent whatever the classifier
said; danger words that are only about the past ("以前走丢过") never leave the message an emergency."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from language.keywords import keyword_intent, past_danger_only

NOT_AN_ANSWER = ("emergency", "nlu_fallback")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class KeywordIntents(GraphComponent):
    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> KeywordIntents:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue  # "/intent{...}" from buttons: Rasa's own syntax
            ranking = message.get(INTENT_RANKING_KEY) or []
            name = keyword_intent(text)
            if name is None and (message.get(INTENT) or {}).get("name") == "emergency" and past_danger_only(text):
                name = next((r["name"] for r in ranking if r.get("name") not in NOT_AN_ANSWER), None)
            if name is None:
                continue
            top = {"name": name, "confidence": 1.0}
            ranking = [r for r in ranking if r.get("name") != name]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        return messages
