"""`rasa run` with what Rasa 3.6 lacks for this bot:

1. Speed (found by profiling with py-spy): Rasa validates every action-server response with
   `jsonschema.validate`, which re-checks the schema itself on each call: 30 % of the server's CPU.
   We validate with one prebuilt validator.
2. Speed: the SQL tracker store on SQLite commits with a full fsync per turn. In WAL mode
   `synchronous=NORMAL` is safe against crashes of the process (a SIGKILL loses nothing); only a
   power cut can lose the last turns. And SQLAlchemy 1.4 opened a new SQLite connection per session (12 % of
   the CPU): the tracker store gets a pool (catalog.db.sqlite_pool).
3. (Hostile REST requests: bot.channels.rest.GuardedRestInput, named in credentials.yml.)
4. A failing action server never means silence: the call times out after ACTION_TIMEOUT seconds
   (default 2.5, Rasa's is 300) and the user gets the hotline in a contract payload instead.
5. Scale-out (tools/scaleout.py): Rasa's ticket lock waits for `now_serving == my ticket`. When an instance is
   killed holding a ticket, the next message's ticket (same lifetime, issued a moment later) usually expires in
   the same one-second poll as the dead one; then the lock never serves it and the message hangs until the
   client gives up. A ticket is served when no earlier ticket is still alive. And RedisLockStore reads,
   changes and writes a conversation's tickets without atomicity: two instances receiving that conversation's
   messages at the same moment both got ticket 0 and processed together (events lost). Issuing, updating and
   releasing tickets now hold a short Redis mutex per conversation.
6. A failing database or Redis never means silence or a forgotten turn. Rasa's FailSafeTrackerStore hid tracker
   store errors: a failed read started a blank conversation, and a failed save (SQLite locked by another writer)
   kept the answered turn only in memory, so the next message had forgotten it; every wait on a locked SQLite file
   also blocked the event loop, i.e. every conversation. Tracker store reads and saves now run in one worker thread,
   bounded by DB_TIMEOUT (default 1 s; also SQLite's busy_timeout in this process), and fail loudly. A turn that
   fails anywhere (tracker store, Redis lock store) answers with the hotline (bot/fallback.py) instead of what it
   had said so far: nothing of that turn was saved, so the next message continues from the last saved turn.
   When Redis is down the message is not processed without the lock (two instances could then process one
   conversation at once and lose events): the user gets the hotline. Redis calls time out after REDIS_TIMEOUT
   (default 1 s, Rasa's is 10); a ticket that cannot be released because Redis went away expires by itself.

    python -m bot.serve run --model … (same arguments as `rasa run`)
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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

DB_TIMEOUT = float(os.environ.get("DB_TIMEOUT", "1"))
REDIS_TIMEOUT = float(os.environ.get("REDIS_TIMEOUT", "1"))


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

    import redis

    init, cleanup = RedisLockStore.__init__, RedisLockStore.cleanup

    def init_bounded(self: RedisLockStore, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        kwargs.setdefault("socket_timeout", REDIS_TIMEOUT)
        init(self, *args, **kwargs)
        connection = self.red.connection_pool.connection_kwargs
        connection["socket_connect_timeout"] = connection.get("socket_connect_timeout") or REDIS_TIMEOUT

    def cleanup_or_let_expire(self: RedisLockStore, conversation_id: str, ticket_number: int) -> None:
        try:
            cleanup(self, conversation_id, ticket_number)
        except redis.RedisError as exc:  # the turn is done; the ticket expires after its lifetime
            log.warning("ticket %s of %s not released (%s)", ticket_number, conversation_id, exc)

    RedisLockStore.__init__ = init_bounded
    RedisLockStore.cleanup = cleanup_or_let_expire


class TrackerStoreUnavailable(Exception):
    """The tracker store failed or did not answer within DB_TIMEOUT."""


def _patch_tracker_store() -> None:
    from rasa.core.tracker_store import FailSafeTrackerStore

    # One thread: SQLite writes one at a time anyway, and more threads fought over the GIL (16 threads cost
    # 3 ms of CPU per turn more, measured with `make bench`).
    workers = ThreadPoolExecutor(1, thread_name_prefix="tracker-store")
    loops = threading.local()  # one event loop per worker thread (asyncio.run per call costs 5 times more)
    grace = 0.5  # a call not started within this is dropped, so a SQLite busy wait ends before the bound

    async def bounded(call: Callable[[], Awaitable[Any]], what: str) -> Any:  # noqa: ANN401
        queued = time.monotonic()

        def in_thread() -> Any:  # noqa: ANN401
            if time.monotonic() - queued > grace:
                raise TimeoutError("tracker store busy")
            if not hasattr(loops, "loop"):
                loops.loop = asyncio.new_event_loop()
            return loops.loop.run_until_complete(call())

        try:
            return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(workers, in_thread),
                                          DB_TIMEOUT + grace)
        except Exception as exc:  # noqa: BLE001 - locked, gone, refused, timed out: all the same to the user
            raise TrackerStoreUnavailable(f"{what}: {exc!r}") from exc

    async def retrieve(self: FailSafeTrackerStore, sender_id: str) -> Any:  # noqa: ANN401
        return await bounded(lambda: self._tracker_store.retrieve(sender_id), "retrieve")

    async def retrieve_full_tracker(self: FailSafeTrackerStore, sender_id: str) -> Any:  # noqa: ANN401
        return await bounded(lambda: self._tracker_store.retrieve_full_tracker(sender_id), "retrieve")

    async def save(self: FailSafeTrackerStore, tracker: Any) -> None:  # noqa: ANN401
        await bounded(lambda: self._tracker_store.save(tracker), "save")

    FailSafeTrackerStore.retrieve = retrieve
    FailSafeTrackerStore.retrieve_full_tracker = retrieve_full_tracker
    FailSafeTrackerStore.save = save


def _patch_turn_failure() -> None:
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    from bot.fallback import failure_message

    handle = Agent.handle_message

    async def handle_or_apologize(self: Agent, message: UserMessage) -> list[dict] | None:
        try:
            return await handle(self, message)
        except Exception:  # noqa: BLE001 - tracker store, lock store: whatever broke, the user hears the hotline
            log.exception("turn of %s failed", message.sender_id)
        out = message.output_channel
        collected = isinstance(out, CollectingOutputChannel)
        if collected:
            out.messages.clear()  # the turn was not saved: what it had said is withdrawn
        intent = (await self.processor.parse_message(message))["intent"].get("name")
        await out.send_response(message.sender_id, failure_message(intent, {}))
        return out.messages if collected else None

    Agent.handle_message = handle_or_apologize


def _patch_sqlite_pool() -> None:
    import rasa.core.tracker_store as ts

    from catalog.db import sqlite_pool

    kwargs = ts.create_engine_kwargs

    def pooled(url: Any) -> dict:  # noqa: ANN401
        return sqlite_pool(DB_TIMEOUT) if str(url).startswith("sqlite") else kwargs(url)

    ts.create_engine_kwargs = pooled


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record) -> None:
    if type(dbapi_conn).__module__.startswith("sqlite3"):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(DB_TIMEOUT * 1000)}")
        cur.close()


def main() -> None:
    from bot import privacy

    privacy.install()  # before Rasa logs anything: no phone, ID, address or OpenID in logs
    _patch_action_validation()
    _patch_action_failure()
    _patch_ticket_lock()
    _patch_tracker_store()
    _patch_sqlite_pool()
    _patch_turn_failure()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()
