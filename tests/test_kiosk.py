"""The kiosk channel without a browser: its handler on a stand-in bot, then the page, assets, messages and speech
served by the running bot (`bot` fixture). The browser tests are in test_kiosk_browser.py."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
import wave
from html.parser import HTMLParser

import pytest
import requests

from bot.channels import kiosk
from bot.channels.kiosk import STATIC, KioskInput, Place, speech_text
from bot.launcher import ROOT
from replies import Reply
from replies.contract import validate_turn

PAGE = "/webhooks/kiosk/"
JIANGHAN = {"region": "江汉区", "lat": 30.5829, "lng": 114.2708}


# --- the channel on a stand-in bot ----------------------------------------------------------------------------


class StandIn:
    """Records what the channel hands to Rasa and answers like the bot (one text, one custom payload)."""

    def __init__(self, delay: float = 0.0, answer: bool = True, fail: bool = False) -> None:
        self.seen: list = []
        self.delay, self.answer, self.fail = delay, answer, fail

    async def __call__(self, message) -> None:
        self.seen.append(message)
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("bot down")
        if self.answer:
            await message.output_channel.send_text_message(message.sender_id, "好的")
            await message.output_channel.send_custom_json(message.sender_id,
                                                          dict(Reply("chitchat").say("好的").payload()))


def handle(channel: KioskInput, body: dict | bytes, bot: StandIn) -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return asyncio.run(channel.handle(raw, bot))


@pytest.fixture()
def channel(monkeypatch: pytest.MonkeyPatch) -> KioskInput:
    for name in ("KIOSK_REGION", "KIOSK_LAT", "KIOSK_LNG", "KIOSK_IDLE_SECONDS", "KIOSK_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    return KioskInput()


def test_place_from_environment_goes_to_the_bot_as_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_REGION", "兰山区")
    monkeypatch.setenv("KIOSK_LAT", "35.05")
    monkeypatch.setenv("KIOSK_LNG", "118.35")
    bot = StandIn()
    status, body = handle(KioskInput(), {"sender": "kiosk-abc12345", "message": "附近的助餐点"}, bot)
    assert status == 200 and [m.get("text") for m in body["messages"]][0] == "好的"
    validate_turn(body["messages"])  # the bot's messages passed through as they are
    (msg,) = bot.seen
    assert msg.metadata == {"region": "兰山区", "lat": 35.05, "lng": 118.35}
    assert msg.input_channel == "kiosk" and msg.sender_id == "kiosk-abc12345"


def test_the_pages_place_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_REGION", "兰山区")
    bot = StandIn()
    handle(KioskInput(), {"sender": "kiosk-abc12345", "message": "你好", "place": JIANGHAN}, bot)
    assert bot.seen[0].metadata == JIANGHAN


def test_invalid_places_are_left_out() -> None:
    assert Place.parse({"region": "江汉区", "lat": "95", "lng": "114"}).metadata() == {"region": "江汉区"}
    assert Place.parse({"region": "<script>", "lat": "nan", "lng": "1"}).metadata() == {}
    assert Place.parse({"lat": "30.5", "lng": "114.2"}).metadata() == {"lat": 30.5, "lng": 114.2}
    assert Place.parse(None).is_empty()


@pytest.mark.parametrize("body", [
    {"message": "你好"},                                   # no conversation id
    {"sender": "x", "message": "你好"},                    # id too short
    {"sender": "kiosk-abc12345", "message": "   "},
    {"sender": "kiosk-abc12345", "message": ["你好"]},
])
def test_bad_requests_are_refused(channel: KioskInput, body: dict) -> None:
    bot = StandIn()
    status, _ = handle(channel, body, bot)
    assert status == 400 and not bot.seen


def test_a_long_message_gets_a_chinese_answer_instead_of_the_bot(channel: KioskInput) -> None:
    bot = StandIn()
    status, body = handle(channel, {"sender": "kiosk-abc12345", "message": "长" * 501}, bot)
    assert status == 200 and "简短" in body["messages"][0]["text"] and not bot.seen
    assert validate_turn(body["messages"])["task"] == "out_of_scope"  # the guard's answer keeps the contract


def test_typed_commands_reach_the_bot_as_words_and_tiles_as_payloads(channel: KioskInput) -> None:
    bot = StandIn()
    for typed in ("/restart", '/inform{"region": "兰山区"}', "/find_meal"):
        assert handle(channel, {"sender": "kiosk-abc12345", "message": typed}, bot)[0] == 200
    assert [m.text for m in bot.seen] == ["／restart", '／inform{"region": "兰山区"}', "/find_meal"]


def test_bad_json_and_huge_bodies_are_refused(channel: KioskInput) -> None:
    assert handle(channel, b"{not json", StandIn())[0] == 400
    assert handle(channel, b"[1, 2]", StandIn())[0] == 400
    assert handle(channel, b"x" * (kiosk.MAX_BODY + 1), StandIn())[0] == 413


def test_a_slow_bot_is_reported_in_time(channel: KioskInput) -> None:
    channel.timeout_seconds = 0.2
    status, body = handle(channel, {"sender": "kiosk-abc12345", "message": "你好"}, StandIn(delay=1.0))
    assert (status, body) == (504, {"error": "slow"})


def test_a_failing_or_silent_bot_is_reported(channel: KioskInput) -> None:
    assert handle(channel, {"sender": "kiosk-abc12345", "message": "你好"}, StandIn(fail=True))[0] == 502
    assert handle(channel, {"sender": "kiosk-abc12345", "message": "你好"}, StandIn(answer=False))[0] == 502


def test_page_config_is_injected_safely(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_REGION", "江汉区")
    monkeypatch.setenv("KIOSK_IDLE_SECONDS", "1")  # clamped: a countdown every second would be unusable
    html = KioskInput().page()
    data = json.loads(re.search(r'<script id="kiosk-config" type="application/json">(.*?)</script>', html).group(1))
    assert data["region"] == "江汉区" and data["idleSeconds"] == 3 and data["hotline"] == "12345"
    assert kiosk.CONFIG_MARK not in html


def test_speech_text_is_one_plain_line() -> None:
    assert speech_text("【高龄津贴】\n1. 申请\n") == "【高龄津贴】。1. 申请"
    assert speech_text("电话{12345}") == "电话 一二三四五"  # phone numbers digit by digit (speech.spoken)
    assert len(speech_text("好" * 5000)) == kiosk.MAX_SPEECH


def test_vendored_qr_generator_is_the_locked_npm_package() -> None:
    npm = ROOT / "node_modules" / "qrcode-generator" / "dist" / "qrcode.js"
    if not npm.exists():
        pytest.skip("node_modules not installed (scripts/install-browser.sh runs npm ci)")
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/qrcode-generator"]["version"] == "2.0.4"
    assert (STATIC / "vendor" / "qrcode.js").read_bytes() == npm.read_bytes()


# --- served by the running bot --------------------------------------------------------------------------------


class Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def test_page_and_every_asset_are_served_locally(bot_url: str) -> None:
    res = requests.get(bot_url + PAGE, timeout=10)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in res.text and "kiosk-config" in res.text
    csp = res.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    parser = Refs()
    parser.feed(res.text)
    assets = [r for r in parser.refs if not r.startswith("data:")]
    assert {"static/kiosk.css", "static/kiosk.js", "static/vendor/qrcode.js"} <= set(assets)
    for ref in assets:
        assert not re.match(r"^(https?:)?//", ref), ref
        asset = requests.get(bot_url + PAGE + ref, timeout=10)
        assert asset.status_code == 200, ref
    for path in STATIC.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".css", ".js") and "vendor" not in path.parts:
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"https?://|@import|url\(\s*['\"]?//", text), path


def test_static_files_stay_inside_their_folder(bot_url: str) -> None:
    for bad in ["static/../kiosk.py", "static/%2e%2e/kiosk.py", "static/%2e%2e%2f%2e%2e%2fcredentials.yml",
                "static/nothing.js"]:
        assert requests.get(bot_url + PAGE + bad, timeout=10).status_code == 404, bad


def _turn(bot_url: str, sender: str, message: str, place: dict | None = None) -> dict:
    body = {"sender": sender, "message": message} | ({"place": place} if place else {})
    res = requests.post(bot_url + PAGE + "message", json=body, timeout=60)
    assert res.status_code == 200, res.text
    return dict(validate_turn(res.json()["messages"]))  # Rasa's messages, exactly one schema-valid custom


def test_a_tile_answers_for_the_kiosks_district(bot_url: str) -> None:
    payload = _turn(bot_url, f"kiosk-{uuid.uuid4().hex}", "/find_meal", JIANGHAN)
    assert payload["task"] == "find_service" and payload["category"] == "meal" and payload["ask"] is None
    assert payload["region"]["district"] == "江汉区"
    assert payload["items"] and all(i["district"] == "江汉区" and i["phone"] for i in payload["items"])


def test_nearby_means_near_the_kiosk(bot_url: str) -> None:
    payload = _turn(bot_url, f"kiosk-{uuid.uuid4().hex}", "离这最近的助餐点", JIANGHAN)
    distances = [i["distance_km"] for i in payload["items"]]
    assert distances and distances == sorted(distances) and distances[0] < 5


def test_without_a_place_the_bot_asks_for_the_region_with_buttons(bot_url: str) -> None:
    sender = f"kiosk-{uuid.uuid4().hex}"
    first = _turn(bot_url, sender, "/find_meal")
    assert first["ask"] == "region" and {b["title"] for b in first["buttons"]} >= {"武汉市", "临沂市"}
    wuhan = next(b["payload"] for b in first["buttons"] if b["title"] == "武汉市")
    second = _turn(bot_url, sender, wuhan)
    assert second["region"]["city"] == "武汉市" and len(second["items"]) >= 2


def test_speech_endpoint_returns_mandarin_audio(bot_url: str) -> None:
    res = requests.get(bot_url + PAGE + "speech", params={"text": "您好，这里是银龄助手。电话：12345"}, timeout=60)
    assert res.status_code == 200 and res.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(res.content)) as w:
        seconds = w.getnframes() / w.getframerate()
        assert w.getnchannels() == 1 and seconds > 1.0
    assert requests.get(bot_url + PAGE + "speech", params={"text": " "}, timeout=10).status_code == 400

