"""WeChat's server API, as far as the channel needs it: access_token and customer-service text messages.

Blocking `requests` calls with timeouts; the channel runs them in a worker thread, never on the event loop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import requests

logger = logging.getLogger(__name__)

TIMEOUT = (3.05, 10)              # connect, read (seconds)
TOKEN_MARGIN = 300                # refresh this long before WeChat's expiry
TOKEN_ERRORS = {40001, 40014, 42001}  # invalid / expired access_token: refresh once and retry
OUTSIDE_WINDOW = 45015            # the user has not written within 48 hours: WeChat refuses, do not retry


class WeChatAPIError(RuntimeError):
    def __init__(self, errcode: int | None, errmsg: str = "") -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode


class WeChatAPI:
    def __init__(self, base: str, appid: str, secret: str, timeout: tuple[float, float] = TIMEOUT) -> None:
        self.base = base.rstrip("/")
        self.appid = appid
        self.secret = secret
        self.timeout = timeout
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def access_token(self, force: bool = False, stale: str | None = None) -> str:
        """The cached token, fetched when missing, near expiry, or when `force` and it is still `stale`."""
        with self._lock:
            fresh = self._token and time.monotonic() < self._expires
            if fresh and not (force and self._token == stale):
                return self._token  # type: ignore[return-value]
            resp = requests.get(f"{self.base}/cgi-bin/token", timeout=self.timeout, params={
                "grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
            data = _json(resp)
            token = data.get("access_token")
            if not token:
                raise WeChatAPIError(data.get("errcode"), str(data.get("errmsg", "no access_token")))
            expires_in = int(data.get("expires_in") or 7200)
            self._token = str(token)
            self._expires = time.monotonic() + max(expires_in - TOKEN_MARGIN, expires_in // 2)
            logger.info("wechat: new access_token, valid for %s s", expires_in)
            return self._token

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        token = self.access_token()
        for attempt in (1, 2):
            resp = requests.post(f"{self.base}{path}", params={"access_token": token}, data=body,
                                 headers={"Content-Type": "application/json; charset=utf-8"}, timeout=self.timeout)
            data = _json(resp)
            code = int(data.get("errcode") or 0)
            if code in TOKEN_ERRORS and attempt == 1:
                logger.info("wechat: access_token refused (%s), refreshing once", code)
                token = self.access_token(force=True, stale=token)
                continue
            if code:
                raise WeChatAPIError(code, str(data.get("errmsg", "")))
            return data
        raise AssertionError("unreachable")

    def send_text(self, openid: str, content: str) -> None:
        self._post("/cgi-bin/message/custom/send",
                   {"touser": openid, "msgtype": "text", "text": {"content": content}})

    def send_texts(self, openid: str, parts: list[str]) -> int:
        """Send the parts in order; stop at the first failure (logged). Returns how many were sent."""
        for n, part in enumerate(parts):
            try:
                self.send_text(openid, part)
            except WeChatAPIError as exc:
                if exc.errcode == OUTSIDE_WINDOW:
                    logger.warning("wechat: customer-service message refused (45015: outside the 48-hour window)")
                else:
                    logger.error("wechat: customer-service message failed: %s", exc)
                return n
            except requests.RequestException as exc:
                logger.error("wechat: customer-service message failed: %s", type(exc).__name__)
                return n
        return len(parts)


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError as exc:
        raise WeChatAPIError(None, f"HTTP {resp.status_code}, not JSON") from exc
    if not isinstance(data, dict):
        raise WeChatAPIError(None, "unexpected JSON")
    return data
