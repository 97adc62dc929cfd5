"""Phone numbers, ID-card numbers, detailed addresses and OpenIDs never reach a log (bot/privacy.py)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
from pathlib import Path

import pytest
import requests

from bot import privacy
from bot.launcher import PY, ROOT, base_env, free_port, serving
from bot.privacy import mask_text, openid_hash
from catalog.importer import import_catalog

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.mark.parametrize(("text", "masked"), [
    ("我电话13812345678", "我电话138****5678"),
    ("手机 138 1234 5678", "手机 138****5678"),
    ("+86 138-1234-5678", "138****5678"),
    ("身份证42010219500101123X", "身份证420102********123X"),
    ("身份证号420102195001011234。", "身份证号420102********1234。"),
    ("027-87654321", "027-****4321"),
    ("027-8765-4321", "***-****-4321"),
    ("（027）8765 4321", "（***）**** 4321"),
    ("座机87654321", "座机****4321"),
    ("江汉区解放大道123号", "江汉区解放大道*号"),
    ("住在幸福小区3栋2单元501", "住在幸福小区*栋*单元*"),
    ("建设路12号院3号楼2单元401室", "建设路*号院*号楼*单元*室"),
    ("三栋二单元", "*栋*单元"),
    ("幸福小区3-2-501", "幸福小区*-*-*"),
    (f"sender {OPENID}", f"sender {openid_hash(OPENID)}"),
])
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    "江汉区有没有助餐点", "85岁高龄津贴怎么申请", "拨打12345热线", "11月5号去", "第2条", "timestamp 1795609659.0508685",
    "port 5005", "3f2a9c1e-1234-4bcd-9f00-123456789abc", "model yinling-4f1c2a9b8e7d6c5b",
])
def test_other_text_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_openid_hash_is_stable_and_short() -> None:
    assert openid_hash(OPENID) == openid_hash(OPENID) != openid_hash(OPENID[:-1] + "x")
    assert len(openid_hash(OPENID)) == len("openid:") + 8


def test_json_escaped_text_is_masked() -> None:
    """Rasa's structlog JSON lines escape Chinese: the address is found all the same, and the line stays JSON."""
    line = mask_text(json.dumps({"text": "住在幸福小区3栋2单元501 电话13812345678"}))
    assert json.loads(line) == {"text": "住在幸福小区*栋*单元* 电话138****5678"}


def test_every_record_is_masked_whatever_the_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Message and args, traceback and extras, at DEBUG, through a handler added after install()."""
    monkeypatch.setattr(logging.Logger, "makeRecord", logging.Logger.makeRecord)  # restored after the test
    privacy.install()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(request)s"))
    logger = logging.getLogger("yinling.test.privacy")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("user %s said %r", OPENID, {"text": "我住解放大道12号，电话13812345678"},
                     extra={"request": f"POST /webhooks/wechat/webhook?openid={OPENID}"})
        try:
            raise ValueError("身份证42010219500101123X")
        except ValueError:
            logger.exception("failed for %s", "13900001111", extra={"request": "-"})
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    for raw in (OPENID, "12号", "13812345678", "42010219500101123X", "13900001111"):
        assert raw not in text
    for masked in (openid_hash(OPENID), "解放大道*号", "138****5678", "420102********123X", "139****1111",
                   "ValueError", "DEBUG"):
        assert masked in text


def test_the_action_server_installs_masking() -> None:
    """`python -m bot.action_server` masks the logs before rasa_sdk starts (its serving is replaced here)."""
    code = ("import logging, rasa_sdk.__main__ as sdk, bot.action_server as a; sdk.main = lambda: None; a.main(); "
            "logging.basicConfig(); logging.getLogger('x').warning('电话13812345678')")
    done = subprocess.run([PY, "-c", code], cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "138****5678" in done.stderr and "13812345678" not in done.stderr


def test_running_bot_logs_no_personal_data_at_debug(model: Path, tmp_path: Path) -> None:
    """Both servers at DEBUG (Rasa prints whole messages and events): nothing personal reaches their log files."""
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    import_catalog(url)
    logs = tmp_path / "logs"
    secrets = {"13812345678": "138****5678", "42010219500101123X": "420102********123X",
               "3栋2单元501": "*栋*单元*", OPENID: openid_hash(OPENID)}
    message = "我家在江汉区幸福小区3栋2单元501，电话13812345678，身份证42010219500101123X，高龄津贴怎么申请"
    with serving(model, free_port(), free_port(), url=url, log_dir=logs,
                 extra_env={"LOG_LEVEL": "DEBUG", "LOG_LEVEL_LIBRARIES": "INFO"}) as servers:
        r = requests.post(f"{servers.rasa_url}/webhooks/rest/webhook", json={"sender": OPENID, "message": message},
                          timeout=30)
        assert r.ok and r.json()
    texts = {f.name: f.read_text(encoding="utf-8", errors="replace") for f in logs.glob("*.log")}
    assert set(texts) == {"rasa.log", "actions.log"}
    for name, text in texts.items():
        for raw in secrets:
            for form in (raw, json.dumps(raw)[1:-1], repr(raw.encode())[2:-1]):  # as is, JSON- and bytes-escaped
                assert form not in text, (name, form)
    for masked in secrets.values():
        assert masked in texts["rasa.log"], masked
