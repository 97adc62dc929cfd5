"""bot/patches.py changes Rasa internals where Rasa 3.6 has no extension point. Each test here shows that the
upstream behaviour a patch fixes is still there in the installed Rasa, and the version guard refuses any other
version: an upgrade fails a test (then re-check the patch), not production."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rasa.core.actions import action as rasa_action
from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils import endpoints as rasa_endpoints
from rasa.utils.endpoints import EndpointConfig

from bot import patches
from bot.launcher import PY, ROOT, base_env, free_port


@pytest.fixture(autouse=True)
def upstream() -> None:
    """These tests look at Rasa itself: they mean nothing in a process where the patches are installed."""
    assert RemoteAction.run.__module__.startswith("rasa."), "bot.patches is installed in the test process"
    assert FailSafeTrackerStore.save.__module__.startswith("rasa.")
    assert Agent.handle_message.__module__.startswith("rasa.")


def test_the_version_guard_refuses_another_rasa() -> None:
    patches.check_versions()  # the installed versions are the pinned ones
    for other in ({"rasa": "3.6.22", "rasa-sdk": "3.6.2"}, {"rasa": "3.6.21", "rasa-sdk": "3.7.0"}):
        with pytest.raises(patches.UnsupportedRasa) as refused:
            patches.check_versions(other)
        message = str(refused.value)
        assert "拒绝启动" in message and "Refusing to start" in message and "3.6.21" in message


def test_the_guard_pins_what_requirements_lock_installs() -> None:
    pins = [line.partition("==") for line in (ROOT / "requirements.lock").read_text().splitlines() if "==" in line]
    locked = {name.strip(): version.split()[0] for name, _, version in pins}
    assert {name: locked[name] for name in patches.PINNED} == patches.PINNED


def test_the_server_does_not_start_on_another_rasa() -> None:
    """`python -m bot.serve` (what the launcher and scale-out run) exits with the message, before Rasa starts."""
    fake = ("import importlib.metadata as m, runpy, sys; real = m.version; "
            "m.version = lambda name: '3.7.0' if name == 'rasa' else real(name); "
            "sys.argv = ['bot.serve', 'run', '--port', sys.argv[1]]; "
            "runpy.run_module('bot.serve', run_name='__main__')")
    run = subprocess.run([PY, "-c", fake, str(free_port())], cwd=ROOT, env=base_env(), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode != 0
    assert "拒绝启动" in run.stderr and "rasa 3.7.0" in run.stderr, run.stderr[-2000:]


def test_validation_upstream_checks_the_schema_on_every_response(monkeypatch: pytest.MonkeyPatch) -> None:
    """Patch 1: jsonschema.validate (schema checked again each time) is what Rasa calls per action response."""
    import jsonschema

    calls: list[Any] = []
    monkeypatch.setattr(jsonschema, "validate", lambda result, schema: calls.append(schema))
    action = RemoteAction("action_chitchat", EndpointConfig("http://127.0.0.1:9/webhook"))
    for _ in range(3):
        assert action._validate_action_result({"events": [], "responses": []})
    assert calls == [RemoteAction.action_response_format_spec()] * 3


def test_action_failure_upstream_waits_300_s_then_says_nothing() -> None:
    """Patch 2: Rasa's action timeout is the module constant 300 s, read at call time, and a failing action server
    raises out of RemoteAction.run, which the processor logs ("Bot will continue") without a word to the user.
    The patch wraps run(output_channel, nlg, tracker, domain): the signature must not change."""
    assert rasa_action.DEFAULT_REQUEST_TIMEOUT == rasa_endpoints.DEFAULT_REQUEST_TIMEOUT == 300
    assert list(inspect.signature(RemoteAction.run).parameters) == ["self", "output_channel", "nlg", "tracker",
                                                                    "domain"]
    domain = Domain.load(str(ROOT / "domain.yml"))
    tracker = DialogueStateTracker("upstream", domain.slots)
    out = CollectingOutputChannel()
    down = RemoteAction("action_chitchat", EndpointConfig(f"http://127.0.0.1:{free_port()}/webhook"))
    with pytest.raises(RasaException):
        asyncio.run(down.run(out, None, tracker, domain))
    assert out.messages == []
    from rasa.core import processor

    assert "Bot will continue" in inspect.getsource(processor.MessageProcessor._run_action)


class Broken(InMemoryTrackerStore):
    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        raise ConnectionError("database locked")

    async def save(self, tracker: DialogueStateTracker) -> None:
        raise ConnectionError("database locked")


def test_tracker_store_errors_upstream_are_swallowed() -> None:
    """Patch 3: Rasa wraps every store in FailSafeTrackerStore (Agent._create_tracker_store): a failed read gives
    no tracker (a blank conversation) and a failed save is kept in memory only (the turn is forgotten later)."""
    domain = Domain.load(str(ROOT / "domain.yml"))
    store = Agent._create_tracker_store(Broken(domain), domain)
    assert isinstance(store, FailSafeTrackerStore)
    assert asyncio.run(store.retrieve("someone")) is None
    asyncio.run(store.save(DialogueStateTracker("someone", domain.slots)))  # no error: saved in memory instead
    assert asyncio.run(store.fallback_tracker_store.retrieve("someone")) is not None


class LockStoreDown(InMemoryLockStore):
    def issue_ticket(self, conversation_id: str, lock_lifetime: float = 60) -> int:
        raise ConnectionError("Redis down")


def test_turn_failure_upstream_raises_out_of_handle_message() -> None:
    """Patch 4: a lock store (or tracker store) failure raises out of Agent.handle_message; Rasa's REST channel
    logs it and answers with whatever was collected: nothing, or half a turn that was never saved."""
    agent = Agent(domain=Domain.empty(), lock_store=LockStoreDown())
    agent.processor = object()  # type: ignore[assignment]  # ready: the failure comes before it is used
    message = UserMessage("您好", CollectingOutputChannel(), "someone")
    with pytest.raises(ConnectionError):
        asyncio.run(agent.handle_message(message))
    from rasa.core.channels import rest

    assert "except Exception" in inspect.getsource(rest.RestInput.blueprint)


def test_patches_apply_to_this_rasa(tmp_path: Path) -> None:
    """Every patch finds what it replaces (in a subprocess: this process keeps Rasa as shipped)."""
    code = ("from bot import patches; patches.install(); "
            "from rasa.core.actions.action import RemoteAction; from rasa.core.agent import Agent; "
            "from rasa.core.tracker_store import FailSafeTrackerStore as F; "
            "assert all(f.__module__ == 'bot.patches' for f in (RemoteAction.run, RemoteAction._validate_action_result,"
            " Agent.handle_message, F.retrieve, F.retrieve_full_tracker, F.save)); print('ok')")
    run = subprocess.run([PY, "-c", code], cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "ok", run.stderr[-2000:]
