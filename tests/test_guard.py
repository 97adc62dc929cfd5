"""The guard of every door (bot/guard.py): the guard alone, then each door with a stand-in bot (REST served by Sanic
with GuardedRestInput's blueprint, the kiosk's handler, the console's API), then the running bot, where Rasa
itself must not obey a typed command. WeChat's door is tested in test_wechat.py."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import test_console
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.training_data.message import Message
from sanic import Sanic

from bot import guard
from bot.channels import kiosk
from bot.channels.kiosk import KioskInput, SpeechBusy
from bot.channels.rest import GuardedRestInput
from bot.guard import Guard, Limits, MemoryOffers, Window, client_address
from bot.launcher import ROOT
from language.normalize import normalize
from replies import Reply

COMMANDS = ["/restart", "/session_start", " /back", '/inform{"region": "兰山区"}', "/find_meal",
            '/nonexistent{"x": 1}']
# The console on a Sanic app of its own, with a stand-in bot (test_console's fixtures).
server, alice, monkeypatch_module, post = (test_console.server, test_console.alice, test_console.monkeypatch_module,
                                           test_console.post)
BUTTONS = [{"title": "武汉市", "payload": '/inform{"region": "武汉市"}'},
           {"title": "临沂市", "payload": '/inform{"region": "临沂市"}'}]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def rasa_reads_a_command(text: str, domain: Domain) -> bool:
    """What Rasa's RegexMessageHandler makes of the text, before and after the NLU pipeline's normalizer."""
    for seen in (text, normalize(text)):
        unpacked = YAMLStoryReader.unpack_regex_message(Message({"text": seen}), domain)
        if unpacked.get("intent"):
            return True
    return False


@pytest.fixture()
def limits() -> Iterator[None]:
    """Small limits for the process's guard (what every channel uses), fresh for each test."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GUARD_RATE_PER_SENDER", "3")
        mp.setenv("GUARD_RATE_PER_ADDRESS", "5")
        mp.setenv("GUARD_MAX_CHARS", "40")
        mp.delenv("GUARD_REDIS_URL", raising=False)
        guard.shared.cache_clear()
        yield
    guard.shared.cache_clear()


# --- the guard ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", COMMANDS)
def test_typed_commands_reach_the_bot_as_words(typed: str, domain: Domain) -> None:
    assert rasa_reads_a_command(typed, domain) or typed.startswith("/nonexistent")  # Rasa would obey these
    decision = run(Guard(Limits()).admit("rest", "s1", typed))
    assert not decision.refused and decision.text.strip().startswith("／")
    assert not rasa_reads_a_command(decision.text, domain)


def test_only_the_last_replys_buttons_pass_for_that_sender(domain: Domain) -> None:
    g = Guard(Limits())
    custom = Reply("find_service").say("…").payload() | {"buttons": [{"title": "助餐", "payload": "/find_meal"}]}
    reply = [{"text": "请问老人住在哪里？", "buttons": BUTTONS}, {"custom": custom}]
    run(g.remember("rest", "s1", reply))
    for offered in (BUTTONS[1]["payload"], "/find_meal"):
        assert run(g.admit("rest", "s1", offered)).text == offered
        assert rasa_reads_a_command(offered, domain)
    assert run(g.admit("rest", "s2", BUTTONS[0]["payload"])).text.startswith("／")      # another sender
    assert run(g.admit("kiosk", "s1", BUTTONS[0]["payload"])).text.startswith("／")     # another door
    assert run(g.admit("rest", "s1", '/inform{"region": "兰山区"}')).text.startswith("／")  # not offered
    run(g.remember("rest", "s1", [{"text": "好的"}]))  # the next reply has no buttons: nothing to press
    assert run(g.admit("rest", "s1", BUTTONS[1]["payload"])).text.startswith("／")


def test_payloads_the_channel_makes_pass() -> None:
    g = Guard(Limits())
    shared = '/share_location{"lat": 30.58, "lng": 114.27}'
    assert run(g.admit("wechat", "o1", shared, generated={shared})).text == shared
    assert run(g.admit("wechat", "o1", shared)).text.startswith("／")


def test_long_messages_get_a_chinese_answer_instead_of_the_bot() -> None:
    decision = run(Guard(Limits(max_chars=500)).admit("rest", "s1", "江汉区助餐点" * 100))
    assert decision.refused and decision.reason == "too_long" and decision.status == 200
    text = decision.reply[0]["text"]
    assert "简短" in text and "500" in text
    assert decision.reply[1]["custom"]["task"] == "out_of_scope" and decision.reply[1]["custom"]["text"] == text
    assert not run(Guard(Limits(max_chars=500)).admit("rest", "s1", "好" * 500)).refused


def test_rate_per_sender_and_per_address() -> None:
    clock = [0.0]
    g = Guard(Limits(per_sender=3, per_address=5), clock=lambda: clock[0])
    assert [run(g.admit("rest", "a", "你好")).refused for _ in range(4)] == [False, False, False, True]
    too_fast = run(g.admit("rest", "a", "你好"))
    assert too_fast.status == 429 and "太快" in too_fast.reply[0]["text"]
    assert not run(g.admit("kiosk", "a", "你好")).refused  # a sender is counted per door
    # Rotating senders from one address: the address limit holds.
    refused = [run(g.admit("rest", f"r{i}", "你好", address="203.0.113.7")).refused for i in range(7)]
    assert refused == [False] * 5 + [True] * 2
    assert not run(g.admit("rest", "other", "你好", address="198.51.100.2")).refused
    # This machine's own clients (the servers listen on loopback only) are not limited per address.
    assert not any(run(g.admit("rest", f"l{i}", "你好", address="127.0.0.1")).refused for i in range(20))
    clock[0] = 61.0  # a minute later
    assert not run(g.admit("rest", "a", "你好")).refused
    assert not run(g.admit("rest", "r9", "你好", address="203.0.113.7")).refused


def test_the_forwarded_address_counts_only_from_a_proxy_on_this_machine() -> None:
    assert client_address("127.0.0.1", "10.0.0.9, 203.0.113.7") == "203.0.113.7"  # nginx appended the last
    assert client_address("::1", "203.0.113.7") == "203.0.113.7"
    assert client_address("198.51.100.2", "203.0.113.7") == "198.51.100.2"      # not our proxy: ignored
    assert client_address("127.0.0.1", "not-an-address") == "127.0.0.1"
    assert client_address("127.0.0.1", None) == "127.0.0.1"


def test_rate_memory_follows_the_active_senders() -> None:
    clock = [100.0]
    w = Window(2, clock=lambda: clock[0])
    for i in range(1000):
        assert w.allow(f"old-{i}")
    clock[0] = 150.0
    assert w.allow("busy")
    clock[0] = 155.0
    assert w.allow("busy")
    clock[0] = 161.5
    assert w.allow("new")
    clock[0] = 170.0
    assert not w.allow("busy")
    assert set(w.recent) == {"busy", "new"}


def test_offers_in_memory_are_bounded() -> None:
    offers = MemoryOffers(limit=3)
    for i in range(5):
        run(offers.put(f"s{i}", ["/a"]))
    assert len(offers.items) == 3 and run(offers.get("s0")) == [] and run(offers.get("s4")) == ["/a"]


# --- the REST door --------------------------------------------------------------------------------------------


class StandIn:
    """Rasa's on_new_message: records what reaches the bot; answers with region buttons to "找助餐"."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, message: Any) -> None:
        self.seen.append(message.text)
        buttons = BUTTONS if "助餐" in message.text else []
        payload = Reply("find_service").say("请问老人住在哪里？").payload() | {"buttons": buttons}
        await message.output_channel.send_response(message.sender_id, {"text": "请问老人住在哪里？",
                                                                       "buttons": buttons})
        await message.output_channel.send_response(message.sender_id, {"custom": payload})


def serve(app: Sanic) -> str:
    Sanic.test_mode = True  # no TouchUp rewrite: a second app in one process would fail to start
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    loop, ready = asyncio.new_event_loop(), threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        srv = loop.run_until_complete(app.create_server(sock=sock, return_asyncio_server=True, access_log=False))
        loop.run_until_complete(srv.startup())
        loop.run_until_complete(srv.before_start())
        loop.run_until_complete(srv.after_start())
        ready.set()
        loop.run_forever()

    threading.Thread(target=main, daemon=True).start()
    assert ready.wait(20)
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def rest_server() -> tuple[str, StandIn]:
    bot = StandIn()
    app = Sanic("rest_guard_test")
    app.blueprint(GuardedRestInput().blueprint(bot), url_prefix="/webhooks/rest")
    return serve(app) + "/webhooks/rest/webhook", bot


@pytest.fixture()
def rest(rest_server: tuple[str, StandIn], limits: None) -> tuple[str, StandIn]:
    rest_server[1].seen.clear()
    return rest_server


def say(url: str, sender: str, message: Any, **headers: str) -> requests.Response:
    return requests.post(url, json={"sender": sender, "message": message}, headers=headers, timeout=10)


def test_rest_typed_commands_are_words_and_offered_buttons_work(rest: tuple[str, StandIn]) -> None:
    url, bot = rest
    for typed in ("/restart", '/inform{"region": "兰山区"}'):
        assert say(url, "u1", typed).status_code == 200
    assert bot.seen == ["／restart", '／inform{"region": "兰山区"}']
    shown = say(url, "u2", "我想找助餐").json()
    assert shown[0]["buttons"] == BUTTONS and shown[0]["recipient_id"] == "u2"
    say(url, "u2", BUTTONS[1]["payload"])
    assert bot.seen[-1] == BUTTONS[1]["payload"]  # pressed: passes as the payload
    say(url, "u2", BUTTONS[0]["payload"])  # the last reply offered no buttons
    assert bot.seen[-1] == "／" + BUTTONS[0]["payload"][1:]


def test_rest_requests_without_a_string_message_get_400_in_chinese(rest: tuple[str, StandIn]) -> None:
    url, bot = rest
    for body in ({"sender": "u"}, {"sender": "u", "message": 5}, {"sender": "u", "message": None}):
        r = requests.post(url, json=body, timeout=10)
        assert r.status_code == 400 and "message" in r.json()["error"] and "缺少" in r.json()["error"], body
    for raw in (b"{not json", b"[1]", b"null"):
        r = requests.post(url, data=raw, timeout=10)
        assert r.status_code == 400 and "格式" in r.json()["error"]
    r = requests.post(url, json={"sender": ["x"], "message": "你好"}, timeout=10)
    assert r.status_code == 400 and "sender" in r.json()["error"]
    assert bot.seen == []


def test_rest_limits_length_rate_and_body_size(rest: tuple[str, StandIn]) -> None:
    url, bot = rest
    long = say(url, "len", "江汉区助餐点" * 10).json()
    assert "简短" in long[0]["text"] and long[1]["custom"]["task"] == "out_of_scope"
    assert [say(url, "fast", "你好").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert "太快" in say(url, "fast", "你好").json()[0]["text"]
    # Through a proxy on this machine: the forwarded address counts, whatever sender the client picks.
    codes = [say(url, f"rot-{i}", "你好", **{"X-Forwarded-For": "203.0.113.9"}).status_code for i in range(6)]
    assert codes == [200] * 5 + [429]
    assert say(url, "rot-x", "你好", **{"X-Forwarded-For": "203.0.113.10"}).status_code == 200
    big = requests.post(url, data=json.dumps({"sender": "big", "message": "好" * 200_000}), timeout=10)
    assert big.status_code == 413
    assert "江汉区助餐点" * 10 not in bot.seen and len(bot.seen) == 3 + 5 + 1


# --- the kiosk door -------------------------------------------------------------------------------------------


def kiosk_say(channel: KioskInput, bot: StandIn, message: str, sender: str = "kiosk-guard-0001",
              place: dict | None = None, address: str | None = None) -> tuple[int, dict]:
    body = {"sender": sender, "message": message} | ({"place": place} if place else {})
    return run(channel.handle(json.dumps(body, ensure_ascii=False).encode(), bot, address))


@pytest.fixture()
def kiosk_channel(limits: None, monkeypatch: pytest.MonkeyPatch) -> KioskInput:
    for name in ("KIOSK_REGION", "KIOSK_LAT", "KIOSK_LNG"):
        monkeypatch.delenv(name, raising=False)
    return KioskInput()


def test_kiosk_tiles_and_offered_buttons_pass_typed_commands_do_not(kiosk_channel: KioskInput) -> None:
    bot = StandIn()
    kiosk_say(kiosk_channel, bot, "/find_meal")                      # a tile of the page
    kiosk_say(kiosk_channel, bot, "/restart", sender="kiosk-guard-0002")
    kiosk_say(kiosk_channel, bot, '/inform{"region":"江汉区"}', place={"region": "江汉区"})  # its own region
    kiosk_say(kiosk_channel, bot, '/inform{"region": "兰山区"}', sender="kiosk-guard-0003")
    status, shown = kiosk_say(kiosk_channel, bot, "我想找助餐", sender="kiosk-guard-0004")
    kiosk_say(kiosk_channel, bot, BUTTONS[0]["payload"], sender="kiosk-guard-0004")
    assert status == 200 and shown["messages"][0]["buttons"] == BUTTONS
    assert bot.seen == ["/find_meal", "／restart", '/inform{"region":"江汉区"}', '／inform{"region": "兰山区"}',
                        "我想找助餐", BUTTONS[0]["payload"]]
    assert {"/find_meal", "/emergency", "/handoff", "/policy_ltc_insurance", "/find_care_home"} <= \
        kiosk_channel.payloads


def test_kiosk_long_and_fast_messages_get_chinese_answers(kiosk_channel: KioskInput) -> None:
    bot = StandIn()
    status, body = kiosk_say(kiosk_channel, bot, "长" * 41)
    assert status == 200 and "简短" in body["messages"][0]["text"] and bot.seen == []
    statuses = [kiosk_say(kiosk_channel, bot, "你好", sender="kiosk-guard-fast")[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    status, body = kiosk_say(kiosk_channel, bot, "你好", sender="kiosk-guard-fast")
    assert "太快" in body["messages"][0]["text"]
    by_address = [kiosk_say(kiosk_channel, bot, "你好", sender=f"kiosk-guard-a{i:04d}", address="203.0.113.5")[0]
                  for i in range(6)]
    assert by_address == [200] * 5 + [429]


@pytest.fixture()
def espeak(tmp_path: Path) -> str:
    """A stand-in for espeak-ng that reads the text and writes a tiny "RIFF" file, counting its runs."""
    script = tmp_path / "espeak-ng"
    script.write_text(f"#!/bin/sh\ncat >/dev/null\necho run >> {tmp_path / 'runs'}\nprintf RIFF-wav\n")
    script.chmod(0o755)
    return str(script)


def test_kiosk_speech_is_cached_and_new_texts_are_limited(kiosk_channel: KioskInput, espeak: str) -> None:
    kiosk_channel.espeak = espeak

    async def ask() -> list[str]:
        out = []
        for i in range(kiosk.SPEECH_PER_MIN + 8):
            try:
                out.append("wav" if await kiosk_channel.speak(f"第{i % 5}句" if i < 10 else f"第{i}句") else "?")
            except SpeechBusy:
                out.append("busy")
        for _ in range(5):
            out.append("cached" if await kiosk_channel.speak("第1句", "127.0.0.1") == b"RIFF-wav" else "?")
        try:
            await kiosk_channel.speak("另一句", "203.0.113.5")
        except SpeechBusy:
            out.append("busy")
        return out

    out = run(ask())
    # 10 requests for 5 texts run espeak 5 times; then new texts up to the per-minute bound, then refusals;
    # a text read before is still answered from the cache, a new one from another address is refused.
    assert out == ["wav"] * (10 + kiosk.SPEECH_PER_MIN - 5) + ["busy"] * 3 + ["cached"] * 5 + ["busy"]
    assert len((Path(espeak).parent / "runs").read_text().split()) == kiosk.SPEECH_PER_MIN


def test_kiosk_speech_per_address(kiosk_channel: KioskInput, espeak: str) -> None:
    kiosk_channel.espeak = espeak

    async def ask(address: str) -> list[bool]:
        out = []
        for i in range(kiosk.SPEECH_PER_ADDRESS + 1):
            try:
                await kiosk_channel.speak(f"{address}-{i}", address)
                out.append(True)
            except SpeechBusy:
                out.append(False)
        return out

    assert run(ask("203.0.113.5")) == [True] * kiosk.SPEECH_PER_ADDRESS + [False]
    assert run(ask("203.0.113.6"))[0]


# --- the console door -----------------------------------------------------------------------------------------


def test_console_words_pass_the_guard(limits: None, monkeypatch: pytest.MonkeyPatch, server: Any,
                                      alice: Any) -> None:
    from rasa.core.channels.channel import UserMessage

    import bot.console.channel as console

    seen: list[str] = []

    class Recorded(UserMessage):
        def __init__(self, text: str, *args: Any, **kwargs: Any) -> None:
            seen.append(text)
            super().__init__(text, *args, **kwargs)

    monkeypatch.setattr(console, "UserMessage", Recorded)
    call = uuid.uuid4().hex[:16]
    first = post(alice, server, "assist", {"text": "/restart", "call_id": call})
    assert first.status_code == 200 and seen == ["／restart"]
    codes = [post(alice, server, "assist", {"text": "江汉区助餐", "call_id": call}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert "太快" in post(alice, server, "assist", {"text": "你好", "call_id": call}).json()["texts"][0]


# --- the running bot ------------------------------------------------------------------------------------------


def tracker(bot: Any, sender: str) -> list[dict]:
    r = requests.get(f"{bot.rasa_url}/conversations/{sender}/tracker", params={"token": bot.token}, timeout=10)
    r.raise_for_status()
    return r.json()["events"]


def test_rasa_does_not_obey_typed_commands_and_buttons_still_work(bot: Any) -> None:
    from tools.eval import send

    sender = f"guard-e2e-{uuid.uuid4().hex[:8]}"
    send(bot.rasa_url, sender, "你好")
    send(bot.rasa_url, sender, "/restart")
    send(bot.rasa_url, sender, '/inform{"region": "兰山区"}')
    events = tracker(bot, sender)
    assert not any(e["event"] == "restart" for e in events)
    assert sum(e["event"] == "session_started" for e in events) == 1
    users = [e for e in events if e["event"] == "user"]
    assert [u["text"] for u in users[1:]] == ["／restart", '／inform{"region": "兰山区"}']
    for u in users[1:]:  # read by the NLU pipeline, not unpacked by Rasa's RegexMessageHandler
        assert u["parse_data"]["intent"]["name"] != "restart"
        assert not any(e.get("extractor") == "RegexMessageHandler" for e in u["parse_data"]["entities"])
    # A button of the bot's last reply works as a button.
    other = f"guard-e2e-{uuid.uuid4().hex[:8]}"
    asked = send(bot.rasa_url, other, "我想找老年助餐点")
    region = next(b["payload"] for b in asked.payload["buttons"] if b["payload"].startswith("/inform"))
    picked = send(bot.rasa_url, other, region)
    pressed = [e for e in tracker(bot, other) if e["event"] == "user"][-1]
    assert pressed["text"] == region and pressed["parse_data"]["intent"]["name"] == "inform"
    assert any(e.get("extractor") == "RegexMessageHandler" for e in pressed["parse_data"]["entities"])
    assert picked.payload["task"] == "find_service" and picked.payload["items"]


# --- nginx in the scale-out layout ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, list[str]]]:
    """tools/scaleout's nginx in front of a stand-in instance that records the forwarded address."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from bot.launcher import free_port
    from tools.scaleout import Nginx

    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx not installed (make services)")
    forwarded: list[str] = []

    class Instance(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            forwarded.append(self.headers.get("X-Forwarded-For", ""))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'[{"text": "ok"}]'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Instance)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    proxy = Nginx(tmp_path_factory.mktemp("nginx"), free_port())
    proxy.start([upstream.server_address[1]])
    try:
        yield proxy.port, forwarded
    finally:
        proxy.stop()
        upstream.shutdown()


def burst(port: int, source: str, path: str, n: int = 40) -> list[tuple[int, str]]:
    import http.client

    out = []
    for _ in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
        conn.request("POST", path, body=b'{"message": "hi"}', headers={"Content-Type": "application/json"})
        res = conn.getresponse()
        out.append((res.status, res.read().decode("utf-8")))
        conn.close()
    return out


def test_nginx_limits_requests_per_client_address(nginx: tuple[int, list[str]]) -> None:
    from tools.scaleout import NGINX_BURST

    port, forwarded = nginx
    outside = burst(port, "127.0.0.2", "/webhooks/rest/webhook")  # another address of this machine's loopback
    codes = [c for c, _ in outside]
    assert codes[: NGINX_BURST + 1] == [200] * (NGINX_BURST + 1) and codes[-1] == 429, codes
    refused = json.loads(next(body for c, body in outside if c == 429))
    assert "太快" in refused[0]["text"] and refused[1]["custom"]["task"] == "out_of_scope"
    assert forwarded[-1].split(",")[-1].strip() == "127.0.0.2"  # what the guard reads as the client's address
    assert all(c == 200 for c, _ in burst(port, "127.0.0.3", "/webhooks/wechat/webhook"))  # WeChat's servers
    assert all(c == 200 for c, _ in burst(port, "127.0.0.1", "/webhooks/rest/webhook"))    # this machine's tools


# --- buttons across instances (GUARD_REDIS_URL) ---------------------------------------------------------------


def test_a_button_shown_by_one_instance_works_at_another(tmp_path: Path) -> None:
    from bot.guard import RedisOffers
    from bot.launcher import free_port
    from tools.scaleout import redis

    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed (make services)")
    port = free_port()
    pressed = BUTTONS[0]["payload"]

    async def two_instances(url: str) -> list[str | None]:
        a, b = Guard(Limits(), RedisOffers(url)), Guard(Limits(), RedisOffers(url))  # one event loop, as in Rasa
        await a.remember("rest", "s1", [{"text": "请问老人住在哪里？", "buttons": BUTTONS}])
        return [(await b.admit("rest", sender, pressed)).text for sender in ("s1", "s2")]

    with redis(tmp_path, port):
        assert run(two_instances(f"redis://127.0.0.1:{port}/2")) == [pressed, "／" + pressed[1:]]
    # Redis down: nothing counts as offered (the button is read as words), and no error
    assert run(two_instances(f"redis://127.0.0.1:{free_port()}/2")) == ["／" + pressed[1:]] * 2
