"""A failing part never means silence: the action server down gives the hotline within 3 s, then recovers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from bot.eval import send
from bot.launcher import PY, ROOT, base_env, free_port, serving
from catalog.importer import import_catalog


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
            [PY, "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{action_port}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
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


def test_rasa_http_api_needs_the_token(bot) -> None:
    for method, path in [("get", "/conversations/x/tracker"), ("post", "/model/parse"), ("put", "/model"),
                         ("get", "/status"), ("post", "/conversations/x/tracker/events")]:
        r = requests.request(method, f"{bot.rasa_url}{path}", json={}, timeout=10)
        assert r.status_code in (401, 403), (method, path, r.status_code)
    ok = requests.get(f"{bot.rasa_url}/status", params={"token": bot.token}, timeout=10)
    assert ok.status_code == 200
