"""The tracker store, named in endpoints.yml (`tracker_store: type: bot.stores.PooledSQLTrackerStore`).

Rasa's SQL tracker store, plus:

- Its own engine: SQLite gets a connection pool (catalog.db.sqlite_pool; SQLAlchemy 1.4 opened a new connection per
  session, 12 % of the server's CPU), WAL and `synchronous=NORMAL` (a crash of the process loses nothing, only a
  power cut can lose the last turns) and a busy timeout of DB_TIMEOUT. Other databases get Rasa's own arguments.
- Bounded and loud: reads and saves run in one worker thread (SQLite writes one at a time anyway; more threads
  fought over the GIL) and raise TrackerStoreUnavailable when the database fails or does not answer within
  DB_TIMEOUT (default 1 s) plus 0.5 s of queueing, so a locked database never blocks the event loop, i.e. every
  conversation. (Rasa wraps every store in FailSafeTrackerStore, which would swallow the error: bot/patches.py.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from catalog.db import sqlite_pool

log = logging.getLogger(__name__)

DB_TIMEOUT = float(os.environ.get("DB_TIMEOUT", "1"))
GRACE = 0.5  # a call not started within this is dropped, so a SQLite busy wait ends before the bound
T = TypeVar("T")

class TrackerStoreUnavailable(Exception):
    """The tracker store failed or did not answer within DB_TIMEOUT."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:  # noqa: ANN401 - SQLAlchemy's event arguments
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={int(DB_TIMEOUT * 1000)}")
    cur.close()


def create_engine(url: str) -> sa.engine.Engine:
    """The tracker store's engine: pooled SQLite with its pragmas, or Rasa's arguments for other databases."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, **sqlite_pool(DB_TIMEOUT))
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, **create_engine_kwargs(url))


class PooledSQLTrackerStore(SQLTrackerStore):
    """SQL tracker store on DATABASE_URL (endpoints.yml: `url: ${DATABASE_URL}`); see the module docstring."""

    def __init__(self, domain: Domain | None = None, host: str | None = None,
                 event_broker: EventBroker | None = None, **kwargs: Any) -> None:  # noqa: ANN401 - Rasa's
        if not host or "://" not in host:
            raise ValueError("tracker_store needs `url:` with a database URL, e.g. ${DATABASE_URL}")
        self.engine = create_engine(host)
        self.Base.metadata.create_all(self.engine)
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="tracker-store")
        TrackerStore.__init__(self, domain, event_broker, **kwargs)  # SQLTrackerStore's would build its own engine

    # --- bounded: every database call in the worker thread --------------------------------------------------------

    async def _bounded(self, what: str, call: Callable[..., T], *args: Any) -> T:  # noqa: ANN401 - call's
        queued = time.monotonic()

        def in_thread() -> T:
            if time.monotonic() - queued > GRACE:
                raise TimeoutError("tracker store busy")
            return call(*args)

        try:
            return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(self._worker, in_thread),
                                          DB_TIMEOUT + GRACE)
        except Exception as exc:  # locked, gone, refused, timed out: all the same to the user
            raise TrackerStoreUnavailable(f"{what}: {exc!r}") from exc

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session's events, as in Rasa."""
        return await self._bounded("retrieve", self._load_session, sender_id)

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        """Every event of every session, as in Rasa (the HTTP API's tracker)."""
        return await self._bounded("retrieve", self._load_all, conversation_id)

    async def keys(self) -> Iterable[str]:
        """Every conversation's sender id."""
        return await self._bounded("keys", self._keys)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Insert the tracker's new events."""
        await self.stream_events(tracker)
        await self._bounded("save", self._save, tracker)

    # --- synchronous work, in the worker thread -------------------------------------------------------------------

    def _keys(self) -> list[str]:
        with self.session_scope() as session:
            return [sender for (sender,) in session.query(self.SQLEvent.sender_id).distinct()]

    def _tracker(self, sender_id: str, events: list[dict]) -> DialogueStateTracker | None:
        if not events:
            return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    def _load_all(self, sender_id: str) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=True).all()
            return self._tracker(sender_id, [json.loads(r.data) for r in rows])

    def _load_session(self, sender_id: str) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            return self._tracker(sender_id, [json.loads(r.data) for r in rows])

    def _save(self, tracker: DialogueStateTracker) -> None:
        with self.session_scope() as session:
            new = self._additional_events(session, tracker)
            session.add_all([self._row(tracker.sender_id, event) for event in new])
            session.commit()

    def _row(self, sender_id: str, event: Event) -> SQLTrackerStore.SQLEvent:
        data = event.as_dict()
        return self.SQLEvent(sender_id=sender_id, type_name=event.type_name, timestamp=data.get("timestamp"),
                             intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                             action_name=data.get("name"), data=json.dumps(data))
