"""What the WeChat channel remembers between requests: who answers a message, its answer and how it went out
(dedup of WeChat's retries and replays), and each user's last numbered options.

MemoryState keeps it in the process (one Rasa process). RedisState keeps it in Redis (WECHAT_REDIS_URL), so that
every instance behind a load balancer sees the same: a message is answered once whichever instance each copy
reaches, and a digit picks the options another instance showed. A Redis failure never stops a reply: the
operation falls back (process the message, no options) and Redis is left alone for a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from typing_extensions import override

logger = logging.getLogger(__name__)

TURN_TTL = 600.0          # seconds a message's answer is kept for retries and replays (> the timestamp window)
MAX_TURNS = 10_000
BUTTONS_TTL = 24 * 3600.0
MAX_USERS = 50_000
TURN_LEASE = 10.0         # seconds an instance's claim on a message lasts unless renewed (it dies, another takes over)
REDIS_TIMEOUT = 0.5       # seconds for connecting to Redis and for each command
REDIS_PAUSE = 5.0         # seconds Redis is not asked again after a failure

T = TypeVar("T")
Buttons = list[dict[str, str]]


class State(Protocol):
    """What the WeChat channel shares between its requests (and instances): message claims, answers, options."""

    lease: float

    async def claim(self, key: str) -> bool:
        """True when this call takes the message (nobody has it, or its claim lapsed): then this process answers."""

    async def renew(self, key: str) -> None:
        """Keep this process's claim alive while it is answering."""

    async def publish(self, key: str, parts: list[str]) -> None:
        """The answer of a claimed message, for every copy of it."""

    async def answer(self, key: str) -> list[str] | None:
        """The published answer, or None while there is none."""

    async def deliver(self, key: str, how: str) -> str | None:
        """Record how the answer goes out ("passive" or "api") unless already decided: None when this call
        decided (the caller delivers), else the earlier decision."""

    async def buttons(self, openid: str) -> Buttons:
        """The user's last numbered options (empty when none or expired)."""

    async def remember_buttons(self, openid: str, buttons: Buttons) -> None:
        """Replace the user's last numbered options (none: forget them)."""


class _Expiring:
    """An insertion-ordered map whose entries expire after `ttl` seconds; at most `limit` entries (oldest go)."""

    def __init__(self, ttl: float, limit: int) -> None:
        self.ttl, self.limit = ttl, limit
        self.items: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def _prune(self) -> None:
        now = time.monotonic()
        while self.items:
            created, _ = next(iter(self.items.values()))
            if now - created <= self.ttl and len(self.items) <= self.limit:
                break
            self.items.popitem(last=False)

    def get(self, key: str) -> Any:  # noqa: ANN401 - whatever was put
        self._prune()
        entry = self.items.get(key)
        return None if entry is None else entry[1]

    def put(self, key: str, value: Any) -> None:  # noqa: ANN401 - any value
        self.items.pop(key, None)
        self.items[key] = (time.monotonic(), value)
        self._prune()

    def pop(self, key: str) -> None:
        self.items.pop(key, None)


@dataclass
class _Turn:
    parts: list[str] | None = None
    delivery: str | None = None


class MemoryState(State):
    """The state in this process: lost on restart, not shared with other processes."""

    lease = TURN_LEASE

    def __init__(self) -> None:
        self._turns = _Expiring(TURN_TTL, MAX_TURNS)
        self._buttons = _Expiring(BUTTONS_TTL, MAX_USERS)

    def _turn(self, key: str) -> _Turn:
        turn = self._turns.get(key)
        if turn is None:
            turn = _Turn()
            self._turns.put(key, turn)
        return turn

    @override
    async def claim(self, key: str) -> bool:
        if self._turns.get(key) is not None:
            return False
        self._turns.put(key, _Turn())
        return True

    @override
    async def renew(self, key: str) -> None:
        return None  # a claim lives as long as the process

    @override
    async def publish(self, key: str, parts: list[str]) -> None:
        self._turn(key).parts = parts

    @override
    async def answer(self, key: str) -> list[str] | None:
        turn = self._turns.get(key)
        return None if turn is None else turn.parts

    @override
    async def deliver(self, key: str, how: str) -> str | None:
        turn = self._turn(key)
        if turn.delivery is not None:
            return turn.delivery
        turn.delivery = how
        return None

    @override
    async def buttons(self, openid: str) -> Buttons:
        return self._buttons.get(openid) or []

    @override
    async def remember_buttons(self, openid: str, buttons: Buttons) -> None:
        if buttons:
            self._buttons.put(openid, buttons)
        else:
            self._buttons.pop(openid)


class RedisState(State):
    """The state in Redis, shared by every instance. Keys are hashed: no OpenID or MsgId is stored in clear."""

    def __init__(self, url: str, prefix: str = "yinling:wechat", lease: float = TURN_LEASE) -> None:
        import redis.asyncio

        self.client = redis.asyncio.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT,
                                                   socket_connect_timeout=REDIS_TIMEOUT)
        self.prefix, self.lease = prefix, lease
        self.owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._paused_until = 0.0

    def _key(self, kind: str, raw: str) -> str:
        return f"{self.prefix}:{kind}:{hashlib.sha256(raw.encode('utf-8')).hexdigest()[:32]}"

    async def _safe(self, what: str, op: Coroutine[Any, Any, T], fallback: T) -> T:
        """The result of a Redis operation, or `fallback` when Redis fails or failed a moment ago."""
        import redis

        if time.monotonic() < self._paused_until:
            op.close()  # never awaited
            return fallback
        try:
            return await op
        except (redis.RedisError, OSError) as exc:
            self._paused_until = time.monotonic() + REDIS_PAUSE
            logger.warning("wechat: Redis failed on %s (%s); going on without it for %.0f s", what,
                           type(exc).__name__, REDIS_PAUSE)
            return fallback

    @override
    async def claim(self, key: str) -> bool:
        took = self.client.set(self._key("turn", key), self.owner, nx=True, px=int(self.lease * 1000))
        return bool(await self._safe("claim", took, True))

    @override
    async def renew(self, key: str) -> None:
        await self._safe("renew", self.client.pexpire(self._key("turn", key), int(self.lease * 1000)), None)

    @override
    async def publish(self, key: str, parts: list[str]) -> None:
        async def store() -> None:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self._key("answer", key), json.dumps(parts, ensure_ascii=False), ex=int(TURN_TTL))
                pipe.expire(self._key("turn", key), int(TURN_TTL))
                await pipe.execute()

        await self._safe("publish", store(), None)

    @override
    async def answer(self, key: str) -> list[str] | None:
        stored = await self._safe("answer", self.client.get(self._key("answer", key)), None)
        return None if stored is None else json.loads(stored)

    @override
    async def deliver(self, key: str, how: str) -> str | None:
        async def decide() -> str | None:
            name = self._key("delivery", key)
            if await self.client.set(name, how, nx=True, ex=int(TURN_TTL)):
                return None
            earlier = await self.client.get(name)
            return earlier.decode() if earlier is not None else None

        return await self._safe("delivery", decide(), None)

    @override
    async def buttons(self, openid: str) -> Buttons:
        stored = await self._safe("options", self.client.get(self._key("buttons", openid)), None)
        return json.loads(stored) if stored is not None else []

    @override
    async def remember_buttons(self, openid: str, buttons: Buttons) -> None:
        name = self._key("buttons", openid)
        op = (self.client.set(name, json.dumps(buttons, ensure_ascii=False), ex=int(BUTTONS_TTL)) if buttons
              else self.client.delete(name))
        await self._safe("options", op, None)
