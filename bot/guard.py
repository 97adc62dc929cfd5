"""Refuse hostile or runaway REST requests before they reach the bot (Sanic middleware).

Too long a message gets a polite "请说得简短一些" in the contract; a sender sending faster than
REST_RATE_PER_MIN gets "请稍等"; Rasa's internal commands (/restart, /session_start, /back) are not
for users and get the out-of-scope answer; malformed bodies get 400 with a plain-Chinese reason.
"""

from __future__ import annotations

import os
import re
import time
from collections import defaultdict, deque
from functools import lru_cache
from pathlib import Path

import yaml
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from replies import Reply, t

REST_PATH = "/webhooks/rest/webhook"
DOMAIN = Path(__file__).resolve().parent.parent / "domain.yml"


@lru_cache(maxsize=1)
def domain_intents() -> frozenset[str]:
    """Intents a "/intent{…}" message may name: the bot's own, not Rasa's internal /restart, /back, …"""
    intents = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))["intents"]
    return frozenset(i if isinstance(i, str) else next(iter(i)) for i in intents)


def internal_command(message: str) -> bool:
    m = re.match(r"/([A-Za-z_]+)", message)
    return bool(m) and m.group(1) not in domain_intents()


def _reply(sender: str, text: str, status: int = 200) -> HTTPResponse:
    payload = Reply("out_of_scope").say(text).payload()
    return json([{"recipient_id": sender, "text": text}, {"recipient_id": sender, "custom": payload}],
                status=status)


class RestGuard:
    def __init__(self, max_chars: int, per_minute: int) -> None:
        self.max_chars, self.per_minute = max_chars, per_minute
        self.recent: dict[str, deque[float]] = defaultdict(deque)
        self.swept = 0.0

    def allow(self, sender: str, now: float) -> bool:
        if now - self.swept > 60:  # forget senders idle for a minute: memory follows the active ones (soak test)
            self.swept = now
            for key in [k for k, v in self.recent.items() if not v or v[-1] < now - 60]:
                del self.recent[key]
        q = self.recent[sender]
        while q and q[0] < now - 60:
            q.popleft()
        if len(q) >= self.per_minute:
            return False
        q.append(now)
        return True

    async def __call__(self, request: Request) -> HTTPResponse | None:
        if request.path != REST_PATH or request.method != "POST":
            return None
        try:
            body = request.json
        except Exception:  # noqa: BLE001 - Sanic raises several kinds for a broken body
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("message", ""), str):
            return json({"error": "请求格式不对：应为 JSON 对象 {\"sender\": …, \"message\": …}"}, status=400)
        sender = body.get("sender") or "default"
        if not isinstance(sender, str) or len(sender) > 128:
            return json({"error": "sender 应为不超过 128 个字符的字符串"}, status=400)
        if internal_command(body.get("message") or ""):
            return _reply(sender, t("out_of_scope", capabilities=t("capabilities")))
        if len(body.get("message") or "") > self.max_chars:
            return _reply(sender, t("too_long", limit=self.max_chars))
        if not self.allow(sender, time.monotonic()):
            return _reply(sender, t("too_fast"), status=429)
        return None


def install(app: Sanic) -> None:
    app.config.REQUEST_MAX_SIZE = int(os.environ.get("REQUEST_MAX_BYTES", str(256 * 1024)))
    guard = RestGuard(int(os.environ.get("REST_MAX_CHARS", "500")), int(os.environ.get("REST_RATE_PER_MIN", "60")))
    app.register_middleware(guard, "request")
