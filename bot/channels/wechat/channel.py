"""The WeChat Official Account webhook as a Rasa input channel: /webhooks/wechat/webhook.

GET verifies the server (echostr). POST carries a message in plain or safe (AES) mode; the reply goes back in
the same mode within the deadline, else WeChat gets "success" at once and the answer follows through the
customer-service API. A message seen again (WeChat's retries, a replayed request) is processed once and answered
with the first copy's answer, also across instances when the state is in Redis (state.py, WECHAT_REDIS_URL).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from typing_extensions import override
from wechatpy.exceptions import InvalidSignatureException

from bot import guard
from bot.channels.wechat import render, xml
from bot.channels.wechat.api import WeChatAPI
from bot.channels.wechat.config import WeChatConfig
from bot.channels.wechat.crypto import AppIdMismatch, CryptoError, SafeMode, signature_ok
from bot.channels.wechat.state import MemoryState, RedisState, State

logger = logging.getLogger(__name__)

WELCOME_INTENT = "/greet"
VOICE_UNCLEAR = "抱歉，没听清您的语音。请再说一遍，或者直接打字告诉我，比如“江汉区有没有助餐点”。"
UNSUPPORTED = ("抱歉，我还看不懂图片、视频、文件和链接。您可以直接打字或发语音问我，比如“江汉区有没有助餐点”"
               "“高龄津贴怎么申请”；也可以发送您的位置，我帮您找附近的养老服务。")
BOT_FAILED = "抱歉，系统暂时有点忙，请稍后再试，或拨打12345政务服务便民热线。"
SILENT_EVENTS = {"unsubscribe", "location", "view", "scan", "templatesendjobfinish", "masssendjobfinish"}

POLL = 0.1           # seconds between looks for the answer another process is working on
WAIT_LIMIT = 60.0    # seconds a copy of a message waits for that answer at most

Handler = Callable[[UserMessage], Awaitable[Any]]


class WeChatInput(InputChannel):
    """The WeChat official account's webhook: signed, encrypted XML in, a passive reply or customer-service messages
    out."""

    followup_delay = 0.5  # seconds between a passive first part and the customer-service rest

    @override
    @classmethod
    def name(cls) -> str:
        return "wechat"

    @override
    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatInput:
        return cls(WeChatConfig.from_env())

    def __init__(self, config: WeChatConfig | None = None, api: WeChatAPI | None = None,
                 state: State | None = None) -> None:
        self.config = config or WeChatConfig.from_env()
        c = self.config
        if not (c.token or c.appid or c.appsecret or c.encoding_aes_key):
            logger.info("wechat: no WECHAT_* settings; /webhooks/wechat/webhook answers 503 (docs/wechat.md)")
        else:
            for problem in c.problems():
                logger.warning("wechat: %s", problem)
        self.safe = SafeMode(c.token, c.encoding_aes_key, c.appid) if c.aes_key() and c.appid else None
        if api is None and c.appid and c.appsecret:
            api = WeChatAPI(c.api_base, c.appid, c.appsecret, c.redis_url)  # one token for every instance
        self.api = api
        if state is None and c.redis_url:
            logger.info("wechat: repeated messages and numbered options are kept in Redis (WECHAT_REDIS_URL)")
            state = RedisState(c.redis_url)
        self.state: State = state or MemoryState()
        self._inflight: dict[str, asyncio.Future] = {}  # this process's copies of a message share one answer
        self._background: set[asyncio.Task] = set()

    # --- HTTP ---------------------------------------------------------------------------------------------

    @override
    def blueprint(self, on_new_message: Handler) -> Blueprint:
        bp = Blueprint("wechat_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.config.token else "not configured"})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.config.token:
                return response.text("wechat channel not configured", status=503)
            args = request.args
            ts, nonce = args.get("timestamp", ""), args.get("nonce", "")
            if not self._fresh(ts) or not signature_ok(args.get("signature"), self.config.token, ts, nonce):
                logger.info("wechat: verification refused (bad signature or timestamp)")
                return response.text("forbidden", status=403)
            return response.text(args.get("echostr", ""))

        @bp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            started = time.monotonic()
            body = await self._read_capped(request)
            if body is None:
                logger.info("wechat: request body over %s bytes refused", self.config.max_body)
                return response.text("payload too large", status=413)
            status, text, content_type = await self.handle(request.args, body, on_new_message, started)
            return response.text(text, status=status, content_type=content_type)

        return bp

    async def _read_capped(self, request: Request) -> bytes | None:
        limit = self.config.max_body
        try:
            if int(request.headers.get("content-length") or 0) > limit:
                return None
        except ValueError:
            return None
        if request.stream is None:
            return request.body if len(request.body) <= limit else None
        chunks, size = [], 0
        while (chunk := await request.stream.read()) is not None:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _fresh(self, timestamp: str) -> bool:
        try:
            return abs(time.time() - int(timestamp)) <= self.config.timestamp_window
        except (TypeError, ValueError):
            return False

    async def handle(self, args: Mapping[str, Any], body: bytes, on_new_message: Handler,
                     started: float | None = None) -> tuple[int, str, str]:
        """Status, body and content type for one POST (args: the query parameters)."""
        started = time.monotonic() if started is None else started
        plain = "text/plain; charset=utf-8"
        if not self.config.token:
            return 503, "wechat channel not configured", plain
        ts, nonce = args.get("timestamp", ""), args.get("nonce", "")
        safe = args.get("encrypt_type", "raw") == "aes"
        if not self._fresh(ts):
            logger.info("wechat: message refused (timestamp outside the window)")
            return 403, "forbidden", plain
        if not safe and not signature_ok(args.get("signature"), self.config.token, ts, nonce):
            logger.info("wechat: message refused (bad signature)")
            return 403, "forbidden", plain
        try:
            msg = xml.parse(body)
        except xml.XMLRejected as exc:
            logger.info("wechat: message refused (XML: %s)", exc)
            return 400, "bad request", plain
        if safe:
            if self.safe is None:
                logger.warning("wechat: safe-mode message but no valid WECHAT_ENCODING_AES_KEY/WECHAT_APPID")
                return 503, "safe mode not configured", plain
            try:
                msg = xml.parse(self.safe.open(msg.get("Encrypt", ""), args.get("msg_signature"), ts, nonce))
            except InvalidSignatureException:
                logger.info("wechat: message refused (bad msg_signature)")
                return 403, "forbidden", plain
            except AppIdMismatch:
                logger.warning("wechat: message refused (sealed for another AppID)")
                return 403, "forbidden", plain
            except (CryptoError, xml.XMLRejected) as exc:
                logger.info("wechat: message refused (undecryptable: %s)", exc)
                return 400, "bad request", plain
        if not msg.get("FromUserName"):
            return 400, "bad request", plain
        content = await self._respond(msg, on_new_message, started)
        if content is None:
            return 200, "success", plain
        reply = xml.text_reply(msg["FromUserName"], msg.get("ToUserName", ""), content)
        if safe and self.safe is not None:
            reply = self.safe.seal(reply, str(int(time.time())), str(secrets.randbelow(10**10)))
        return 200, reply, "application/xml; charset=utf-8"

    # --- messages -----------------------------------------------------------------------------------------

    async def _understand(self, msg: dict[str, str]) -> tuple[str, str | None, str | None]:
        """(dedup key, text for the bot or None, direct answer or None) for one WeChat message."""
        openid, kind = msg["FromUserName"], msg.get("MsgType", "").lower()
        if kind == "event":
            key = f"event:{openid}:{msg.get('CreateTime', '')}"
            event = msg.get("Event", "").lower()
            if event == "subscribe":
                return (key, *await self._admit(openid, WELCOME_INTENT, generated=True))
            if event == "click" and msg.get("EventKey"):  # the account's own menu
                return (key, *await self._admit(openid, msg["EventKey"], generated=True))
            return key, None, None
        key = "msg:" + (msg.get("MsgId") or f"{openid}:{msg.get('CreateTime', '')}")
        if kind == "text":
            return (key, *await self._typed(openid, msg.get("Content", "")))
        if kind == "voice":
            heard = msg.get("Recognition", "").strip()
            return (key, *await self._typed(openid, heard)) if heard else (key, None, VOICE_UNCLEAR)
        if kind == "location":
            try:
                lat, lng = float(msg.get("Location_X", "")), float(msg.get("Location_Y", ""))
            except ValueError:
                return (key, *await self._admit(openid, "/share_location", generated=True))
            shared = "/share_location" + json.dumps({"lat": lat, "lng": lng})
            return (key, *await self._admit(openid, shared, generated=True))
        return key, None, UNSUPPORTED

    async def _typed(self, openid: str, text: str) -> tuple[str | None, str | None]:
        """What a person typed or said: a digit picks one of the last numbered options (the channel sends its
        payload); anything else is words, a leading "/" included (bot/guard.py)."""
        payload = render.choice(text, await self.state.buttons(openid))
        return await self._admit(openid, text.strip() if payload is None else payload, generated=payload is not None)

    async def _admit(self, openid: str, text: str, generated: bool = False) -> tuple[str | None, str | None]:
        """(text for the bot, None) when the guard of every door lets it in, else (None, the guard's answer)."""
        decision = await guard.shared().admit(self.name(), openid, text, offered=(),
                                              generated={text} if generated else ())
        if decision.refused:
            return None, "\n".join(m["text"] for m in decision.reply if m.get("text"))
        return decision.text, None

    async def _respond(self, msg: dict[str, str], on_new_message: Handler, started: float) -> str | None:
        """The passive reply text, or None for "success" (nothing to say, or the answer follows by API).
        Whichever copy of a message first decides how the answer goes out delivers it (state.deliver)."""
        key, text, direct = await self._understand(msg)
        openid, kind = msg["FromUserName"], msg.get("MsgType", "").lower()
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._obtain(key, kind, lambda: self._answer(on_new_message, openid, text,
                                                                                      direct)))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        else:
            logger.info("wechat: repeated %s message shares the first copy's answer", kind)
        remaining = self.config.reply_deadline - (time.monotonic() - started)
        try:
            parts = await asyncio.wait_for(asyncio.shield(task), timeout=max(remaining, 0.0))
        except TimeoutError:
            if await self.state.deliver(key, "api") is None:
                logger.info("wechat: %s message not answered in %.1f s; replying success, answer follows by API",
                            kind, self.config.reply_deadline)
                self._spawn(self._deliver_later(openid, task))
            return None
        if not parts:
            return None
        earlier = await self.state.deliver(key, "passive")
        if earlier is None:
            logger.info("wechat: %s message answered in %.2f s (%d part(s))", kind, time.monotonic() - started,
                        len(parts))
            if len(parts) > 1:
                self._spawn(self._deliver_rest(openid, parts[1:]))
        elif earlier != "passive":
            return None
        return parts[0]

    async def _obtain(self, key: str, kind: str, answer: Callable[[], Awaitable[list[str]]]) -> list[str]:
        """The answer to a message: worked out here when this process claims the message, else the one the
        claiming process publishes (or worked out here after all when that claim lapses: that process died)."""
        give_up = time.monotonic() + WAIT_LIMIT
        repeated = False
        while not await self.state.claim(key):
            parts = await self.state.answer(key)
            if parts is not None:
                logger.info("wechat: repeated %s message answered with the first copy's answer", kind)
                return parts
            if not repeated:
                repeated = True
                logger.info("wechat: repeated %s message waits for the answer another process is working on", kind)
            if time.monotonic() > give_up:
                logger.warning("wechat: repeated %s message: no answer from the first copy in %.0f s", kind,
                               WAIT_LIMIT)
                return []
            await asyncio.sleep(POLL)
        renewing = asyncio.ensure_future(self._renew(key))
        try:
            parts = await answer()
        finally:
            renewing.cancel()
        await self.state.publish(key, parts)
        return parts

    async def _renew(self, key: str) -> None:
        while True:
            await asyncio.sleep(self.state.lease / 4)
            await self.state.renew(key)

    async def _answer(self, on_new_message: Handler, openid: str, text: str | None, direct: str | None) -> list[str]:
        if direct is not None:
            return render.split(direct)
        if text is None:
            return []
        collector = CollectingOutputChannel()
        try:
            await on_new_message(UserMessage(text, collector, openid, input_channel=self.name()))
        except Exception as exc:  # the REST channel also answers with what was collected
            logger.error("wechat: the bot failed on a message (%s)", type(exc).__name__)
            logger.debug("wechat: bot failure", exc_info=True)
        if not collector.messages:
            return [BOT_FAILED]
        rendered = render.render(collector.messages)
        await self.state.remember_buttons(openid, rendered.buttons)
        return render.split(rendered.text)

    # --- later delivery -----------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver_later(self, openid: str, task: asyncio.Future) -> None:
        parts = await task
        if parts:
            await self._send_api(openid, parts)

    async def _deliver_rest(self, openid: str, parts: list[str]) -> None:
        await asyncio.sleep(self.followup_delay)  # let the passive reply arrive first
        await self._send_api(openid, parts)

    async def _send_api(self, openid: str, parts: list[str]) -> None:
        if self.api is None:
            logger.warning("wechat: %d part(s) of an answer dropped: no WECHAT_APPID/WECHAT_APPSECRET", len(parts))
            return
        sent = await asyncio.to_thread(self.api.send_texts, openid, parts)
        logger.info("wechat: %d of %d part(s) sent by customer-service message", sent, len(parts))
