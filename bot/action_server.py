"""The action server: rasa_sdk serving the `actions` package, with personal data masked in its logs.

python -m bot.action_server --actions actions --port 5055   # the arguments of `python -m rasa_sdk`
"""

from __future__ import annotations

import rasa_sdk.__main__ as sdk

from bot import privacy
from language import warm


def main() -> None:
    """Mask the logs (bot/privacy.py), then run rasa_sdk's own command line."""
    privacy.install()
    warm()  # word indexes built before the first request (language/)
    sdk.main()


if __name__ == "__main__":
    main()
