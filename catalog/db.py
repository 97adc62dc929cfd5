"""Database engine and sessions: SQLite under var/ by default, any SQLAlchemy URL via DATABASE_URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import Pool, QueuePool

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = f"sqlite:///{ROOT / 'var' / 'yinling.db'}"


def database_url() -> str:
    """DATABASE_URL, or the SQLite file under var/ by default."""
    return os.environ.get("DATABASE_URL") or DEFAULT_URL


def sqlite_pool(timeout: float) -> dict:
    """create_engine arguments for SQLite: a small pool instead of SQLAlchemy 1.4's new connection (and pragmas)
    per session, which cost the Rasa server 12 % of its CPU; usable from worker threads. Waiting for a free
    connection is bounded like waiting for a lock."""
    return {"poolclass": QueuePool, "pool_size": 4, "pool_timeout": timeout,
            "connect_args": {"timeout": timeout, "check_same_thread": False}}


@event.listens_for(Pool, "connect")
def _remember_file(dbapi_conn, record) -> None:
    if type(dbapi_conn).__module__.startswith("sqlite3"):
        path = dbapi_conn.execute("PRAGMA database_list").fetchone()[2]
        if path:
            record.info["sqlite_file"] = (path, _inode(path))


@event.listens_for(Pool, "checkout")
def _same_file(_dbapi_conn, record, _proxy) -> None:
    # A pooled connection keeps its file open: when the file was removed or replaced (a restore, a move), the
    # connection is dropped and a new one opens the path, as a fresh connection per session would.
    file = record.info.get("sqlite_file")
    if file and _inode(file[0]) != file[1]:
        raise DisconnectionError("SQLite file removed or replaced")


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def get_engine(url: str | None = None) -> Engine:
    """The engine of `url`, else of DATABASE_URL (read on each call), else the SQLite default."""
    return _engine(url or database_url())


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, future=True, **sqlite_pool(timeout=2))
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
