"""Demo data cannot be mistaken for fact: every demo point passes the generator's rules, the rules catch each kind
of invented fact the audit found, and the files are exactly what the generator writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog.lexicon import DATA_DIR
from tools import gen_demo_points as gen

DEMO_FILES = sorted((DATA_DIR / "services").glob("demo_*.yaml"))


def _points() -> list[dict]:
    return [p for path in DEMO_FILES for p in yaml.safe_load(path.read_text(encoding="utf-8"))["service_points"]]


def test_every_demo_point_cannot_be_mistaken_for_fact() -> None:
    points = _points()
    assert len(DEMO_FILES) == 3 and len(points) > 400
    for p in points:
        assert gen.demo_problems(p) == [], p["id"]
        assert "last_verified" not in p and p["verified"] is False and p["source"] == "示例数据", p["id"]


GOOD = {"id": "wh-420102-meal-1", "name": "示例·江岸区助餐点1号", "address": "武汉市江岸区黄浦大街（示例地址）",
        "price": "午餐14元/份", "offers": ["堂食"], "serves": "老年人", "verified": False, "source": "示例数据"}


@pytest.mark.parametrize("change", [
    {"name": "武昌区老年大学彭刘杨路教学点"},                      # a real public body
    {"name": "示例·鱼岳镇卫生院医养结合护理站"},
    {"name": "示例·江岸区公共法律服务中心工作站"},
    {"name": "大智街道综合养老服务中心（养老顾问点）"},
    {"name": "泰宁社区长者食堂"},                                  # not marked 示例
    {"address": "武汉市江岸区洞庭街155号（示例地址）"},             # a real street with a house number
    {"address": "武汉市江岸区洞庭街"},
    {"price": "午餐13元/份；60-79周岁老人11元/份，80周岁以上9元/份"},  # age tiers
    {"serves": "辖区60周岁以上老年人"},                            # an age
    {"offers": ["堂食", "助餐补贴"]},                              # a subsidy
    {"serves": "辖区居家老年人，特殊困难老年人优先"},
    {"price": "老人价8元，高龄老人免费"},
    {"last_verified": "2026-11-01"},                               # nobody verified invented data
    {"verified": True},
])
def test_the_rules_catch_each_kind_of_invented_fact(change: dict) -> None:
    assert gen.demo_problems(GOOD) == []
    assert gen.demo_problems({**GOOD, **change}), change


def test_the_files_are_what_the_generator_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gen, "OUT", tmp_path)
    gen.generate()
    for path in DEMO_FILES:
        assert (tmp_path / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), path.name
