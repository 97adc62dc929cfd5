"""The tracker store, named in endpoints.yml (`tracker_store: type: bot.stores.PooledSQLTrackerStore`).

Rasa's SQL tracker store, plus:

- Its own engine: SQLite gets a connection pool (catalog.db.sqlite_pool; SQLAlchemy 1.4 opened a new connection per
  session, 12 % of the server's CPU), WAL and `synchronous=NORMAL` (a crash of the process loses nothing, only a
  power cut can lose the last turns) and a busy timeout of DB_TIMEOUT. Other databases get Rasa's own arguments.
- Bounded and loud: reads and saves run in one worker thread (SQLite writes one at a time anyway; more threads
  fought over the GIL) and raise TrackerStoreUnavailable when the database fails or does not answer within
  DB_TIMEOUT (default 1 s) plus GRACE (1 s) of queueing, so a locked database never blocks the event loop, i.e.
  every conversation. A call still queued when its turn gives up is cancelled, never run late. On SQLite a call
  not started within GRACE is dropped too, so its busy wait (DB_TIMEOUT) ends within the bound; other databases
  do not wait for locks that way, so their calls may queue for the whole bound (a busy machine, e.g. an instance
  loading its model beside this one, queued saves past 0.5 s and lost turns). (Rasa wraps every store in
  FailSafeTrackerStore, which would swallow the error: bot/patches.py.)
- Flat turn cost: a turn used to load, replay, featurize and send to the action server every event of the session,
  so turn 250 of one conversation cost 13 times turn 10 (tools/bench_turns.py). `retrieve` now loads the last
  WINDOW events, from a turn boundary, after a snapshot of the conversation's state as of its last saved event
  (table tracker_state: slot values and active form, written with each save); replayed, that gives exactly the
  current slots and form, and the recent turns the policies and actions look at. A session that fits the window,
  and a conversation without a snapshot yet, load as in Rasa. The events table is unchanged: the console, the API's
  full tracker and retention read every event as before.
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
from rasa.shared.core.events import ActionExecuted, ActiveLoop, Event, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.orm import declarative_base

from catalog.db import sqlite_pool

log = logging.getLogger(__name__)

DB_TIMEOUT = float(os.environ.get("DB_TIMEOUT", "1"))
GRACE = 1.0  # seconds of queueing allowed on top of DB_TIMEOUT (see the module docstring)
WINDOW = 60  # events loaded per turn (about six turns)
STORED = "_yinling_stored_events"  # on a loaded tracker: how many of its events are already in the database
T = TypeVar("T")

Snapshots = declarative_base()


class TrackerState(Snapshots):
    """A conversation's state after its last saved event (personal data like the events: purged with them)."""

    __tablename__ = "tracker_state"
    sender_id = sa.Column(sa.String(255), primary_key=True)
    last_event_id = sa.Column(sa.Integer, nullable=False)
    slots = sa.Column(sa.Text, nullable=False)  # JSON: slots whose value differs from the domain's initial value
    active_loop = sa.Column(sa.String(255))


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


# Any constant key: instances creating the tables at the same moment wait for each other.
TABLES_LOCK = 7_140_271


def create_tables(engine: sa.engine.Engine, metadatas: list[sa.MetaData]) -> None:
    """Create missing tables; on PostgreSQL under an advisory lock (two instances starting together on an empty
    database both tried CREATE TABLE, and one failed on the catalog's unique type name)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": TABLES_LOCK})
        for metadata in metadatas:
            metadata.create_all(conn)


class PooledSQLTrackerStore(SQLTrackerStore):
    """SQL tracker store on DATABASE_URL (endpoints.yml: `url: ${DATABASE_URL}`); see the module docstring."""

    def __init__(self, domain: Domain | None = None, host: str | None = None,
                 event_broker: EventBroker | None = None, **kwargs: Any) -> None:  # noqa: ANN401 - Rasa's
        if not host or "://" not in host:
            raise ValueError("tracker_store needs `url:` with a database URL, e.g. ${DATABASE_URL}")
        self.engine = create_engine(host)
        create_tables(self.engine, [self.Base.metadata, Snapshots.metadata])
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="tracker-store")
        self._start_within = GRACE if self.engine.dialect.name == "sqlite" else DB_TIMEOUT + GRACE
        TrackerStore.__init__(self, domain, event_broker, **kwargs)  # SQLTrackerStore's would build its own engine

    # --- bounded: every database call in the worker thread --------------------------------------------------------

    async def _bounded(self, what: str, call: Callable[..., T], *args: Any) -> T:  # noqa: ANN401 - call's
        queued = time.monotonic()

        def in_thread() -> T:
            if time.monotonic() - queued > self._start_within:
                raise TimeoutError("tracker store busy")
            return call(*args)

        try:
            return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(self._worker, in_thread),
                                          DB_TIMEOUT + GRACE)
        except Exception as exc:  # locked, gone, refused, timed out: all the same to the user
            raise TrackerStoreUnavailable(f"{what}: {exc!r}") from exc

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session's recent events after a snapshot of the state (see the module docstring)."""
        return await self._bounded("retrieve", self._load_recent, sender_id)

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        """Every event of every session, as in Rasa (the HTTP API's tracker)."""
        return await self._bounded("retrieve", self._load_all, conversation_id)

    async def keys(self) -> Iterable[str]:
        """Every conversation's sender id."""
        return await self._bounded("keys", self._keys)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Insert the tracker's new events and its state after them, in one transaction."""
        await self.stream_events(tracker)
        await self._bounded("save", self._save, tracker)

    # --- synchronous work, in the worker thread -------------------------------------------------------------------

    def _keys(self) -> list[str]:
        with self.session_scope() as session:
            return [sender for (sender,) in session.query(self.SQLEvent.sender_id).distinct()]

    def _tracker(self, sender_id: str, events: list[dict]) -> DialogueStateTracker | None:
        if not events:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, STORED, len(tracker.events))
        return tracker

    def _load_all(self, sender_id: str) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=True).all()
            return self._tracker(sender_id, [json.loads(r.data) for r in rows])

    def _load_session(self, sender_id: str) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            return self._tracker(sender_id, [json.loads(r.data) for r in rows])

    def _load_recent(self, sender_id: str) -> DialogueStateTracker | None:
        e = self.SQLEvent
        with self.session_scope() as session:
            rows = (session.query(e.id, e.type_name, e.action_name, e.data).filter(e.sender_id == sender_id)
                    .order_by(e.id.desc()).limit(WINDOW + 1).all())[::-1]
            starts = [i for i, r in enumerate(rows) if r.type_name == SessionStarted.type_name]
            if starts or len(rows) <= WINDOW:  # the latest session fits the window
                return self._tracker(sender_id, [json.loads(r.data) for r in rows[starts[-1] if starts else 0:]])
            state = session.get(TrackerState, sender_id)
        turn = next((i for i, r in enumerate(rows)
                     if r.type_name == ActionExecuted.type_name and r.action_name == "action_listen"), None)
        if state is None or state.last_event_id != rows[-1].id or turn is None:
            return self._load_session(sender_id)  # no snapshot of this state (yet), or one turn is the window
        prefix = [SlotSet(name, value).as_dict() for name, value in json.loads(state.slots).items()]
        if state.active_loop:
            prefix.append(ActiveLoop(state.active_loop).as_dict())
        return self._tracker(sender_id, prefix + [json.loads(r.data) for r in rows[turn:]])

    def _save(self, tracker: DialogueStateTracker) -> None:
        stored = getattr(tracker, STORED, None)
        with self.session_scope() as session:
            new = (list(tracker.events)[stored:] if stored is not None
                   else list(self._additional_events(session, tracker)))
            if not new:
                return
            rows = [self._row(tracker.sender_id, event) for event in new]
            session.add_all(rows)
            session.flush()
            initial = {slot.name: slot.initial_value for slot in self.domain.slots}
            slots = {name: value for name, value in tracker.current_slot_values().items()
                     if value != initial.get(name)}
            session.merge(TrackerState(sender_id=tracker.sender_id, last_event_id=rows[-1].id,
                                       slots=json.dumps(slots, ensure_ascii=False),
                                       active_loop=tracker.active_loop_name))
            session.commit()
        setattr(tracker, STORED, len(tracker.events))

    def _row(self, sender_id: str, event: Event) -> SQLTrackerStore.SQLEvent:
        data = event.as_dict()
        return self.SQLEvent(sender_id=sender_id, type_name=event.type_name, timestamp=data.get("timestamp"),
                             intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                             action_name=data.get("name"), data=json.dumps(data))
