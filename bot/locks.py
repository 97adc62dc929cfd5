"""The lock store of the scale-out layout, named in endpoints-scaleout.yml
(`lock_store: type: bot.locks.AtomicRedisLockStore`, `url: ${REDIS_URL}`).

Rasa's RedisLockStore, with three fixes:

- Dead tickets: Rasa's ticket lock serves a ticket when `now_serving == ticket`. When an instance is killed holding a
  ticket, the next message's ticket (same lifetime, issued a moment later) usually expires in the same one-second
  poll as the dead one; then the lock never serves it and the message hangs until the client gives up. Here a
  ticket is served when no earlier ticket is still alive.
- Atomicity: RedisLockStore reads, changes and writes a conversation's tickets without atomicity: two instances
  receiving that conversation's messages at the same moment both got ticket 0 and processed together (events lost).
  Issuing, updating and releasing tickets hold a short Redis mutex per conversation.
- Time bounds: connecting and every call time out after REDIS_TIMEOUT (default 1 s; Rasa's is 10), and a ticket
  that cannot be released because Redis went away expires by itself (TICKET_LOCK_LIFETIME).
"""

from __future__ import annotations

import json
import logging
import os

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockStore
from rasa.utils.endpoints import EndpointConfig

log = logging.getLogger(__name__)

REDIS_TIMEOUT = float(os.environ.get("REDIS_TIMEOUT", "1"))
MUTEX_SECONDS = 5


class FairTicketLock(TicketLock):
    """A ticket is served when no earlier ticket is still alive (not: when it is the first one)."""

    def is_locked(self, ticket_number: int) -> bool:
        """Whether an earlier, unexpired ticket still holds the conversation."""
        return any(t.number < ticket_number and not t.has_expired() for t in self.tickets)


class AtomicRedisLockStore(LockStore):
    """Ticket locks in Redis at `url` (redis://[:password@]host:port/db), keys `<key_prefix>:lock:<conversation>`."""

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        url = endpoint_config.url
        if not url or "://" not in url:
            raise ValueError("lock_store needs `url:` with a Redis URL, e.g. ${REDIS_URL}")
        self.red = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
        prefix = endpoint_config.kwargs.get("key_prefix")
        self.key_prefix = f"{prefix}:lock:" if prefix else "lock:"
        super().__init__()

    @staticmethod
    def create_lock(conversation_id: str) -> TicketLock:
        """A new, empty lock."""
        return FairTicketLock(conversation_id)

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        """The conversation's lock as stored, or None."""
        stored = self.red.get(self.key_prefix + conversation_id)
        if not stored:
            return None
        lock = TicketLock.from_dict(json.loads(stored))
        return FairTicketLock(lock.conversation_id, lock.tickets)

    def delete_lock(self, conversation_id: str) -> None:
        """Remove the conversation's lock."""
        self._log_deletion(conversation_id, bool(self.red.delete(self.key_prefix + conversation_id)))

    def save_lock(self, lock: TicketLock) -> None:
        """Store the lock."""
        self.red.set(self.key_prefix + lock.conversation_id, lock.dumps())

    def _mutex(self, conversation_id: str) -> redis.lock.Lock:
        return self.red.lock(f"{self.key_prefix}{conversation_id}:mutex", timeout=MUTEX_SECONDS, sleep=0.005,
                             blocking_timeout=MUTEX_SECONDS)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Rasa's issue, under the conversation's mutex."""
        with self._mutex(conversation_id):
            return super().issue_ticket(conversation_id, lock_lifetime)

    def update_lock(self, conversation_id: str) -> None:
        """Rasa's update (drop expired tickets), under the conversation's mutex."""
        with self._mutex(conversation_id):
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Release the ticket under the mutex; if Redis is gone the turn is done anyway: the ticket expires."""
        try:
            with self._mutex(conversation_id):
                super().cleanup(conversation_id, ticket_number)
        except redis.RedisError as exc:
            log.warning("ticket %s of %s not released (%s)", ticket_number, conversation_id, exc)
