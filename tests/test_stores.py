"""The stores named in the committed endpoints files: Rasa loads our classes (placeholders filled from the
environment, passwords with ':' or '#' intact); the Redis lock store issues tickets atomically and never hangs on
dead ones."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig, read_endpoint_config

from bot.launcher import _wait, free_port
from bot.locks import FairTicketLock
from bot.stores import PooledSQLTrackerStore

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = Domain.load(str(ROOT / "domain.yml"))


@pytest.mark.parametrize("name", ["endpoints.yml", "endpoints-scaleout.yml"])
def test_rasa_loads_our_stores_from_the_committed_endpoints(name: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Rasa falls back to an in-memory store, with only a warning, when a custom class fails to import: check."""
    password = "p:a#ss w/ord"  # ':' '#' ' ' '/' stay inside the URL (percent-encoded), not in the YAML
    from sqlalchemy.engine import URL

    db = URL.create("postgresql", "yinling", password, "127.0.0.1", 5432, "yinling")
    monkeypatch.setenv("DATABASE_URL", db.render_as_string(hide_password=False))
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://127.0.0.1:5055/webhook")
    monkeypatch.setenv("REDIS_URL", "redis://:p%3Aa%23ss@127.0.0.1:6379/0")
    path = str(ROOT / name)
    action = read_endpoint_config(path, "action_endpoint")
    assert action.url == "http://127.0.0.1:5055/webhook"
    tracker_store = read_endpoint_config(path, "tracker_store")
    assert tracker_store.type == "bot.stores.PooledSQLTrackerStore"
    from sqlalchemy.engine import make_url

    assert make_url(tracker_store.url).password == password
    sqlite = f"sqlite:///{tmp_path / 'x.db'}"
    monkeypatch.setenv("DATABASE_URL", sqlite)
    created = TrackerStore.create(read_endpoint_config(path, "tracker_store"), DOMAIN)
    assert isinstance(created, PooledSQLTrackerStore) and str(created.engine.url) == sqlite
    lock_store = read_endpoint_config(path, "lock_store")
    if name == "endpoints.yml":
        assert lock_store is None
    else:
        from bot.locks import AtomicRedisLockStore

        created = LockStore.create(lock_store)
        assert isinstance(created, AtomicRedisLockStore)
        assert created.red.connection_pool.connection_kwargs["password"] == "p:a#ss"
        assert created.key_prefix == "yinling:lock:"


REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture()
def redis_with_password(tmp_path: Path):
    """A private redis-server whose password has ':' and '#'; yields its URL (password percent-encoded)."""
    if not Path(REDIS).exists():
        pytest.skip("redis-server not installed (make services)")
    port, password = free_port(), "p:a#ss"
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--requirepass", password, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    url = f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    _wait(lambda: _pings(client), "Redis", [proc], 20)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_lock_store_issues_distinct_tickets_at_once_with_a_password(redis_with_password: str) -> None:
    """Two instances' lock stores issuing tickets of one conversation at the same moment never share a number
    (Rasa's RedisLockStore reads, changes and writes without atomicity)."""
    config = EndpointConfig(redis_with_password, type="bot.locks.AtomicRedisLockStore", key_prefix="yinling")
    stores = [LockStore.create(config) for _ in range(2)]
    with ThreadPoolExecutor(8) as pool:
        tickets = list(pool.map(lambda k: stores[k % 2].issue_ticket("same", 10), range(40)))
    assert sorted(tickets) == list(range(40))
    for n in tickets:
        stores[n % 2].cleanup("same", n)
    assert stores[0].get_lock("same") is None


def test_a_ticket_is_served_when_every_earlier_ticket_is_dead() -> None:
    """Rasa's TicketLock waits for now_serving == ticket: once the dead holder's ticket and the waiting one have
    both expired, now_serving is 0 and the waiter is locked out for good. FairTicketLock serves it."""
    expired = deque([Ticket(1, time.time() - 1)])
    assert TicketLock("c", expired).is_locked(1)  # upstream: locked forever
    assert not FairTicketLock("c", deque(expired)).is_locked(1)
    alive = deque([Ticket(0, time.time() + 10), Ticket(1, time.time() + 10)])
    assert FairTicketLock("c", alive).is_locked(1) and not FairTicketLock("c", alive).is_locked(0)

