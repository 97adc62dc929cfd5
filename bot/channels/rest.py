"""Rasa's REST channel behind the guard (bot/guard.py), loaded by `rasa run` from credentials.yml as
`bot.channels.rest.GuardedRestInput`: same URL (/webhooks/rest/webhook), same answers, plus

- a request that is not a JSON object with a string `message` gets 400 with a reason in Chinese;
- the guard's limits (length, rate per sender and per client address, typed "/…" read as text);
- request bodies over SANIC_REQUEST_MAX_SIZE bytes (default 256 KiB) get 413 from Sanic itself, on every route.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json
from typing_extensions import override

from bot import guard

MAX_BODY = 256 * 1024
MAX_SENDER = 128
BAD_BODY = "请求格式不对：应为 JSON 对象，例如 {\"sender\": \"对话编号\", \"message\": \"要问的话\"}"
NO_MESSAGE = "请求缺少 message：应为要发给助手的文字（字符串）"
BAD_SENDER = f"sender 应为不超过 {MAX_SENDER} 个字符的字符串"


class GuardedRestInput(RestInput):
    """Rasa's REST channel behind the guard (credentials.yml names it as the rest channel)."""

    @override
    @classmethod
    def name(cls) -> str:
        return "rest"

    @override
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = super().blueprint(guard.remembering(on_new_message, self.name()))

        @bp.listener("before_server_start")
        async def cap_bodies(app: Sanic, _loop: Any) -> None:  # noqa: ANN401
            if "SANIC_REQUEST_MAX_SIZE" not in os.environ:  # Sanic read it from the environment already
                app.config.REQUEST_MAX_SIZE = MAX_BODY

        @bp.middleware("request")
        async def admit(request: Request) -> HTTPResponse | None:
            if request.method != "POST" or not request.path.endswith("/webhook"):
                return None
            try:
                body = request.json
            except Exception:  # noqa: BLE001 - Sanic raises several kinds for a broken body
                body = None
            if not isinstance(body, dict):
                return json({"error": BAD_BODY}, status=400, ensure_ascii=False)
            if not isinstance(body.get("message"), str):
                return json({"error": NO_MESSAGE}, status=400, ensure_ascii=False)
            sender = body.get("sender") or "default"
            if not isinstance(sender, str) or len(sender) > MAX_SENDER:
                return json({"error": BAD_SENDER}, status=400, ensure_ascii=False)
            address = guard.client_address(request.ip, request.headers.get("x-forwarded-for"))
            decision = await guard.shared().admit(self.name(), sender, body["message"], address)
            if decision.refused:
                return json([{"recipient_id": sender, **m} for m in decision.reply], status=decision.status,
                            ensure_ascii=False)
            request.ctx.admitted = decision.text
            return None

        return bp

    def _extract_message(self, req: Request) -> str | None:
        return req.ctx.admitted

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()  # not the client's choice: the guard counted this message as REST
