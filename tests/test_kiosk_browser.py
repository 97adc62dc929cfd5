"""The kiosk page in a real browser: Debian's headless Chromium driven by Selenium, against the running bot.

What an older person does with a finger (tiles, buttons, cards), what the kiosk must keep (its district, nothing of
the last visitor after the idle reset), and the elder-friendly numbers measured in the page in both orientations,
with axe-core run in the page. Needs /usr/bin/chromium, /usr/bin/chromedriver, a CJK font and node_modules
(scripts/install-browser.sh, run by `make test`). Screenshots go to reports/kiosk-*.png.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from bot.launcher import ROOT
from tests.conftest import wait_until

pytestmark = pytest.mark.browser
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
NODE = ROOT / "node_modules"
REPORTS = ROOT / "reports"
JIANGHAN = {"region": "江汉区", "lat": "30.5829", "lng": "114.2708"}
SIZES = {"portrait": (1080, 1920), "landscape": (1920, 1080)}
CJK_FONTS = ("Noto Sans CJK", "Noto Serif CJK", "Source Han", "WenQuanYi", "Droid Sans Fallback", "Microsoft YaHei",
             "PingFang", "SimHei", "Noto Sans SC")


# --- the browser ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER, NODE / "axe-core", NODE / "jsqr") if not p.exists()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/install-browser.sh (make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="kiosk-chromium-")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--lang=zh-CN", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    d.set_script_timeout(60)
    d.execute_cdp_cmd("Network.enable", {})
    try:
        yield d
    finally:
        d.quit()


def show(d: WebDriver, base: str, orientation: str = "portrait", **params: str) -> None:
    """Open the kiosk page afresh at a screen size (a new load: nothing of an earlier test stays)."""
    w, h = SIZES[orientation]
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1,
                                                              "mobile": False})
    d.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    d.get(f"{base}/webhooks/kiosk/" + (f"?{urlencode(params)}" if params else ""))
    wait(d, lambda: d.execute_script("return !!window.kiosk && document.readyState === 'complete'"))


def wait(d: WebDriver, condition, timeout: float = 30, what: str = ""):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.1).until(lambda _: condition())
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what or condition}") from None


class Taps:
    """Taps with a finger (pointer events through the browser's input pipeline), counted."""

    def __init__(self, d: WebDriver) -> None:
        self.d, self.count = d, 0

    def __call__(self, target: WebElement | str) -> WebElement:
        el = self.d.find_element(By.CSS_SELECTOR, target) if isinstance(target, str) else target
        self.d.execute_script("arguments[0].scrollIntoView({block: 'nearest'})", el)
        el.click()
        self.count += 1
        return el


def answers(d: WebDriver) -> list[WebElement]:
    return d.find_elements(By.CSS_SELECTOR, "#turns .answer")


def wait_answer(d: WebDriver, n: int) -> WebElement:
    """The n-th answer (1-based) once it has arrived and nothing is pending."""
    wait(d, lambda: len(answers(d)) >= n and not d.execute_script("return window.kiosk.busy"), what=f"answer {n}")
    return answers(d)[n - 1]


def on_screen(d: WebDriver, el: WebElement) -> bool:
    """Whether the element is visible in the viewport, not hidden under the header or the dock."""
    return d.execute_script("""
        const r = arguments[0].getBoundingClientRect();
        if (r.width < 1 || r.height < 1) return false;
        const x = r.left + Math.min(r.width / 2, 20), y = r.top + r.height / 2;
        const hit = document.elementFromPoint(x, y);
        return !!hit && (hit === arguments[0] || arguments[0].contains(hit));
    """, el)


def text_of(d: WebDriver, el: WebElement) -> str:
    return d.execute_script("return arguments[0].innerText", el)


def card_phone(card: WebElement) -> str:
    return card.find_element(By.CSS_SELECTOR, ".phone").text.removeprefix("电话：").strip()


def load_script(d: WebDriver, path: Path, global_name: str) -> None:
    if not d.execute_script(f"return typeof window.{global_name} !== 'undefined'"):
        d.execute_script(path.read_text(encoding="utf-8"))
    assert d.execute_script(f"return typeof window.{global_name}") != "undefined", global_name


def decode_qr(d: WebDriver, img: WebElement) -> str:
    """Decode the QR code as drawn on the screen (an element screenshot), with jsQR run in the page."""
    load_script(d, NODE / "jsqr" / "dist" / "jsQR.js", "jsQR")
    png = img.screenshot_as_base64
    return d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const im = new Image();
        im.onload = () => {
            const c = document.createElement('canvas');
            c.width = im.width; c.height = im.height;
            const ctx = c.getContext('2d');
            ctx.drawImage(im, 0, 0);
            const found = jsQR(ctx.getImageData(0, 0, c.width, c.height).data, c.width, c.height);
            done(found ? new TextDecoder('utf-8').decode(new Uint8Array(found.binaryData)) : null);
        };
        im.onerror = () => done(null);
        im.src = 'data:image/png;base64,' + arguments[0];
    """, png)


def user_turns(bot, sender: str) -> int:
    res = requests.get(f"{bot.rasa_url}/conversations/{sender}/tracker", params={"token": bot.token}, timeout=10)
    res.raise_for_status()
    return sum(1 for e in res.json()["events"] if e["event"] == "user")


# --- tapping through ------------------------------------------------------------------------------------------


def test_one_tap_on_a_tile_lists_meal_points_with_phones_of_the_kiosks_district(driver, bot) -> None:
    show(driver, bot.rasa_url, **JIANGHAN)
    assert "本机位置：江汉区" in driver.find_element(By.ID, "where").text
    tap = Taps(driver)
    tap('.tile[data-send="/find_meal"]')
    answer = wait_answer(driver, 1)
    cards = answer.find_elements(By.CSS_SELECTOR, ".card.service")
    assert tap.count == 1 and len(cards) >= 2
    first = cards[0]
    assert on_screen(driver, first.find_element(By.CSS_SELECTOR, ".phone")), "the phone number needs no scrolling"
    for card in cards:
        assert card_phone(card)
        assert "江汉区" in text_of(driver, card)
        assert "公里" in card.find_element(By.CSS_SELECTOR, ".distance").text or "米" in card.text
    demo = [c for c in cards if c.find_elements(By.CSS_SELECTOR, ".badge-demo")]
    assert demo, "the demo points of the catalog must be labelled"
    for card in demo:
        badge = card.find_element(By.CSS_SELECTOR, ".badge-demo")
        assert badge.text == "示例数据" and badge.is_displayed()
    assert not driver.find_elements(By.CSS_SELECTOR, ".card .badge-demo + .badge-ok")


def test_a_planned_building_is_badged_planned_never_verified(driver, bot) -> None:
    """Issue 17: a project from a plan's construction table comes after the open places, badged 规划建设中."""
    show(driver, bot.rasa_url, region="江岸区", lat="30.6001", lng="114.3091")
    tap = Taps(driver)
    tap('.tile[data-menu="care"]')
    tap('[data-send="/find_care_home"]')
    cards = wait_answer(driver, 2).find_elements(By.CSS_SELECTOR, ".card.service")
    planned = [c for c in cards if c.find_elements(By.CSS_SELECTOR, ".badge-planned")]
    assert planned and cards[-len(planned):] == planned
    for card in planned:
        assert not card.find_elements(By.CSS_SELECTOR, ".badge-ok") and "规划文件里的建设项目" in text_of(driver, card)
        assert "估算" in card.find_element(By.CSS_SELECTOR, ".distance").text


def test_policy_steps_in_two_taps_and_the_card_shows_its_source(driver, bot) -> None:
    show(driver, bot.rasa_url, **JIANGHAN)
    tap = Taps(driver)
    tap('.tile[data-menu="policy"]')
    tap('[data-send="/policy_high_age_allowance"]')
    card = wait_answer(driver, 2).find_element(By.CSS_SELECTOR, ".card.policy")
    assert tap.count == 2
    steps = card.find_elements(By.CSS_SELECTOR, "ol.steps > li")
    assert steps and on_screen(driver, card.find_element(By.XPATH, ".//h4[text()='办理步骤']"))
    text = text_of(driver, card)
    assert "高龄津贴" in card.find_element(By.CSS_SELECTOR, ".card-title").text
    assert card.find_element(By.CSS_SELECTOR, ".summary").text
    assert card.find_elements(By.CSS_SELECTOR, "ul.checklist > li"), "materials checklist"
    assert "办理地点" in text and "政策依据：《" in text and "条款" in text and "原文：“" in text
    # the fields the catalog marks as general guidance (not the document's words) are marked as such
    res = requests.post(f"{bot.rasa_url}/webhooks/kiosk/message", timeout=60, json={
        "sender": f"kiosk-probe-{time.time_ns()}", "message": "/policy_high_age_allowance", "place": JIANGHAN})
    policy = next(m["custom"] for m in res.json()["messages"] if "custom" in m)["policy"]
    names = {"steps": "办理步骤", "materials": "所需材料", "where": "办理地点", "phone": "咨询电话"}
    marked = {h.text.split("\n")[0].replace("一般办理路径", "").strip()[:4]
              for h in card.find_elements(By.XPATH, ".//h4[span[contains(@class, 'badge-guidance')]]")}
    assert marked == {names[f] for f in policy["guidance"] if f in names and policy.get(f)}
    assert bool(marked) == bool(card.find_elements(By.CSS_SELECTOR, ".guidance-note"))


def test_without_a_configured_place_three_taps_still_reach_phone_and_steps(driver, bot) -> None:
    show(driver, bot.rasa_url)
    tap = Taps(driver)
    tap('.tile[data-send="/find_meal"]')
    ask = wait_answer(driver, 1)
    tap(ask.find_element(By.XPATH, ".//button[text()='武汉市']"))
    cards = wait_answer(driver, 2).find_elements(By.CSS_SELECTOR, ".card.service")
    assert tap.count == 2 and cards and card_phone(cards[0])

    show(driver, bot.rasa_url)
    tap = Taps(driver)
    tap('.tile[data-menu="policy"]')
    tap('[data-send="/policy_ltc_insurance"]')
    tap(wait_answer(driver, 2).find_element(By.XPATH, ".//button[text()='武汉市']"))
    card = wait_answer(driver, 3).find_element(By.CSS_SELECTOR, ".card.policy")
    assert tap.count == 3 and card.find_elements(By.CSS_SELECTOR, "ol.steps > li")


def test_eligibility_needs_no_typing(driver, bot) -> None:
    """Every question of the eligibility check offers buttons (the page adds ages); the kiosk's own district
    is used without asking."""
    show(driver, bot.rasa_url, **JIANGHAN)
    tap = Taps(driver)
    tap('.tile[data-menu="policy"]')
    tap('[data-send="/eligibility"]')
    for n, choice in enumerate(["80岁", "半失能", "低保"], start=2):
        tap(wait_answer(driver, n).find_element(By.XPATH, f".//div[@class='quick']//button[text()='{choice}']"))
    final = wait_answer(driver, 5)
    text = text_of(driver, final)
    assert "80岁" in text and "江汉区" in text and final.find_elements(By.CSS_SELECTOR, ".quick button")
    assert final.get_attribute("data-task") == "eligibility"


def test_multi_turn_flow_pick_a_district_by_button_then_open_the_second_card(driver, bot) -> None:
    show(driver, bot.rasa_url)
    tap = Taps(driver)
    box = driver.find_element(By.ID, "ask-input")
    box.send_keys("想找个老年食堂吃饭")
    tap("#send-btn")
    ask = wait_answer(driver, 1)
    assert "哪个区" in text_of(driver, ask)
    choices = [b.text for b in ask.find_elements(By.CSS_SELECTOR, ".quick button")]
    assert {"武汉市", "咸宁市", "临沂市"} <= set(choices)
    tap(ask.find_element(By.XPATH, ".//button[text()='临沂市']"))
    cards = wait_answer(driver, 2).find_elements(By.CSS_SELECTOR, ".card.service")
    assert len(cards) >= 2
    assert not driver.find_elements(By.CSS_SELECTOR, "#turns .turn:first-child .quick"), "old choices are gone"

    second = cards[1]
    detail = second.find_element(By.CSS_SELECTOR, ".detail")
    assert not detail.is_displayed()
    tap(second.find_element(By.CSS_SELECTOR, ".more-btn"))
    assert detail.is_displayed() and second.find_element(By.CSS_SELECTOR, ".more-btn").get_attribute(
        "aria-expanded") == "true"
    name = second.find_element(By.CSS_SELECTOR, ".card-title").text.split(". ", 1)[1]
    assert "临沂市" in text_of(driver, second) and "时间" in detail.text
    img = wait(driver, lambda: second.find_element(By.CSS_SELECTOR, ".qr img"), what="QR code")
    decoded = decode_qr(driver, img)
    assert decoded, "the QR code on the screen does not decode"
    assert decoded.startswith(name) and f"电话：{card_phone(second)}" in decoded and "地址：" in decoded
    if second.find_elements(By.CSS_SELECTOR, ".badge-demo"):
        assert "示例数据" in decoded


def test_policy_qr_code_holds_the_steps(driver, bot) -> None:
    show(driver, bot.rasa_url, **JIANGHAN)
    tap = Taps(driver)
    tap('.tile[data-menu="policy"]')
    tap('[data-send="/policy_home_adaptation"]')
    card = wait_answer(driver, 2).find_element(By.CSS_SELECTOR, ".card.policy")
    tap(card.find_element(By.CSS_SELECTOR, ".qr-btn"))
    decoded = decode_qr(driver, card.find_element(By.CSS_SELECTOR, ".qr img"))
    steps = [li.text for li in card.find_elements(By.CSS_SELECTOR, "ol.steps > li")]
    assert decoded and decoded.startswith("【") and "办理步骤：" in decoded and "依据：《" in decoded
    assert f"1. {steps[0][:10]}" in decoded


def test_print_puts_one_answer_on_a_page(driver, bot) -> None:
    show(driver, bot.rasa_url, **JIANGHAN)
    tap = Taps(driver)
    tap('.tile[data-send="/find_meal"]')
    cards = wait_answer(driver, 1).find_elements(By.CSS_SELECTOR, ".card.service")

    def pages() -> int:
        pdf = base64.b64decode(driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": False})["data"])
        return pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")

    assert pages() >= len(cards), "every card on a page of its own"
    driver.execute_script("window.print = () => { window.__printed = (window.__printed || 0) + 1; }")
    tap(cards[1].find_element(By.CSS_SELECTOR, ".more-btn"))
    tap(cards[1].find_element(By.CSS_SELECTOR, ".print-btn"))
    assert driver.execute_script("return window.__printed") == 1
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        shown = driver.execute_script("""
            return [...document.querySelectorAll('.card.service')].map(c => getComputedStyle(c).display !== 'none');
        """)
        assert shown[1] and not any(shown[:1] + shown[2:])
        assert driver.execute_script("return getComputedStyle(document.querySelector('.dock')).display") == "none"
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert pages() == 1, "printing one answer prints one page"
    # printing fires afterprint: the page is whole again for the next print
    assert not driver.execute_script("return document.body.classList.contains('printing-one')")


DIGIT_WORDS = "零一二三四五六七八九"


def said_digit_by_digit(number: str, said: str) -> bool:
    """Whether a phone number is in the spoken text as digit words (一二三四五), none of its digits as figures."""
    digits = re.sub(r"\D", "", number)
    words = "".join(DIGIT_WORDS[int(c)] for c in digits)
    return words in re.sub(r"[，,\s]", "", said) and not any(
        part in said for part in re.findall(r"\d{3,}", number))


def test_read_aloud_in_mandarin_says_the_hotline_digit_by_digit(driver, bot) -> None:
    show(driver, bot.rasa_url, **JIANGHAN)
    tap = Taps(driver)
    tap('.tile[data-send="/handoff"]')
    answer = wait_answer(driver, 1)
    assert "12345" in text_of(driver, answer)  # shown as figures, read as digits
    tap(answer.find_element(By.CSS_SELECTOR, ".read-btn"))
    way = wait(driver, lambda: driver.execute_script("return document.body.dataset.speech"), what="speech")
    has_voice = driver.execute_script(
        "return speechSynthesis.getVoices().some(v => /^(zh|cmn)/i.test(v.lang))")
    assert way == ("browser" if has_voice else "server")
    if way == "server":  # no Chinese voice in this browser: the audio comes from espeak-ng on the server
        duration = wait(driver, lambda: driver.execute_script("""
            const a = document.getElementById('voice');
            return a.src.startsWith('blob:') && a.duration > 0.5 ? a.duration : null;"""), what="server audio")
        assert duration > 0.5
        asked = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/speech?'))")
        assert len(asked) == 1
        said = parse_qs(urlparse(asked[0]).query)["text"][0]
        assert said_digit_by_digit("12345", said), said


def test_the_browsers_own_voice_reads_phone_numbers_digit_by_digit(driver, bot) -> None:
    """A kiosk whose browser has a Chinese voice (a stand-in here records what it is given) reads the same
    speakable text as the server's voice: every card's phone number digit by digit, prices as amounts."""
    show(driver, bot.rasa_url, **JIANGHAN)
    driver.execute_script("""
        window.__said = [];
        window.SpeechSynthesisUtterance = function (text) { this.text = text; };
        speechSynthesis.getVoices = () => [{lang: 'zh-CN', name: 'stand-in'}];
        speechSynthesis.speak = u => window.__said.push(u.text);
    """)
    tap = Taps(driver)
    tap('.tile[data-send="/find_meal"]')
    answer = wait_answer(driver, 1)
    phones = [card_phone(c) for c in answer.find_elements(By.CSS_SELECTOR, ".card.service")]
    tap(answer.find_element(By.CSS_SELECTOR, ".read-btn"))
    assert driver.execute_script("return document.body.dataset.speech") == "browser"
    (said,) = driver.execute_script("return window.__said")
    assert phones and all(said_digit_by_digit(p, said) for p in phones), said
    assert re.search(r"\d+元", said), "prices are read as amounts"
    assert not driver.execute_script(
        "return performance.getEntriesByType('resource').some(e => e.name.includes('/speech?'))")


# --- failure, double taps, idle reset --------------------------------------------------------------------------


def test_unreachable_bot_says_so_with_hotline_and_retry(driver, bot) -> None:
    show(driver, bot.rasa_url, **JIANGHAN)
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/webhooks/kiosk/message"]})
    tap = Taps(driver)
    tap('.tile[data-send="/find_meal"]')
    failure = wait_answer(driver, 1)
    assert "failure" in failure.get_attribute("class")
    text = text_of(driver, failure)
    assert "连不上" in text and "12345" in text
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    tap(failure.find_element(By.XPATH, ".//button[text()='再试一次']"))
    answer = wait(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#turns .answer:not(.failure)"),
                  what="answer after retry")[0]
    assert answer.find_elements(By.CSS_SELECTOR, ".card.service")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#turns .turn")) == 1, "a retry stays in the same turn"


def test_slow_bot_says_so_and_emergency_still_shows_120(driver, bot) -> None:
    show(driver, bot.rasa_url, **JIANGHAN)
    driver.execute_script("window.kiosk.config.timeoutMs = 500")
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 2500,
                                                                "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        Taps(driver)('.tile[data-send="/emergency"]')
        failure = wait_answer(driver, 1)
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                                    "downloadThroughput": -1,
                                                                    "uploadThroughput": -1})
    text = text_of(driver, failure)
    assert "太慢" in text and "120" in text and "12345" in text
    assert failure.find_element(By.XPATH, ".//button[text()='再试一次']").is_displayed()


def test_a_double_tap_sends_once(driver, bot) -> None:
    show(driver, bot.rasa_url, **JIANGHAN)
    sender = driver.execute_script("return window.kiosk.sender")
    tile = driver.find_element(By.CSS_SELECTOR, '.tile[data-send="/find_meal"]')
    ActionChains(driver).double_click(tile).perform()
    driver.execute_script("arguments[0].click(); arguments[0].click();", tile)
    wait_answer(driver, 1)

    def posts() -> int:
        return driver.execute_script(
            "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/message')).length")

    assert not wait_until(lambda: posts() > 1, timeout=1), "a second POST"  # watched for a second, not slept
    assert posts() == 1 and len(driver.find_elements(By.CSS_SELECTOR, "#turns .turn")) == 1
    assert user_turns(bot, sender) == 1


def test_idle_reset_forgets_the_visitor(driver, bot) -> None:
    show(driver, bot.rasa_url, idle="3", countdown="3", **JIANGHAN)
    tap = Taps(driver)
    first_sender = driver.execute_script("return window.kiosk.sender")
    tap("[data-size='xlarge']")
    tap('.tile[data-send="/find_meal"]')
    cards = wait_answer(driver, 1).find_elements(By.CSS_SELECTOR, ".card.service")
    name = cards[0].find_element(By.CSS_SELECTOR, ".card-title").text.split(". ", 1)[1]
    tap(cards[0].find_element(By.CSS_SELECTOR, ".more-btn"))
    driver.find_element(By.ID, "ask-input").send_keys("我家住在")

    panel = driver.find_element(By.ID, "idle")
    wait(driver, panel.is_displayed, timeout=10, what="the idle question")
    assert "还在使用吗" in panel.text and int(driver.find_element(By.ID, "idle-seconds").text) <= 3
    tap("#idle-continue")                                     # still there: nothing is lost
    assert not panel.is_displayed() and name in text_of(driver, driver.find_element(By.ID, "turns"))

    tap(driver.find_element(By.CSS_SELECTOR, ".read-btn"))   # speech going when the visitor walks away
    wait(driver, lambda: driver.execute_script("return !!document.body.dataset.speech"), what="speech")
    wait(driver, panel.is_displayed, timeout=10, what="the idle question again")
    wait(driver, lambda: driver.execute_script("return document.body.dataset.reset === '1'"), timeout=10,
         what="the reset")
    state = driver.execute_script("""
        const a = document.getElementById('voice');
        return {sender: window.kiosk.sender, turns: document.getElementById('turns').children.length,
                home: !document.getElementById('home').hidden, panel: !document.getElementById('idle').hidden,
                input: document.getElementById('ask-input').value, text: document.body.innerText,
                large: document.body.classList.contains('size-large'),
                audio: a.paused && !a.getAttribute('src'), speaking: speechSynthesis.speaking,
                local: localStorage.length, session: sessionStorage.length, cookie: document.cookie};
    """)
    assert state["sender"] != first_sender and state["sender"].startswith("kiosk-")
    assert state["turns"] == 0 and state["home"] and not state["panel"] and state["input"] == ""
    assert name not in state["text"] and "我家住在" not in state["text"]
    assert state["large"], "the text size returns to the default"
    assert state["audio"] and not state["speaking"]
    assert state["local"] == state["session"] == 0 and state["cookie"] == "" and driver.get_cookies() == []
    assert driver.execute_async_script(
        "const done = arguments[0]; indexedDB.databases().then(d => done(d.length))") == 0
    # an empty home screen is left alone: no countdown for nobody (watched longer than the idle time)
    assert not wait_until(panel.is_displayed, timeout=4)


# --- elder-friendly numbers, axe-core, screenshots --------------------------------------------------------------

AUDIT = """
const MAIN = 'button, input, h1, h2, h3, h4, .lead, .answer-text, .answer-text p, .you, .card-title, .phone, '
  + '.tile-title, .hotline, .idle-count';
function shown(el) {
  const cs = getComputedStyle(el), r = el.getBoundingClientRect();
  return r.width > 1 && r.height > 1 && cs.visibility !== 'hidden' && !el.closest('[hidden], .visually-hidden');
}
function rgba(s) { const m = s.match(/[\\d.]+/g).map(Number); return m.length > 3 ? m : m.concat([1]); }
function lum(c) {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
}
function background(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) return c;
  }
  return [255, 255, 255, 1];
}
const out = {texts: 0, small: [], mainSmall: [], lineHeight: [], contrast: [], targets: [], gaps: [],
             minContrast: 99, minBody: 999, minMain: 999, minTarget: 999, animations: document.getAnimations().length,
             frame: [document.scrollingElement.scrollTop, document.querySelector('.bar').getBoundingClientRect().top,
                     Math.round(innerHeight - document.querySelector('.dock').getBoundingClientRect().bottom)]};
const label = el => (el.id ? '#' + el.id : el.tagName.toLowerCase() + '.' + el.className) + ' "'
  + (el.innerText || el.value || el.placeholder || '').trim().slice(0, 20) + '"';
for (const el of document.querySelectorAll('body *')) {
  if (!shown(el)) continue;
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())
    || (el.tagName === 'INPUT');
  if (!own) continue;
  out.texts++;
  const cs = getComputedStyle(el), size = parseFloat(cs.fontSize);
  const main = el.matches(MAIN);
  if (main) out.minMain = Math.min(out.minMain, size); else out.minBody = Math.min(out.minBody, size);
  if (size < 24) out.small.push(label(el) + ' ' + size);
  if (main && size < arguments[0]) out.mainSmall.push(label(el) + ' ' + size);
  const lh = cs.lineHeight === 'normal' ? 0 : parseFloat(cs.lineHeight);
  if (lh < 1.3 * size - 0.01) out.lineHeight.push(label(el) + ' ' + cs.lineHeight + '/' + size);
  const fg = lum(rgba(cs.color)), bg = lum(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  out.minContrast = Math.min(out.minContrast, ratio);
  if (ratio < 7) out.contrast.push(label(el) + ' ' + ratio.toFixed(2));
}
const targets = [...document.querySelectorAll('button, a[href], input, select, textarea, [role=button]')]
  .filter(shown);
for (const el of targets) {
  const r = el.getBoundingClientRect();
  out.minTarget = Math.min(out.minTarget, r.width, r.height);
  if (r.width < 60 || r.height < 60) out.targets.push(label(el) + ' ' + r.width + 'x' + r.height);
}
const onScreen = targets.filter(el => {
  const r = el.getBoundingClientRect(), hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return hit && (hit === el || el.contains(hit));
});
for (let i = 0; i < onScreen.length; i++) {
  for (let j = i + 1; j < onScreen.length; j++) {
    const a = onScreen[i].getBoundingClientRect(), b = onScreen[j].getBoundingClientRect();
    const gap = Math.max(b.left - a.right, a.left - b.right, b.top - a.bottom, a.top - b.bottom);
    if (gap < 8) out.gaps.push(label(onScreen[i]) + ' / ' + label(onScreen[j]) + ' ' + gap.toFixed(1));
  }
}
return out;
"""


def audit(d: WebDriver, main_px: float = 40) -> dict:
    """The page's numbers at every scroll position of the conversation (what is on screen at each)."""
    totals: dict = {}
    height = d.execute_script("const m = document.getElementById('main'); m.scrollTop = 0; return m.scrollHeight")
    step = d.execute_script("return document.getElementById('main').clientHeight") * 0.7
    top = 0
    while True:
        res = d.execute_script(AUDIT, main_px)
        for k, v in res.items():
            if k == "frame":
                totals[k] = v if totals.get(k, [0, 0, 0]) == [0, 0, 0] else totals[k]
            elif isinstance(v, list):
                totals.setdefault(k, []).extend(x for x in v if x not in totals.get(k, []))
            elif k.startswith("min"):
                totals[k] = min(totals.get(k, v), v)
            else:
                totals[k] = max(totals.get(k, v), v)
        top += step
        if top >= height:
            break
        d.execute_script("document.getElementById('main').scrollTop = arguments[0]", top)
    d.execute_script("document.getElementById('main').scrollTop = 0")
    return totals


def assert_numbers(res: dict, where: str) -> None:
    assert res["texts"] > 5, where
    assert res["frame"] == [0, 0, 0], f"{where}: the page itself scrolled (header/dock moved): {res['frame']}"
    for key, what in (("small", "text under 24px"), ("mainSmall", "main text/buttons under the main size"),
                      ("lineHeight", "line height under 1.3"), ("contrast", "contrast under 7:1"),
                      ("targets", "touch targets under 60x60px"), ("gaps", "touch targets without gaps")):
        assert not res[key], f"{where}: {what}: {res[key][:8]}"
    assert res["animations"] == 0, f"{where}: moving content"


def axe(d: WebDriver, where: str) -> None:
    load_script(d, NODE / "axe-core" / "axe.min.js", "axe")
    found = json.loads(d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']})
           .then(r => done(JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact,
                 nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))))
           .catch(e => done(JSON.stringify([{id: 'axe-error', impact: 'critical', nodes: [String(e)]}])));
    """))
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, f"{where}: axe-core: {bad}"


def platform_fonts(d: WebDriver, selector: str) -> list[str]:
    d.execute_cdp_cmd("DOM.enable", {})
    d.execute_cdp_cmd("CSS.enable", {})
    root = d.execute_cdp_cmd("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    node = d.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = d.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return [f["familyName"] for f in fonts]


@pytest.mark.parametrize("orientation", ["portrait", "landscape"])
def test_elder_friendly_numbers_axe_and_screenshots(driver, bot, orientation: str) -> None:
    REPORTS.mkdir(exist_ok=True)
    show(driver, bot.rasa_url, orientation, **JIANGHAN)
    tap = Taps(driver)
    w, h = SIZES[orientation]
    assert driver.execute_script("return [innerWidth, innerHeight]") == [w, h]
    assert driver.execute_script("return document.documentElement.scrollWidth") <= w, "no sideways scrolling"

    fonts = platform_fonts(driver, "h1")
    assert any(f.startswith(CJK_FONTS) for f in fonts), f"Chinese drawn without a CJK font: {fonts}"
    tiles = driver.find_elements(By.CSS_SELECTOR, ".tile")
    assert len(tiles) == 6 and all(on_screen(driver, t) for t in tiles), "all six tiles on the first screen"
    assert_numbers(audit(driver), f"{orientation} home")
    axe(driver, f"{orientation} home")
    driver.save_screenshot(str(REPORTS / f"kiosk-{orientation}-home.png"))

    tap('.tile[data-send="/find_meal"]')
    cards = wait_answer(driver, 1).find_elements(By.CSS_SELECTOR, ".card.service")
    tap(cards[1].find_element(By.CSS_SELECTOR, ".more-btn"))
    wait(driver, lambda: cards[1].find_elements(By.CSS_SELECTOR, ".qr img"))
    driver.execute_script("document.getElementById('main').scrollTop = 0")
    driver.save_screenshot(str(REPORTS / f"kiosk-{orientation}-meal.png"))
    assert_numbers(audit(driver), f"{orientation} meal points")
    axe(driver, f"{orientation} meal points")

    tap("#home-btn")
    tap('.tile[data-menu="policy"]')
    assert_numbers(audit(driver), f"{orientation} policy menu")
    tap('[data-send="/policy_ltc_insurance"]')
    card = wait_answer(driver, 3).find_element(By.CSS_SELECTOR, ".card.policy")
    tap(card.find_element(By.CSS_SELECTOR, ".qr-btn"))
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", card)
    driver.save_screenshot(str(REPORTS / f"kiosk-{orientation}-policy.png"))
    assert_numbers(audit(driver), f"{orientation} policy")
    axe(driver, f"{orientation} policy")

    title_px = "return parseFloat(getComputedStyle(document.querySelector('.card-title')).fontSize)"
    before = driver.execute_script(title_px)
    tap("[data-size='xlarge']")
    after = driver.execute_script(title_px)
    assert after > before and driver.find_element(By.CSS_SELECTOR, "[data-size='xlarge']").get_attribute(
        "aria-pressed") == "true"
    res = audit(driver, main_px=48)
    assert_numbers(res, f"{orientation} 特大字")
    assert res["minBody"] >= 36
    driver.save_screenshot(str(REPORTS / f"kiosk-{orientation}-xlarge.png"))
    assert driver.execute_script("return document.documentElement.scrollWidth") <= w, "no sideways scrolling"

    origins = driver.execute_script(
        "return [...new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).origin))]")
    assert origins == [bot.rasa_url], f"everything from the bot's own address: {origins}"
    assert len(driver.window_handles) == 1, "no pop-up windows"


def test_idle_question_is_large_and_reachable(driver, bot) -> None:
    show(driver, bot.rasa_url, "landscape", idle="3", countdown="60", **JIANGHAN)
    Taps(driver)('.tile[data-send="/handoff"]')
    wait_answer(driver, 1)
    wait(driver, driver.find_element(By.ID, "idle").is_displayed, timeout=10, what="the idle question")
    res = driver.execute_script(AUDIT, 40)
    assert not res["targets"] and not res["small"] and not res["contrast"], res
    assert float(driver.execute_script(
        "return getComputedStyle(document.getElementById('idle-seconds')).fontSize").removesuffix("px")) >= 96
    axe(driver, "idle question")
    REPORTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(REPORTS / "kiosk-landscape-idle.png"))
