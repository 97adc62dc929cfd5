"""Text normalization before NLU: what voice input and phone keyboards do to a question.

Full-width to half-width, traditional to simplified (OpenCC), spaces between Chinese characters removed,
Chinese numbers to digits ("八十五岁" -> "85岁", cn2an), fillers and stutters of voice input, emoji and
punctuation, dialect words ("恁" -> "您"), and homophone typos of the catalog's own words ("养劳院" -> "养老院",
"轮倚" -> "轮椅", by pinyin). Nothing is rewritten inside a longer standard word ("怎么样" stays), and
normalize(normalize(x)) == normalize(x). Pure functions; the Rasa component in bot/nlu/normalizer.py and the
actions both call `normalize`, so entity offsets agree. Word lists: normalize.yml.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib.resources import files

import cn2an
from opencc import OpenCC
from pypinyin import Style, lazy_pinyin, pinyin

from catalog.lexicon import load_regions, load_taxonomy
from language.words import words

CJK = "\u4e00-\u9fff"
_CJK_GAP = re.compile(rf"(?<=[{CJK}])\s+(?=[{CJK}])")
NUMERAL_CHARS = "零〇一二两俩三四五六七八九十百千"
_NUMERAL = re.compile(f"[{NUMERAL_CHARS}]+")
_SPACED_NUMERAL = re.compile(rf"[{NUMERAL_CHARS}](?:\s*[{NUMERAL_CHARS}])*")
_DIGITS = dict(zip("零〇一二三四五六七八九", "00123456789", strict=True))
_T2S = OpenCC("t2s")
_REGION_ENDS = "省市区县"


def chinese_number(s: str) -> int | None:
    """Value of a well-formed Chinese numeral ("八十五" -> 85, "一百零二" -> 102, "两百" -> 200), else None."""
    if not s or s[0] in "俩" or not _NUMERAL.fullmatch(s):
        return None
    try:
        value = cn2an.cn2an(s.replace("两", "二").replace("〇", "零"), "strict")
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if float(value).is_integer() else None


def _numerals(text: str) -> str:
    """Numbers with 十/百/千 ("七十多", "第十个", "一百零二"), ages ("五岁") and years ("一九四五年", "五零年生")
    become digits; "第二个", "一个人", "十分", "千万", "三三两两" stay as they are."""
    counters = tuple(words("normalize")["numeral_counters"])

    def repl(m: re.Match) -> str:
        s, after = re.sub(r"\s+", "", m.group(0)), text[m.end():].lstrip()
        if after.startswith(("万", "亿")) or text[:m.start()].endswith(("万", "亿")):
            return m.group(0)  # "万一", "千万", and large sums stay as written
        if any(u in s for u in "十百千"):
            if s[0] in "百千" or (s == "十" and not after.startswith(counters)):
                return m.group(0)
            value = chinese_number(s)
        elif after.startswith(("岁", "周岁")) and len(s) == 1:
            value = chinese_number(s)
        elif ((len(s) == 4 and after.startswith("年")) or (len(s) == 2 and after.startswith(("年出生", "年生")))) \
                and all(c in _DIGITS for c in s):
            return "".join(_DIGITS[c] for c in s)
        else:
            return m.group(0)
        return m.group(0) if value is None else str(value)

    return _SPACED_NUMERAL.sub(repl, text)


@lru_cache(maxsize=1)
def _rewriter() -> tuple[re.Pattern, re.Pattern, re.Pattern, re.Pattern]:
    """Regexes for: standard words (protected), dialect words, fillers, and fillers that stand alone."""
    w = words("normalize")

    def alternation(items: list[str]) -> str:
        return "|".join(map(re.escape, sorted(items, key=len, reverse=True)))

    alone = f"(?:^|(?<=\\s))(?:{alternation(w['fillers_alone'])})+"
    return (re.compile(alternation(w["standard"])), re.compile(alternation(list(w["dialect"]))),
            re.compile(alternation(w["fillers"])), re.compile(alone))


def _rewrite(text: str, pattern: re.Pattern, replace: dict[str, str] | None) -> str:
    """Replace matches of `pattern` (by `replace`, or by a space), except inside a standard word."""
    protected = [m.span() for m in _rewriter()[0].finditer(text)]

    def repl(m: re.Match) -> str:
        if any(a < m.end() and m.start() < b for a, b in protected):
            return m.group(0)
        return replace[m.group(0)] if replace is not None else " "

    return pattern.sub(repl, text)


def _loose(syllable: str) -> str:
    """A toneless syllable as a southern speaker or a hurried typist may give it: zh/ch/sh as z/c/s, -ng as -n."""
    return re.sub(r"^([zcs])h", r"\1", syllable).removesuffix("g") if syllable.endswith("ng") \
        else re.sub(r"^([zcs])h", r"\1", syllable)


def _readings(word: str, style: Style) -> list[tuple[str, ...]]:
    """The word's syllables read character by character and as pypinyin's phrase ("黄陂" huang pi, "长护险" also
    chang)."""
    out = [tuple(lazy_pinyin(list(word), style=style)), tuple(lazy_pinyin(word, style=style))]
    first = pinyin(word[0], style=style, heteronym=True)[0]
    out += [(alt, *out[0][1:]) for alt in first[:3]]
    return list(dict.fromkeys(out))


def _short_district_names() -> set[str]:
    """Districts' and counties' two-character names without 区/县 ("蔡甸", "莒南"), as people say them."""
    return {a for r in load_regions() if r["level"] == "district" for a in r.get("aliases", ())
            if len(a) == 2 and a != r["name"]}


@lru_cache(maxsize=1)
def _catalog_words() -> dict[str, list[tuple[tuple[str, ...], str, str]]]:
    """Catalog words of 2+ characters by the loose pinyin of their first character, as (syllables, word, how the
    syllables compare: "toned", "plain" or "loose"), for every reading of the word. Two-character words are keyed
    with tones (fewer collisions), longer ones without; two-character item words also without tones ("论椅" is 轮椅
    when it is no word of its own), and every word loosely when at most one character in two is written wrong
    ("失知" is 失智, "高林金贴" 高龄津贴)."""
    tax = load_taxonomy()
    items = set(tax.item_words())
    names = {w for group in (tax.categories, tax.topics) for v in group.values() for w in v["words"]}
    names |= items | {r["name"] for r in load_regions()} | _short_district_names()
    index: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
    for w in sorted((w for w in names if len(w) >= 2 and re.fullmatch(f"[{CJK}]+", w)), key=len, reverse=True):
        entries = []
        for plain in _readings(w, Style.NORMAL):
            if len(w) > 2 or w in items:
                entries.append((plain, w, "plain"))
            entries.append((tuple(map(_loose, plain)), w, "loose"))
        if len(w) == 2:
            entries += [(toned, w, "toned") for toned in _readings(w, Style.TONE3)]
        for key, word, how in dict.fromkeys(entries):
            index.setdefault(_loose(key[0]), []).append((key, word, how))
    for bucket in index.values():  # longer words first; of one length, a word heard exactly before one heard loosely
        bucket.sort(key=lambda e: (-len(e[0]), e[2] == "loose"))
    return index


@lru_cache(maxsize=1)
def _starts() -> frozenset[str]:
    """Every catalog word, to keep a repair from eating the start of one ("护理长护险" is not 护理站 + 护险)."""
    tax = load_taxonomy()
    return frozenset({w for group in (tax.categories, tax.topics) for v in group.values() for w in v["words"]}
                     | set(tax.item_words()))


@lru_cache(maxsize=1)
def _place_names() -> frozenset[str]:
    """Streets, towns, communities and landmarks (towns.yml, landmarks.yml), also without 街道/镇/乡/社区/村: a place's
    own name is never a typo of a district's ("蔡店" is a town, not 蔡甸)."""
    towns = words("towns")
    names = {n for section in towns.values() for group in section.values() for n in group}
    names |= {n for group in words("landmarks")["landmarks"].values() for n in group}
    return frozenset(names | {re.sub("(街道|镇|乡|社区|村)$", "", n) for n in names})


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """Words of two to four characters of jieba's dictionary and our standard words: a typo is never one of them,
    nor inside one."""
    out = set()
    with (files("jieba") / "dict.txt").open(encoding="utf-8") as f:
        for line in f:
            word, freq, *_ = line.split(" ")
            if 2 <= len(word) <= 4 and int(freq) >= 3:
                out.add(word)
    out.update(words("normalize")["standard"])
    return frozenset(out)


def _is_typo(text: str, i: int, word: str) -> bool:
    """Whether the two characters at i, which sound like `word`, are a typo of it: no word of the dictionary covers
    either of them."""
    common = _common_words()
    spans = [(a, b) for a in range(max(0, i - 2), i + 2) for b in range(max(a + 2, i + 1), min(a + 4, len(text)) + 1)]
    return not any(text[a:b] in common for a, b in spans if (a, b) != (i, i + 2) or text[a:b] != word)


def _long_typo(text: str, i: int, word: str) -> bool:
    """Whether the run of three or more characters at i, which sounds like `word`, is a typo of it: no word of its
    own, and no character that differs from `word` starts or ends a word outside the run ("洗澡已经" is 洗澡 + 已经,
    not 洗澡椅 + 经; "一氧化碳" stays)."""
    n, common = len(word), _common_words()
    end = i + n - 1
    return text[i:i + n] not in common \
        and not (text[i] != word[0] and any(text[max(0, i - k):i + 1] in common for k in (1, 2, 3))) \
        and not (text[end] != word[-1] and any(text[end:end + k] in common for k in (2, 3, 4)))


def _before_service(text: str, i: int) -> bool:
    """Whether "服务" follows at i."""
    return text.startswith(tuple(words("normalize")["service_after"]), i)


def _service_typo(text: str, i: int, word: str) -> bool:
    """A pair sounding like `word` right before "服务" is that word ("助欲服务"), even where its first character makes
    a word with the one before ("有助"), unless the pair or the three characters ending it are a word ("有助于")."""
    common = _common_words()
    return _before_service(text, i + 2) and text[i:i + 2] not in common and text[max(0, i - 1):i + 2] not in common


def fix_homophones(text: str) -> str:
    """Replace a run of characters that sounds like a catalog word but is written otherwise.

    Three or more characters: same syllables, and the written run no word of its own (护理员 stays). Two
    characters: same syllables and tones (an item's name: tones aside; any word: loose syllables with one character
    written right), and neither the pair nor either character with its outer neighbour is a word of its own ("主餐",
    "住浴室" stay). Never a run with a function character the word lacks ("住不起" is no 助步器). A region's name
    only with its 省/市/区/县 written ("乔口区" is 硚口区; "临沂适老化" is 临沂 +
    适老化, not 临沂市 + 老化).
    """
    index = _catalog_words()
    plain = lazy_pinyin(list(text))
    sounds = {"plain": plain, "toned": lazy_pinyin(list(text), style=Style.TONE3), "loose": list(map(_loose, plain))}
    out, i = [], 0
    while i < len(text):
        for key, word, how in index.get(sounds["loose"][i], ()):
            n = len(key)
            written = text[i:i + n]
            if (tuple(sounds[how][i:i + n]) == key and re.fullmatch(f"[{CJK}]+", written)
                    and not set(written) - set(word) & set(words("normalize")["function_chars"])
                    and not any(text.startswith(w, j) for j in range(i + 1, i + n) for w in _starts()
                                if w != word and w not in word)
                    and (word[-1] not in _REGION_ENDS or written[-1] == word[-1])
                    and (written == word or written not in _place_names())
                    and (how != "loose" or sum(a != b for a, b in zip(written, word, strict=True)) <= max(1, n // 2)
                         or (n == 2 and _before_service(text, i + n)))
                    and (written == word or (_is_typo(text, i, word) or _service_typo(text, i, word) if n == 2
                                             else word[-1] in _REGION_ENDS or _long_typo(text, i, word)))):
                out.append(word)
                i += n
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _spaces(text: str) -> str:
    return re.sub(r"\s+", " ", _CJK_GAP.sub("", text)).strip()


@lru_cache(maxsize=4096)  # pure, and the actions read the same message several times in a turn
def normalize(text: str) -> str:
    """The form of a user's message the NLU and the actions read (a fixed point: normalizing it again changes
    nothing, even where one repair makes room for another)."""
    s = clean(text)
    for _ in range(3):
        new = _spaces(_numerals(fix_homophones(_rewrite(s, _rewriter()[1], words("normalize")["dialect"]))))
        if new == s:
            break
        s = new
    return s


def clean(text: str) -> str:
    """Normalize how the text is written (width, script, spaces, numerals, fillers, punctuation), not what it says."""
    if not text:
        return ""
    s = _T2S.convert(unicodedata.normalize("NFKC", text))
    s = re.sub(r"(?<=\d)\.(?=\d)", "点", s)  # a decimal point is read, not dropped: 血糖1.8 -> 血糖1点8
    s = "".join(ch if unicodedata.category(ch)[0] in "LN" or ch in " -" else " " for ch in s)
    _, _, fillers, alone = _rewriter()
    s = _rewrite(_rewrite(s, fillers, None), alone, None)
    s = _spaces(_numerals(s))
    s = re.sub(rf"([{CJK}])\1{{2,}}", r"\1\1", s)  # 啊啊啊啊 -> 啊啊 (keeps 谢谢, 看看)
    return _spaces(s)
