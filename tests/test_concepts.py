"""Things and needs described by what they do resolve through language/concepts.yml, not through sentences."""

from __future__ import annotations

import pytest

from language.concepts import catalog_needs, concept_item, concept_needs
from language.normalize import normalize


@pytest.mark.parametrize("message,item", [
    ("家里要一张能把上半身摇起来的床", "护理床"),
    ("找个能推老人去公园的带轮子座椅", "轮椅"),
    ("老人走路要扶着往前挪的铝合金架子", "助行器"),
    ("爷爷出门要拄的那种棍子", "拐杖"),
    ("晚上起夜不用去厕所 放床边的马桶凳", "坐便椅"),
    ("浴室里让老人坐着洗澡的小凳子", "洗澡椅"),
    ("长期躺着的老人用的 防压疮的充气垫", "防褥疮床垫"),
    ("家里用来吸氧的机器", "制氧机"),
    ("不要轮椅 要走路时扶的架子", "助行器"),
    ("江汉区有没有助餐点", None),
])
def test_items_described_by_what_they_do(message: str, item: str | None) -> None:
    assert concept_item(normalize(message)) == item


@pytest.mark.parametrize("message,need", [
    ("我妈做不了饭 想每天有人送饭上门", "find_meal"),
    ("大儿子不给老人生活费 想找人讨个说法", "find_legal_aid"),
    ("老父亲最近老是忘事 认不出人 想找个能照护的机构", "find_dementia_care"),
    ("老人出院后想白天有个地方照看一下", "find_day_care"),
    ("想找人上门帮老人搞卫生", "find_cleaning"),
    ("老人想学书法 有地方上课吗", "find_senior_education"),
    ("老人有残疾证 能领点什么补贴", "eligibility"),
    ("公办敬老院住进去要办啥手续", "policy_care_home_admission"),
])
def test_needs_described_by_what_they_do(message: str, need: str) -> None:
    assert concept_needs(normalize(message))[0] == need


def test_catalog_names_in_order() -> None:
    assert catalog_needs("助餐点和养老院") == ["find_meal", "find_care_home"]
