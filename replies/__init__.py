"""The one reply builder (builder.py) and the reply contract (contract.py); texts live in templates.yml."""

from replies.builder import Reply, button, intent_payload, t, templates
from replies.contract import Button, Payload

__all__ = ["Button", "Payload", "Reply", "button", "intent_payload", "t", "templates"]
