"""The learned reading of danger (language/situation.py) beside the rules: what it adds, what it never does."""

from __future__ import annotations

import pytest

from language import situation
from language.keywords import emergency_kind, keyword_intent
from language.normalize import normalize
from language.safety import assess
from language.situation import DATA, corpus, likelihood, likely_number, nlu_examples
from replies import templates

NUMBERS = {"120", "110", "119"}


def test_training_messages_are_well_formed_and_unique() -> None:
    data = corpus()
    assert len([t for t, n in data.emergencies if n]) >= 500 and len(data.ordinary) >= 2000
    assert all(t.strip() for t, _ in data.emergencies) and all(t.strip() for t in data.ordinary)
    assert {n for _, n in data.emergencies} <= NUMBERS | {""}
    nlu = {t for examples in nlu_examples().values() for t in examples}
    written = [t for t, n in data.emergencies if n] + [t for t in data.ordinary if t not in nlu]
    assert len(written) == len(set(written)) == len(data.ordinary) + len(data.emergencies) - len(nlu)
    assert sorted(p.name for p in (DATA / "safety").glob("*.yml")), "no training messages for the learned reading"


@pytest.mark.parametrize("text,first", [
    ("老爷子在菜地里干活，一头扎进沟里半天没爬起来", "120"),
    ("隔壁独居的阿婆今早没开门，屋里电视一直在响，喊她半天没动静", "120"),
])
def test_the_learned_reading_adds_what_no_cue_names(text: str, first: str) -> None:
    n = normalize(text)
    assert not assess(n).emergency  # the rules alone see no whole situation
    assert keyword_intent(n) == "emergency"
    assert likely_number(n) == first
    assert first in templates()[f"emergency_{emergency_kind(n)}".replace("emergency_default", "emergency")]


@pytest.mark.parametrize("text", [
    "就在钟楼旁边", "我住在东湖边上", "现在几点", "老爷子去年中风了，想租个轮椅", "我爸糖尿病多年，想找个家庭医生",
    "我要投诉，打了三次电话都没人接", "小区里有人摔倒的新闻看得我心慌", "想给我妈装个一键呼叫的设备，万一摔了能叫人",
])
def test_answers_requests_stories_and_prevention_stay_ordinary(text: str) -> None:
    assert keyword_intent(normalize(text)) != "emergency"


@pytest.mark.parametrize("text,kind", [
    ("我家老太太被两个陌生人领着往银行走，电话里说要去办理大额存单", "police"),
    ("我爸刚才在阳台上突然往后一仰，后脑勺磕在花盆上，眼睛闭着不吭声", "default"),
    ("楼下那户窗户里一直往外冒黑烟", "fire"),
])
def test_the_kind_comes_from_the_cues_else_from_the_learned_number(text: str, kind: str) -> None:
    assert emergency_kind(normalize(text)) == kind


def test_training_is_deterministic() -> None:
    n = normalize("外婆的嘴唇乌青，手捂着胸口往下滑")
    first = likelihood(n)
    assert 0.5 < first <= 1.0
    situation._model.cache_clear()
    likelihood.cache_clear()
    assert likelihood(n) == first
