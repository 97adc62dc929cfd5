"""The only changes to Rasa internals, for what Rasa 3.6 has no extension point for. Checked against the pinned
versions at start (install refuses any other); tests/test_patches.py shows, for each patch, that the upstream
behaviour it fixes is still there, so an upgrade fails a test instead of silently dropping a guarantee.

1. validation: Rasa validates every action-server response with `jsonschema.validate`, which re-checks the schema
   itself on each call: 30 % of the server's CPU (py-spy). We validate with one prebuilt validator.
2. action_failure: the action call times out after ACTION_TIMEOUT seconds (default 2.5; Rasa's is 300 and not
   configurable) and any failure of it gives the hotline in a contract payload (Rasa logs it and says nothing);
   a failed custom action_session_start starts the session as Rasa's own does, quietly (the turn's own action
   then answers, or apologizes once).
3. tracker_store_errors: Rasa wraps every tracker store in FailSafeTrackerStore, which hides errors: a failed read
   starts a blank conversation, a failed save keeps the answered turn only in memory (the next message has
   forgotten it). The errors now go through (bot/stores.py raises them within DB_TIMEOUT).
4. turn_failure: a turn that fails anywhere (tracker store, Redis lock store) answers with the hotline
   (bot/fallback.py) instead of an HTTP 500 or what it had said so far: nothing of that turn was saved, so the next
   message continues from the last saved turn.
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import version
from typing import Any

log = logging.getLogger(__name__)

PINNED = {"rasa": "3.6.21", "rasa-sdk": "3.6.2"}


class UnsupportedRasa(SystemExit):
    """Another Rasa or rasa-sdk version than the one these patches were written and tested for."""


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Refuse to start on any version but the pinned ones (the patches replace private Rasa code)."""
    installed = installed or {name: version(name) for name in PINNED}
    wrong = {name: installed[name] for name, pinned in PINNED.items() if installed[name] != pinned}
    if wrong:
        found = "，".join(f"{name} {v}" for name, v in wrong.items())
        pins = ", ".join(f"{name}=={v}" for name, v in PINNED.items())
        raise UnsupportedRasa(
            f"银龄助手拒绝启动：bot/patches.py 修改了 Rasa 的内部实现，只在 {pins} 上验证过，当前安装的是 {found}。"
            "请按 requirements.lock 安装（make install）；升级 Rasa 时先让 tests/test_patches.py 通过，再改 PINNED。\n"
            f"Refusing to start: bot/patches.py changes Rasa internals and was verified only with {pins}; "
            f"installed: {', '.join(f'{n} {v}' for n, v in wrong.items())}. Install requirements.lock (make install); "
            "to upgrade Rasa, make tests/test_patches.py pass first, then update PINNED."
        )


def _validation() -> None:
    import jsonschema
    from rasa.core.actions.action import RemoteAction

    spec = RemoteAction.action_response_format_spec()
    validator = jsonschema.validators.validator_for(spec)(spec)

    def validate(self: RemoteAction, result: dict) -> bool:
        try:
            validator.validate(result)
        except jsonschema.ValidationError as e:
            e.message += ". Failed to validate Action server response from API."
            raise
        return True

    RemoteAction._validate_action_result = validate


def _action_failure() -> None:
    import rasa.utils.endpoints
    from rasa.core.actions import action as rasa_action
    from rasa.core.actions.action import ActionExecutionRejection, ActionSessionStart, RemoteAction
    from rasa.shared.core.constants import ACTION_SESSION_START_NAME
    from rasa.shared.core.events import BotUttered

    from bot.fallback import failure_message

    timeout = float(os.environ.get("ACTION_TIMEOUT", "2.5"))
    rasa.utils.endpoints.DEFAULT_REQUEST_TIMEOUT = timeout
    rasa_action.DEFAULT_REQUEST_TIMEOUT = timeout
    run = RemoteAction.run

    async def run_or_apologize(self: RemoteAction, output_channel, nlg, tracker, domain):
        try:
            return await run(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise  # a form rejecting a message is dialogue, not failure
        except Exception:  # whatever broke, the user hears the hotline
            log.exception("action %s failed", self.name())
            if self.name() == ACTION_SESSION_START_NAME:
                return await ActionSessionStart().run(output_channel, nlg, tracker, domain)
            message = failure_message(tracker.latest_message.intent.get("name"), tracker.current_slot_values())
            await output_channel.send_response(tracker.sender_id, message)
            return [BotUttered(message["text"], data={"custom": message["custom"]})]

    RemoteAction.run = run_or_apologize


def _tracker_store_errors() -> None:
    from rasa.core.tracker_store import FailSafeTrackerStore

    async def retrieve(self: FailSafeTrackerStore, sender_id: str) -> Any:  # noqa: ANN401
        return await self._tracker_store.retrieve(sender_id)

    async def retrieve_full_tracker(self: FailSafeTrackerStore, sender_id: str) -> Any:  # noqa: ANN401
        return await self._tracker_store.retrieve_full_tracker(sender_id)

    async def save(self: FailSafeTrackerStore, tracker: Any) -> None:  # noqa: ANN401
        await self._tracker_store.save(tracker)

    FailSafeTrackerStore.retrieve = retrieve
    FailSafeTrackerStore.retrieve_full_tracker = retrieve_full_tracker
    FailSafeTrackerStore.save = save


def _turn_failure() -> None:
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    from bot.fallback import failure_message

    handle = Agent.handle_message

    async def handle_or_apologize(self: Agent, message: UserMessage) -> list[dict] | None:
        try:
            return await handle(self, message)
        except Exception:  # tracker store, lock store: whatever broke, the user hears the hotline
            log.exception("turn of %s failed", message.sender_id)
        out = message.output_channel
        collected = isinstance(out, CollectingOutputChannel)
        if collected:
            out.messages.clear()  # the turn was not saved: what it had said is withdrawn
        try:
            intent = (await self.processor.parse_message(message))["intent"].get("name")
        except Exception:  # understanding failed too: the plain hotline
            log.exception("parse after a failed turn of %s", message.sender_id)
            intent = None
        await out.send_response(message.sender_id, failure_message(intent, {}))
        return out.messages if collected else None

    Agent.handle_message = handle_or_apologize


def install() -> None:
    """Check the versions, then apply every patch (once per process, before Rasa starts)."""
    check_versions()
    _validation()
    _action_failure()
    _tracker_store_errors()
    _turn_failure()
