"""WeChat channel protocol tests: the channel's blueprint served by Sanic on a free loopback port, a stub in
place of Rasa's message handler, a fake of WeChat's API server, and WeChat's side written here from the protocol
(Peer: sha1 signatures, AES framing with `cryptography`), checked against WeChat's published sample values. The
channel uses wechatpy; neither the channel's code nor wechatpy's plays WeChat's side."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import xmltodict
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sanic import Sanic

from bot.channels.wechat import WeChatInput
from bot.channels.wechat.api import WeChatAPI
from bot.channels.wechat.config import WeChatConfig
from bot.channels.wechat.state import MemoryState, RedisState, State
from replies.contract import validate_payload
from tests.conftest import await_until, wait_until

# Deliberately not the values of conftest's environment: these tests configure the channel themselves.
TOKEN = "unit-token-9f3c"
APPID = "wx7d0c8a1b2e3f4a5b"
SECRET = "unit-secret"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
ACCOUNT = "gh_0123456789ab"


class Peer:
    """WeChat's side of the protocol, from its description: a signature is the sha1 of the sorted parts joined; a
    safe-mode message is base64(AES-256-CBC(16 random bytes, 4-byte big-endian length, message, AppID; PKCS#7 to
    32 bytes)) with key base64(EncodingAESKey + "=") and IV its first 16 bytes."""

    def __init__(self, token: str, aes_key: str, appid: str) -> None:
        self.token, self.appid, self.key = token, appid.encode(), base64.b64decode(aes_key + "=")

    @staticmethod
    def sign(*parts: str) -> str:
        return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: str) -> str:
        raw = message.encode("utf-8")
        plain = uuid.uuid4().bytes + struct.pack(">I", len(raw)) + raw + self.appid
        pad = 32 - len(plain) % 32
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(plain + bytes([pad]) * pad) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        dec = self._cipher().decryptor()
        plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
        plain = plain[:-plain[-1]]
        size = struct.unpack(">I", plain[16:20])[0]
        if plain[20 + size:] != self.appid:
            raise ValueError("sealed for another AppID")
        return plain[20:20 + size].decode("utf-8")

    def open_reply(self, reply: str) -> str:
        """The message inside a safe-mode reply, after checking its MsgSignature."""
        outer = xmltodict.parse(reply)["xml"]
        assert outer["MsgSignature"] == self.sign(self.token, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
        return self.decrypt(outer["Encrypt"])


PEER = Peer(TOKEN, AES_KEY, APPID)

# WeChat's published sample for safe mode: Tencent's WXBizMsgCrypt Python sample (Sample.py, 2014, in the
# message encryption sample download of the Official Account docs; mirrored e.g. at github.com/charlesXu86/
# Chatbot_CN, Chatbot_Web/impl/weixin/Sample.py): token, EncodingAESKey, AppID, timestamp, nonce, msg_signature
# and the message as WeChat's server sends it.
SAMPLE = {
    "token": "spamtest", "aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "appid": "wx2c2769f8efd9abc2",
    "timestamp": "1409735669", "nonce": "1320562132", "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    "xml": "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA["
           "oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA["
           "abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk"
           "53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE"
           "328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6K"
           "WwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6Oewpus"
           "jZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>",
}
# The plain-mode signature vector of wechatpy's own tests (tests/test_utils.py, test_check_signature_should_ok).
PLAIN_SAMPLE = {"token": "test", "timestamp": "1410685589", "nonce": "test",
                "signature": "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"}


# --- fakes -------------------------------------------------------------------------------------------------

class FakeWeChatAPI:
    """WeChat's token and customer-service endpoints; only the latest token issued is valid."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.reset()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, data: dict) -> None:
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path != "/cgi-bin/token":
                    return self._send({"errcode": 404, "errmsg": "not found"})
                if q.get("appid") != APPID or q.get("secret") != SECRET or q.get("grant_type") != "client_credential":
                    return self._send({"errcode": 40013, "errmsg": "invalid appid"})
                with fake.lock:
                    fake.tokens_issued += 1
                    fake.valid_token = f"ACCESS-{fake.tokens_issued}"
                    self._send({"access_token": fake.valid_token, "expires_in": 7200})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                token = parse_qs(url.query).get("access_token", [""])[0]
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8"))
                with fake.lock:
                    fake.attempts.append((token, payload))
                    if fake.errors:
                        code = fake.errors.pop(0)
                        return self._send({"errcode": code, "errmsg": f"error {code}"})
                    if token != fake.valid_token:
                        return self._send({"errcode": 40001, "errmsg": "invalid credential"})
                    fake.sent.append((token, payload))
                    fake.lock.notify_all()
                self._send({"errcode": 0, "errmsg": "ok"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.tokens_issued = 0
            self.valid_token: str | None = None
            self.attempts: list[tuple[str, dict]] = []
            self.sent: list[tuple[str, dict]] = []
            self.errors: list[int] = []

    def expire_token(self) -> None:
        with self.lock:
            self.valid_token = None

    def wait_sent(self, n: int, timeout: float = 10) -> list[tuple[str, dict]]:
        with self.lock:
            self.lock.wait_for(lambda: len(self.sent) >= n, timeout)
            return list(self.sent)


class StubBot:
    """Stands for Rasa's `on_new_message`: records what reaches the bot and answers like the REST channel."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.delay = 0.0
        self.fail = False
        self.reply: Callable[[str], list[dict]] = lambda text: [{"text": f"收到：{text}"}, _custom(f"收到：{text}")]

    async def __call__(self, message: Any) -> None:
        self.received.append((message.sender_id, message.text))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("the bot broke")
        for m in self.reply(message.text):
            await message.output_channel.send_response(message.sender_id, m)


ITEM_DEFAULTS = {"category": "meal", "district": None, "address": None, "phone": None, "hours": None, "price": None,
                 "verified": False, "source": "示例数据"}


def _custom(text: str, buttons: list[dict] | None = None, items: list[dict] | None = None, **kw: Any) -> dict:
    """The stub bot's custom message: a payload of the reply contract (checked), as the real bot sends."""
    payload = {"task": kw.get("task", "chitchat"), "category": kw.get("category"), "topic": None,
               "region": {"province": None, "city": None, "district": None}, "item": None, "ask": kw.get("ask"),
               "items": [ITEM_DEFAULTS | i for i in items or []], "policy": None, "text": text,
               "buttons": buttons or []}
    return {"custom": dict(validate_payload(payload))}


@pytest.fixture(scope="module")
def wechat() -> Iterator[dict[str, Any]]:
    api = FakeWeChatAPI()
    stub = StubBot()
    channel = WeChatInput(WeChatConfig(token=TOKEN, appid=APPID, appsecret=SECRET, encoding_aes_key=AES_KEY,
                                       api_base=api.url, reply_deadline=3.0))
    channel.followup_delay = 0.0
    app = Sanic("wechat_channel_test")
    app.blueprint(channel.blueprint(stub), url_prefix="/webhooks/wechat")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        srv = loop.run_until_complete(app.create_server(sock=sock, return_asyncio_server=True, access_log=False))
        loop.run_until_complete(srv.startup())
        loop.run_until_complete(srv.after_start())
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    assert ready.wait(20)
    yield {"url": f"http://127.0.0.1:{port}/webhooks/wechat/webhook", "api": api, "bot": stub, "channel": channel}
    loop.call_soon_threadsafe(loop.stop)
    api.server.shutdown()


@pytest.fixture()
def wx(wechat: dict[str, Any]) -> dict[str, Any]:
    wechat["api"].reset()
    wechat["bot"].reset()
    wechat["channel"].config.reply_deadline = 3.0
    wechat["channel"].api = WeChatAPI(wechat["api"].url, APPID, SECRET)  # no access_token cached
    return wechat


# --- the WeChat side, built with wechatpy ------------------------------------------------------------------

def openid() -> str:
    return "o" + uuid.uuid4().hex[:27]


def msgid() -> str:
    return str(uuid.uuid4().int % 10**19)


def inbound(user: str, kind: str, fields: dict[str, str], msg_id: str | None = None, created: int | None = None) -> str:
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    tail = f"<MsgId>{msg_id or msgid()}</MsgId>" if kind != "event" else ""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{created or int(time.time())}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
            f"{body}{tail}</xml>")


def text_msg(user: str, content: str, msg_id: str | None = None) -> str:
    return inbound(user, "text", {"Content": content}, msg_id)


def sign(*parts: str) -> str:
    return Peer.sign(*parts)


def signed(timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """The query parameters WeChat adds to a plain-mode message."""
    ts = str(timestamp or int(time.time()))
    nonce = nonce or uuid.uuid4().hex[:10]
    return {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}


def post(url: str, xml: str | bytes, *, safe: bool = False, timestamp: int | None = None, nonce: str | None = None,
         crypto: Peer = PEER, **override: str) -> requests.Response:
    params = signed(timestamp, nonce)
    ts, nonce = params["timestamp"], params["nonce"]
    body = xml.encode("utf-8") if isinstance(xml, str) else xml
    if safe:
        encrypted = crypto.encrypt(body.decode("utf-8"))
        body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode()
        params |= {"encrypt_type": "aes", "msg_signature": crypto.sign(TOKEN, ts, nonce, encrypted)}
    params |= override
    return requests.post(url, params=params, data=body, timeout=15)


def reply_of(resp: requests.Response, safe: bool = False) -> Any:
    """The passive reply as wechatpy reads it (decrypted and signature-checked in safe mode)."""
    assert resp.status_code == 200, resp.text
    return parse_reply(PEER.open_reply(resp.text) if safe else resp.text)


def parse_reply(xml: str) -> SimpleNamespace:
    """A passive reply as WeChat reads it: type, content, target (ToUserName), source (FromUserName)."""
    d = xmltodict.parse(xml)["xml"]
    return SimpleNamespace(type=d["MsgType"], content=d.get("Content") or "", target=d["ToUserName"],
                           source=d["FromUserName"])


def content(resp: requests.Response, safe: bool = False) -> str:
    msg = reply_of(resp, safe)
    assert msg.type == "text"
    return msg.content


# --- server verification -----------------------------------------------------------------------------------

def test_verification_echoes_echostr_only_with_a_good_signature(wx: dict) -> None:
    ts, nonce = str(int(time.time())), "123456"
    good = sign(TOKEN, ts, nonce)
    params = {"timestamp": ts, "nonce": nonce, "echostr": "7788990011"}
    ok = requests.get(wx["url"], params=params | {"signature": good}, timeout=5)
    assert ok.status_code == 200 and ok.text == "7788990011"
    for bad in ({"signature": good[:-1] + ("0" if good[-1] != "0" else "1")}, {"signature": ""}, {},
                {"signature": sign("other-token", ts, nonce)}):
        resp = requests.get(wx["url"], params=params | bad, timeout=5)
        assert resp.status_code == 403 and "7788990011" not in resp.text


# --- messages, plain and safe mode -------------------------------------------------------------------------

@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
def test_text_message_reaches_the_bot_and_the_reply_comes_back_in_the_same_mode(wx: dict, safe: bool) -> None:
    user = openid()
    resp = post(wx["url"], text_msg(user, "江汉区有没有助餐点"), safe=safe)
    msg = reply_of(resp, safe)
    assert msg.type == "text" and msg.content == "收到：江汉区有没有助餐点"
    assert msg.target == user and msg.source == ACCOUNT  # ToUserName is the user, FromUserName the account
    assert wx["bot"].received == [(user, "江汉区有没有助餐点")]
    if safe:
        assert "<Encrypt>" in resp.text and "江汉区" not in resp.text


def test_safe_mode_refuses_a_bad_msg_signature_or_plain_body(wx: dict) -> None:
    user = openid()
    assert post(wx["url"], text_msg(user, "你好"), safe=True, msg_signature="0" * 40).status_code == 403
    # A plain body presented as safe mode has no Encrypt: refused before anything reaches the bot.
    assert post(wx["url"], text_msg(user, "你好"), encrypt_type="aes", msg_signature="0" * 40).status_code in (400, 403)
    assert wx["bot"].received == []


def test_wrong_appid_is_refused(wx: dict) -> None:
    other = Peer(TOKEN, AES_KEY, "wx0000000000000000")  # same key and token, sealed for another AppID
    resp = post(wx["url"], text_msg(openid(), "你好"), safe=True, crypto=other)
    assert resp.status_code == 403
    assert wx["bot"].received == []
    # The channel's reply is refused the same way by WeChat's side when the AppIDs differ.
    good = post(wx["url"], text_msg(openid(), "你好"), safe=True)
    with pytest.raises(ValueError, match="AppID"):
        other.open_reply(good.text)


def test_bad_or_missing_signature_is_403_and_nothing_reaches_the_bot(wx: dict) -> None:
    user = openid()
    assert post(wx["url"], text_msg(user, "你好"), signature="f" * 40).status_code == 403
    assert post(wx["url"], text_msg(user, "你好"), signature="").status_code == 403
    resp = requests.post(wx["url"], data=text_msg(user, "你好").encode(), timeout=5)
    assert resp.status_code == 403
    assert wx["bot"].received == []


def test_buttons_become_numbered_options_and_a_digit_sends_the_payload(wx: dict) -> None:
    buttons = [{"title": "武汉市", "payload": '/inform{"region": "武汉市"}'},
               {"title": "咸宁市", "payload": '/inform{"region": "咸宁市"}'}]
    wx["bot"].reply = lambda text: [{"text": "请问老人住在哪个区（县）？", "buttons": buttons},
                                    _custom("请问老人住在哪个区（县）？", buttons, ask="region")]
    user = openid()
    shown = content(post(wx["url"], text_msg(user, "我想找助餐点")))
    assert shown.startswith("请问老人住在哪个区（县）？")
    assert "回复 1：武汉市" in shown and "回复 2：咸宁市" in shown
    content(post(wx["url"], text_msg(user, "２")))  # a full-width digit picks the second option
    content(post(wx["url"], text_msg(user, "9")))   # no option 9: sent as typed
    content(post(wx["url"], text_msg(openid(), "1")))  # another user has no options: sent as typed
    assert [t for _, t in wx["bot"].received] == ["我想找助餐点", '/inform{"region": "咸宁市"}', "9", "1"]


def test_typed_intent_syntax_reaches_the_bot_as_words(wx: dict) -> None:
    user = openid()
    for typed in ("/handoff", "/restart", '/inform{"region": "兰山区"}'):
        content(post(wx["url"], text_msg(user, typed)))
    assert wx["bot"].received == [(user, "／handoff"), (user, "／restart"), (user, '／inform{"region": "兰山区"}')]


def test_too_long_and_too_fast_get_chinese_answers_without_the_bot(wx: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import guard

    monkeypatch.setenv("GUARD_RATE_PER_SENDER", "2")
    guard.shared.cache_clear()
    try:
        user = openid()
        assert "简短" in content(post(wx["url"], text_msg(user, "长" * 501)))
        assert content(post(wx["url"], text_msg(user, "你好"))) == "收到：你好"
        assert "太快" in content(post(wx["url"], text_msg(user, "再问一次")))
        assert content(post(wx["url"], text_msg(openid(), "你好"))) == "收到：你好"  # another user
        assert [t for _, t in wx["bot"].received] == ["你好", "你好"]
    finally:
        guard.shared.cache_clear()


def test_items_become_compact_text_with_demo_label_and_distance(wx: dict) -> None:
    items = [{"id": "a", "name": "雪松路长者食堂", "address": "江汉区雪松路81号", "phone": "027-05619051",
              "verified": False, "distance_km": 0.84},
             {"id": "b", "name": "民意街社区食堂", "address": "江汉区民意街1号", "phone": "027-1",
              "verified": True, "distance_km": 2.0},
             {"id": "c", "name": "已在正文里的食堂", "verified": False}]
    wx["bot"].reply = lambda text: [{"text": "离您最近的老年助餐：已在正文里的食堂（示例数据，请以电话核实为准）"},
                                    _custom("…", items=items, task="find_service", category="meal")]
    shown = content(post(wx["url"], text_msg(openid(), "附近助餐点")))
    assert "· 雪松路长者食堂（示例数据）｜江汉区雪松路81号｜027-05619051｜约0.8公里" in shown
    assert "· 民意街社区食堂｜江汉区民意街1号｜027-1｜约2.0公里" in shown
    assert shown.count("已在正文里的食堂") == 1  # an item the text already shows is not repeated


def test_cdata_terminator_in_the_reply_is_escaped(wx: dict) -> None:
    tricky = "a]]>b<xml>&amp;</xml>]]>"
    wx["bot"].reply = lambda text: [{"text": tricky}, _custom(tricky)]
    for safe in (False, True):
        assert content(post(wx["url"], text_msg(openid(), "x"), safe=safe), safe) == tricky


def test_voice_uses_recognition(wx: dict) -> None:
    user = openid()
    voice = inbound(user, "voice", {"MediaId": "m1", "Format": "amr", "Recognition": "高龄津贴怎么申请"})
    assert content(post(wx["url"], voice, safe=True), safe=True) == "收到：高龄津贴怎么申请"
    assert wx["bot"].received == [(user, "高龄津贴怎么申请")]


def test_voice_without_recognition_asks_again_without_the_bot(wx: dict) -> None:
    voice = inbound(openid(), "voice", {"MediaId": "m1", "Format": "amr", "Recognition": ""})
    shown = content(post(wx["url"], voice))
    assert "没听清" in shown and "打字" in shown
    assert wx["bot"].received == []


def test_location_sends_share_location_and_shows_the_nearest_points_with_distance(wx: dict) -> None:
    near = [{"id": "p1", "name": "雪松路长者食堂", "address": "武汉市江汉区雪松路81号", "phone": "027-05619051",
             "verified": False, "distance_km": 0.6, "category": "meal"}]

    def reply(text: str) -> list[dict]:
        if text.startswith("/share_location"):
            t = "离您最近的老年助餐：\n1. 雪松路长者食堂（示例数据，请以电话核实为准）\n   距离：约0.6公里"
            return [{"text": t}, _custom(t, items=near, task="find_service", category="meal")]
        return [{"text": "请问老人住在哪个区（县）？"}, _custom("请问老人住在哪个区（县）？", category="meal")]

    wx["bot"].reply = reply
    user = openid()
    content(post(wx["url"], text_msg(user, "我想找助餐点")))
    loc = inbound(user, "location", {"Location_X": "30.58", "Location_Y": "114.27", "Scale": "15",
                                     "Label": "湖北省武汉市江汉区"})
    shown = content(post(wx["url"], loc, safe=True), safe=True)
    assert "离您最近的老年助餐" in shown and "约0.6公里" in shown and "示例数据" in shown
    sent = wx["bot"].received[-1][1]
    assert sent.startswith("/share_location")
    assert json.loads(sent.removeprefix("/share_location")) == {"lat": 30.58, "lng": 114.27}


def test_subscribe_gets_the_welcome(wx: dict) -> None:
    wx["bot"].reply = lambda text: [{"text": "您好！我是银龄助手，可以帮您找助餐点。"}, _custom("…")]
    user = openid()
    event = inbound(user, "event", {"Event": "subscribe", "EventKey": ""})
    assert content(post(wx["url"], event, safe=True), safe=True).startswith("您好！我是银龄助手")
    assert wx["bot"].received == [(user, "/greet")]
    unsubscribe = inbound(user, "event", {"Event": "unsubscribe", "EventKey": ""}, created=int(time.time()) + 1)
    resp = post(wx["url"], unsubscribe)
    assert resp.status_code == 200 and resp.text == "success"
    assert len(wx["bot"].received) == 1


@pytest.mark.parametrize("kind,fields", [
    ("image", {"PicUrl": "http://example.invalid/p.jpg", "MediaId": "m"}),
    ("video", {"MediaId": "m", "ThumbMediaId": "t"}),
    ("shortvideo", {"MediaId": "m", "ThumbMediaId": "t"}),
    ("link", {"Title": "t", "Description": "d", "Url": "http://example.invalid/"}),
])
def test_unsupported_types_get_a_polite_note(wx: dict, kind: str, fields: dict) -> None:
    shown = content(post(wx["url"], inbound(openid(), kind, fields)))
    assert "看不懂" in shown and "打字" in shown and "位置" in shown
    assert wx["bot"].received == []


# --- retries, deadlines, the customer-service API ----------------------------------------------------------

def test_duplicate_msgid_is_answered_once_from_the_cache(wx: dict) -> None:
    user, mid = openid(), msgid()
    first = content(post(wx["url"], text_msg(user, "长护险怎么办", mid), safe=True), safe=True)
    again = content(post(wx["url"], text_msg(user, "长护险怎么办", mid), safe=True), safe=True)  # WeChat's retry
    replay = content(post(wx["url"], text_msg(user, "长护险怎么办", mid)))  # replayed with new nonce, plain mode
    assert first == again == replay == "收到：长护险怎么办"
    assert wx["bot"].received == [(user, "长护险怎么办")]


def test_events_are_deduplicated_by_user_and_create_time(wx: dict) -> None:
    user, created = openid(), int(time.time())
    event = inbound(user, "event", {"Event": "subscribe"}, created=created)
    assert content(post(wx["url"], event)) == content(post(wx["url"], event))
    assert wx["bot"].received == [(user, "/greet")]


def test_slow_bot_gets_success_then_the_answer_by_customer_service_message(wx: dict) -> None:
    wx["channel"].config.reply_deadline = 0.3
    wx["bot"].delay = 1.0
    user, mid = openid(), msgid()
    started = time.monotonic()
    resp = post(wx["url"], text_msg(user, "养老院怎么收费", mid), safe=True)
    assert resp.status_code == 200 and resp.text == "success"
    assert time.monotonic() - started < 1.0
    retry = post(wx["url"], text_msg(user, "养老院怎么收费", mid), safe=True)  # still working: no second answer
    assert retry.status_code == 200 and retry.text == "success"
    sent = wx["api"].wait_sent(1)
    assert sent == [("ACCESS-1", {"touser": user, "msgtype": "text", "text": {"content": "收到：养老院怎么收费"}})]
    assert post(wx["url"], text_msg(user, "养老院怎么收费", mid)).text == "success"  # delivered already
    # A second slow answer reuses the cached access_token.
    post(wx["url"], text_msg(user, "第二个问题"), safe=True)
    assert len(wx["api"].wait_sent(2)) == 2  # both sends done: every token fetch is over
    assert wx["api"].tokens_issued == 1
    assert wx["bot"].received == [(user, "养老院怎么收费"), (user, "第二个问题")]


def test_expired_token_is_refreshed_once(wx: dict) -> None:
    wx["channel"].config.reply_deadline = 0.0
    user = openid()
    post(wx["url"], text_msg(user, "第一条"))
    wx["api"].wait_sent(1)
    wx["api"].expire_token()  # WeChat now answers 40001 to ACCESS-1
    post(wx["url"], text_msg(user, "第二条"))
    sent = wx["api"].wait_sent(2)
    assert sent[1] == ("ACCESS-2", {"touser": user, "msgtype": "text", "text": {"content": "收到：第二条"}})
    assert [t for t, _ in wx["api"].attempts] == ["ACCESS-1", "ACCESS-1", "ACCESS-2"]
    # Refused again right after a refresh: one refresh only, then the part is given up (logged).
    wx["api"].errors = [42001, 42001]
    post(wx["url"], text_msg(user, "第三条"))
    assert wait_until(lambda: len(wx["api"].attempts) >= 5, 10)
    assert not wait_until(lambda: len(wx["api"].attempts) > 5, 0.5), "a second refresh"
    assert len(wx["api"].attempts) == 5 and len(wx["api"].sent) == 2
    assert wx["api"].tokens_issued == 3


def test_outside_48_hours_is_logged_not_retried(wx: dict, caplog: pytest.LogCaptureFixture) -> None:
    wx["channel"].config.reply_deadline = 0.0
    wx["api"].errors = [45015]
    with caplog.at_level(logging.INFO):
        post(wx["url"], text_msg(openid(), "很久以后的问题"))
        assert wait_until(lambda: any("45015" in r.getMessage() for r in caplog.records), 10)
    assert len(wx["api"].attempts) == 1 and wx["api"].sent == []


def test_over_long_reply_is_split_first_part_passive_rest_by_api(wx: dict) -> None:
    lines = [f"{n}. 某某社区老年助餐点（示例数据，请以电话核实为准） 地址：江汉区某某路{n}号" for n in range(1, 61)]
    long_text = "\n".join(lines)
    assert len(long_text.encode()) > 2 * 2048
    wx["bot"].reply = lambda text: [{"text": long_text}, _custom(long_text)]
    user = openid()
    first = content(post(wx["url"], text_msg(user, "江汉区所有助餐点"), safe=True), safe=True)
    assert len(first.encode()) <= 2048

    def sent_parts() -> list[str]:
        return [p["text"]["content"] for _, p in wx["api"].sent]

    assert wait_until(lambda: "\n".join([first, *sent_parts()]) == long_text, 10), sent_parts()
    rest = sent_parts()
    assert all(len(p.encode()) <= 2048 for p in rest) and len(rest) >= 2
    assert "\n".join([first, *rest]) == long_text
    assert all(p["touser"] == user for _, p in wx["api"].sent)


def test_bot_failure_still_answers(wx: dict) -> None:
    wx["bot"].fail = True
    assert "稍后再试" in content(post(wx["url"], text_msg(openid(), "你好")))


# --- several instances sharing one state (memory here, Redis behind a load balancer) ---------------------

class RecordingAPI:
    """Stands for WeChatAPI: records the customer-service messages sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str]]] = []

    def send_texts(self, openid: str, parts: list[str]) -> int:
        self.sent.append((openid, parts))
        return len(parts)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import shutil

    from bot.launcher import free_port
    from tools.scaleout import redis

    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed (make services)")
    port = free_port()
    with redis(tmp_path_factory.mktemp("redis"), port):
        yield f"redis://127.0.0.1:{port}/1"


@pytest.fixture(params=["memory", "redis"])
def shared(request: pytest.FixtureRequest) -> Callable[[], State]:
    """Makes the state of one more instance: all instances share one memory state, or one private Redis."""
    if request.param == "memory":
        state = MemoryState()
        return lambda: state
    url = request.getfixturevalue("redis_url")
    return lambda: RedisState(url)


def instance(state: State, deadline: float = 3.0) -> WeChatInput:
    channel = WeChatInput(WeChatConfig(token=TOKEN, appid=APPID, appsecret=SECRET, encoding_aes_key=AES_KEY,
                                       reply_deadline=deadline), api=RecordingAPI(), state=state)  # type: ignore[arg-type]
    channel.followup_delay = 0.0
    return channel


def answer_of(result: tuple[int, str, str]) -> str:
    status, body, _ = result
    assert status == 200, body
    return body if body == "success" else parse_reply(body).content


def test_one_message_reaching_two_instances_is_processed_once(shared: Callable[[], State]) -> None:
    bot, user, mid = StubBot(), openid(), msgid()
    bot.delay = 0.3  # the second copy arrives while the first is being answered
    body = text_msg(user, "长护险怎么办", mid).encode()

    async def run() -> list[str]:
        a, b = instance(shared()), instance(shared())
        together = await asyncio.gather(a.handle(signed(), body, bot), b.handle(signed(), body, bot))
        later = [await b.handle(signed(), body, bot), await a.handle(signed(), body, bot)]  # retry, replay
        return [answer_of(r) for r in [*together, *later]]

    assert asyncio.run(run()) == ["收到：长护险怎么办"] * 4
    assert bot.received == [(user, "长护险怎么办")]


def test_a_digit_at_one_instance_picks_the_option_another_showed(shared: Callable[[], State]) -> None:
    buttons = [{"title": "武汉市", "payload": '/inform{"region": "武汉市"}'},
               {"title": "咸宁市", "payload": '/inform{"region": "咸宁市"}'}]
    bot, user = StubBot(), openid()
    bot.reply = lambda text: [{"text": "请问老人住在哪个区（县）？", "buttons": buttons}, _custom("…", buttons)]

    async def run() -> str:
        a, b = instance(shared()), instance(shared())
        await a.handle(signed(), text_msg(user, "我想找助餐点").encode(), bot)
        return answer_of(await b.handle(signed(), text_msg(user, "2").encode(), bot))

    assert "回复 2：咸宁市" in asyncio.run(run())
    assert [t for _, t in bot.received] == ["我想找助餐点", '/inform{"region": "咸宁市"}']


def test_slow_answer_goes_out_once_by_api_whichever_instance_the_retry_reaches(
        shared: Callable[[], State]) -> None:
    bot, user, mid = StubBot(), openid(), msgid()
    bot.delay = 2.0  # far longer than both 0.2 s deadlines, however loaded the machine
    body = text_msg(user, "养老院怎么收费", mid).encode()

    async def run() -> tuple[list[str], WeChatInput, WeChatInput]:
        a, b = instance(shared(), deadline=0.2), instance(shared(), deadline=0.2)
        first = await a.handle(signed(), body, bot)
        retry = await b.handle(signed(), body, bot)  # still being answered at a
        assert await await_until(lambda: a.api.sent or b.api.sent, 10)  # type: ignore[union-attr]
        replay = await b.handle(signed(), body, bot)  # answered and sent already
        return [answer_of(r) for r in (first, retry, replay)], a, b

    replies, a, b = asyncio.run(run())
    assert replies == ["success"] * 3
    assert a.api.sent + b.api.sent == [(user, ["收到：养老院怎么收费"])]  # type: ignore[union-attr]
    assert bot.received == [(user, "养老院怎么收费")]


def test_a_message_whose_instance_died_is_taken_over(redis_url: str) -> None:
    bot, user, mid = StubBot(), openid(), msgid()

    async def run() -> str:
        dead = RedisState(redis_url, lease=0.5)
        assert await dead.claim(f"msg:{mid}")  # claimed, then the instance died: never renewed or answered
        started = time.monotonic()
        reply = answer_of(await instance(RedisState(redis_url)).handle(signed(), text_msg(user, "你好", mid).encode(),
                                                                       bot))
        assert 0.3 < time.monotonic() - started < 2.0
        return reply

    assert asyncio.run(run()) == "收到：你好"
    assert bot.received == [(user, "你好")]


def test_redis_state_stores_no_openid_or_msgid_in_clear(redis_url: str) -> None:
    import redis

    bot, user, mid = StubBot(), openid(), msgid()
    bot.reply = lambda text: [{"text": "请选择", "buttons": [{"title": "武汉市", "payload": "/a"}]}, _custom("…")]
    asyncio.run(instance(RedisState(redis_url)).handle(signed(), text_msg(user, "你好", mid).encode(), bot))
    client = redis.Redis.from_url(redis_url)
    stored = b"\n".join(k + b" " + (client.get(k) or b"") for k in client.keys("*"))
    assert b"yinling:wechat:buttons:" in stored and b"yinling:wechat:answer:" in stored
    assert user.encode() not in stored and mid.encode() not in stored


def test_redis_down_still_answers_at_once(caplog: pytest.LogCaptureFixture) -> None:
    from bot.launcher import free_port

    bot, user = StubBot(), openid()
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens

    async def run() -> list[str]:
        channel = instance(RedisState(down))
        return [answer_of(await channel.handle(signed(), text_msg(user, text).encode(), bot)) for text in ("你好", "2")]

    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        assert asyncio.run(run()) == ["收到：你好", "收到：2"]
    assert time.monotonic() - started < 2.0
    assert bot.received == [(user, "你好"), (user, "2")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Redis failed" in w for w in warnings) and user not in "\n".join(warnings)


def test_instances_share_one_access_token_refreshed_by_one_at_a_time(wechat: dict, redis_url: str) -> None:
    """Two instances (two API clients on one Redis): one token for both; when WeChat refuses it, eight concurrent
    messages refresh it once (the others wait for the lock and take the new one)."""
    from concurrent.futures import ThreadPoolExecutor

    import redis

    fake = wechat["api"]
    fake.reset()
    redis.Redis.from_url(redis_url).delete(f"yinling:wechat:{APPID}_access_token",
                                           f"yinling:wechat:{APPID}_access_token_expires")
    a, b = (WeChatAPI(fake.url, APPID, SECRET, redis_url) for _ in range(2))
    user = openid()
    assert a.send_texts(user, ["一"]) == 1 and b.send_texts(user, ["二"]) == 1
    assert fake.tokens_issued == 1
    fake.expire_token()  # as when another process fetched a token, or it expired early
    with ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(lambda i: (a, b)[i % 2].send_texts(user, [f"第{i}条"]), range(8)))
    assert sent == [1] * 8 and fake.tokens_issued == 2
    assert {t for t, _ in fake.sent[2:]} == {"ACCESS-2"}
    stored = redis.Redis.from_url(redis_url).get(f"yinling:wechat:{APPID}_access_token")
    assert stored is not None and b"ACCESS-2" in stored


def test_without_redis_each_process_keeps_its_own_token(wechat: dict) -> None:
    fake = wechat["api"]
    fake.reset()
    api = WeChatAPI(fake.url, APPID, SECRET)
    assert api.send_texts(openid(), ["一", "二", "三"]) == 3 and fake.tokens_issued == 1


# --- hostile input -----------------------------------------------------------------------------------------

def test_stale_timestamp_is_refused(wx: dict) -> None:
    for skew in (-400, 400):
        resp = post(wx["url"], text_msg(openid(), "你好"), safe=True, timestamp=int(time.time()) + skew)
        assert resp.status_code == 403
    assert wx["bot"].received == []


def test_oversized_body_is_refused(wx: dict) -> None:
    big = text_msg(openid(), "长" * 30_000)  # ~90 KB
    assert post(wx["url"], big).status_code == 413
    ts, nonce = str(int(time.time())), "n"
    chunked = requests.post(wx["url"], params={"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce},
                            data=(big.encode()[i:i + 8192] for i in range(0, len(big.encode()), 8192)), timeout=10)
    assert chunked.status_code == 413
    assert wx["bot"].received == []


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""
XXE = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&e;</Content><MsgId>2</MsgId></xml>"""


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
@pytest.mark.parametrize("doc", [BOMB, XXE, "<xml><a>", "not xml"], ids=["bomb", "xxe", "truncated", "text"])
def test_entity_bomb_and_malformed_xml_are_refused(wx: dict, doc: str, safe: bool) -> None:
    resp = post(wx["url"], doc, safe=safe)
    assert resp.status_code == 400
    assert "root:" not in resp.text and "lollol" not in resp.text
    assert wx["bot"].received == []


def test_no_openid_or_message_text_in_info_logs(wx: dict, caplog: pytest.LogCaptureFixture) -> None:
    user = openid()
    with caplog.at_level(logging.INFO):
        content(post(wx["url"], text_msg(user, "我的秘密问题"), safe=True), safe=True)
        post(wx["url"], text_msg(user, "重复", "42"))
        post(wx["url"], text_msg(user, "重复", "42"))
        wx["channel"].config.reply_deadline = 0.0
        post(wx["url"], text_msg(user, "慢慢回答的问题"))
        wx["api"].wait_sent(1)
        post(wx["url"], text_msg(user, "x"), signature="0" * 40)
        assert wait_until(lambda: any("sent by customer-service message" in r.getMessage() for r in caplog.records),
                          10)  # the slow answer's delivery is logged too
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "wechat:" in logged  # the channel does log at INFO
    for secret in (user, "秘密", "重复", "慢慢回答", SECRET, "ACCESS-"):
        assert secret not in logged


# --- loading by Rasa ---------------------------------------------------------------------------------------

def test_rasa_loads_the_channel_from_credentials_at_webhooks_wechat(monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml
    from rasa.core.run import _create_single_channel

    from bot.launcher import ROOT

    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8"))
    assert "bot.channels.wechat.WeChatInput" in credentials
    monkeypatch.setenv("WECHAT_TOKEN", "from-env")
    monkeypatch.setenv("WECHAT_REPLY_DEADLINE", "1.5")
    channel = _create_single_channel("bot.channels.wechat.WeChatInput", credentials["bot.channels.wechat.WeChatInput"])
    assert isinstance(channel, WeChatInput) and channel.url_prefix() == "wechat"
    assert channel.config.token == "from-env" and channel.config.reply_deadline == 1.5


# --- pieces, against wechatpy where WeChat's side is involved ---------------------------------------------

def test_the_peer_and_the_channel_agree_with_wechats_published_samples() -> None:
    from bot.channels.wechat.crypto import signature_ok

    sample = SAMPLE
    encrypted = xmltodict.parse(sample["xml"])["xml"]["Encrypt"]
    peer = Peer(sample["token"], sample["aes_key"], sample["appid"])
    assert peer.sign(sample["token"], sample["timestamp"], sample["nonce"], encrypted) == sample["msg_signature"]
    assert "<Content><![CDATA[abcdteT]]></Content>" in peer.decrypt(encrypted)
    plain = PLAIN_SAMPLE
    assert peer.sign(plain["token"], plain["timestamp"], plain["nonce"]) == plain["signature"]
    assert signature_ok(plain["signature"], plain["token"], plain["timestamp"], plain["nonce"])
    assert signature_ok(plain["signature"].upper(), plain["token"], plain["timestamp"], plain["nonce"])
    assert not signature_ok(plain["signature"][:-1] + "e", plain["token"], plain["timestamp"], plain["nonce"])
    assert not signature_ok(None, plain["token"], plain["timestamp"], plain["nonce"])


def test_wechats_published_sample_message_reaches_the_bot_and_the_reply_opens_on_wechats_side() -> None:
    sample, bot = SAMPLE, StubBot()
    peer = Peer(sample["token"], sample["aes_key"], sample["appid"])
    channel = WeChatInput(WeChatConfig(token=sample["token"], appid=sample["appid"], encoding_aes_key=sample["aes_key"],
                                       timestamp_window=10**10))  # the sample is from 2014
    args = {k: sample[k] for k in ("timestamp", "nonce", "msg_signature")} | {"encrypt_type": "aes"}
    status, body, _ = asyncio.run(channel.handle(args, sample["xml"].encode(), bot))
    assert status == 200, body
    assert bot.received == [("oyORnuP8q7ou2gfYjqLzSIWZf0rs", "abcdteT")]
    reply = parse_reply(peer.open_reply(body))
    assert (reply.type, reply.content) == ("text", "收到：abcdteT")
    assert (reply.target, reply.source) == ("oyORnuP8q7ou2gfYjqLzSIWZf0rs", "gh_10f6c3c3ac5a")
    tampered = dict(args, msg_signature=sample["msg_signature"][:-1] + "0")
    assert asyncio.run(channel.handle(tampered, sample["xml"].encode(), bot))[0] == 403
    assert len(bot.received) == 1


def test_a_tampered_ciphertext_with_a_valid_signature_is_refused(wx: dict) -> None:
    ts, nonce = str(int(time.time())), "n1"
    sealed = bytearray(base64.b64decode(PEER.encrypt(text_msg(openid(), "你好"))))
    sealed[-1] ^= 1
    for encrypted in (base64.b64encode(bytes(sealed)).decode(), "!!!", base64.b64encode(b"x" * 15).decode()):
        body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        resp = requests.post(wx["url"], data=body.encode(), timeout=10, params={
            "signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
            "msg_signature": sign(TOKEN, ts, nonce, encrypted)})
        assert resp.status_code in (400, 403), encrypted
    assert wx["bot"].received == []


def test_split_respects_the_byte_limit_and_character_boundaries() -> None:
    from bot.channels.wechat.render import split

    assert split("短") == ["短"]
    one_line = "长" * 1500  # 4500 bytes, no line break: cut between characters
    parts = split(one_line)
    assert [len(p.encode()) <= 2048 for p in parts] == [True] * 3 and "".join(parts) == one_line
    text = "\n".join(["第一段" * 100, "第二段" * 100, "第三段" * 100])
    parts = split(text)
    assert all(len(p.encode()) <= 2048 for p in parts) and "\n".join(parts) == text


def test_missing_settings_are_reported_and_the_webhook_answers_503() -> None:
    from bot.channels.wechat.config import WeChatConfig

    cfg = WeChatConfig.from_env({"WECHAT_ENCODING_AES_KEY": "short", "WECHAT_REPLY_DEADLINE": "soon"})
    assert cfg.reply_deadline == 4.5 and cfg.api_base == "https://api.weixin.qq.com"
    assert len(cfg.problems()) == 4 and cfg.aes_key() is None
    channel = WeChatInput(cfg)
    status, _, _ = asyncio.run(channel.handle({}, b"<xml/>", StubBot()))
    assert status == 503
