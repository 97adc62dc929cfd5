"""The community-center touch-screen kiosk (issue 7, docs/kiosk.md) as a Rasa input channel.

Loaded by `rasa run` from credentials.yml as `bot.channels.kiosk.KioskInput`; everything is served by Rasa itself:

    GET  /webhooks/kiosk/                 the page (kiosk_static/index.html with the kiosk's settings filled in)
    GET  /webhooks/kiosk/static/<file>    its CSS, JS and vendored assets (nothing comes from another host)
    POST /webhooks/kiosk/message          {"sender", "message", "place"?} -> {"messages": [Rasa's messages],
                                                                               "speech": what 朗读 reads}
    GET  /webhooks/kiosk/speech?text=...  Mandarin audio (WAV) from espeak-ng, for browsers without a Chinese voice
                                          (cached; new texts limited per client address and per process)
    GET  /webhooks/kiosk/health

The kiosk's own place (KIOSK_REGION / KIOSK_LAT / KIOSK_LNG, or the page's ?region=&lat=&lng=) goes to the bot as
UserMessage metadata {"region", "lat", "lng"}: the actions answer a service request for that district and measure
"附近" from those coordinates. Every message passes the guard of every door (bot/guard.py); the page's own tiles and
menus (payloads written in kiosk_static) and "/inform" of the kiosk's own region are the channel's payloads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import mimetypes
import os
import re
import shutil
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from typing_extensions import override

from bot import guard
from bot.channels import speech

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "kiosk_static"
CONFIG_MARK = "<!--KIOSK_CONFIG-->"
HOTLINE = "12345"
SENDER = re.compile(r"^[A-Za-z0-9_-]{8,80}$")
MAX_SPEECH = 800           # characters read aloud in one request
MAX_BODY = 16 * 1024       # bytes of a POST body
SPEECH_CACHE = 32
SPEECH_PER_MIN = 30        # new texts synthesized per minute by this process (cached texts are free)
SPEECH_PER_ADDRESS = 10    # new texts per minute per client address
SPEECH_QUEUE = 4           # syntheses running or waiting at once; more get 503 at once
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Only this origin: no CDN, no external fonts; QR codes are data: URLs, server speech plays from blob: URLs.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob: data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")

Handler = Callable[[UserMessage], Awaitable[Any]]


class SpeechBusy(Exception):
    """Too many new texts to read aloud right now."""


@dataclass(frozen=True)
class Place:
    """Where a kiosk stands: a district (or city) name and coordinates, each optional."""

    region: str | None = None
    lat: float | None = None
    lng: float | None = None

    @classmethod
    def parse(cls, values: Mapping[str, Any] | None) -> Place:
        """A place from untrusted values (environment, URL parameters): anything invalid is left out."""
        values = values or {}
        name = str(values.get("region") or "").strip()
        region = name if 0 < len(name) <= 20 and not any(c in name for c in "<>{}\"'\\/") else None
        lat, lng = _number(values.get("lat")), _number(values.get("lng"))
        if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180):
            lat = lng = None
        return cls(region, lat, lng)

    @classmethod
    def from_env(cls) -> Place:
        """The kiosk's place from KIOSK_REGION, KIOSK_LAT and KIOSK_LNG."""
        return cls.parse({"region": os.environ.get("KIOSK_REGION"), "lat": os.environ.get("KIOSK_LAT"),
                          "lng": os.environ.get("KIOSK_LNG")})

    def is_empty(self) -> bool:
        """True when neither a region nor coordinates are set."""
        return self.region is None and self.lat is None

    def metadata(self) -> dict[str, Any]:
        """What the actions read (actions/context.py: channel_place, channel_point)."""
        out: dict[str, Any] = {}
        if self.region:
            out["region"] = self.region
        if self.lat is not None and self.lng is not None:
            out["lat"], out["lng"] = self.lat, self.lng
        return out


def _number(value: Any) -> float | None:  # noqa: ANN401 - untrusted values of any type
    try:
        x = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _seconds(value: Any, default: float, low: float, high: float) -> float:  # noqa: ANN401 - as _number
    x = _number(value)
    return default if x is None else min(max(x, low), high)


def page_payloads() -> frozenset[str]:
    """The payloads the page itself sends (tiles in index.html, menus in kiosk.js): the channel's own."""
    found = set()
    for name in ("index.html", "kiosk.js"):
        found |= set(re.findall(r"""["'](/[a-z_]+)["']""", (STATIC / name).read_text(encoding="utf-8")))
    return frozenset(found)


def speech_text(text: str) -> str:
    """What a voice reads: one line, no markup characters, phone numbers as digit words (speech.spoken), at most
    MAX_SPEECH characters (ending at a full stop when one is in the second half)."""
    text = re.sub(r"[\r\n\t]+", "。", text or "")
    text = re.sub(r"([。！？；：，])[\s。]*。", r"\1", text)  # a line that ends in a stop needs no second one
    text = re.sub(r"[<>{}\[\]\\|`~^*_#=]+", " ", text)
    text = speech.spoken(re.sub(r"\s+", " ", text).strip(" 。"))
    if len(text) <= MAX_SPEECH:
        return text
    end = text.rfind("。", 0, MAX_SPEECH)
    return text[: end + 1] if end >= MAX_SPEECH // 2 else text[:MAX_SPEECH]


def answer_speech(messages: list[dict[str, Any]]) -> str:
    """What the page reads aloud for one answer (its 朗读 button, the browser's voice or /speech): the reply's text
    (the contract payload's, else the texts) as speech_text makes it speakable, so every path reads phone numbers
    and hotlines the same way."""
    payload: dict[str, Any] = next((m["custom"] for m in messages if isinstance(m.get("custom"), dict)), {})
    text = payload.get("text") or "\n".join(m["text"] for m in messages if isinstance(m.get("text"), str))
    return speech_text(text if isinstance(text, str) else "")


class KioskInput(InputChannel):
    """The kiosk page and the few endpoints it calls."""

    @override
    @classmethod
    def name(cls) -> str:
        return "kiosk"

    @override
    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> KioskInput:
        return cls(**{k: v for k, v in (credentials or {}).items()
                      if k in ("region", "lat", "lng", "idle_seconds", "timeout_seconds")})

    def __init__(self, region: str | None = None, lat: float | None = None, lng: float | None = None,
                 idle_seconds: float | None = None, timeout_seconds: float | None = None) -> None:
        env = os.environ
        given = Place.parse({"region": region, "lat": lat, "lng": lng})
        self.place = Place.from_env() if given.is_empty() else given
        self.idle_seconds = _seconds(idle_seconds or env.get("KIOSK_IDLE_SECONDS"), 90, 3, 3600)
        self.countdown_seconds = _seconds(env.get("KIOSK_COUNTDOWN_SECONDS"), 20, 3, 120)
        self.timeout_seconds = _seconds(timeout_seconds or env.get("KIOSK_TIMEOUT_SECONDS"), 20, 1, 120)
        self.espeak = shutil.which("espeak-ng")
        self._speech_cache: OrderedDict[str, bytes] = OrderedDict()
        self._speech_slots = asyncio.Semaphore(2)
        self._speech_waiting = 0
        self._speech_total = guard.Window(SPEECH_PER_MIN)
        self._speech_addresses = guard.Window(SPEECH_PER_ADDRESS)
        self.payloads = page_payloads()
        self._background: set[asyncio.Task] = set()
        if not self.espeak:
            logger.warning("kiosk: espeak-ng not found; browsers without a Chinese voice will not read aloud")

    # --- settings the page starts with ------------------------------------------------------------------------

    def page_config(self) -> dict[str, Any]:
        """The settings the page reads: its place, idle and countdown times, request timeout, hotline, speech."""
        return {
            "region": self.place.region, "lat": self.place.lat, "lng": self.place.lng,
            "idleSeconds": self.idle_seconds, "countdownSeconds": self.countdown_seconds,
            "timeoutMs": int(self.timeout_seconds * 1000) + 3000,  # the server answers first when the bot is slow
            "hotline": HOTLINE, "serverSpeech": bool(self.espeak),
        }

    def page(self) -> str:
        """The kiosk page with its settings injected (escaped) and security headers."""
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        data = json.dumps(self.page_config(), ensure_ascii=False).replace("<", "\\u003c")
        return html.replace(CONFIG_MARK, f'<script id="kiosk-config" type="application/json">{data}</script>', 1)

    # --- HTTP -------------------------------------------------------------------------------------------------

    @override
    def blueprint(self, on_new_message: Handler) -> Blueprint:
        bp = Blueprint("kiosk_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def index(request: Request) -> HTTPResponse:
            return response.html(self.page(), headers={**SECURITY_HEADERS, "Content-Security-Policy": CSP})

        @bp.route("/health", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok", "place": self.place.metadata(), "speech": bool(self.espeak)})

        @bp.route("/static/<name:path>", methods=["GET"])
        async def static(request: Request, name: str) -> HTTPResponse:
            path = (STATIC / name).resolve()
            if STATIC not in path.parents or not path.is_file() or path.name == "index.html":
                return response.text("not found", status=404)
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith("javascript"):
                kind += "; charset=utf-8"
            headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
            return response.raw(path.read_bytes(), content_type=kind, headers=headers)

        @bp.route("/message", methods=["POST"])
        async def message(request: Request) -> HTTPResponse:
            address = guard.client_address(request.ip, request.headers.get("x-forwarded-for"))
            status, body = await self.handle(request.body, on_new_message, address)
            return response.json(body, status=status, headers=SECURITY_HEADERS, ensure_ascii=False)

        @bp.route("/speech", methods=["GET"])
        async def speech(request: Request) -> HTTPResponse:
            text = speech_text(request.args.get("text", ""))
            if not text:
                return response.json({"error": "empty text"}, status=400, headers=SECURITY_HEADERS)
            address = guard.client_address(request.ip, request.headers.get("x-forwarded-for"))
            try:
                wav = await self.speak(text, address)
            except SpeechBusy:
                logger.info("kiosk: speech refused (too many new texts)")
                return response.json({"error": "朗读请求太多，请稍后再试"}, status=429, headers=SECURITY_HEADERS,
                                     ensure_ascii=False)
            if wav is None:
                return response.json({"error": "speech unavailable"}, status=503, headers=SECURITY_HEADERS)
            return response.raw(wav, content_type="audio/wav", headers=SECURITY_HEADERS)

        return bp

    def generated(self, place: Place) -> frozenset[str]:
        """The payloads this page sends by itself: its tiles and menus, and its own region as an answer
        (kiosk.js writes it with JSON.stringify)."""
        if not place.region:
            return self.payloads
        return self.payloads | {"/inform" + json.dumps({"region": place.region}, ensure_ascii=False,
                                                       separators=(",", ":"))}

    async def handle(self, raw: bytes, on_new_message: Handler,
                     address: str | None = None) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one POST /message."""
        if len(raw) > MAX_BODY:
            return 413, {"error": "too large"}
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, {"error": "bad json"}
        if not isinstance(body, dict):
            return 400, {"error": "bad json"}
        sender, text = body.get("sender"), body.get("message")
        if not isinstance(sender, str) or not SENDER.match(sender):
            return 400, {"error": "bad sender"}
        if not isinstance(text, str) or not text.strip():
            return 400, {"error": "bad message"}
        asked = body.get("place")
        place = Place.parse(asked) if isinstance(asked, dict) else Place()
        if place.is_empty():
            place = self.place
        decision = await guard.shared().admit(self.name(), sender, text.strip(), address,
                                              generated=self.generated(place))
        if decision.refused:
            return decision.status, {"messages": decision.reply, "speech": answer_speech(decision.reply)}
        collector = CollectingOutputChannel()
        msg = UserMessage(decision.text, collector, sender, input_channel=self.name(), metadata=place.metadata())
        task = asyncio.ensure_future(guard.remembering(on_new_message, self.name())(msg))
        # A slow turn finishes in the background (the tracker stays whole); the page hears "slow" in time.
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        try:
            await asyncio.wait_for(asyncio.shield(task), self.timeout_seconds)
        except TimeoutError:
            logger.warning("kiosk: the bot took over %.0f s", self.timeout_seconds)
            return 504, {"error": "slow"}
        except Exception:  # any failure of the bot is the page's "not reachable" state
            logger.exception("kiosk: the bot failed")
            return 502, {"error": "bot"}
        if not collector.messages:
            return 502, {"error": "no answer"}
        return 200, {"messages": collector.messages, "speech": answer_speech(collector.messages)}

    async def speak(self, text: str, address: str | None = None) -> bytes | None:
        """WAV bytes of `text` read in Mandarin by espeak-ng, or None when it cannot speak. SpeechBusy when too many
        new texts are asked for (per process, per client address, or waiting at once)."""
        if not self.espeak:
            return None
        if text in self._speech_cache:
            self._speech_cache.move_to_end(text)
            return self._speech_cache[text]
        if self._speech_waiting >= SPEECH_QUEUE or (guard.outside(address) and not self._speech_addresses.allow(
                address)) or not self._speech_total.allow("all"):
            raise SpeechBusy
        self._speech_waiting += 1
        try:
            return await self._synthesize(text)
        finally:
            self._speech_waiting -= 1

    async def _synthesize(self, text: str) -> bytes | None:
        if not self.espeak:
            return None
        async with self._speech_slots:
            try:
                proc = await asyncio.create_subprocess_exec(
                    self.espeak, "-v", speech.settings()["voice"], "-s", "150", "--stdin", "--stdout",
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            except OSError:
                logger.exception("kiosk: espeak-ng did not start")
                return None
            try:
                out, err = await asyncio.wait_for(proc.communicate(text.encode("utf-8")), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                logger.warning("kiosk: espeak-ng took over 30 s")
                return None
        if proc.returncode != 0 or not out.startswith(b"RIFF"):
            logger.warning("kiosk: espeak-ng exited %s: %s", proc.returncode, err[-300:])
            return None
        self._speech_cache[text] = out
        while len(self._speech_cache) > SPEECH_CACHE:
            self._speech_cache.popitem(last=False)
        return out
