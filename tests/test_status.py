"""Issue 17, items 3-4: status as data wherever a record is shown (text, payload, WeChat, SMS), planned buildings
never listed as open services, estimated distances called estimates, and service answers that attach what the
documents say about that service under an honest heading."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from actions.policies import ActionPolicy
from actions.services import ActionFindService, fact_lines, point_lines
from bot.channels.wechat.render import card
from bot.console.service import sms_for_point, sms_for_policy
from catalog import clock
from catalog.query import policy_status
from tests.test_actions import make_tracker, run


@pytest.fixture(autouse=True)
def _db(catalog_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", catalog_url)


def test_a_plan_ends_on_chinas_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """query.today is China's date (catalog/clock.py): the day after end_date the plan reads as ended."""
    import catalog.query as query

    assert query.today is clock.today
    monkeypatch.setattr(query, "today", lambda: date(2026, 1, 1))
    assert policy_status("in_effect", date(2025, 12, 31)) == "ended"
    assert policy_status("draft", date(2026, 1, 1)) == "draft"


def test_an_ended_plan_says_so_in_the_past_tense_and_gives_the_hotline() -> None:
    payload, text, _, _ = run(ActionPolicy(), make_tracker("江岸区家庭养老床位", "policy_family_care_bed", ["江岸区"]))
    assert payload["policy"]["id"] == "wuhan-family-care-bed" and payload["policy"]["status"] == "ended"
    assert payload["policy"]["level"] == "city"
    assert "已于2025年底结束" in text and "现在的规定请拨打12345" in text
    assert "省级·湖北省" in text and "（现行）" in text  # the province's 2025 measures, still in effect


def test_an_ended_record_without_a_date_still_reads_right() -> None:
    from replies.status import status_line

    line = status_line({"status": "ended", "end_date": None})
    assert "期限已过" in line and "12345" in line and "{" not in line


def test_a_draft_says_it_is_a_draft() -> None:
    payload, text, _, _ = run(ActionPolicy(), make_tracker("咸安区喘息服务", "policy_respite_care", ["咸安区"]))
    assert payload["policy"]["draft"] is True and "征求意见稿" in text


def test_planned_buildings_come_after_open_places_and_are_never_verified() -> None:
    payload, text, _, _ = run(ActionFindService(), make_tracker("江岸区养老院", "find_care_home", ["江岸区"]))
    statuses = [i["status"] for i in payload["items"]]
    assert "planned" in statuses and statuses == sorted(statuses, key=["open", "planned"].index)
    planned = [i for i in payload["items"] if i["status"] == "planned"]
    assert all(not i["verified"] and i["approximate"] for i in planned)
    head, _, tail = text.partition("规划建设项目")
    assert all(i["name"] not in head for i in planned) and all(i["name"] in tail for i in planned)
    assert "规划建设中" in tail and "出自：《武汉市养老服务体系建设“十四五”规划》" in tail


def test_a_planned_building_reads_as_planned_everywhere() -> None:
    point = {"id": "x", "name": "某区养老中心", "status": "planned", "verified": False, "approximate": True,
             "address": "某地块", "phone": None, "distance_km": 3.2}
    line = "\n".join(point_lines(1, point))
    assert "规划建设中" in line and "示例数据" not in line and "估算" in line
    assert "规划建设中" in card(point) and "估算" in card(point)
    assert "规划建设中" in sms_for_point(point)["text"]
    assert "规划期已结束" in sms_for_policy({"title": "某规划", "status": "ended"})["text"]


def test_estimated_distance_is_called_an_estimate() -> None:
    exact = {"id": "a", "name": "甲", "verified": False, "status": "open", "distance_km": 1.5, "approximate": False}
    rough = {**exact, "approximate": True}
    assert "估算" not in "\n".join(point_lines(1, exact))
    assert "约1.5公里" in "\n".join(point_lines(1, rough)) and "估算" in "\n".join(point_lines(1, rough))


def test_rental_answers_have_no_subsidy_heading_without_a_subsidy() -> None:
    payload, text, _, _ = run(ActionFindService(),
                              make_tracker("兰山区哪里租轮椅", "find_equipment_rental", ["兰山区", "轮椅"]))
    assert "补贴提示" not in text and "补贴规定" not in text
    assert "文件中与轮椅有关的内容" in text and "互助物资共享站" in text
    assert "省级·山东省" in text and "本市·临沂市" in text


def test_a_subsidy_record_gets_the_subsidy_heading() -> None:
    base = {"level": "city", "region": {"city": "某市"}, "title": "T", "status": "in_effect", "summary": "S",
            "source": {"document": "D", "clause": "C", "quote": "Q"}}
    lines = fact_lines([{**base, "subsidy": True}, {**base, "subsidy": False}], "老年助餐")
    assert lines[0] == "文件中与老年助餐有关的补贴规定：" and "补贴" not in lines[2]


@pytest.mark.parametrize(("message", "region", "words"), [
    ("兰山区孝善食堂", "兰山区", ("孝善食堂", "临沂市促进养老服务消费八项措施")),
    ("江汉区助餐有补贴吗", "江汉区", ("助餐", "湖北省")),
])
def test_a_service_question_gets_the_documents_words(message: str, region: str, words: tuple[str, ...]) -> None:
    payload, text, _, _ = run(ActionFindService(), make_tracker(message, "find_meal", [region]))
    facts = text.partition("文件中与老年助餐有关")[2]
    assert facts and all(w in facts for w in words)
    assert "来源：《" in facts and "：“" in facts  # document, clause and the verbatim quote


def test_a_subsidy_question_about_a_service_also_gets_that_services_facts() -> None:
    payload, text, _, _ = run(ActionPolicy(), make_tracker("江汉区助餐有补贴吗", "policy_care_subsidy", ["江汉区"]))
    assert payload["task"] == "policy" and payload["topic"] == "care_subsidy"
    facts = text.partition("文件中与老年助餐有关")[2]
    assert "湖北省" in facts and "来源：《" in facts


def test_nothing_ended_is_said_to_be_in_effect(session, regions) -> None:
    from catalog.query import policies_for

    yesterday = clock.today() - timedelta(days=1)
    for p in policies_for(session, regions, "family_care_bed", regions.resolve("咸安区").code):
        if p["end_date"] and date.fromisoformat(p["end_date"]) <= yesterday:
            assert p["status"] == "ended", p["id"]


def test_a_distance_says_how_far_it_can_be_trusted() -> None:
    """District-centre coordinates give an estimate; demo points' invented coordinates give an example only."""
    from replies.status import distance_line

    assert "估算" in distance_line({"distance_km": 1.2, "approximate": True, "verified": False})
    assert "示例坐标" in distance_line({"distance_km": 1.2, "verified": False, "source": "示例数据"})
    plain = distance_line({"distance_km": 1.2, "verified": True})
    assert "1.2" in plain and "估算" not in plain and "示例" not in plain
