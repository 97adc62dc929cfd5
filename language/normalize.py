"""Text normalization before NLU: what voice input and phone keyboards do to a question.

Full-width to half-width, traditional to simplified, Chinese numerals to digits ("八十五岁" -> "85岁"),
filler words and stutters of voice input, emoji and punctuation, dialect words ("恁" -> "您"), and
homophone typos of the catalog's own words ("养劳院" -> "养老院", "高令津贴" -> "高龄津贴", by pinyin).
Pure functions; the Rasa component in bot/nlu/normalizer.py and the actions both call `normalize`,
so entity offsets agree.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import yaml
import zhconv
from pypinyin import lazy_pinyin

from catalog.lexicon import load_regions, load_taxonomy

WORDS = Path(__file__).resolve().parent / "normalize.yml"
DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5,
          "六": 6, "七": 7, "八": 8, "九": 9}
_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百]+")


@lru_cache(maxsize=1)
def _words() -> dict:
    return yaml.safe_load(WORDS.read_text(encoding="utf-8"))


def chinese_number(s: str) -> int | None:
    """Value of a well-formed Chinese numeral below 1000 ("八十五" -> 85, "七十" -> 70), else None."""
    total, rest = 0, s
    for unit, mult in (("百", 100), ("十", 10)):
        if unit in rest:
            head, _, rest = rest.partition(unit)
            if len(head) > 1 or (head and head not in DIGITS) or unit in rest:
                return None
            total += (DIGITS[head] if head else 1) * mult
    if len(rest) > 1 or (rest and rest not in DIGITS):
        return None
    return total + (DIGITS[rest] if rest else 0)


def _numerals(text: str) -> str:
    """Convert numerals that are numbers (with 十/百, or before 岁): keeps "第二个", "一个人"."""

    def repl(m: re.Match) -> str:
        s = m.group(0)
        after = text[m.end():m.end() + 2]
        if ("十" in s or "百" in s or after.startswith(("岁", "周岁"))) and (v := chinese_number(s)) is not None:
            return str(v)
        return s

    return _NUMERAL.sub(repl, text)


@lru_cache(maxsize=1)
def _catalog_words() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Catalog words of 3+ characters by the pinyin of their first character (shorter ones collide)."""
    tax = load_taxonomy()
    words = {w for group in (tax.categories, tax.topics) for v in group.values() for w in v["words"]}
    words |= set(tax.item_words()) | {r["name"] for r in load_regions()}
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for w in sorted((w for w in words if len(w) >= 3), key=len, reverse=True):
        key = tuple(lazy_pinyin(list(w)))
        index.setdefault(key[0], []).append((key, w))
    return index


def fix_homophones(text: str) -> str:
    """Replace a run of characters that sounds exactly like a catalog word but is written otherwise."""
    index = _catalog_words()
    sounds = lazy_pinyin(list(text))
    out, i = [], 0
    while i < len(text):
        for key, word in index.get(sounds[i], ()):
            n = len(key)
            if tuple(sounds[i:i + n]) == key and all("\u4e00" <= c <= "\u9fff" for c in text[i:i + n]):
                out.append(word)
                i += n
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _dialect(text: str) -> str:
    for word, standard in sorted(_words()["dialect"].items(), key=lambda kv: -len(kv[0])):
        text = text.replace(word, standard)
    return text


def normalize(text: str) -> str:
    """The form of a user's message the NLU and the actions read."""
    return re.sub(r"\s+", " ", fix_homophones(_dialect(clean(text)))).strip()


def clean(text: str) -> str:
    """Normalize how the text is written (width, script, numerals, fillers, punctuation), not what it says."""
    if not text:
        return ""
    s = unicodedata.normalize("NFKC", text)
    s = zhconv.convert(s, "zh-cn")
    s = "".join(ch if unicodedata.category(ch)[0] in "LN" or ch in " -" else " " for ch in s)
    s = _numerals(s)
    for filler in _words()["fillers"]:
        s = s.replace(filler, " ")
    s = re.sub(r"([\u4e00-\u9fff])\1{2,}", r"\1\1", s)  # 啊啊啊啊 -> 啊啊 (keeps 谢谢, 看看)
    return re.sub(r"\s+", " ", s).strip()
