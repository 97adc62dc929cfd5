"""rasa_sdk actions: dialogue logic over the language layer, the catalog and the reply builder.

Served by `python -m bot.action_server` (which also masks personal data in the logs)."""
