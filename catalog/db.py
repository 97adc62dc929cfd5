"""Database engine and sessions: SQLite under var/ by default, any SQLAlchemy URL via DATABASE_URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = f"sqlite:///{ROOT / 'var' / 'yinling.db'}"


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_URL


def get_engine(url: str | None = None) -> Engine:
    """The engine of `url`, else of DATABASE_URL (read on each call), else the SQLite default."""
    return _engine(url or database_url())


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A pool, not SQLAlchemy 1.4's default of a new connection (and pragmas) per session.
        engine = create_engine(url, future=True, poolclass=QueuePool, pool_size=4,
                               connect_args={"timeout": 2, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, future=True, pool_pre_ping=True, pool_timeout=2)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the bot read while an import writes; the busy timeout bounds waiting on a lock.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=2000")
    cur.close()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One session, committed on success and rolled back on any error."""
    session = sessionmaker(get_engine(url), future=True, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
