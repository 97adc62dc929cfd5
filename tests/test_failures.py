"""A failing part never means silence: the action server down, the database locked or gone, Redis down (scale-out)
give the hotline within 3 s, and the conversation continues from its last saved turn once the part is back."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from bot.launcher import PY, ROOT, base_env, free_port, serving
from catalog.importer import import_catalog
from replies import t
from tests.conftest import wait_until
from tools.eval import Turn, send

# Another process takes SQLite's write lock (as a long write transaction would) and holds it for a few seconds.
LOCK_HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def assert_hotline(turn: Turn, task: str = "find_service") -> None:
    assert turn.seconds < 3, turn
    assert turn.payload is not None and turn.payload["task"] == task, turn
    assert "12345" in "\n".join(turn.texts) or task == "emergency", turn.texts


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def test_action_server_down_then_back(model: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    import_catalog(url)
    action_port = free_port()
    with serving(model, free_port(), action_port, url=url, log_dir=tmp_path) as servers:
        first = servers.procs[0]
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        started = time.monotonic()
        turn = send(servers.rasa_url, "failing-1", "江汉区有没有助餐点")
        assert time.monotonic() - started < 3
        assert turn.payload is not None and turn.payload["task"] == "find_service"
        assert "12345" in "\n".join(turn.texts)
        emergency = send(servers.rasa_url, "failing-2", "我妈晕倒了")
        assert emergency.texts[0].count("120") and emergency.payload["task"] == "emergency"

        env = base_env() | {"DATABASE_URL": url}
        servers.procs[0] = subprocess.Popen(
            [PY, "-m", "bot.action_server", "--actions", "actions", "--port", str(action_port)],
            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        assert wait_until(lambda: _healthy(f"http://127.0.0.1:{action_port}/health"), 60), "action server"
        back = send(servers.rasa_url, "failing-1", "江汉区有没有助餐点")
        assert back.payload["items"] and "12345" not in back.payload["text"]


def test_sigkill_mid_conversation_then_restart_continues(model: Path, tmp_path: Path) -> None:
    """The tracker store keeps the conversation: after a SIGKILL and a restart the next turn continues it."""
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    import_catalog(url)
    rasa_port, action_port = free_port(), free_port()
    with serving(model, rasa_port, action_port, url=url, log_dir=tmp_path) as servers:
        asked = send(servers.rasa_url, "kill-1", "哪里有老年助餐点")
        assert asked.payload["ask"] == "region"
        os.killpg(servers.procs[1].pid, signal.SIGKILL)
        servers.procs[1].wait()
    with serving(model, rasa_port, action_port, url=url, log_dir=tmp_path) as servers:
        turn = send(servers.rasa_url, "kill-1", "洪山区")
        assert turn.payload["category"] == "meal" and turn.payload["region"]["district"] == "洪山区"
        assert turn.payload["items"]


def rasa_api_routes() -> list[tuple[str, str]]:
    """(method, path) of every route of Rasa's HTTP API, read from Rasa's own app (channels are added later)."""
    import rasa.server

    app = rasa.server.create_app(auth_token="any")
    return [(method, "/" + route.path.replace("<conversation_id:path>", "api-probe"))
            for route in app.router.routes for method in sorted(route.methods)]


def test_rasa_http_api_needs_the_token(bot) -> None:
    public = {"/", "/version"}
    routes = [(m, p) for m, p in rasa_api_routes() if p not in public]
    assert len(routes) >= 17, routes
    for method, path in routes:
        for params in ({}, {"token": "wrong"}):
            r = requests.request(method, f"{bot.rasa_url}{path}", params=params, json={}, timeout=10)
            assert r.status_code in (401, 403), (method, path, params, r.status_code)
    ok = requests.get(f"{bot.rasa_url}/status", params={"token": bot.token}, timeout=10)
    assert ok.status_code == 200


def test_database_locked_or_gone_then_back(model: Path, tmp_path: Path) -> None:
    """The catalog and the tracker store share the database: while another process holds SQLite's write lock the
    turn cannot be saved, and while the file is gone nothing can be read. Every user, several at once, hears the
    hotline within 3 s; afterwards the conversation continues from its last saved turn."""
    db = tmp_path / "bot.db"
    url = f"sqlite:///{db}"
    import_catalog(url)
    with serving(model, free_port(), free_port(), url=url, log_dir=tmp_path) as servers:
        asked = send(servers.rasa_url, "db-1", "哪里有老年助餐点")
        assert asked.payload["ask"] == "region"

        holder = subprocess.Popen([PY, "-c", LOCK_HOLDER, str(db), "6"], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
        jobs = [("db-1", "洪山区")] + [(f"db-locked-{i}", "江汉区有没有助餐点") for i in range(5)]
        with ThreadPoolExecutor(len(jobs)) as pool:
            turns = list(pool.map(lambda job: send(servers.rasa_url, *job), jobs))
        for turn in turns:
            assert_hotline(turn)
        emergency = send(servers.rasa_url, "db-2", "我妈晕倒了")
        assert_hotline(emergency, "emergency")
        assert "120" in emergency.texts[0]
        assert holder.wait(timeout=10) == 0

        listed = send(servers.rasa_url, "db-1", "洪山区")  # the apologized turn was not saved: asked for a region
        p = listed.payload
        assert p["category"] == "meal" and p["region"]["district"] == "洪山区" and len(p["items"]) >= 2, p

        files = [Path(f"{db}{suffix}") for suffix in ("", "-wal", "-shm")]
        for f in files:
            if f.exists():
                f.rename(f.with_name(f.name + ".away"))
        try:
            assert_hotline(send(servers.rasa_url, "db-1", "第二个电话多少"))
            assert_hotline(send(servers.rasa_url, "db-3", "江汉区有没有助餐点"))
        finally:
            for f in files:
                f.unlink(missing_ok=True)  # the empty database opened meanwhile
                away = f.with_name(f.name + ".away")
                if away.exists():
                    away.rename(f)
        second = send(servers.rasa_url, "db-1", "第二个电话多少")
        assert p["items"][1]["name"] in "\n".join(second.texts), (second.texts, p["items"][1])


def test_catalog_reimport_while_serving_gives_no_error_reply(bot) -> None:
    """Full imports (`python -m catalog import`) one after another while four conversations talk to the bot."""
    env = base_env() | {"DATABASE_URL": bot.database_url}
    done, imports, failures = threading.Event(), [0], []

    def reimport() -> None:
        while not done.is_set():
            run = subprocess.run([PY, "-m", "catalog", "import"], cwd=ROOT, env=env, capture_output=True, text=True)
            if run.returncode:
                failures.append(run.stderr[-500:])
            imports[0] += 1

    def talk(k: int) -> list[Turn]:
        turns, n = [], 0
        while imports[0] < 4 and not failures:
            sender = f"reimport-{k}-{n}"
            for text in ("江汉区有没有助餐点", "第二个电话多少", "高龄津贴怎么申请", "要带什么材料"):
                turns.append(send(bot.rasa_url, sender, text))
            n += 1
        return turns

    importer = threading.Thread(target=reimport)
    importer.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            turns = [turn for batch in pool.map(talk, range(4)) for turn in batch]
    finally:
        done.set()
        importer.join(timeout=60)
    assert not failures, failures
    assert len(turns) >= 16
    for turn in turns:
        assert turn.payload is not None and t("error") not in turn.texts, turn


NEEDS_POSTGRES = pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
                                    reason="PostgreSQL not installed (make services)")


@NEEDS_POSTGRES
def test_small_talk_is_answered_while_catalog_queries_wait_on_a_lock(model: Path) -> None:
    """The action server does catalog work off its event loop: while another connection holds a lock on the service
    points (as a migration or a long import transaction would), two conversations asking for services get the
    hotline within 3 s, and other conversations' small talk is answered at once. (When the queries ran on the loop,
    one query waiting on the lock held up every action of every conversation.)"""
    import psycopg2

    from tools.scaleout import postgres

    run_dir = Path(tempfile.mkdtemp(prefix="yinling-locked-"))  # the postgres user must enter it
    run_dir.chmod(0o755)
    try:
        with postgres(run_dir, free_port()) as url:
            import_catalog(url)
            with serving(model, free_port(), free_port(), url=url, log_dir=run_dir / "logs") as servers:
                locked_catalog_turns(servers.rasa_url, psycopg2.connect(url))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def locked_catalog_turns(rasa_url: str, holder: Any) -> None:
    """Small talk while two conversations' catalog queries wait on `holder`'s lock, then the lock released."""
    assert send(rasa_url, "locked-warm", "江汉区有没有助餐点").payload["items"]
    with holder.cursor() as cur:
        cur.execute("LOCK TABLE catalog_service_point IN ACCESS EXCLUSIVE MODE")
    done, slow = threading.Event(), []

    def ask_for_services(k: int) -> None:
        while not done.is_set():
            slow.append(send(rasa_url, f"locked-find-{k}-{len(slow)}", "江汉区有没有助餐点"))

    try:
        with ThreadPoolExecutor(2) as pool:
            for k in range(2):
                pool.submit(ask_for_services, k)
            try:
                quick = [send(rasa_url, f"locked-talk-{n}", "您好") for n in range(8)]
            finally:
                done.set()
    finally:
        holder.rollback()
        holder.close()
    for turn in quick:
        assert turn.seconds < 1 and turn.payload["task"] == "chitchat" and "12345" not in turn.texts[0], quick
    assert slow
    for turn in slow:
        assert_hotline(turn)
    assert send(rasa_url, "locked-after", "江汉区有没有助餐点").payload["items"]


REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
NEEDS_SCALEOUT = pytest.mark.skipif(
    not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()) or not Path(REDIS).exists()
    or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    reason="PostgreSQL, Redis or nginx not installed (make services)",
)


@pytest.mark.scaleout
@NEEDS_SCALEOUT
def test_redis_down_then_back(model: Path) -> None:
    """The scale-out layout with one instance: Redis (the lock store) killed mid-conversation gives the hotline
    within 3 s, not a 500 or a hang; with Redis back the conversation continues."""
    from tools.scaleout import redis, scaled

    with scaled(model, instances=1) as cluster:
        asked = send(cluster.url, "redis-1", "哪里有老年助餐点")
        assert asked.payload["ask"] == "region"
        os.killpg(cluster.redis.pid, signal.SIGKILL)
        cluster.redis.wait()
        assert_hotline(send(cluster.url, "redis-1", "洪山区"))
        emergency = send(cluster.url, "redis-2", "我妈晕倒了")
        assert_hotline(emergency, "emergency")
        assert "120" in emergency.texts[0]

        with redis(cluster.run_dir, int(urlsplit(cluster.redis_url).port or 0)):
            listed = send(cluster.url, "redis-1", "洪山区")
            p = listed.payload
            assert p["category"] == "meal" and p["region"]["district"] == "洪山区" and p["items"], p
            second = send(cluster.url, "redis-1", "第二个电话多少")
            assert p["items"][1]["name"] in "\n".join(second.texts), (second.texts, p["items"][1])
