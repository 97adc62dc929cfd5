"""Rasa graph component that runs `normalize` on every message before tokenization."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from typing_extensions import override

from language import warm
from language.normalize import normalize


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class TextNormalizer(GraphComponent):
    """Rasa NLU component: the language layer's normalize() on training and incoming text."""

    @override
    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> TextNormalizer:
        warm()  # word indexes built while the model loads, not on the first message
        return cls()

    @override
    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            if message.get(TEXT):
                self._normalize(message)
        return training_data

    @override
    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if message.get(TEXT):
                self._normalize(message)
        return messages

    @staticmethod
    def _normalize(message: Message) -> None:
        raw = message.get(TEXT)
        if raw.startswith("/"):
            return  # "/intent{...}" from buttons and channels: Rasa's own syntax, read as is
        new = normalize(raw)
        entities = message.get(ENTITIES) or []
        spans, pos = [], 0
        for e in entities:  # re-anchor annotated entities in the normalized text
            surface = normalize(raw[e["start"]:e["end"]])
            found = new.find(surface, pos)
            if found < 0:
                return  # keep the raw text rather than misplace an annotation
            pos = found + len(surface)
            spans.append((found, pos))
        for e, (start, end) in zip(entities, spans, strict=True):
            e["start"], e["end"] = start, end
        message.set(TEXT, new)
