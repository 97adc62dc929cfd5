"""`rasa run` with what Rasa 3.6 lacks for this bot:

1. Speed (found by profiling with py-spy): Rasa validates every action-server response with
   `jsonschema.validate`, which re-checks the schema itself on each call: 30 % of the server's CPU.
   We validate with one prebuilt validator.
2. Speed: the SQL tracker store on SQLite commits with a full fsync per turn. In WAL mode
   `synchronous=NORMAL` is safe against crashes of the process (a SIGKILL loses nothing); only a
   power cut can lose the last turns.
3. Hostile REST requests are refused before they reach the bot (bot/guard.py).
4. A failing action server never means silence: the call times out after ACTION_TIMEOUT seconds
   (default 2.5, Rasa's is 300) and the user gets the hotline in a contract payload instead.
5. Scale-out (bot/scaleout.py): Rasa's ticket lock waits for `now_serving == my ticket`. When an instance is
   killed holding a ticket, the next message's ticket (same lifetime, issued a moment later) usually expires in
   the same one-second poll as the dead one; then the lock never serves it and the message hangs until the
   client gives up. A ticket is served when no earlier ticket is still alive. And RedisLockStore reads,
   changes and writes a conversation's tickets without atomicity: two instances receiving that conversation's
   messages at the same moment both got ticket 0 and processed together (events lost). Issuing, updating and
   releasing tickets now hold a short Redis mutex per conversation.

    python -m bot.serve run --model … (same arguments as `rasa run`)
"""

from __future__ import annotations

import logging
import os
import sys

import jsonschema
from sqlalchemy import event
from sqlalchemy.engine import Engine


def _patch_action_validation() -> None:
    from rasa.core.actions.action import RemoteAction

    spec = RemoteAction.action_response_format_spec()
    validator = jsonschema.validators.validator_for(spec)(spec)

    def validate(self: RemoteAction, result: dict) -> bool:
        try:
            validator.validate(result)
        except jsonschema.ValidationError as e:
            e.message += ". Failed to validate Action server response from API."
            raise
        return True

    RemoteAction._validate_action_result = validate


log = logging.getLogger(__name__)


def _patch_action_failure() -> None:
    import rasa.utils.endpoints
    from rasa.core.actions import action as rasa_action
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.shared.core.events import BotUttered

    from bot.fallback import failure_message

    timeout = float(os.environ.get("ACTION_TIMEOUT", "2.5"))
    rasa.utils.endpoints.DEFAULT_REQUEST_TIMEOUT = timeout
    rasa_action.DEFAULT_REQUEST_TIMEOUT = timeout
    run = RemoteAction.run

    async def run_or_apologize(self: RemoteAction, output_channel, nlg, tracker, domain):  # noqa: ANN001
        try:
            return await run(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise  # a form rejecting a message is dialogue, not failure
        except Exception:  # noqa: BLE001 - whatever broke, the user hears the hotline
            log.exception("action %s failed", self.name())
            message = failure_message(tracker.latest_message.intent.get("name"), tracker.current_slot_values())
            await output_channel.send_response(tracker.sender_id, message)
            return [BotUttered(message["text"], data={"custom": message["custom"]})]

    RemoteAction.run = run_or_apologize


def _patch_ticket_lock() -> None:
    from rasa.core.lock import TicketLock

    def is_locked(self: TicketLock, ticket_number: int) -> bool:
        return any(t.number < ticket_number and not t.has_expired() for t in self.tickets)

    TicketLock.is_locked = is_locked

    from rasa.core.lock_store import LockStore, RedisLockStore

    def atomic(name: str) -> None:
        original = getattr(LockStore, name)

        def under_mutex(self: RedisLockStore, conversation_id: str, *args, **kwargs):  # noqa: ANN002, ANN003
            mutex = self.red.lock(f"{self.key_prefix}{conversation_id}:mutex", timeout=5, sleep=0.005,
                                  blocking_timeout=5)
            with mutex:
                return original(self, conversation_id, *args, **kwargs)

        setattr(RedisLockStore, name, under_mutex)

    for name in ("issue_ticket", "update_lock", "cleanup"):
        atomic(name)


def _patch_app() -> None:
    import rasa.core.run

    from bot import guard

    configure = rasa.core.run.configure_app

    def configure_guarded(*args, **kwargs):  # noqa: ANN002, ANN003
        app = configure(*args, **kwargs)
        guard.install(app)
        return app

    rasa.core.run.configure_app = configure_guarded


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record) -> None:
    if type(dbapi_conn).__module__.startswith("sqlite3"):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=2000")
        cur.close()


def main() -> None:
    _patch_action_validation()
    _patch_action_failure()
    _patch_ticket_lock()
    _patch_app()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()
