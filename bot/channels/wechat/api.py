"""WeChat's server API through wechatpy's client: the access_token and customer-service text messages.

The token lives in wechatpy's session storage: Redis when WECHAT_REDIS_URL is set, so every instance uses the one
token (WeChat invalidates the previous token a few minutes after a new one is fetched: instances fetching their
own would keep invalidating each other), refreshed by one instance at a time under a Redis lock; this process's
memory otherwise. A token WeChat refuses is refreshed once, unless another instance has refreshed it meanwhile.
Blocking `requests` calls with timeouts; the channel runs them in a worker thread, never on the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import redis
import requests
from typing_extensions import override
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

logger = logging.getLogger(__name__)

TIMEOUT = (3.05, 10)              # connect, read (seconds)
TOKEN_MARGIN = 300                # refresh this long before WeChat's expiry
TOKEN_ERRORS = {40001, 40014, 42001}  # invalid / expired access_token: refresh once and retry
OUTSIDE_WINDOW = 45015            # the user has not written within 48 hours: WeChat refuses, do not retry
LOCK_SECONDS = 15                 # a refresh holds the lock at most this long (then another instance may try)
REDIS_TIMEOUT = 2.0


class TokenClient(WeChatClient):
    """wechatpy's client with the token's expiry kept next to the token (every instance sees it) and refreshes
    serialized by `lock`."""

    def __init__(self, base: str, appid: str, secret: str, session: SessionStorage,
                 lock: Callable[[], AbstractContextManager[Any]], timeout: tuple[float, float] = TIMEOUT) -> None:
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = f"{base.rstrip('/')}/cgi-bin/"
        self.lock = lock

    @property
    def expiry_key(self) -> str:
        """The storage key of the token's expiry time."""
        return f"{self.appid}_access_token_expires"

    def _fresh(self) -> str | None:
        token = self.session.get(self.access_token_key)
        return token if token and time.time() < float(self.session.get(self.expiry_key) or 0) else None

    @override
    @property
    def access_token(self) -> str:
        return self._fresh() or self.fetch_access_token()["access_token"]

    def fetch_access_token(self, stale: str | None = None) -> dict[str, Any]:
        """A new token, unless a fresh one other than `stale` appeared while waiting for the lock."""
        with self.lock():
            current = self._fresh()
            if current and current != stale:
                return {"access_token": current}
            result = self._fetch_access_token(url=f"{self.API_BASE_URL}token", params={
                "grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
            expires_in = int(result.get("expires_in") or 7200)
            ttl = max(expires_in - TOKEN_MARGIN, expires_in // 2)
            self.session.set(self.access_token_key, result["access_token"], ttl)
            self.session.set(self.expiry_key, time.time() + ttl, ttl)
            logger.info("wechat: new access_token, valid for %s s", expires_in)
            return result


class WeChatAPI:
    """WeChat's customer-service text messages, with the access_token shared through Redis when set."""

    def __init__(self, base: str, appid: str, secret: str, redis_url: str = "",
                 timeout: tuple[float, float] = TIMEOUT) -> None:
        if redis_url:
            red = redis.Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
            session: SessionStorage = RedisStorage(red, prefix="yinling:wechat")

            def lock() -> AbstractContextManager[Any]:
                return red.lock("yinling:wechat:token-refresh", timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS)
        else:
            session, local = MemoryStorage(), threading.Lock()

            def lock() -> AbstractContextManager[Any]:
                return local
        self.client = TokenClient(base, appid, secret, session, lock, timeout)

    def send_text(self, openid: str, content: str) -> None:
        """Send one text by customer-service message; fetches a new token once when WeChat refuses it."""
        token = self.client.access_token
        try:
            self.client.message.send_text(openid, content)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            logger.info("wechat: access_token refused (%s), refreshing once", exc.errcode)
            self.client.fetch_access_token(stale=token)
            self.client.message.send_text(openid, content)

    def send_texts(self, openid: str, parts: list[str]) -> int:
        """Send the parts in order; stop at the first failure (logged). Returns how many were sent."""
        for n, part in enumerate(parts):
            try:
                self.send_text(openid, part)
            except WeChatClientException as exc:
                if exc.errcode == OUTSIDE_WINDOW:
                    logger.warning("wechat: customer-service message refused (45015: outside the 48-hour window)")
                else:
                    logger.error("wechat: customer-service message failed: %s", exc.errcode)
                return n
            except (requests.RequestException, redis.RedisError, OSError) as exc:
                logger.error("wechat: customer-service message failed: %s", type(exc).__name__)
                return n
        return len(parts)
