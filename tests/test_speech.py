"""Read-aloud says numbers right: phone numbers and hotlines digit by digit, prices and ages as numbers, and the
espeak-ng voice reads Chinese characters (not their pinyin with tone digits as English)."""

from __future__ import annotations

import shutil
import subprocess
import wave

import pytest

from bot.channels import speech
from bot.channels.kiosk import speech_text
from replies import t


@pytest.mark.parametrize(("text", "said"), [
    ("可拨打12345政务服务便民热线咨询", "可拨打一二三四五政务服务便民热线咨询"),
    ("咨询电话：12345", "咨询电话：一二三四五"),
    ("电话：0539-08123456", "电话：零五三九，零八一二三四五六"),
    ("电话：027-01234567", "电话：零二七，零一二三四五六七"),
    ("联系人手机13912345678", "联系人手机一三九一二三四五六七八"),
    ("请立即拨打110报警！", "请立即拨打一一零报警！"),
    ("有人受伤同时拨打120", "有人受伤同时拨打一二零"),
])
def test_phone_numbers_and_hotlines_are_read_digit_by_digit(text: str, said: str) -> None:
    assert speech.spoken(text) == said


@pytest.mark.parametrize("text", [
    "老人今年82岁", "午餐13元/份", "日租5元，月租90元，押金300元", "床位200张", "到2025年", "距离：约1.5公里",
])
def test_prices_ages_and_counts_stay_numbers(text: str) -> None:
    assert speech.spoken(text) == text


def test_every_reply_with_the_hotline_reads_it_digit_by_digit() -> None:
    for key in ("error", "clarify_give_up", "policy_none"):
        said = speech_text(t(key, place="江汉区", topic="高龄津贴"))
        assert "12345" not in said and "一二三四五" in said, key


def _phonemes(text: str) -> str:
    out = subprocess.run(["espeak-ng", "-v", speech.settings()["voice"], "-q", "-x", text],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng not installed")
def test_the_voice_reads_characters_in_mandarin_not_pinyin_as_english() -> None:
    said = _phonemes(speech_text("您好，请拨打12345政务服务便民热线"))
    assert "(en)" not in said  # the plain cmn voice switches to English to read "ni3" as "ni three"
    # digit by digit: the five digits' syllables, and no 万/千/百 (wan/qian/bai) of a number read as an amount
    digits = _phonemes("一二三四五").strip()
    assert digits[: digits.rindex("_|")].rstrip("0123456789") in said  # the last tone changes before more words
    assert "w'a" not in said and "tS;h'iE" not in said


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng not installed")
def test_the_audio_of_a_hotline_is_five_syllables_not_an_amount(tmp_path) -> None:
    """The WAV the kiosk plays (sox is not installed here: the length is read with the wave module)."""
    voice = speech.settings()["voice"]
    seconds = {}
    for name, text in {"digits": speech_text("拨打12345"), "amount": "拨打12345"}.items():
        path = tmp_path / f"{name}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True, timeout=30)
        with wave.open(str(path)) as w:
            seconds[name] = w.getnframes() / w.getframerate()
    assert seconds["digits"] > 1.0
    assert seconds["digits"] < seconds["amount"]  # 一万二千三百四十五 has more syllables than the five digits
