"""`rasa run` for this bot: the same arguments, after log masking and the version-checked patches.

    python -m bot.serve run --model … --endpoints endpoints.yml --credentials credentials.yml …

What this bot adds to Rasa, and where:
- endpoints.yml (one process) / endpoints-scaleout.yml: the tracker store bot.stores.PooledSQLTrackerStore (pooled
  SQLite with WAL, bounded and loud database calls, flat turn cost) and, in scale-out, the lock store
  bot.locks.AtomicRedisLockStore (atomic tickets, no dead-ticket hang, Redis timeouts).
- credentials.yml: the channels, REST behind the guard (bot.channels.rest.GuardedRestInput).
- bot/patches.py: what Rasa 3.6 has no extension point for (fast response validation, action timeout and hotline,
  tracker store errors not swallowed, a failed turn answered with the hotline); refuses other Rasa versions.
- bot/privacy.py: personal data masked in every log record, installed before Rasa logs anything.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Mask the logs, apply the patches (version-checked), then run Rasa's own command line."""
    from bot import patches, privacy

    privacy.install()
    patches.install()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()
