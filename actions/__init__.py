"""rasa_sdk imports this package when the action server starts: mask personal data in its logs (bot/privacy.py)."""

from bot import privacy

privacy.install()
