"""The operators' console in a real browser (Debian's headless Chromium via Selenium, set up as for the kiosk tests:
scripts/install-browser.sh) against the running bot: log in, assist a call, correct the district, record the
correction, claim a conversation the bot handed over and resolve it, which resumes the bot.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bot.console.models import create_tables
from bot.console.service import add_user
from bot.launcher import ROOT

pytestmark = pytest.mark.browser
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
PASSWORD = "operator test password"
REPORTS = ROOT / "reports"


@pytest.fixture(scope="module")
def driver():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/install-browser.sh (make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--lang=zh-CN",
                "--window-size=1400,1000", f"--user-data-dir={tempfile.mkdtemp(prefix='console-chromium-')}"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield d
    finally:
        d.quit()


def bot_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The `bot` fixture's database (conftest: <basetemp>/e2e*/bot.db)."""
    found = sorted(tmp_path_factory.getbasetemp().glob("e2e*/bot.db"), key=lambda p: p.stat().st_mtime)
    assert found, "the bot fixture's database"
    return f"sqlite:///{found[-1]}"


def wait(d, condition, timeout: float = 30, what: str = ""):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.1).until(lambda _: condition())
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what or condition}") from None


def texts(d, selector: str) -> list[str]:
    """innerText of every match, read in one script (cards re-render while we look)."""
    return d.execute_script("return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)", selector)


def click(d, selector: str) -> None:
    """A real click, retried when the list re-renders under it."""
    def attempt():
        try:
            d.find_element(By.CSS_SELECTOR, selector).click()
            return True
        except StaleElementReferenceException:
            return False
    wait(d, attempt, what=f"clicking {selector}")


def handoff_slot(bot, sender: str):
    tracker = requests.get(f"{bot.rasa_url}/conversations/{sender}/tracker", params={"token": bot.token},
                           timeout=10).json()
    return tracker["slots"].get("handoff")


def test_operator_assists_a_call_corrects_it_and_resolves_a_handover(driver, bot, tmp_path_factory) -> None:
    url = bot_database(tmp_path_factory)
    create_tables(url)
    add_user("wang", PASSWORD, url)
    sender = f"rest-{uuid.uuid4().hex[:12]}"
    for words in ("我的电话是13812345678", "我要找人工客服"):
        r = requests.post(f"{bot.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": words},
                          timeout=30)
        r.raise_for_status()
    assert handoff_slot(bot, sender) is True

    d = driver
    d.get(f"{bot.rasa_url}/webhooks/console/")
    wait(d, lambda: d.find_element(By.ID, "username").is_displayed(), what="the login form")
    d.find_element(By.ID, "username").send_keys("wang")
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    d.find_element(By.ID, "login-btn").click()
    wait(d, lambda: d.find_element(By.ID, "call-text").is_displayed(), what="the console after login")
    cookie = d.get_cookie("console_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert d.execute_script("return document.cookie") == "", "the session cookie is not readable by scripts"

    # assist a call: the bot's understanding, confidence, cards with phones and SMS text
    d.find_element(By.ID, "call-text").send_keys("江汉区有没有老年食堂")
    d.find_element(By.ID, "assist-btn").click()
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#cards .card.service"), what="meal point cards")
    assert d.find_element(By.ID, "u-task").get_attribute("value") == "find_service"
    assert d.find_element(By.ID, "u-category").get_attribute("value") == "meal"
    assert d.find_element(By.ID, "u-district").get_attribute("value") == "江汉区"
    assert "置信度" in d.find_element(By.ID, "u-intent").text and "%" in d.find_element(By.ID, "u-intent").text
    assert all("江汉区" in t for t in texts(d, "#cards .card.service .district"))
    assert all(t.removeprefix("电话：") for t in texts(d, "#cards .card.service .phone"))
    assert all(len(s.split("（")[0]) <= 70 for s in texts(d, "#cards .sms .seg"))

    # correct the district: the cards follow, straight from the catalog
    district = d.find_element(By.ID, "u-district")
    district.clear()
    district.send_keys("江岸区")
    d.find_element(By.ID, "requery-btn").click()
    wait(d, lambda: (t := texts(d, "#cards .card.service .district")) and all("江岸区" in x for x in t),
         what="cards of 江岸区")
    REPORTS.mkdir(exist_ok=True)
    d.save_screenshot(str(REPORTS / "console-assist.png"))
    d.find_element(By.ID, "mark-wrong").click()
    wait(d, lambda: "已记录纠错" in d.find_element(By.ID, "toast").text, what="the correction saved")

    # the handed-over conversation: masked transcript, claim, resolve -> the bot is back
    d.find_element(By.CSS_SELECTOR, "#tabs [data-tab='handoffs']").click()
    row = f"tr.handoff[data-sender='{sender}']"
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, row), what="the handed-over conversation in the list")
    click(d, row)
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#transcript li.user"), what="the transcript")
    transcript = d.find_element(By.ID, "transcript").text
    assert "138****5678" in transcript and "13812345678" not in transcript
    d.find_element(By.ID, "claim-btn").click()
    wait(d, lambda: d.find_element(By.ID, "handoff-status").text == "由您处理中", what="the claim")
    d.save_screenshot(str(REPORTS / "console-handoff.png"))
    d.find_element(By.ID, "resolve-btn").click()
    wait(d, lambda: not d.find_elements(By.CSS_SELECTOR, row), what="the conversation to leave the list")
    assert handoff_slot(bot, sender) is False

    origins = d.execute_script(
        "return [...new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).origin))]")
    assert origins == [bot.rasa_url], f"everything from the bot's own address: {origins}"


def test_policy_question_through_the_real_bot_shows_materials_and_source_clause(bot, tmp_path_factory) -> None:
    """The API on the running bot: a policy question answered with materials, clause, quote and its context."""
    url = bot_database(tmp_path_factory)
    create_tables(url)
    add_user("li", PASSWORD, url)
    base = f"{bot.rasa_url}/webhooks/console/api"
    s = requests.Session()
    csrf = s.post(f"{base}/login", json={"username": "li", "password": PASSWORD}, timeout=10).json()["csrf"]
    r = s.post(f"{base}/assist", json={"text": "江汉区高龄津贴要带什么材料"}, timeout=30,
               headers={"X-CSRF-Token": csrf})
    body = r.json()
    u = body["understanding"]
    assert (u["task"], u["topic"], u["district"]) == ("policy", "high_age_allowance", "江汉区")
    assert u["intent"] and 0 < u["confidence"] <= 1
    policy = body["policies"][0]
    assert policy["materials"] and policy["source"]["clause"] and policy["source"]["document"]
    assert policy["context"]["found"] and policy["context"]["quote"]
    assert all(len(seg) <= 70 for seg in policy["sms"]["segments"])
