"""Robustness as code: normalization, places, several needs, negation — and an eval set never trained on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from actions.context import mentioned_needs, negated_needs, place_problem
from language.needs import catalog_words
from language.normalize import chinese_number, clean, normalize
from language.situation import corpus

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("raw,expected", [
    ("我媽八十五歲了 住在漢陽區！！", "我妈85岁了住在汉阳区"),
    ("ＡＢＣ１２３　江汉区", "ABC123 江汉区"),
    ("嗯 那个那个 老人食堂在哪里😀😀", "老人食堂在哪里"),
    ("老人七十多岁了", "老人70多岁了"),
    ("第二个在哪", "第二个在哪"),
    ("一个人在家", "一个人在家"),
    ("啊啊啊啊救命", "啊啊救命"),
    ("<script>alert(1)</script>", "script alert 1 script"),
    ("\x00\x07控制字符\u200b", "控制字符"),
    ("养劳院在哪 高令津贴", "养老院在哪高龄津贴"),
    ("俺娘屋里冇得人照顾", "我娘家里没有人照顾"),
    ("乔口区助餐点", "硚口区助餐点"),
    ("重阳节 同城", "重阳节同城"),
    ("常护险怎么报", "长护险怎么报"),   # 长 read chang as well as zhang
    ("黄皮区的助餐点", "黄陂区的助餐点"),   # 陂 read pi in 黄陂
    ("要长期护理长护险能报吗", "要长期护理长护险能报吗"),   # no repair eats the start of another catalog word
    ("主欲服务多少钱", "助浴服务多少钱"),   # voice input before 服务
    ("这有助于服务老人", "这有助于服务老人"),
    ("能领么斯补贴", "能领什么补贴"),
    ("洗澡一氧化碳报警器", "洗澡一氧化碳报警器"),   # no repair (洗澡椅) breaks the start of a longer word
    ("想借个洗藻椅", "想借个洗澡椅"),
])
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize("numeral,value", [("八十五", 85), ("七十", 70), ("十", 10), ("一百零二", 102),
                                           ("一百", 100), ("十四五", None), ("两", 2)])
def test_chinese_number(numeral: str, value: int | None) -> None:
    assert chinese_number(numeral) == value


def test_unknown_and_ambiguous_places_are_asked_back(regions) -> None:
    assert place_problem("北京朝阳区有助餐点吗", regions) == ("北京", [])
    assert place_problem("海淀区有老年食堂吗", regions) == ("海淀区", [])
    name, options = place_problem("我在汉口 想找养老院", regions)
    assert name == "汉口" and "江汉区" in options
    for fine in ("武汉江岸区日间照料", "社区食堂在哪", "老人在县城住", "临沂市兰山区", "俺在费县",
                 "再查查本县有没有洗澡椅", "问一下该区的日托"):   # "this county": the one already known
        assert place_problem(fine, regions) is None, fine


def test_several_needs_in_order_and_negation() -> None:
    assert mentioned_needs("江汉区有没有助餐点 顺便问下能不能租轮椅") == ["find_meal", "find_equipment_rental"]
    assert mentioned_needs("不要养老院 要日间照料") == ["find_day_care"]
    assert negated_needs("不要养老院 要日间照料") == {"find_care_home"}
    assert mentioned_needs("想送老人去养老机构 江汉区哪家有护理床位") == ["find_care_home"]


EVAL_FILES = sorted((ROOT / "tests" / "eval").glob("*.yaml"))
SHARED_RUN = 8  # characters a test sentence may never share in a row with a training example


def _sentences(path: Path) -> set[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = {c["text"] for c in (data.get("cases") or []) + (data.get("safety") or [])}
    out |= {t["user"] for d in data.get("dialogues") or [] for t in d["turns"]}
    return out


def _training_examples() -> list[str]:
    """Every training message: data/nlu (all intents) and the learned reading's data/safety."""
    data = corpus()
    return [text for text, _ in data.emergencies] + data.ordinary


def _squeeze(s: str) -> str:
    return re.sub(r"[\W_]+", "", clean(s))


def test_eval_sentences_are_not_in_training_data() -> None:
    """The eval sets stay unseen: no test sentence inside a training example, and no run of 8 characters shared."""
    train = [_squeeze(t) for t in _training_examples()]
    runs = {t[i:i + SHARED_RUN] for t in train for i in range(len(t) - SHARED_RUN + 1)}
    leaks = []
    vocabulary = catalog_words()  # a bare catalog name ("家庭养老床位") is the catalog's word, not a phrasing
    for path in EVAL_FILES:
        for s in _sentences(path):
            q = _squeeze(s)
            if q in vocabulary:
                continue
            if len(q) >= 5 and any(q in t for t in train):
                leaks.append(f"{path.name}: {s} (inside a training example)")
            elif any(q[i:i + SHARED_RUN] in runs for i in range(len(q) - SHARED_RUN + 1)):
                leaks.append(f"{path.name}: {s} (shares {SHARED_RUN} characters in a row)")
    assert not leaks, f"{len(leaks)} leaks: {leaks[:30]}"


def test_no_eval_sentence_in_code_comments() -> None:
    """Code and data comments never quote a test sentence (of 6 characters or more)."""
    sentences = {_squeeze(s) for path in EVAL_FILES for s in _sentences(path)}
    sentences = {s for s in sentences if len(s) >= 6}
    found = []
    for package in ("actions", "bot", "catalog", "language", "replies", "data", "tools"):
        for f in (ROOT / package).rglob("*"):
            if f.suffix not in (".py", ".yml", ".yaml") or "generated" in f.parts:
                continue
            for line in f.read_text(encoding="utf-8").splitlines():
                if "#" in line:
                    comment = _squeeze(line.split("#", 1)[1])
                    found += [f"{f.name}: {s}" for s in sentences if s in comment]
    assert not found, found[:20]


@pytest.mark.parametrize("message,intent", [
    ("快来人啊 我妈晕倒在厨房了", "emergency"), ("爷爷下午出去散步走丢了", "emergency"),
    ("我要投诉你们这个服务", "handoff"), ("帮我转人工", "handoff"), ("你是真人吗", None),
    ("说了半天没用 给我转个人来", "handoff"), ("我要和工作人员通个电话", "handoff"), ("转个弯就到了吗", None),
    ("江汉区的助餐点", None),
])
def test_keyword_intents(message: str, intent: str | None) -> None:
    from language.keywords import keyword_intent

    assert keyword_intent(normalize(message)) == intent
