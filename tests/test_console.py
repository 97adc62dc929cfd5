"""The operators' console API (bot/console/channel.py) on a Sanic app of its own: the channel's blueprint with a
stub of Rasa's on_new_message and of Rasa's HTTP API, over a fresh catalog + tracker-store database.

Every endpoint with and without a session, CSRF, the login rate limit, masking, the audit log, the CLI.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

import pytest
import requests
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic
from sqlalchemy import text

from bot.console import service as svc
from bot.console.channel import ConsoleInput
from bot.console.models import create_tables
from bot.console.security import RateLimiter, hash_password, mask, verify_password
from bot.launcher import ROOT, free_port
from catalog.db import get_engine, session_scope
from catalog.importer import import_catalog
from catalog.query import Regions
from replies import Reply
from replies.contract import validate_turn

PASSWORD = "correct horse battery"
WX = "oWx_test_user_0001"
KIOSK = "kiosk-abcdef123456"


class FakeRasaAPI:
    """Rasa's POST /conversations/<id>/tracker/events, applied to the events table as Rasa would."""

    def __init__(self, url: str) -> None:
        self.url, self.calls = url, []

    async def append_events(self, sender: str, events: list[dict], base: str) -> None:
        self.calls.append((sender, events))
        with get_engine(self.url).begin() as c:
            for e in events:
                c.execute(text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, :t, :ts, :d)"),
                          {"s": sender, "t": e["event"], "ts": e.get("timestamp", time.time()), "d": json.dumps(e)})


class FakeWeChat:
    def __init__(self) -> None:
        self.sent = []

    def send_texts(self, openid: str, parts: list[str]) -> int:
        self.sent.append((openid, parts))
        return len(parts)


class FakeAgent:
    async def parse_message(self, text: str) -> dict:
        return {"intent": {"name": "find_meal", "confidence": 0.93},
                "intent_ranking": [{"name": "find_meal", "confidence": 0.93}]}


async def fake_bot(msg: UserMessage) -> None:
    """What the bot answers: a text and the one contract payload (meal points of the district it heard)."""
    district = "江岸区" if "江岸" in msg.text else "江汉区"
    with session_scope() as s:
        items = svc.search_services(s, "meal", district, limit=3)["items"]
    place = Regions.from_data().resolve(district)
    payload = Reply("find_service", category="meal", place=place, items=items).say(f"{district}的助餐点").payload()
    await msg.output_channel.send_text_message(msg.sender_id, payload["text"])
    await msg.output_channel.send_custom_json(msg.sender_id, dict(payload))


async def save_conversations(url: str) -> None:
    store = SQLTrackerStore(Domain.load(str(ROOT / "domain.yml")), dialect="sqlite",
                            db=url.removeprefix("sqlite:///"))
    wx = DialogueStateTracker.from_events(WX, [
        UserUttered("我的电话是13812345678，身份证号420102195001011234", {"name": "inform", "confidence": 0.6},
                    input_channel="wechat"),
        BotUttered("请问您想办什么事？"),
        UserUttered("我要找人工客服", {"name": "handoff", "confidence": 0.99}, input_channel="wechat"),
        BotUttered("好的，已为您转人工服务。"),
        SlotSet("handoff", True),
    ])
    kiosk = DialogueStateTracker.from_events(KIOSK, [
        UserUttered("转人工", {"name": "handoff", "confidence": 0.99}, input_channel="kiosk"),
        SlotSet("handoff", True),
    ])
    done = DialogueStateTracker.from_events("rest-done-0001", [
        UserUttered("转人工", {"name": "handoff", "confidence": 0.99}, input_channel="rest"),
        SlotSet("handoff", True), SlotSet("handoff", False),
    ])
    for t in (wx, kiosk, done):
        await store.save(t)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module):
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.db'}"
    import_catalog(url)
    monkeypatch_module.setenv("DATABASE_URL", url)
    asyncio.run(save_conversations(url))
    create_tables(url)
    svc.add_user("alice", PASSWORD, url)
    svc.add_user("bob", PASSWORD, url)
    rasa_api, wechat = FakeRasaAPI(url), FakeWeChat()
    channel = ConsoleInput(rasa_api=rasa_api, url=url, limiter=RateLimiter(limit=3, window=60), wechat=wechat)
    Sanic.test_mode = True
    app = Sanic(f"console_test_{free_port()}")
    app.ctx.agent = FakeAgent()
    app.blueprint(channel.blueprint(fake_bot), url_prefix="/webhooks/console")
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        srv = loop.run_until_complete(app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True))
        loop.run_until_complete(srv.startup())
        loop.run_until_complete(srv.after_start())
        started.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    assert started.wait(20)
    yield type("S", (), {"base": f"http://127.0.0.1:{port}/webhooks/console", "url": url, "rasa": rasa_api,
                         "wechat": wechat, "channel": channel})
    loop.call_soon_threadsafe(loop.stop)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def login(server, user: str = "alice", password: str = PASSWORD) -> tuple[requests.Session, str]:
    s = requests.Session()
    r = s.post(f"{server.base}/api/login", json={"username": user, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    return s, r.json()["csrf"]


@pytest.fixture(scope="module")
def alice(server):
    return login(server)


def post(sess_csrf, server, path: str, body: dict | None = None) -> requests.Response:
    s, csrf = sess_csrf
    return s.post(f"{server.base}/api/{path}", json=body or {}, headers={"X-CSRF-Token": csrf}, timeout=10)


def audit_actions(server) -> list[tuple[str, str, str]]:
    with session_scope(server.url) as s:
        return [(e["operator"], e["action"], e["target"]) for e in svc.audit_log(s, 1000)]


# --- no session: 401 everywhere ----------------------------------------------------------------------------------

GETS = ["me", "meta", "services?category=meal", "policies", "policies/x", "handoffs", f"handoffs/{WX}",
        "corrections", "audit"]
POSTS = ["logout", "assist", "requery", f"handoffs/{WX}/reveal", f"handoffs/{WX}/claim", f"handoffs/{WX}/answer",
         f"handoffs/{WX}/resolve", "corrections"]


@pytest.mark.parametrize("path", GETS)
def test_every_get_answers_401_without_a_session(server, path: str) -> None:
    assert requests.get(f"{server.base}/api/{path}", timeout=10).status_code == 401
    forged = requests.get(f"{server.base}/api/{path}", cookies={"console_session": "forged"}, timeout=10)
    assert forged.status_code == 401


@pytest.mark.parametrize("path", POSTS)
def test_every_post_answers_401_without_a_session(server, path: str) -> None:
    r = requests.post(f"{server.base}/api/{path}", json={"text": "x"}, headers={"X-CSRF-Token": "x"}, timeout=10)
    assert r.status_code == 401


@pytest.mark.parametrize("path", POSTS[1:])
def test_every_change_needs_the_csrf_token(server, alice, path: str) -> None:
    s, _ = alice
    assert s.post(f"{server.base}/api/{path}", json={"text": "x"}, timeout=10).status_code == 403
    wrong = s.post(f"{server.base}/api/{path}", json={"text": "x"}, headers={"X-CSRF-Token": "wrong"}, timeout=10)
    assert wrong.status_code == 403
    other_site = s.post(f"{server.base}/api/{path}", json={"text": "x"}, timeout=10,
                        headers={"X-CSRF-Token": alice[1], "Origin": "http://evil.example"})
    assert other_site.status_code == 403


# --- login, cookie, rate limit, logout ---------------------------------------------------------------------------


def test_page_and_assets_are_served_with_a_strict_policy(server) -> None:
    page = requests.get(f"{server.base}/", timeout=10)
    assert page.status_code == 200 and "话务员控制台" in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "http" not in page.text.replace('lang="zh-CN"', ""), "no asset from another host"
    for name in ("console.js", "console.css"):
        assert requests.get(f"{server.base}/static/{name}", timeout=10).status_code == 200
    assert requests.get(f"{server.base}/static/../console.py", timeout=10).status_code == 404


def test_login_sets_an_httponly_samesite_cookie_with_expiry_and_stores_only_hashes(server) -> None:
    r = requests.post(f"{server.base}/api/login", json={"username": "alice", "password": PASSWORD}, timeout=10)
    assert r.status_code == 200 and r.json()["user"] == "alice" and len(r.json()["csrf"]) >= 32
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=28800" in cookie
    assert "Path=/webhooks/console" in cookie
    token = r.cookies["console_session"]
    with session_scope(server.url) as s:
        stored = s.execute(text("SELECT token_hash FROM console_sessions")).scalars().all()
        pw = s.execute(text("SELECT password_hash FROM console_users WHERE name='alice'")).scalar()
    assert token not in stored and svc.token_hash(token) in stored
    assert pw.startswith("scrypt$") and PASSWORD not in pw
    me = requests.get(f"{server.base}/api/me", cookies={"console_session": token}, timeout=10)
    assert me.json() == {"user": "alice", "csrf": r.json()["csrf"]}


def test_wrong_passwords_are_rate_limited(server) -> None:
    for _ in range(3):
        r = requests.post(f"{server.base}/api/login", json={"username": "bob", "password": "nope-nope-nope"},
                          timeout=10)
        assert r.status_code == 401
    blocked = requests.post(f"{server.base}/api/login", json={"username": "bob", "password": PASSWORD}, timeout=10)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert ("bob", "login_blocked", None) in audit_actions(server)
    assert ("bob", "login_failed", None) in audit_actions(server)
    server.channel.limiter.reset("user:bob", "ip:127.0.0.1")
    assert login(server, "bob")


def test_unknown_user_is_refused_like_a_wrong_password(server) -> None:
    r = requests.post(f"{server.base}/api/login", json={"username": "mallory", "password": PASSWORD}, timeout=10)
    assert r.status_code == 401
    server.channel.limiter.reset("ip:127.0.0.1")


def test_logout_ends_the_session(server) -> None:
    sess = login(server)
    assert post(sess, server, "logout").status_code == 200
    assert sess[0].get(f"{server.base}/api/me", timeout=10).status_code == 401


def test_expired_sessions_are_refused(server) -> None:
    with session_scope(server.url) as s:
        token, _, _ = svc.open_session(s, "alice", hours=-1)
    assert requests.get(f"{server.base}/api/me", cookies={"console_session": token}, timeout=10).status_code == 401


# --- assist a call, correct, requery -----------------------------------------------------------------------------


def test_assist_shows_understanding_confidence_cards_and_sms(server, alice) -> None:
    r = post(alice, server, "assist", {"text": "江汉区有没有老年食堂"})
    assert r.status_code == 200, r.text
    body = r.json()
    validate_turn([*({"text": t} for t in body["texts"]), {"custom": body["payload"]}])  # passed through as is
    u = body["understanding"]
    assert (u["task"], u["category"], u["district"], u["intent"], u["confidence"]) == (
        "find_service", "meal", "江汉区", "find_meal", 0.93)
    assert body["items"] and all(i["district"] == "江汉区" for i in body["items"])
    for i in body["items"]:
        assert i["sms"]["segments"] and all(len(seg) <= 70 for seg in i["sms"]["segments"])
        assert i["phone"] in "".join(i["sms"]["segments"]).replace(" ", "")
    again = post(alice, server, "assist", {"text": "那江岸区呢", "call_id": body["call_id"]}).json()
    assert again["call_id"] == body["call_id"] and again["understanding"]["district"] == "江岸区"
    assert post(alice, server, "assist", {"text": ""}).status_code == 400
    assert post(alice, server, "assist", {"text": "x", "call_id": "../etc"}).status_code == 400


def test_requery_with_a_corrected_district_and_policy_with_source(server, alice) -> None:
    r = post(alice, server, "requery", {"task": "find_service", "category": "meal", "district": "江岸区"}).json()
    assert r["items"] and all(i["district"] == "江岸区" for i in r["items"])
    p = post(alice, server, "requery", {"task": "policy", "topic": "high_age_allowance", "district": "江汉区"}).json()
    pol = p["policies"][0]
    assert pol["region"]["city"] == "武汉市" and pol["materials"]
    ctx = pol["context"]
    assert ctx["found"] and ctx["quote"] == pol["source"]["quote"] and ctx["before"] and ctx["after"]
    bad = post(alice, server, "requery", {"task": "find_service", "category": "meal", "district": "火星区"}).json()
    assert bad["items"] == [] and "火星区" in bad["error"]


def test_corrections_are_stored_listed_and_exported_as_dev_cases(server, alice) -> None:
    body = {"text": "我妈住江岸区想找个吃饭的地方", "bot": {"task": "find_service", "category": "meal",
                                                         "district": "江汉区", "confidence": 0.41},
            "correct": {"task": "find_service", "category": "meal", "district": "江岸区"}}
    r = post(alice, server, "corrections", body)
    assert r.status_code == 200
    assert post(alice, server, "corrections", {"text": "x", "correct": {"district": "火星区"}}).status_code == 400
    listed = alice[0].get(f"{server.base}/api/corrections", timeout=10).json()["corrections"]
    assert listed[-1]["expect"] == {"task": "find_service", "category": "meal", "district": "江岸区"}
    out = subprocess.run([sys.executable, "-m", "bot.console", "export-corrections"], cwd=ROOT, check=True,
                         capture_output=True, text=True, env={**__import__("os").environ, "DATABASE_URL": server.url})
    import yaml
    cases = yaml.safe_load(out.stdout)["cases"]
    assert {"text": "我妈住江岸区想找个吃饭的地方",
            "expect": {"task": "find_service", "category": "meal", "district": "江岸区"}} in cases
    assert "the bot understood" in out.stdout


# --- catalog ------------------------------------------------------------------------------------------------------


def test_catalog_search_filters_near_and_sort(server, alice) -> None:
    s, _ = alice
    get = lambda q: s.get(f"{server.base}/api/services", params=q, timeout=10).json()  # noqa: E731
    meal = get({"category": "meal", "district": "江汉区"})
    assert meal["total"] >= 2 and all(i["district"] == "江汉区" and i["category"] == "meal" for i in meal["items"])
    beds = get({"category": "equipment_rental", "item": "护理床"})
    assert beds["items"] and all(any(x["name"] == "护理床" for x in i["items"]) for i in beds["items"])
    near = get({"category": "meal", "near": "30.5829,114.2708", "sort": "distance"})
    d = [i["distance_km"] for i in near["items"]]
    assert d == sorted(d) and near["near"]["lat"] == 30.5829
    landmark = get({"category": "meal", "near": "江汉区"})
    assert landmark["near"]["label"] == "江汉区"
    by_name = get({"category": "meal", "district": "江汉区", "sort": "name"})
    names = [i["name"] for i in by_name["items"]]
    assert names == sorted(names)
    word = meal["items"][0]["name"][:4]
    assert all(word in i["name"] + i["address"] for i in get({"district": "江汉区", "q": word})["items"])
    assert get({"near": "不存在的地标xyz"})["error"]
    meta = s.get(f"{server.base}/api/meta", timeout=10).json()
    assert meta["categories"]["meal"] == "老年助餐" and "轮椅" in meta["items"]


def test_policy_browser_by_topic_and_region_with_full_source_text(server, alice) -> None:
    s, _ = alice
    pols = s.get(f"{server.base}/api/policies", params={"topic": "ltc_insurance", "region": "兰山区"},
                 timeout=10).json()["policies"]
    assert pols and all(p["topic"] == "ltc_insurance" for p in pols)
    one = s.get(f"{server.base}/api/policies/{pols[0]['id']}", timeout=10).json()
    ctx = one["context"]
    assert ctx["found"] and len(ctx["before"] + ctx["after"]) > 100
    assert s.get(f"{server.base}/api/policies/nope", timeout=10).status_code == 404
    everything = s.get(f"{server.base}/api/policies", timeout=10).json()["policies"]
    for p in everything:   # every quote is found in its source file (full-width punctuation folded)
        assert svc.source_context(p["source"])["found"], p["id"]


# --- handed-over conversations, masking, audit -------------------------------------------------------------------


def test_handoff_list_transcript_masking_reveal_and_audit(server, alice) -> None:
    s, _ = alice
    convs = s.get(f"{server.base}/api/handoffs", timeout=10).json()["conversations"]
    ids = [c["sender_id"] for c in convs]
    assert WX in ids and KIOSK in ids and "rest-done-0001" not in ids
    assert not any(i.startswith("console-") for i in ids), "the console's own calls are not handed over"
    wx = next(c for c in convs if c["sender_id"] == WX)
    assert wx["channel"] == "wechat" and wx["turns"] == 2 and wx["claimed_by"] is None

    view = s.get(f"{server.base}/api/handoffs/{WX}", timeout=10).json()
    first = view["transcript"][0]["text"]
    assert "13812345678" not in first and "138****5678" in first
    assert "420102195001011234" not in first and "420102********1234" in first
    assert [t["who"] for t in view["transcript"]] == ["user", "bot", "user", "bot"]
    assert ("alice", "view_transcript", WX) in audit_actions(server)
    assert ("alice", "reveal", WX) not in audit_actions(server)

    shown = post(alice, server, f"handoffs/{WX}/reveal").json()["transcript"][0]["text"]
    assert "13812345678" in shown and "420102195001011234" in shown
    assert ("alice", "reveal", WX) in audit_actions(server)
    log = s.get(f"{server.base}/api/audit", timeout=10).json()["entries"]
    assert log[0]["action"] == "reveal" and log[0]["ip"] == "127.0.0.1"
    assert s.get(f"{server.base}/api/handoffs/nobody-here", timeout=10).status_code == 404
    assert s.get(f"{server.base}/api/handoffs/bad%20id", timeout=10).status_code == 400


def test_claim_answer_and_resolve_resume_the_bot(server, alice) -> None:
    bob = login(server, "bob")
    assert post(alice, server, f"handoffs/{WX}/answer", {"text": "您好"}).status_code == 409, "claim first"
    assert post(alice, server, f"handoffs/{WX}/claim").json()["claimed_by"] == "alice"
    taken = post(bob, server, f"handoffs/{WX}/claim")
    assert taken.status_code == 409 and taken.json()["claimed_by"] == "alice"
    assert post(bob, server, f"handoffs/{WX}/resolve").status_code == 409
    convs = alice[0].get(f"{server.base}/api/handoffs", timeout=10).json()["conversations"]
    listed = {c["sender_id"]: c for c in convs}
    assert listed[WX]["claimed_by"] == "alice"

    r = post(alice, server, f"handoffs/{WX}/answer", {"text": "您好，我是话务员小王，您的电话13812345678已记下"})
    assert r.json()["delivered"] == "wechat"
    assert server.wechat.sent[-1] == (WX, ["您好，我是话务员小王，您的电话13812345678已记下"])
    transcript = alice[0].get(f"{server.base}/api/handoffs/{WX}", timeout=10).json()["transcript"]
    assert transcript[-1]["who"] == "operator" and transcript[-1]["operator"] == "alice"
    assert "138****5678" in transcript[-1]["text"]
    kiosk = post(alice, server, f"handoffs/{KIOSK}/claim")
    assert kiosk.status_code == 200
    assert post(alice, server, f"handoffs/{KIOSK}/answer", {"text": "请到服务台"}).json()["delivered"] == "recorded"

    assert post(alice, server, f"handoffs/{WX}/resolve").json()["resolved"] is True
    assert server.rasa.calls[-1] == (WX, [{**server.rasa.calls[-1][1][0], "event": "slot", "name": "handoff",
                                           "value": False}])
    ids = [c["sender_id"] for c in alice[0].get(f"{server.base}/api/handoffs", timeout=10).json()["conversations"]]
    assert WX not in ids and KIOSK in ids
    actions = audit_actions(server)
    for act in ("claim", "answer", "resolve"):
        assert ("alice", act, WX) in actions


# --- units: hashing, masking, SMS, CLI ---------------------------------------------------------------------------


def test_scrypt_hashes_are_salted_and_verified() -> None:
    a, b = hash_password("secret-secret"), hash_password("secret-secret")
    assert a != b and verify_password("secret-secret", a) and not verify_password("secret-secreT", a)
    assert not verify_password("x", "md5$abc") and not verify_password("x", "garbage")


@pytest.mark.parametrize(("raw", "masked"), [
    ("电话13812345678", "电话138****5678"),
    ("电话 138-1234-5678", "电话 138****5678"),
    ("+8613812345678", "138****5678"),
    ("座机027-85551234", "座机027-****1234"),
    ("身份证42010219500101123X", "身份证420102********123X"),
    ("老身份证420102500101123", "老身份证420102******123"),
    ("江汉区85岁老人，2025年", "江汉区85岁老人，2025年"),
])
def test_masking(raw: str, masked: str) -> None:
    assert mask(raw) == masked


def test_sms_segments_are_at_most_70_characters() -> None:
    long = "，".join(["武汉市江汉区某某街道社区老年助餐服务中心"] * 8)
    segs = svc.sms_segments(long)
    assert len(segs) > 1 and all(len(s) <= 70 for s in segs)
    assert "".join(segs).replace(" ", "") == long.replace(" ", "")


def test_cli_add_user_reads_the_password_and_refuses_short_ones(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**__import__("os").environ, "DATABASE_URL": url}
    cmd = [sys.executable, "-m", "bot.console", "add-user", "carol"]
    short = subprocess.run(cmd, input="short\n", cwd=ROOT, env=env, capture_output=True, text=True)
    assert short.returncode == 2
    ok = subprocess.run(cmd, input="long enough password\n", cwd=ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    with session_scope(url) as s:
        assert verify_password("long enough password", svc.password_hash_of(s, "carol"))
