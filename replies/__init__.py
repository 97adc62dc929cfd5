"""The one reply builder (builder.py) and the reply contract (contract.py); texts live in templates.yml."""

from replies.builder import Reply, button, t, templates

__all__ = ["Reply", "button", "t", "templates"]
