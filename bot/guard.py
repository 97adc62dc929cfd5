"""One guard for every door (REST, kiosk, WeChat, console): `await shared().admit(...)` before a message reaches
the bot, `await shared().remember(...)` with the bot's reply.

- Rate: at most GUARD_RATE_PER_SENDER messages per minute per conversation and GUARD_RATE_PER_ADDRESS per client
  address, whatever the channel (a REST sender is chosen by the client, so rotating senders meets the address
  limit). Addresses of this machine are not limited: the servers listen on loopback only, so outside clients come
  through a proxy (nginx, tools/scaleout.py, which also limits per address), whose forwarded address counts.
- Length: more than GUARD_MAX_CHARS characters get a polite "请说得简短一些" instead of the bot.
- Commands: Rasa reads a message starting with "/" as `/intent{entities}` and obeys it (/restart, /session_start,
  any intent with any entities). Only payloads the bot offered this sender in its last reply (buttons) and payloads
  the channel itself generates (a shared location, the kiosk's tiles) pass as they are; anything else typed with a
  leading "/" reaches the bot as text, with a full-width "／" that Rasa's RegexMessageHandler does not read.
Request bodies are capped by Sanic's REQUEST_MAX_SIZE (bot.channels.rest) and by each channel for its own routes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol, TypeGuard

from typing_extensions import override

from replies import Reply, t

logger = logging.getLogger(__name__)

SLASH, FULL_WIDTH_SLASH = "/", "／"
OFFERS_TTL = 3600.0        # seconds a reply's buttons stay valid
MAX_SENDERS = 50_000       # senders whose offers are kept in memory (oldest go first)
REDIS_TIMEOUT = 0.5
REDIS_PAUSE = 5.0          # seconds Redis is not asked again after a failure


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name) or default)
    except ValueError:
        logger.warning("%s is not a whole number; using %s", name, default)
        return default


@dataclass(frozen=True)
class Limits:
    """The guard's limits: message length, messages per minute per sender and per client address."""

    max_chars: int = 500
    per_sender: int = 60      # messages per minute
    per_address: int = 300    # messages per minute

    @classmethod
    def from_env(cls) -> Limits:
        """The limits of GUARD_MAX_CHARS, GUARD_RATE_PER_SENDER and GUARD_RATE_PER_ADDRESS (defaults otherwise)."""
        return cls(_env_int("GUARD_MAX_CHARS", cls.max_chars), _env_int("GUARD_RATE_PER_SENDER", cls.per_sender),
                   _env_int("GUARD_RATE_PER_ADDRESS", cls.per_address))


class Window:
    """At most `limit` events per key in a sliding minute; keys idle for a minute are forgotten (memory follows the
    active senders, not every sender ever seen)."""

    def __init__(self, limit: int, seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.seconds, self.clock = limit, seconds, clock
        self.recent: dict[str, deque[float]] = defaultdict(deque)
        self.swept = clock()

    def allow(self, key: str) -> bool:
        """Count one event for `key`; False (not counted) when the key is over its limit."""
        now = self.clock()
        if now - self.swept > self.seconds:
            self.swept = now
            for k in [k for k, q in self.recent.items() if not q or q[-1] < now - self.seconds]:
                del self.recent[k]
        q = self.recent[key]
        while q and q[0] < now - self.seconds:
            q.popleft()
        if len(q) >= self.limit:
            return False
        q.append(now)
        return True


class Offers(Protocol):
    """Where the guard remembers the button payloads each conversation was offered."""

    async def get(self, key: str) -> list[str]:
        """Payloads the bot offered this conversation in its last reply."""

    async def put(self, key: str, payloads: list[str]) -> None:
        """Replace them (none: forget)."""


class MemoryOffers(Offers):
    """In this process: enough for one Rasa process."""

    def __init__(self, ttl: float = OFFERS_TTL, limit: int = MAX_SENDERS) -> None:
        self.ttl, self.limit = ttl, limit
        self.items: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()

    @override
    async def get(self, key: str) -> list[str]:
        entry = self.items.get(key)
        return entry[1] if entry and time.monotonic() - entry[0] <= self.ttl else []

    @override
    async def put(self, key: str, payloads: list[str]) -> None:
        self.items.pop(key, None)
        if payloads:
            self.items[key] = (time.monotonic(), payloads)
        while len(self.items) > self.limit:
            self.items.popitem(last=False)


class RedisOffers(Offers):
    """In Redis (GUARD_REDIS_URL), shared by the instances behind nginx: a button shown by one instance works at
    another. Keys are hashed (no sender id in clear). When Redis fails, nothing counts as offered (a button is then
    read as text) and Redis is left alone for a few seconds."""

    def __init__(self, url: str, prefix: str = "yinling:offers", ttl: float = OFFERS_TTL) -> None:
        import redis.asyncio

        self.client = redis.asyncio.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT,
                                                   socket_connect_timeout=REDIS_TIMEOUT)
        self.prefix, self.ttl = prefix, int(ttl)
        self._paused_until = 0.0

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}"

    async def _call(self, what: str, op: Callable[[], Any], fallback: Any) -> Any:  # noqa: ANN401
        import redis

        if time.monotonic() < self._paused_until:
            return fallback
        try:
            return await op()
        except (redis.RedisError, OSError) as exc:
            self._paused_until = time.monotonic() + REDIS_PAUSE
            logger.warning("guard: Redis failed on %s (%s); without it for %.0f s", what, type(exc).__name__,
                           REDIS_PAUSE)
            return fallback

    @override
    async def get(self, key: str) -> list[str]:
        stored = await self._call("offers", lambda: self.client.get(self._key(key)), None)
        return json.loads(stored) if stored else []

    @override
    async def put(self, key: str, payloads: list[str]) -> None:
        name = self._key(key)
        await self._call("offers", lambda: (self.client.set(name, json.dumps(payloads, ensure_ascii=False),
                                                            ex=self.ttl) if payloads else self.client.delete(name)),
                         None)


@dataclass
class Admission:
    """What the guard decided: `text` goes to the bot, or `reply` (the contract's messages) answers instead."""

    text: str | None = None
    reply: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    reason: str | None = None   # "too_fast" | "too_long" when refused

    @property
    def refused(self) -> bool:
        """True when the guard answered instead of the bot."""
        return self.text is None


def as_text(text: str) -> str:
    """`text` with a leading "/" made full-width: the bot reads it as words, never as a command."""
    stripped = text.strip()
    return FULL_WIDTH_SLASH + stripped[1:] if stripped.startswith(SLASH) else text


def payloads(messages: Iterable[dict[str, Any]]) -> list[str]:
    """The button payloads in the bot's messages (Rasa buttons and the contract payload's buttons), in order."""
    out: list[str] = []
    for m in messages:
        custom = m["custom"] if isinstance(m.get("custom"), dict) else {}
        for b in [*(m.get("buttons") or []), *(custom.get("buttons") or [])]:
            p = b.get("payload") if isinstance(b, dict) else None
            if isinstance(p, str) and p.startswith(SLASH) and p not in out:
                out.append(p)
    return out


def client_address(peer: str | None, forwarded_for: str | None) -> str | None:
    """The client's address: the peer's, or, when the peer is a proxy on this machine, the address the proxy
    appended last to X-Forwarded-For (what a client writes there itself comes before it)."""
    if peer and forwarded_for and _loopback(peer):
        last = forwarded_for.split(",")[-1].strip()
        if _valid(last):
            return last
    return peer or None


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def outside(address: str | None) -> TypeGuard[str]:
    """True for a client address from outside this machine (the ones rate limits apply to)."""
    return address is not None and address != "" and not _loopback(address)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _refusal(reason: str, text: str, status: int) -> Admission:
    payload = Reply("out_of_scope").say(text).payload()
    return Admission(reply=[{"text": text}, {"custom": payload}], status=status, reason=reason)


class Guard:
    """One guard for every channel: length, rate per sender and per address, typed commands read as text."""

    def __init__(self, limits: Limits | None = None, offers: Offers | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or Limits.from_env()
        self.offers: Offers = offers or MemoryOffers()
        self.senders = Window(self.limits.per_sender, clock=clock)
        self.addresses = Window(self.limits.per_address, clock=clock)

    async def admit(self, channel: str, sender: str, text: str, address: str | None = None,
                    offered: Collection[str] | None = None,
                    generated: Collection[str] | Callable[[str], bool] = ()) -> Admission:
        """The guard's decision on one message. `offered`: the payloads the channel's own state says the bot offered
        (None: the guard's memory of the last reply, see remember); `generated`: payloads the channel makes itself."""
        if outside(address) and not self.addresses.allow(address):
            logger.info("guard: %s message refused (address over %d/min)", channel, self.limits.per_address)
            return _refusal("too_fast", t("too_fast"), 429)
        if not self.senders.allow(f"{channel}:{sender}"):
            logger.info("guard: %s message refused (sender over %d/min)", channel, self.limits.per_sender)
            return _refusal("too_fast", t("too_fast"), 429)
        if len(text) > self.limits.max_chars:
            return _refusal("too_long", t("too_long", limit=self.limits.max_chars), 200)
        stripped = text.strip()
        if not stripped.startswith(SLASH):
            return Admission(text=text)
        made = generated(stripped) if callable(generated) else stripped in generated
        if made or stripped in (offered if offered is not None else await self.offers.get(f"{channel}:{sender}")):
            return Admission(text=stripped)
        return Admission(text=as_text(stripped))

    async def remember(self, channel: str, sender: str, messages: Iterable[dict[str, Any]]) -> None:
        """The bot's reply to this sender: its buttons are what the next message may send as a payload."""
        await self.offers.put(f"{channel}:{sender}", payloads(messages))


@lru_cache(maxsize=1)
def shared() -> Guard:
    """The process's guard: every channel counts against the same limits."""
    url = os.environ.get("GUARD_REDIS_URL", "").strip()
    return Guard(offers=RedisOffers(url) if url else None)


Handler = Callable[[Any], Awaitable[Any]]


def remembering(on_new_message: Handler, channel: str) -> Handler:
    """Rasa's message handler that also hands each reply to the guard (its buttons are the next valid payloads)."""

    async def handle(message: Any) -> Any:  # noqa: ANN401 - Rasa's UserMessage
        offered: list[str] = []
        out = message.output_channel
        send = out.send_response

        async def record(recipient_id: str, reply: dict[str, Any]) -> None:
            offered.extend(payloads([reply]))  # before sending: Rasa's send_response pops the buttons
            await send(recipient_id, reply)

        out.send_response = record  # this request's own output channel only
        try:
            return await on_new_message(message)
        finally:
            await shared().offers.put(f"{channel}:{message.sender_id}", offered)

    return handle
