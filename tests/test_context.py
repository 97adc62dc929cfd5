"""Context: a new session keeps only the region, a side question keeps the form, unsure replies offer real options,
and the intent decided from situations, phrases and described needs."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk.executor import CollectingDispatcher
from test_actions import _db, make_tracker, run, slots_of  # noqa: F401  (_db: the autouse catalog fixture)

from actions.conversation import ActionChitchat, ActionClarify, ActionEmergency, ActionSessionStart
from actions.eligibility import answers_the_form
from actions.policies import ActionPolicy
from bot.nlu.keyword_intents import decide
from language.normalize import normalize


def test_new_session_keeps_only_the_region() -> None:
    slots = {"region_code": "420103", "user_point": [30.6, 114.3], "age": 80.0, "economic": "低保",
             "handoff": True, "last_items": ["a", "b"], "category": "meal"}
    tracker = make_tracker("", "greet", slots=slots)
    events = asyncio.run(ActionSessionStart().run(CollectingDispatcher(), tracker, {}))
    assert [e["event"] for e in events] == ["session_started", "slot", "action"]
    assert slots_of(events) == {"region_code": "420103"}


def test_side_question_keeps_the_form_and_asks_again() -> None:
    slots = {"region_code": "371302", "requested_slot": "age"}
    tracker = make_tracker("你是机器人吗", "bot_challenge", slots=slots, active_loop={"name": "eligibility_form"})
    payload, text, _, events = run(ActionChitchat(), tracker)
    assert payload["task"] == "chitchat" and "多大年纪" in text.splitlines()[-1]
    assert {"event": "active_loop", "name": "eligibility_form"} in [
        {k: e.get(k) for k in ("event", "name")} for e in events]
    assert any(e.get("event") == "followup" and e.get("name") == "action_listen" for e in events)


def test_policy_side_question_keeps_the_form() -> None:
    slots = {"region_code": "371302", "requested_slot": "age"}
    tracker = make_tracker("高龄津贴一年发几次", "policy_high_age_allowance", slots=slots,
                           active_loop={"name": "eligibility_form"})
    payload, text, _, events = run(ActionPolicy(), tracker)
    assert payload["task"] == "policy" and "多大年纪" in text
    assert not any(e.get("event") == "active_loop" and e.get("name") is None for e in events)


def test_emergency_ends_the_form() -> None:
    tracker = make_tracker("老人突然叫不醒了", "emergency", slots={"requested_slot": "age"},
                           active_loop={"name": "eligibility_form"})
    _, text, _, events = run(ActionEmergency(), tracker)
    assert "120" in text.splitlines()[0]
    assert any(e.get("event") == "active_loop" and e.get("name") is None for e in events)


@pytest.mark.parametrize("message,name,answers", [
    ("七十九岁了", "out_of_scope", True), ("七十九岁了", "nlu_fallback", True), ("住在江夏", "inform", True),
    ("他八十二 能照顾自己", "policy_care_subsidy", True), ("高龄津贴每月多少", "policy_high_age_allowance", False),
    ("江汉区的助餐点", "find_meal", False), ("转人工", "handoff", False), ("你好", "greet", False),
])
def test_what_answers_the_form(message: str, name: str, answers: bool) -> None:
    assert answers_the_form(name, normalize(message)) is answers


def test_filler_gets_real_options() -> None:
    tracker = make_tracker("嗯。", "nlu_fallback")
    tracker.latest_message["intent_ranking"] = [{"name": "nlu_fallback", "confidence": 0.9}]
    payload, text, buttons, _ = run(ActionClarify(), tracker)
    titles = [b["title"] for b in buttons]
    assert len(titles) >= 3 and "都不是" not in titles and text


def test_described_need_answers_an_unsure_message() -> None:
    payload, _, _, _ = run(ActionClarify(), make_tracker("老人做不动饭了 想天天有人送饭来", "nlu_fallback"))
    assert payload["task"] == "find_service" and payload["category"] == "meal"


@pytest.mark.parametrize("message,top,want", [
    ("外婆以前迷路过一次 想找个日托 白天有人看着", "emergency", "find_day_care"),
    ("家里老人一早出门 到天黑还没回来 电话打不通", "out_of_scope", "emergency"),
    ("别跟机器人说了 给我找个真人来", "out_of_scope", "handoff"),
    ("老人有残疾证 政府能给点啥", "out_of_scope", "eligibility"),
    ("公家办的养老院 要排队轮候吗 入住要啥条件", "find_care_home", "policy_care_home_admission"),
    ("公办养老院 洪山区有几家", "policy_care_home_admission", "find_care_home"),
    ("想借个放浴室里坐着洗澡的凳子", "find_bathing", "find_equipment_rental"),
    ("全市的助餐点列一下", "out_of_scope", "find_meal"),
    ("江汉区助餐点", "find_meal", "find_meal"),
    ("借轮椅花的钱 长护险给不给报销", "find_equipment_rental", "policy_ltc_insurance"),
    ("外公前几年被保健品骗过 现在想报个老年大学学画画", "find_legal_aid", "find_senior_education"),
    ("大伯无儿无女 想问政府能不能供养他", "find_care_home", "policy_special_hardship"),
    ("听说有政府出钱派护工上门照料老人的 怎么弄", "eligibility", "policy_care_subsidy"),
    ("老爸坐轮椅好几年了 想找个日间照料中心", "find_equipment_rental", "find_day_care"),
    ("在吗", "nlu_fallback", "greet"),
])
def test_intent_decided_by_meaning(message: str, top: str, want: str) -> None:
    assert decide(normalize(message), top, ["find_day_care", "out_of_scope"]) == want


def test_unreadable_answer_during_the_form_asks_again() -> None:
    slots = {"region_code": "420111", "requested_slot": "economic"}
    tracker = make_tracker("这个嘛 说不好", "out_of_scope", slots=slots, active_loop={"name": "eligibility_form"})
    payload, text, buttons, events = run(ActionClarify(), tracker)
    assert payload["task"] == "eligibility" and payload["ask"] == "economic" and buttons
    assert any(e.get("event") == "followup" for e in events)


def test_a_place_answers_the_question_the_bot_asked() -> None:
    slots = {"category": "day_care", "last_task": "find_service"}
    payload, _, _, _ = run(ActionClarify(), make_tracker("在武汉青山", "nlu_fallback", [("青山", "青山区")],
                                                         slots=slots))
    assert payload["task"] == "find_service" and payload["category"] == "day_care"
    assert payload["region"]["district"] == "青山区"


def test_city_wide_question_lists_the_city() -> None:
    from actions.services import ActionFindService

    slots = {"region_code": "420103", "category": "meal", "last_task": "find_service"}
    payload, _, _, _ = run(ActionFindService(), make_tracker("全市范围的助餐点都列出来", "find_meal", slots=slots))
    assert payload["region"]["city"] == "武汉市" and payload["region"]["district"] is None
    assert len({i["district"] for i in payload["items"]}) > 1


def test_deposit_question_with_a_status_is_about_the_list() -> None:
    assert decide(normalize("押金要交多少 我们家吃低保的"), "eligibility", []) == "ask_detail"


@pytest.mark.parametrize("message,numbers", [
    ("隔壁独居的大爷四天没出门了 门一直关着 敲门没人应", ("110", "120")),
    ("老人屋里冒浓烟 人还在里面", ("119",)),
    ("外婆早上出去遛弯 到现在没回来 电话一直打不通", ("110",)),
    ("奶奶在厕所摔倒了 爬不起来 一直喊疼", ("120",)),
])
def test_emergency_first_text_names_the_numbers(message: str, numbers: tuple[str, ...]) -> None:
    payload, text, _, _ = run(ActionEmergency(), make_tracker(message, "emergency"))
    assert payload["task"] == "emergency" and all(n in text.splitlines()[0] for n in numbers)


def test_a_year_of_birth_answers_the_age_question() -> None:
    from language.numbers import age

    assert age(normalize("嗯 她一九三八年的 自己能照顾自己"), 2026) == 88
    assert age(normalize("我们在这住了五十年的老房子"), 2026) is None


@pytest.mark.parametrize("message,name", [
    ("她家在江岸那边", "inform"), ("俺娘1941年的 自个儿过 还能自理", "inform"),
    ("他一个人住 身体还行", "out_of_scope"),
])
def test_facts_answer_the_eligibility_form(message: str, name: str) -> None:
    assert answers_the_form(decide(normalize(message), name, []) or name, normalize(message))


def test_a_detail_of_the_list_keeps_its_service() -> None:
    from actions.conversation import ActionFollowUp

    message = "那几家在哪 怎么过去"
    assert decide(normalize(message), "out_of_scope", []) == "ask_detail"
    slots = {"region_code": "420111", "category": "legal_aid", "last_task": "find_service"}
    payload, _, _, _ = run(ActionFollowUp(), make_tracker(message, "ask_detail", slots=slots))
    assert payload["task"] == "find_service" and payload["category"] == "legal_aid"
