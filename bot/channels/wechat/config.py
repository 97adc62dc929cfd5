"""Settings of the WeChat channel, read from the environment (never from credentials.yml)."""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.weixin.qq.com"
MAX_BODY = 64 * 1024          # bytes; WeChat's own messages are a few KiB
TIMESTAMP_WINDOW = 300        # seconds either side of now
DEFAULT_DEADLINE = 4.5        # seconds; WeChat gives up after 5 and retries


@dataclass
class WeChatConfig:
    """The WeChat channel's settings (WECHAT_* environment variables)."""

    token: str = ""
    appid: str = ""
    appsecret: str = ""
    encoding_aes_key: str = ""
    api_base: str = DEFAULT_API_BASE
    reply_deadline: float = DEFAULT_DEADLINE
    max_body: int = MAX_BODY
    timestamp_window: int = TIMESTAMP_WINDOW
    redis_url: str = ""  # shared state of several instances (state.py); empty: in this process only

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WeChatConfig:
        """The settings from the environment (or the given mapping), trimmed and bounded."""
        env = os.environ if env is None else env
        try:
            deadline = float(env.get("WECHAT_REPLY_DEADLINE") or DEFAULT_DEADLINE)
        except ValueError:
            logger.warning("WECHAT_REPLY_DEADLINE is not a number; using %s s", DEFAULT_DEADLINE)
            deadline = DEFAULT_DEADLINE
        return cls(
            token=env.get("WECHAT_TOKEN", "").strip(),
            appid=env.get("WECHAT_APPID", "").strip(),
            appsecret=env.get("WECHAT_APPSECRET", "").strip(),
            encoding_aes_key=env.get("WECHAT_ENCODING_AES_KEY", "").strip(),
            api_base=(env.get("WECHAT_API_BASE") or DEFAULT_API_BASE).strip().rstrip("/"),
            reply_deadline=max(0.0, min(deadline, 4.8)),
            redis_url=env.get("WECHAT_REDIS_URL", "").strip(),
        )

    def aes_key(self) -> bytes | None:
        """The 32-byte AES key (base64 of EncodingAESKey plus "="), or None when absent or malformed."""
        if len(self.encoding_aes_key) != 43:
            return None
        try:
            key = base64.b64decode(self.encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError):
            return None
        return key if len(key) == 32 else None

    def problems(self) -> list[str]:
        """What is missing, in words for the startup log (no secret values)."""
        out = []
        if not self.token:
            out.append("WECHAT_TOKEN is not set: the webhook answers 503")
        if not self.appid:
            out.append("WECHAT_APPID is not set: safe mode and customer-service messages are off")
        if not self.appsecret:
            out.append("WECHAT_APPSECRET is not set: late or long answers cannot be sent")
        if self.encoding_aes_key and self.aes_key() is None:
            out.append("WECHAT_ENCODING_AES_KEY is not a 43-character key: safe mode is off")
        return out
