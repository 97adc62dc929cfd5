"""Rasa NLU components: normalization and keyword intents from the language layer."""
