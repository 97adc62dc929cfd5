"""The stores named in the committed endpoints files: Rasa loads our classes (placeholders filled from the
environment, passwords with ':' or '#' intact); the Redis lock store issues tickets atomically and never hangs on
dead ones; the tracker store loads a long conversation's recent events only, yet keeps its whole state (slots,
active form), and a long conversation through REST keeps its region and last list."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import requests
from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig, read_endpoint_config

from bot.launcher import _wait, free_port
from bot.locks import FairTicketLock
from bot.stores import DB_TIMEOUT, GRACE, WINDOW, PooledSQLTrackerStore, TrackerStoreUnavailable
from tools.eval import send

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


# --- flat turn cost: the window and the snapshot ----------------------------------------------------------------

def run(coro):
    return asyncio.run(coro)


def turn(tracker: DialogueStateTracker, n: int, *events: object) -> None:
    tracker.update_with_events([UserUttered(f"第{n}句", {"name": "greet", "confidence": 1.0}),
                                ActionExecuted("action_chitchat"), BotUttered(f"答{n}"), *events,
                                ActionExecuted("action_listen")], None)


@pytest.fixture()
def store(tmp_path: Path) -> PooledSQLTrackerStore:
    return PooledSQLTrackerStore(DOMAIN, host=f"sqlite:///{tmp_path / 'store.db'}")


def long_conversation(store: PooledSQLTrackerStore, sender: str, turns: int) -> DialogueStateTracker:
    """Saved turn by turn as Rasa does: retrieve, add the turn's events, save."""
    tracker = run(store.create_tracker(sender))
    tracker.update_with_events([SessionStarted(), ActionExecuted("action_listen")], None)
    run(store.save(tracker))
    for n in range(turns):
        tracker = run(store.retrieve(sender))
        events = []
        if n == 1:
            events = [SlotSet("region_code", "420103"), SlotSet("last_items", ["甲", "乙", "丙"])]
        elif n == turns - 8:  # the form starts long after the region was set
            events = [ActiveLoop("eligibility_form"), SlotSet("requested_slot", "age")]
        elif n % 5 == 0:
            events = [SlotSet("category", ["meal", "day_care"][n % 2])]
        turn(tracker, n, *events)
        run(store.save(tracker))
    return tracker


def test_a_long_conversation_loads_recent_events_with_its_whole_state(store: PooledSQLTrackerStore) -> None:
    last = long_conversation(store, "long-1", 120)
    loaded = run(store.retrieve("long-1"))
    full = run(store.retrieve_full_tracker("long-1"))
    assert len(full.events) > 8 * WINDOW and len(loaded.events) <= WINDOW + len(DOMAIN.slots) + 1
    assert loaded.current_slot_values() == full.current_slot_values() == last.current_slot_values()
    assert loaded.get_slot("region_code") == "420103" and loaded.get_slot("last_items") == ["甲", "乙", "丙"]
    assert loaded.active_loop_name == full.active_loop_name == "eligibility_form"
    assert loaded.latest_message.text == full.latest_message.text == "第119句"
    # the recent turns are there as they happened, from a turn boundary
    recent = [e for e in loaded.events if isinstance(e, UserUttered)]
    assert [e.text for e in recent] == [f"第{n}句" for n in range(120 - len(recent), 120)] and len(recent) >= 5


def test_saving_a_loaded_window_adds_only_the_new_events(store: PooledSQLTrackerStore) -> None:
    long_conversation(store, "long-2", 40)
    before = len(run(store.retrieve_full_tracker("long-2")).events)
    tracker = run(store.retrieve("long-2"))
    turn(tracker, 40, SlotSet("category", "bathing"))
    run(store.save(tracker))
    run(store.save(tracker))  # saved twice: nothing twice
    full = run(store.retrieve_full_tracker("long-2"))
    assert len(full.events) == before + 5
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == [f"第{n}句" for n in range(41)]
    assert run(store.retrieve("long-2")).get_slot("category") == "bathing"


def test_a_new_session_loads_as_in_rasa(store: PooledSQLTrackerStore) -> None:
    long_conversation(store, "long-3", 30)
    tracker = run(store.retrieve("long-3"))
    tracker.update_with_events([ActionExecuted("action_session_start"), SessionStarted(),
                                SlotSet("region_code", "420103"), ActionExecuted("action_listen")], None)
    run(store.save(tracker))
    loaded = run(store.retrieve("long-3"))
    assert isinstance(loaded.events[0], SessionStarted) and len(loaded.events) == 3
    assert loaded.get_slot("region_code") == "420103" and loaded.get_slot("category") is None


def test_a_conversation_saved_before_snapshots_loads_whole(store: PooledSQLTrackerStore, tmp_path: Path) -> None:
    long_conversation(store, "long-4", 30)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM tracker_state")
    loaded = run(store.retrieve("long-4"))
    assert len(loaded.events) == len(run(store.retrieve_full_tracker("long-4")).events) - 1  # the session, as Rasa
    turn(loaded, 30)
    run(store.save(loaded))  # and from then on it has a snapshot
    assert len(run(store.retrieve("long-4")).events) <= WINDOW + len(DOMAIN.slots) + 1


def test_a_save_queued_behind_slow_calls_still_lands(store: PooledSQLTrackerStore) -> None:
    """A busy machine (an instance loading its model beside this one) delays the worker: a save that waits in the
    queue for most of a second is still made, and the next turn sees it."""
    tracker = run(store.create_tracker("queued-1"))
    turn(tracker, 0, SlotSet("category", "meal"))
    store._worker.submit(time.sleep, 0.8)  # as long as saves queued on the CI machine
    run(store.save(tracker))
    assert run(store.retrieve("queued-1")).get_slot("category") == "meal"


def test_a_call_queued_past_the_bound_fails_in_time_and_never_runs_late(store: PooledSQLTrackerStore) -> None:
    tracker = run(store.create_tracker("queued-2"))
    turn(tracker, 0)
    store._worker.submit(time.sleep, DB_TIMEOUT + GRACE + 0.5)
    started = time.monotonic()
    with pytest.raises(TrackerStoreUnavailable):
        run(store.save(tracker))
    assert time.monotonic() - started < DB_TIMEOUT + GRACE + 0.3
    store._worker.submit(time.sleep, 0).result()  # the worker is free again: the dropped save did not run
    assert not [e for e in run(store.retrieve("queued-2")).events if isinstance(e, UserUttered)]


def test_a_long_conversation_keeps_region_and_last_list(bot) -> None:
    """Through REST: a list shown early, then many turns that change neither, then "第二个" and another service."""
    sender = "long-context"
    listed = send(bot.rasa_url, sender, "江汉区有没有助餐点").payload
    assert listed["region"]["district"] == "江汉区" and len(listed["items"]) >= 2
    for n in range(WINDOW // 2):  # each small-talk turn saves about five events: well past the window
        assert send(bot.rasa_url, sender, ["您好", "谢谢"][n % 2]).payload is not None
    r = requests.get(f"{bot.rasa_url}/conversations/{sender}/tracker", params={"token": bot.token}, timeout=10)
    assert len(r.json()["events"]) > 2 * WINDOW
    second = send(bot.rasa_url, sender, "第二个电话多少")
    assert listed["items"][1]["name"] in "\n".join(second.texts), (second.texts, listed["items"][1])
    other = send(bot.rasa_url, sender, "那养老院呢").payload
    assert other["region"]["district"] == "江汉区" and other["category"] == "care_home", other


def test_retention_purges_the_snapshots_with_the_events(store: PooledSQLTrackerStore, tmp_path: Path) -> None:
    """The snapshot holds the same personal data as the events (age, location): purged with its conversation."""
    from bot import maintenance

    long_conversation(store, "long-5", 70)
    maintenance.purge(0, url=str(store.engine.url), backups=tmp_path / "none")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM tracker_state").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 0
