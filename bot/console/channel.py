"""The hotline operators' console (issue 8, docs/console.md) as a Rasa input channel: /webhooks/console/.

Loaded by `rasa run` from credentials.yml as `bot.console.channel.ConsoleInput`. The page and its assets are served
from static/; the JSON API below answers 401 without a login session, and every POST (except the login
itself) needs the session's CSRF token in the X-CSRF-Token header.

    POST /api/login  /api/logout          GET /api/me
    POST /api/assist {text, call_id?}     -> the bot's answer for a caller's words, with its understanding
    POST /api/requery {task, category, topic, district, item} -> the answer for corrected understanding
    GET  /api/meta  /api/services?category=&district=&item=&q=&near=&sort=  /api/policies?topic=&region=
    GET  /api/policies/<id>               -> a policy with the source text around its quote
    GET  /api/handoffs                    GET /api/handoffs/<sender> (masked transcript; audited)
    POST /api/handoffs/<sender>/reveal|claim|answer|resolve
    POST /api/corrections                 GET /api/corrections  GET /api/audit

Understanding (intent and confidence) is read from the tracker store: the user event Rasa just saved for the call
carries the parse data the bot acted on, so no second NLU run is needed (CPU is scarce) and no token either.
Resolving a conversation sets slot `handoff` back through Rasa's HTTP API (POST /conversations/<id>/tracker/events
with the API token), which takes Rasa's conversation lock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any

import aiohttp
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from typing_extensions import override

from bot.console import service as svc
from bot.console.models import Answer, create_tables
from bot.console.security import RateLimiter, dummy_verify, verify_password
from bot.guard import client_address
from bot.guard import shared as shared_guard
from catalog.db import session_scope

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "console_session"
COOKIE_PATH = "/webhooks/console"
SENDER = re.compile(r"^[A-Za-z0-9_.:@-]{1,255}$")
CALL_ID = re.compile(r"^[a-f0-9]{16}$")
MAX_TEXT = 500
MAX_BODY = 32 * 1024
TURN_TIMEOUT = 20.0
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
                    "X-Frame-Options": "DENY"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

Handler = Callable[[UserMessage], Awaitable[Any]]


def api_token() -> str | None:
    """The Rasa API token the launcher gave `rasa run`: RASA_AUTH_TOKEN, else var/api_token."""
    if os.environ.get("RASA_AUTH_TOKEN"):
        return os.environ["RASA_AUTH_TOKEN"]
    path = ROOT / "var" / "api_token"
    return path.read_text().strip() if path.exists() else None


class RasaAPI:
    """The few calls to Rasa's own HTTP API (`--enable-api`) the console makes."""

    def __init__(self, base: str | None = None, token: str | None = None) -> None:
        self.base, self.token = base, token

    async def append_events(self, sender: str, events: list[dict], base: str) -> None:
        """Append events to a conversation's tracker through Rasa's HTTP API."""
        url = f"{(self.base or base).rstrip('/')}/conversations/{sender}/tracker/events"
        params = {"token": self.token or api_token() or "", "include_events": "NONE"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http, \
                http.post(url, params=params, json=events) as res:
            if res.status >= 300:
                raise RuntimeError(f"Rasa API {res.status}: {(await res.text())[:200]}")


class Denied(Exception):
    """A request refused with an HTTP status and a short error code."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


def _json(body: object, status: int = 200, **headers: str) -> HTTPResponse:
    return response.json(body, status=status, headers={**SECURITY_HEADERS, **headers}, ensure_ascii=False)


def _body(request: Request) -> dict:
    if len(request.body or b"") > MAX_BODY:
        raise Denied(413, "too large")
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise Denied(400, "bad json") from None
    if not isinstance(data, dict):
        raise Denied(400, "bad json")
    return data


def _text(value: object, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Denied(400, "bad text")
    return value.strip()


def _fields(data: dict) -> dict:
    out = {}
    for k in ("task", "category", "topic", "district", "region", "item"):
        v = data.get(k)
        if v is not None and not (isinstance(v, str) and len(v) <= 40):
            raise Denied(400, f"bad {k}")
        out[k] = (v or "").strip() or None
    return out


class ConsoleInput(InputChannel):
    """The operators' console page and its JSON API."""

    @override
    @classmethod
    def name(cls) -> str:
        return "console"

    @override
    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> ConsoleInput:
        c = credentials or {}
        return cls(rasa_api=RasaAPI(c.get("rasa_url") or os.environ.get("CONSOLE_RASA_URL")),
                   secure_cookies=bool(c.get("secure_cookies")))

    def __init__(self, rasa_api: RasaAPI | None = None, url: str | None = None, limiter: RateLimiter | None = None,
                 wechat: Any = None,  # noqa: ANN401 - a WeChatAPI, or a stand-in in tests
                 secure_cookies: bool = False, session_hours: float = svc.SESSION_HOURS) -> None:
        self.url = url
        self.rasa_api = rasa_api or RasaAPI()
        self.limiter = limiter or RateLimiter()
        self.secure_cookies = secure_cookies
        self.session_hours = session_hours
        self._wechat = wechat
        self._tables = False

    # --- helpers ------------------------------------------------------------------------------------------------

    def db(self):
        """A session on the console's database (its tables created on first use)."""
        if not self._tables:
            create_tables(self.url)
            self._tables = True
        return session_scope(self.url)

    def wechat(self):
        """The WeChat channel's customer-service API client, when WECHAT_APPID/APPSECRET are set."""
        if self._wechat is None:
            try:
                from bot.channels.wechat.api import WeChatAPI
                from bot.channels.wechat.config import WeChatConfig

                c = WeChatConfig.from_env()
                self._wechat = WeChatAPI(c.api_base, c.appid, c.appsecret, c.redis_url) if c.appid and c.appsecret \
                    else False
            except Exception:  # without it answers are recorded only
                logger.exception("console: WeChat API unavailable")
                self._wechat = False
        return self._wechat or None

    def _session(self, request: Request):
        with self.db() as s:
            row = svc.find_session(s, request.cookies.get(COOKIE))
            return (row.operator, row.csrf) if row else None

    def guard(self, change: bool = False):
        """401 without a session; for changes also 403 without the session's CSRF token or from another origin."""
        def deco(fn):
            @wraps(fn)
            async def run(request: Request, *args, **kwargs) -> HTTPResponse:
                try:
                    who = self._session(request)
                    if who is None:
                        return _json({"error": "login required"}, 401)
                    if change:
                        origin = request.headers.get("origin")
                        if origin and origin.split("://", 1)[-1] != request.host:
                            return _json({"error": "cross-origin"}, 403)
                        sent = request.headers.get("x-csrf-token", "")
                        if not secrets.compare_digest(sent.encode(), who[1].encode()):
                            return _json({"error": "csrf"}, 403)
                    request.ctx.operator = who[0]
                    return await fn(request, *args, **kwargs)
                except Denied as d:
                    return _json({"error": d.error}, d.status)
            return run
        return deco

    def _cookie(self, res: HTTPResponse, value: str, max_age: int) -> None:
        res.cookies[COOKIE] = value
        c = res.cookies[COOKIE]
        c["httponly"] = True
        c["samesite"] = "Strict"
        c["path"] = COOKIE_PATH
        c["max-age"] = max_age
        if self.secure_cookies:
            c["secure"] = True

    # --- HTTP ---------------------------------------------------------------------------------------------------

    @override
    def blueprint(self, on_new_message: Handler) -> Blueprint:
        bp = Blueprint("console_webhook", __name__)
        guard = self.guard

        @bp.route("/", methods=["GET"])
        async def index(request: Request) -> HTTPResponse:
            html = (STATIC / "index.html").read_text(encoding="utf-8")
            return response.html(html, headers={**SECURITY_HEADERS, "Content-Security-Policy": CSP})

        @bp.route("/static/<name:path>", methods=["GET"])
        async def static(request: Request, name: str) -> HTTPResponse:
            path = (STATIC / name).resolve()
            if STATIC not in path.parents or not path.is_file():
                return response.text("not found", status=404)
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith("javascript"):
                kind += "; charset=utf-8"
            return response.raw(path.read_bytes(), content_type=kind,
                                headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

        @bp.route("/api/login", methods=["POST"])
        async def login(request: Request) -> HTTPResponse:
            try:
                data = _body(request)
            except Denied as d:
                return _json({"error": d.error}, d.status)
            name, password = data.get("username"), data.get("password")
            if not isinstance(name, str) or not isinstance(password, str) or len(name) > 64 or len(password) > 256:
                return _json({"error": "bad login"}, 400)
            keys = (f"ip:{request.ip}", f"user:{name}")
            wait = self.limiter.retry_after(*keys)
            if wait:
                with self.db() as s:
                    svc.audit(s, name, "login_blocked", ip=request.ip)
                return _json({"error": "too many attempts", "retry_after": wait}, 429, **{"Retry-After": str(wait)})
            with self.db() as s:
                stored = svc.password_hash_of(s, name)
            ok = await asyncio.to_thread(verify_password, password, stored) if stored else False
            if not stored:
                await asyncio.to_thread(dummy_verify, password)
            with self.db() as s:
                if not ok:
                    svc.audit(s, name, "login_failed", ip=request.ip)
                    self.limiter.fail(*keys)
                    return _json({"error": "wrong user name or password"}, 401)
                token, csrf, _ = svc.open_session(s, name, self.session_hours)
                svc.audit(s, name, "login", ip=request.ip)
            self.limiter.reset(f"user:{name}")
            res = _json({"user": name, "csrf": csrf})
            self._cookie(res, token, int(self.session_hours * 3600))
            return res

        @bp.route("/api/logout", methods=["POST"])
        @guard(change=True)
        async def logout(request: Request) -> HTTPResponse:
            with self.db() as s:
                svc.close_session(s, request.cookies.get(COOKIE, ""))
                svc.audit(s, request.ctx.operator, "logout", ip=request.ip)
            res = _json({"ok": True})
            self._cookie(res, "", 0)
            return res

        @bp.route("/api/me", methods=["GET"])
        @guard()
        async def me(request: Request) -> HTTPResponse:
            who = self._session(request)
            return _json({"user": who[0], "csrf": who[1]})

        @bp.route("/api/meta", methods=["GET"])
        @guard()
        async def meta(request: Request) -> HTTPResponse:
            with self.db() as s:
                return _json(svc.meta(s))

        # --- assist a call ---

        @bp.route("/api/assist", methods=["POST"])
        @guard(change=True)
        async def assist(request: Request) -> HTTPResponse:
            data = _body(request)
            said = _text(data.get("text"))
            call_id = data.get("call_id") or secrets.token_hex(8)
            if not isinstance(call_id, str) or not CALL_ID.match(call_id):
                raise Denied(400, "bad call_id")
            sender = svc.CONSOLE_SENDER_PREFIX + call_id
            address = client_address(request.ip, request.headers.get("x-forwarded-for"))
            decision = await shared_guard().admit(self.name(), sender, said, address)
            if decision.refused:
                texts = [m["text"] for m in decision.reply if m.get("text")]
                return _json({"error": decision.reason, "call_id": call_id, "texts": texts}, decision.status)
            collector = CollectingOutputChannel()
            msg = UserMessage(decision.text, collector, sender, input_channel=self.name(),
                              metadata={"operator": request.ctx.operator})
            try:
                await asyncio.wait_for(on_new_message(msg), TURN_TIMEOUT)
            except TimeoutError:
                return _json({"error": "slow", "call_id": call_id}, 504)
            except Exception:
                logger.exception("console: the bot failed")
                return _json({"error": "bot", "call_id": call_id}, 502)
            payload: dict[str, Any] = next((m["custom"] for m in collector.messages
                                            if isinstance(m.get("custom"), dict)), {})
            texts = [m["text"] for m in collector.messages if m.get("text")]
            intent = await self.understanding(request, sender, said)
            with self.db() as s:
                svc.audit(s, request.ctx.operator, "assist", sender, {"task": payload.get("task")}, request.ip)
                policy = payload.get("policy")
                if policy:
                    policy = {**policy, "sms": svc.sms_for_policy(policy),
                              "context": svc.source_context(policy.get("source") or {})}
            region = payload.get("region") or {}
            return _json({
                "call_id": call_id, "text": said, "texts": texts, "payload": payload,
                "understanding": {"task": payload.get("task"), "category": payload.get("category"),
                                  "topic": payload.get("topic"), "item": payload.get("item"),
                                  "district": region.get("district"), "city": region.get("city"),
                                  "province": region.get("province"), "ask": payload.get("ask"), **intent},
                "items": svc.with_sms(payload.get("items") or []),
                "policies": [policy] if policy else [],
            })

        @bp.route("/api/requery", methods=["POST"])
        @guard(change=True)
        async def requery(request: Request) -> HTTPResponse:
            fields = _fields(_body(request))
            with self.db() as s:
                return _json(svc.requery(s, fields))

        # --- catalog ---

        @bp.route("/api/services", methods=["GET"])
        @guard()
        async def services(request: Request) -> HTTPResponse:
            a = request.args
            with self.db() as s:
                return _json(svc.search_services(s, a.get("category"), a.get("district"), a.get("item"),
                                                 a.get("q"), a.get("near"), a.get("sort")))

        @bp.route("/api/policies", methods=["GET"])
        @guard()
        async def policies(request: Request) -> HTTPResponse:
            with self.db() as s:
                return _json({"policies": svc.search_policies(s, request.args.get("topic"),
                                                              request.args.get("region"))})

        @bp.route("/api/policies/<policy_id>", methods=["GET"])
        @guard()
        async def policy(request: Request, policy_id: str) -> HTTPResponse:
            with self.db() as s:
                found = svc.policy_with_source(s, policy_id)
            return _json(found) if found else _json({"error": "not found"}, 404)

        # --- handed-over conversations ---

        @bp.route("/api/handoffs", methods=["GET"])
        @guard()
        async def handoffs(request: Request) -> HTTPResponse:
            with self.db() as s:
                return _json({"conversations": svc.list_handoffs(s)})

        def conversation(s, sender: str) -> list[dict]:
            if not SENDER.match(sender):
                raise Denied(400, "bad sender")
            events = svc.conversation_events(s, sender)
            if not events:
                raise Denied(404, "not found")
            return events

        @bp.route("/api/handoffs/<sender>", methods=["GET"])
        @guard()
        async def view(request: Request, sender: str) -> HTTPResponse:
            with self.db() as s:
                events = conversation(s, sender)
                svc.audit(s, request.ctx.operator, "view_transcript", sender, ip=request.ip)
                return _json({"sender_id": sender, "channel": svc.channel_of(events),
                              "claimed_by": svc.claim_holder(s, sender), "masked": True,
                              "transcript": svc.transcript(events)})

        @bp.route("/api/handoffs/<sender>/reveal", methods=["POST"])
        @guard(change=True)
        async def reveal(request: Request, sender: str) -> HTTPResponse:
            with self.db() as s:
                events = conversation(s, sender)
                svc.audit(s, request.ctx.operator, "reveal", sender, ip=request.ip)
                return _json({"sender_id": sender, "masked": False, "transcript": svc.transcript(events, True)})

        @bp.route("/api/handoffs/<sender>/claim", methods=["POST"])
        @guard(change=True)
        async def claim(request: Request, sender: str) -> HTTPResponse:
            with self.db() as s:
                conversation(s, sender)
                holder = svc.claim(s, sender, request.ctx.operator)
                if holder:
                    return _json({"error": "claimed", "claimed_by": holder}, 409)
                svc.audit(s, request.ctx.operator, "claim", sender, ip=request.ip)
            return _json({"sender_id": sender, "claimed_by": request.ctx.operator})

        def mine(s, request: Request, sender: str) -> list[dict]:
            events = conversation(s, sender)
            if svc.claim_holder(s, sender) != request.ctx.operator:
                raise Denied(409, "claim it first")
            return events

        @bp.route("/api/handoffs/<sender>/answer", methods=["POST"])
        @guard(change=True)
        async def answer(request: Request, sender: str) -> HTTPResponse:
            said = _text(_body(request).get("text"), 600)
            with self.db() as s:
                channel = svc.channel_of(mine(s, request, sender))
            delivered = "recorded"
            api = self.wechat() if channel == "wechat" else None
            if api is not None:
                sent = await asyncio.to_thread(api.send_texts, sender, [said])
                delivered = "wechat" if sent == 1 else "wechat_failed"
            event = {"event": "bot", "text": said, "timestamp": time.time(),
                     "metadata": {"operator": request.ctx.operator}}
            try:
                await self.rasa_api.append_events(sender, [event], f"http://127.0.0.1:{request.server_port}")
            except Exception as exc:  # noqa: BLE001 - the answer is still recorded in the console's table
                logger.warning("console: answer not added to the transcript: %s", exc)
            with self.db() as s:
                s.add(Answer(sender_id=sender, channel=channel, operator=request.ctx.operator, text=said,
                                 delivered=delivered))
                svc.audit(s, request.ctx.operator, "answer", sender, {"delivered": delivered}, request.ip)
            return _json({"sender_id": sender, "delivered": delivered}, 200 if delivered != "wechat_failed" else 502)

        @bp.route("/api/handoffs/<sender>/resolve", methods=["POST"])
        @guard(change=True)
        async def resolve(request: Request, sender: str) -> HTTPResponse:
            with self.db() as s:
                mine(s, request, sender)
            event = {"event": "slot", "name": "handoff", "value": False, "timestamp": time.time()}
            try:
                await self.rasa_api.append_events(sender, [event], f"http://127.0.0.1:{request.server_port}")
            except Exception as exc:  # noqa: BLE001
                logger.error("console: could not resume the bot for %s: %s", sender, exc)
                return _json({"error": "rasa api"}, 502)
            with self.db() as s:
                svc.mark_resolved(s, sender)
                svc.audit(s, request.ctx.operator, "resolve", sender, ip=request.ip)
            return _json({"sender_id": sender, "resolved": True})

        # --- learning loop, audit log ---

        @bp.route("/api/corrections", methods=["POST"])
        @guard(change=True)
        async def correct(request: Request) -> HTTPResponse:
            data = _body(request)
            said = _text(data.get("text"))
            bot = data["bot"] if isinstance(data.get("bot"), dict) else {}
            bot = {k: v for k, v in bot.items() if k in (*svc.EXPECT_KEYS, "intent", "confidence")
                   and isinstance(v, str | int | float | type(None))}
            note = data.get("note") if isinstance(data.get("note"), str) else None
            with self.db() as s:
                try:
                    cid = svc.add_correction(s, request.ctx.operator, said, bot, _fields(data.get("correct") or {}),
                                             (note or "")[:500] or None)
                except ValueError as exc:
                    raise Denied(400, str(exc)) from None
                svc.audit(s, request.ctx.operator, "correction", str(cid), ip=request.ip)
            return _json({"id": cid})

        @bp.route("/api/corrections", methods=["GET"])
        @guard()
        async def list_corrections(request: Request) -> HTTPResponse:
            with self.db() as s:
                return _json({"corrections": svc.corrections(s)})

        @bp.route("/api/audit", methods=["GET"])
        @guard()
        async def audit_log(request: Request) -> HTTPResponse:
            with self.db() as s:
                return _json({"entries": svc.audit_log(s)})

        return bp

    async def understanding(self, request: Request, sender: str, said: str) -> dict:
        """Intent and confidence of the turn just handled: from the tracker store, else a parse by the agent."""
        with self.db() as s:
            events = svc.conversation_events(s, sender)
        users = [e for e in events if e.get("event") == "user"]
        parse = (users[-1].get("parse_data") or {}) if users else {}
        if not parse:
            agent = getattr(request.app.ctx, "agent", None)
            if agent is not None:
                try:
                    parse = await agent.parse_message(said)
                except Exception:
                    logger.exception("console: parse failed")
        intent = parse.get("intent") or {}
        ranking = [{"name": r.get("name"), "confidence": r.get("confidence")}
                   for r in (parse.get("intent_ranking") or [])[:3]]
        return {"intent": intent.get("name"), "confidence": intent.get("confidence"), "ranking": ranking}
