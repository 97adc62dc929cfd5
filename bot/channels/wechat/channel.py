"""The WeChat Official Account webhook as a Rasa input channel: /webhooks/wechat/webhook.

GET verifies the server (echostr). POST carries a message in plain or safe (AES) mode; the reply goes back in
the same mode within the deadline, else WeChat gets "success" at once and the answer follows through the
customer-service API. A message seen again (WeChat's retries, a replayed request) is answered from the cache.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.wechat import render, xml
from bot.channels.wechat.api import WeChatAPI
from bot.channels.wechat.config import WeChatConfig
from bot.channels.wechat.crypto import AppIdMismatch, CryptoError, MessageCipher, signature, signature_ok

logger = logging.getLogger(__name__)

WELCOME_INTENT = "/greet"
VOICE_UNCLEAR = "抱歉，没听清您的语音。请再说一遍，或者直接打字告诉我，比如“江汉区有没有助餐点”。"
UNSUPPORTED = ("抱歉，我还看不懂图片、视频、文件和链接。您可以直接打字或发语音问我，比如“江汉区有没有助餐点”"
               "“高龄津贴怎么申请”；也可以发送您的位置，我帮您找附近的养老服务。")
BOT_FAILED = "抱歉，系统暂时有点忙，请稍后再试，或拨打12345政务服务便民热线。"
SILENT_EVENTS = {"unsubscribe", "location", "view", "scan", "templatesendjobfinish", "masssendjobfinish"}

TURN_TTL = 600.0          # seconds a message's answer is kept for retries and replays (> the timestamp window)
MAX_TURNS = 10_000
BUTTONS_TTL = 24 * 3600.0
MAX_USERS = 50_000

Handler = Callable[[UserMessage], Awaitable[Any]]


@dataclass
class _Turn:
    """One incoming message and its answer (parts of text), shared by every copy of that message."""

    task: asyncio.Future
    created: float = field(default_factory=time.monotonic)
    delivery: str | None = None  # "passive" (in an HTTP reply) or "api" (customer-service messages)


class WeChatInput(InputChannel):
    followup_delay = 0.5  # seconds between a passive first part and the customer-service rest

    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatInput:
        return cls(WeChatConfig.from_env())

    def __init__(self, config: WeChatConfig | None = None, api: WeChatAPI | None = None) -> None:
        self.config = config or WeChatConfig.from_env()
        c = self.config
        if not (c.token or c.appid or c.appsecret or c.encoding_aes_key):
            logger.info("wechat: no WECHAT_* settings; /webhooks/wechat/webhook answers 503 (docs/wechat.md)")
        else:
            for problem in c.problems():
                logger.warning("wechat: %s", problem)
        key = self.config.aes_key()
        self.cipher = MessageCipher(key, self.config.appid) if key and self.config.appid else None
        if api is None and self.config.appid and self.config.appsecret:
            api = WeChatAPI(self.config.api_base, self.config.appid, self.config.appsecret)
        self.api = api
        self._turns: OrderedDict[tuple, _Turn] = OrderedDict()
        self._buttons: OrderedDict[str, tuple[float, list[dict[str, str]]]] = OrderedDict()
        self._background: set[asyncio.Task] = set()

    # --- HTTP ---------------------------------------------------------------------------------------------

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

    async def handle(self, args: Any, body: bytes, on_new_message: Handler,
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
            if self.cipher is None:
                logger.warning("wechat: safe-mode message but no valid WECHAT_ENCODING_AES_KEY/WECHAT_APPID")
                return 503, "safe mode not configured", plain
            encrypted = msg.get("Encrypt", "")
            if not encrypted or not signature_ok(args.get("msg_signature"), self.config.token, ts, nonce, encrypted):
                logger.info("wechat: message refused (bad msg_signature)")
                return 403, "forbidden", plain
            try:
                msg = xml.parse(self.cipher.decrypt(encrypted))
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
        if safe and self.cipher is not None:
            encrypted = self.cipher.encrypt(reply.encode("utf-8"))
            now, reply_nonce = str(int(time.time())), str(secrets.randbelow(10**10))
            reply = xml.encrypted_reply(encrypted, signature(self.config.token, now, reply_nonce, encrypted),
                                        now, reply_nonce)
        return 200, reply, "application/xml; charset=utf-8"

    # --- messages -----------------------------------------------------------------------------------------

    def _understand(self, msg: dict[str, str]) -> tuple[tuple, str | None, str | None]:
        """(dedup key, text for the bot or None, direct answer or None) for one WeChat message."""
        openid, kind = msg["FromUserName"], msg.get("MsgType", "").lower()
        if kind == "event":
            key: tuple = ("event", openid, msg.get("CreateTime", ""))
            event = msg.get("Event", "").lower()
            if event == "subscribe":
                return key, WELCOME_INTENT, None
            if event == "click" and msg.get("EventKey"):
                return key, msg["EventKey"], None
            return key, None, None
        key = ("msg", msg.get("MsgId") or f"{openid}:{msg.get('CreateTime', '')}")
        if kind == "text":
            return key, self._typed(openid, msg.get("Content", "")), None
        if kind == "voice":
            heard = msg.get("Recognition", "").strip()
            return (key, self._typed(openid, heard), None) if heard else (key, None, VOICE_UNCLEAR)
        if kind == "location":
            try:
                lat, lng = float(msg.get("Location_X", "")), float(msg.get("Location_Y", ""))
            except ValueError:
                return key, "/share_location", None
            return key, "/share_location" + json.dumps({"lat": lat, "lng": lng}), None
        return key, None, UNSUPPORTED

    def _typed(self, openid: str, text: str) -> str:
        """What a person typed or said: a digit picks one of the last numbered options; a leading "/" (the
        bot's intent syntax) is the channel's alone, so it is dropped from what people send."""
        payload = render.choice(text, self._last_buttons(openid))
        return payload if payload is not None else text.strip().lstrip("/")

    async def _respond(self, msg: dict[str, str], on_new_message: Handler, started: float) -> str | None:
        """The passive reply text, or None for "success" (nothing to say, or the answer follows by API)."""
        key, text, direct = self._understand(msg)
        openid, kind = msg["FromUserName"], msg.get("MsgType", "").lower()
        turn = self._turn(key)
        if turn is None:
            turn = self._remember_turn(key, asyncio.ensure_future(self._answer(on_new_message, openid, text, direct)))
        else:
            logger.info("wechat: repeated %s message answered from the cache", kind)
        remaining = self.config.reply_deadline - (time.monotonic() - started)
        try:
            parts = await asyncio.wait_for(asyncio.shield(turn.task), timeout=max(remaining, 0.0))
        except TimeoutError:
            if turn.delivery is None:
                turn.delivery = "api"
                logger.info("wechat: %s message not answered in %.1f s; replying success, answer follows by API",
                            kind, self.config.reply_deadline)
                self._spawn(self._deliver_later(openid, turn.task))
            return None
        if not parts or turn.delivery == "api":
            return None
        if turn.delivery is None:
            turn.delivery = "passive"
            logger.info("wechat: %s message answered in %.2f s (%d part(s))", kind, time.monotonic() - started,
                        len(parts))
            if len(parts) > 1:
                self._spawn(self._deliver_rest(openid, parts[1:]))
        return parts[0]

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
        self._remember_buttons(openid, rendered.buttons)
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

    # --- memory -------------------------------------------------------------------------------------------

    def _turn(self, key: tuple) -> _Turn | None:
        now = time.monotonic()
        while self._turns:
            oldest = next(iter(self._turns.values()))
            if now - oldest.created <= TURN_TTL and len(self._turns) <= MAX_TURNS:
                break
            self._turns.popitem(last=False)
        return self._turns.get(key)

    def _remember_turn(self, key: tuple, task: asyncio.Future) -> _Turn:
        turn = self._turns[key] = _Turn(task)
        return turn

    def _last_buttons(self, openid: str) -> list[dict[str, str]]:
        entry = self._buttons.get(openid)
        if entry is None or time.monotonic() - entry[0] > BUTTONS_TTL:
            return []
        return entry[1]

    def _remember_buttons(self, openid: str, buttons: list[dict[str, str]]) -> None:
        self._buttons.pop(openid, None)
        if buttons:
            self._buttons[openid] = (time.monotonic(), buttons)
            while len(self._buttons) > MAX_USERS:
                self._buttons.popitem(last=False)
