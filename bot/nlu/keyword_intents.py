"""Rasa graph component: what decides the intent whatever the classifier said.

An emergency situation or a hand-over phrase wins; a message whose danger words are only about the past
("以前走丢过"), or that has none and asks for a service, is never left an emergency; a need described by what it does (language/concepts.yml) names the intent when the classifier
found none, and a generic "what can we get" question is eligibility unless it names a service or policy.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from language.concepts import catalog_needs, concept_item, concept_needs, rents
from language.keywords import keyword_intent, no_danger, past_danger_only

UNSURE = ("out_of_scope", "nlu_fallback")
INTENT_PREFIXES = ("find_", "policy_", "eligibility")


def decide(text: str, top: str, ranking: list[str]) -> str | None:
    """The intent to use instead of the classifier's `top` (ranking: its other guesses, best first), or None."""
    if name := keyword_intent(text):
        return name
    described = [n for n in concept_needs(text) if n.startswith(INTENT_PREFIXES)]
    named = catalog_needs(text)
    if top == "emergency" and (past_danger_only(text) or (no_danger(text) and (named or described))):
        top = next((r for r in ranking if r not in ("emergency", *UNSURE)), "out_of_scope")
    if "eligibility" in described and not named:
        return "eligibility"
    if top == "find_care_home" and "policy_care_home_admission" in described:
        return "policy_care_home_admission"
    if top == "policy_care_home_admission" and "care_home_search" in concept_needs(text) \
            and "policy_care_home_admission" not in described:
        return "find_care_home"
    if concept_item(text) and rents(text) and top.startswith("find_"):
        return "find_equipment_rental"
    if top in UNSURE and (named or described):
        return (named or described)[0]
    return top


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
            top = (message.get(INTENT) or {}).get("name") or "nlu_fallback"
            name = decide(text, top, [r.get("name") for r in ranking if r.get("name") != top])
            if name is None or name == top:
                continue
            chosen = {"name": name, "confidence": 1.0}
            ranking = [r for r in ranking if r.get("name") != name]
            message.set(INTENT, chosen, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [chosen, *ranking], add_to_output=True)
        return messages
