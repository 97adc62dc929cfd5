"""Retention and backups (bot/maintenance.py), on SQLite and on a private PostgreSQL cluster (tools/scaleout.py).

Conversations are written by Rasa's own SQLTrackerStore. PostgreSQL starts once for the module (about 1 s) and is
skipped when it is not installed (make services).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import MetaData, select, update
from sqlalchemy.engine import make_url

from bot import maintenance
from bot.console.models import Answer, AuditEntry, LoginSession, create_tables, utcnow
from bot.launcher import free_port
from catalog.db import get_engine, session_scope
from catalog.importer import import_catalog
from catalog.models import ServicePoint

DAY = 86400.0
HAS_POSTGRES = bool(list(Path("/usr/lib/postgresql").glob("*/bin/initdb")))


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not HAS_POSTGRES:
        pytest.skip("PostgreSQL not installed (make services)")
    from tools.scaleout import postgres

    run_dir = Path(tempfile.mkdtemp(prefix="yinling-maintenance-"))  # the postgres user must enter it
    run_dir.chmod(0o755)
    try:
        with postgres(run_dir, free_port()) as url:
            yield url
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'yinling.db'}"
    url = request.getfixturevalue("postgres_url")
    tables = MetaData()
    tables.reflect(get_engine(url))
    tables.drop_all(get_engine(url))
    return url


def save_conversations(url: str, conversations: dict[str, list[float]]) -> None:
    """Each conversation: one user message (with a phone number) and action_listen at each timestamp."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=u.database)
    else:
        store = SQLTrackerStore(Domain.empty(), dialect="postgresql", host=u.host, port=u.port, db=u.database,
                                username=u.username)
    for sender, stamps in conversations.items():
        events = []
        for i, ts in enumerate(stamps):
            events += [UserUttered(f"第{i}句，电话13812345678", timestamp=ts),
                       ActionExecuted("action_listen", timestamp=ts)]
        asyncio.run(store.save(DialogueStateTracker.from_events(sender, events)))
    store.engine.dispose()


def senders(url: str) -> dict[str, int]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(select(maintenance.EVENTS.c.sender_id)).scalars().all()
    return {s: rows.count(s) for s in set(rows)}


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every table."""
    tables = MetaData()
    tables.reflect(get_engine(url))
    with get_engine(url).connect() as conn:
        return {name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr)
                for name, t in tables.tables.items()}


def test_purge_deletes_conversations_idle_longer_than_the_retention(url: str, tmp_path: Path) -> None:
    now = time.time()
    save_conversations(url, {
        "old-1": [now - 400 * DAY, now - 200 * DAY],
        "old-2": [now - 181 * DAY],
        "long-running": [now - 300 * DAY, now - 10 * DAY],   # started long ago, still active: kept whole
        "new": [now - 60],
    })
    create_tables(url)
    hour = timedelta(hours=1)
    with session_scope(url) as s:
        s.add_all([Answer(sender_id="old-1", operator="王芳", text="已回复", delivered="recorded",
                          at=utcnow() - timedelta(days=200)),
                   Answer(sender_id="new", operator="王芳", text="已回复", delivered="recorded"),
                   AuditEntry(operator="王芳", action="login", at=utcnow() - timedelta(days=190)),
                   AuditEntry(operator="王芳", action="login"),
                   LoginSession(token_hash="a" * 64, operator="王芳", csrf="x", expires_at=utcnow() - hour),
                   LoginSession(token_hash="b" * 64, operator="王芳", csrf="y", expires_at=utcnow() + hour)])
    backups = tmp_path / "backups"
    backups.mkdir()
    for name, age in [("yinling-old.db", 200 * DAY), ("yinling-new.db", DAY)]:
        (backups / name).write_bytes(b"")
        os.utime(backups / name, (now - age, now - age))
    before = senders(url)

    counted = maintenance.purge(180, dry_run=True, url=url, backups=backups)
    assert (counted.conversations, counted.events) == (2, 6)
    assert senders(url) == before and len(list(backups.iterdir())) == 2

    done = maintenance.purge(180, url=url, backups=backups)
    assert (done.conversations, done.events) == (2, 6)
    assert done.console == {"话务员回复": 1, "接手记录": 0, "纠错记录": 0, "审计日志": 1, "过期登录会话": 1}
    assert done.backups == [backups / "yinling-old.db"]
    assert senders(url) == {"long-running": 4, "new": 2}
    assert [p.name for p in backups.iterdir()] == ["yinling-new.db"]
    with session_scope(url) as s:
        assert s.scalars(select(Answer.sender_id)).all() == ["new"]
        assert len(s.scalars(select(AuditEntry)).all()) == len(s.scalars(select(LoginSession)).all()) == 1
    assert "已删除 2 个超过 180 天没有新消息的对话（6 条对话事件）" in done.report()


def test_purge_command_uses_retention_days(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                           tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'yinling.db'}"
    now = time.time()
    save_conversations(url, {"a": [now - 10 * DAY], "b": [now - 3 * DAY]})
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("RETENTION_DAYS", "7")
    assert maintenance.main(["purge", "--dry-run"]) == 0
    assert "将删除 1 个超过 7 天没有新消息的对话（2 条对话事件）" in capsys.readouterr().out
    assert senders(url) == {"a": 2, "b": 2}
    assert maintenance.main(["purge", "--days", "2"]) == 0
    assert "已删除 2 个超过 2 天" in capsys.readouterr().out
    assert senders(url) == {}


def test_backup_then_restore_brings_back_catalog_and_conversations(url: str, tmp_path: Path) -> None:
    import_catalog(url)
    now = time.time()
    save_conversations(url, {"kept": [now - DAY, now], "other": [now]})
    before = snapshot(url)
    assert before["events"] and before["catalog_service_point"]

    copy = maintenance.backup(tmp_path / "backup", url)
    assert copy.stat().st_mode & 0o077 == 0  # personal data: readable by its owner only

    with session_scope(url) as s:
        s.execute(update(ServicePoint).values(name="改过的名字"))
    maintenance.purge(0, url=url, backups=tmp_path)
    save_conversations(url, {"after-backup": [now]})
    assert snapshot(url) != before

    maintenance.restore(copy, url)
    assert snapshot(url) == before


def test_restore_refuses_a_file_that_is_not_a_backup_of_this_kind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'yinling.db'}"
    save_conversations(url, {"a": [time.time()]})
    junk = tmp_path / "junk.db"
    junk.write_text("不是备份")
    with pytest.raises(maintenance.MaintenanceError, match="不是 make backup 写出的备份"):
        maintenance.restore(junk, url)
    copy = maintenance.backup(tmp_path / "yinling.bak", url)
    with pytest.raises(maintenance.MaintenanceError, match="是 SQLite 备份，而 DATABASE_URL 指向 PostgreSQL"):
        maintenance.restore(copy, "postgresql://yinling@127.0.0.1:9/yinling")
