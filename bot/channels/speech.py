"""Text as the kiosk reads it aloud: phone numbers and hotlines digit by digit, everything else unchanged."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent / "speech.yml"
# An area-code number (027-01234567, 0539 8123456) or a mobile number, not inside a longer run of digits.
_PHONE = re.compile(r"(?<!\d)(?:0\d{2,3}[-－ ]?\d{7,8}|1[3-9]\d{9})(?!\d)")


@lru_cache(maxsize=1)
def settings() -> dict:
    """The read-aloud settings of speech.yml (voice, cue words)."""
    return yaml.safe_load(DATA.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _hotlines() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A 3-5 digit number after a cue word ("拨打12345", "电话：110"), or before one ("120急救")."""
    s = settings()
    before, after = ("|".join(map(re.escape, s[k])) for k in ("before", "after"))
    return (re.compile(rf"((?:{before})[：:\s]*)(\d{{3,5}})(?!\d)"),
            re.compile(rf"(?<!\d)(\d{{3,5}})(?={after})"))


def _digits(number: str) -> str:
    s = settings()
    return "".join(s["digits"][int(c)] if c.isdigit() else s["pause"] for c in number)


def spoken(text: str) -> str:
    """`text` with every phone number and hotline written as digit words, so the voice reads 一二三四五, not
    一万二千三百四十五; prices, ages and other numbers stay as they are."""
    text = _PHONE.sub(lambda m: _digits(m.group(0)), text)
    cue_before, cue_after = _hotlines()
    text = cue_before.sub(lambda m: m.group(1) + _digits(m.group(2)), text)
    return cue_after.sub(lambda m: _digits(m.group(1)), text)
