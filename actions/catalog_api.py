"""The actions' door to the catalog. The work runs in a bounded pool of threads, off the action server's event loop
(rasa_sdk runs every action on that one loop: a blocking query there held up every other conversation), within a
deadline under Rasa's ACTION_TIMEOUT. On PostgreSQL a query ends at the deadline too (SQLite's busy timeout is 2 s),
so queries waiting on a lock do not hold every thread. A database error or a missed deadline is one exception,
CatalogUnavailable, which the actions answer with the hotline. The regions (a few dozen rows) are kept in memory for
REGIONS_TTL seconds, so an answer that needs no other catalog row (small talk) never waits for the database."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from catalog.db import session_scope
from catalog.query import Regions

ACTION_TIMEOUT = float(os.environ.get("ACTION_TIMEOUT", "2.5"))  # Rasa's wait for an action (bot/patches.py)
DEADLINE = max(ACTION_TIMEOUT - 0.5, 0.5)  # the hotline reply must still reach Rasa in time
WORKERS = ThreadPoolExecutor(int(os.environ.get("CATALOG_THREADS", "4")), thread_name_prefix="catalog")
REGIONS_TTL = 60.0
T = TypeVar("T")
_regions: tuple[float, Regions] | None = None


class CatalogUnavailable(Exception):
    """The catalog database could not be read, or not within the deadline."""


def _cached_regions(session: Session) -> Regions:
    global _regions
    if _regions is None or time.monotonic() - _regions[0] > REGIONS_TTL:
        _regions = (time.monotonic(), Regions(session))
    return _regions[1]


@contextmanager
def open_catalog() -> Iterator[tuple[Session, Regions]]:
    """One session and the regions, in the calling thread; database errors as CatalogUnavailable."""
    try:
        with session_scope() as session:
            if session.get_bind().dialect.name == "postgresql":  # a query waiting on a lock ends with the caller
                session.execute(text(f"SET LOCAL statement_timeout = {int(DEADLINE * 1000)}"))
            yield session, _cached_regions(session)
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(str(exc)) from exc


async def in_catalog(work: Callable[[Session, Regions], T]) -> T:
    """`work(session, regions)` in a catalog thread; CatalogUnavailable on a database error or after DEADLINE."""
    queued = time.monotonic()

    def call() -> T:
        if time.monotonic() - queued > DEADLINE:  # its caller has given up already: don't add to the queue's wait
            raise CatalogUnavailable("not started within the deadline")
        with open_catalog() as (session, regions):
            return work(session, regions)

    try:
        return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(WORKERS, call), DEADLINE)
    except TimeoutError as exc:
        raise CatalogUnavailable(f"no answer within {DEADLINE} s") from exc
