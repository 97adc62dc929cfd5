"""Actions with tracker fixtures (the pattern of Rasa's demo assistants): one payload per turn, true content."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import ActionClarify, ActionEmergency, ActionFollowUp, ActionHandoff, ActionOutOfScope
from actions.eligibility import ActionEligibility, ValidateEligibilityForm
from actions.policies import ActionPolicy
from actions.services import ActionFindService
from bot.nlu.keyword_intents import decide
from language.normalize import normalize
from replies.contract import validate_turn


def make_tracker(text: str, intent: str, entities: list[dict] | None = None, slots: dict | None = None,
                 events: list[dict] | None = None, active_loop: dict | None = None,
                 metadata: dict | None = None) -> Tracker:
    text = normalize(text)
    ents = []
    for e in entities or []:
        surface, value = (e, e) if isinstance(e, str) else e
        start = text.index(surface)
        entity = "item" if value in ("轮椅", "护理床", "助行器", "坐便椅") else "region"
        ents.append({"entity": entity, "value": value, "start": start, "end": start + len(surface), "text": surface})
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": ents,
              "intent_ranking": [{"name": intent, "confidence": 0.9}], "metadata": metadata or {}}
    return Tracker("test-user", slots or {}, latest, events or [], False, None, active_loop or {}, "action_listen")


def run(action, tracker: Tracker) -> tuple[dict, str, list[dict], list]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    payload = validate_turn(dispatcher.messages)  # exactly one custom payload, schema-valid
    text = "\n".join(m["text"] for m in dispatcher.messages if m.get("text"))
    buttons = [b for m in dispatcher.messages for b in m.get("buttons") or []]
    return dict(payload), text, buttons, events


def slots_of(events: list) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


@pytest.fixture(autouse=True)
def _db(catalog_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", catalog_url)


def test_find_service_in_district_lists_points_with_labels() -> None:
    payload, text, _, events = run(ActionFindService(), make_tracker("江汉区有助餐点吗", "find_meal", ["江汉区"]))
    assert payload["task"] == "find_service" and payload["category"] == "meal"
    assert payload["region"] == {"province": "湖北省", "city": "武汉市", "district": "江汉区"}
    assert 1 <= len(payload["items"]) <= 5
    for n, item in enumerate(payload["items"], 1):  # items in the text's order, each unverified one labelled
        assert item["district"] == "江汉区" and item["address"] and item["phone"]
        labelled = f"{n}. {item['name']}（示例数据，请以电话核实为准）" in text
        assert labelled != item["verified"], item["name"]
    assert slots_of(events)["last_items"] == [i["id"] for i in payload["items"]]


def test_find_service_without_region_asks_for_it() -> None:
    payload, text, buttons, _ = run(ActionFindService(), make_tracker("哪里有老年食堂", "find_meal"))
    assert payload["ask"] == "region" and payload["items"] == []
    assert "哪个区" in text and {b["title"] for b in buttons} >= {"武汉市", "临沂市"}


def test_region_only_repeats_last_search_there() -> None:
    slots = {"category": "meal", "last_task": "find_service", "region_code": "420106"}
    payload, _, _, _ = run(ActionFollowUp(), make_tracker("那汉阳区呢", "inform", ["汉阳区"], slots))
    assert payload["category"] == "meal" and payload["region"]["district"] == "汉阳区"
    assert payload["items"] and all(i["district"] == "汉阳区" for i in payload["items"])


def test_correction_takes_the_place_not_negated() -> None:
    slots = {"category": "day_care", "last_task": "find_service"}
    tracker = make_tracker("不是江汉区 是汉阳区", "inform", ["江汉区", "汉阳区"], slots)
    payload, _, _, _ = run(ActionFollowUp(), tracker)
    assert payload["region"]["district"] == "汉阳区"


def test_ambiguous_place_is_read_in_the_conversations_city() -> None:
    slots = {"category": "meal", "last_task": "find_service", "region_code": "420106"}  # the user said 武昌 before
    payload, _, _, _ = run(ActionFollowUp(), make_tracker("那青山呢", "inform", [], slots))
    assert payload["region"]["district"] == "青山区"
    payload, texts, _, _ = run(ActionFindService(), make_tracker("青山有没有老年食堂", "find_meal"))
    assert payload["region"]["district"] == "青山区"  # nothing says which: the usual 青山, and how to ask for the other
    assert "崇阳县" in texts
    _, texts, _, _ = run(ActionFollowUp(), make_tracker("那青山呢", "inform", [], slots))
    assert "崇阳县" not in texts  # the conversation said which


def test_landmark_with_a_city_name_gives_its_district() -> None:
    tracker = make_tracker("临沂市人民医院边上有养老院吗", "find_care_home", ["临沂市"])
    payload, _, _, _ = run(ActionFindService(), tracker)
    assert payload["region"]["district"] == "兰山区"


def test_a_question_tail_is_no_negation() -> None:
    tracker = make_tracker("上门送饭行不 在费县", "find_meal", ["费县"])
    payload, _, _, _ = run(ActionFindService(), tracker)
    assert payload["region"]["district"] == "费县"


def test_an_a_not_a_question_is_no_negation() -> None:
    tracker = make_tracker("高龄津贴今年是不是调了 江夏区", "policy_high_age_allowance", ["江夏区"])
    payload, _, _, _ = run(ActionPolicy(), tracker)
    assert payload["region"]["district"] == "江夏区"


def test_item_keeps_region_and_switches_item() -> None:
    slots = {"category": "equipment_rental", "item": "轮椅", "last_task": "find_service", "region_code": "420103"}
    payload, text, _, _ = run(ActionFollowUp(), make_tracker("那护理床呢", "inform", ["护理床"], slots))
    assert payload["item"] == "护理床" and payload["region"]["district"] == "江汉区"
    assert all("护理床" in [i["name"] for i in it["items"]] for it in payload["items"])
    assert "押金" in text


def test_ordinal_follow_up_gives_that_point() -> None:
    _, _, _, events = run(ActionFindService(), make_tracker("洪山区养老院", "find_care_home", ["洪山区"]))
    slots = slots_of(events)
    payload, text, _, _ = run(ActionFollowUp(), make_tracker("第二家电话多少", "ask_detail", slots=slots))
    assert payload["category"] == "care_home"
    assert payload["items"][0]["id"] == slots["last_items"][1]
    assert payload["items"][0]["phone"] in text


def test_policy_most_local_with_source_and_guidance_label() -> None:
    payload, text, _, events = run(ActionPolicy(),
                                   make_tracker("江岸区家庭养老床位怎么申请", "policy_family_care_bed", ["江岸区"]))
    pol = payload["policy"]
    assert payload["task"] == "policy" and payload["topic"] == "family_care_bed"
    assert pol["region"]["city"] == "武汉市"
    assert pol["source"]["document"] in text and pol["source"]["quote"] in text
    assert "一般办理路径" in text  # the documents give no steps: say so
    follow, ftext, _, _ = run(ActionFollowUp(), make_tracker("要带什么材料", "ask_detail", slots=slots_of(events)))
    assert follow["topic"] == "family_care_bed" and "所需材料" in ftext


def test_policy_without_region_asks() -> None:
    payload, _, _, _ = run(ActionPolicy(), make_tracker("高龄津贴怎么申请", "policy_high_age_allowance"))
    assert payload["task"] == "policy" and payload["topic"] == "high_age_allowance" and payload["ask"] == "region"


def test_policy_absent_says_so_without_inventing() -> None:
    payload, text, _, _ = run(ActionPolicy(), make_tracker("兰山区高龄津贴", "policy_high_age_allowance", ["兰山区"]))
    assert payload["policy"] is None and "暂未收录" in text and "12345" in text


@pytest.mark.parametrize("message,first", [("我妈摔倒了起不来", "120"), ("我爸走丢了找不到", "110")])
def test_emergency_first_words_are_the_number(message: str, first: str) -> None:
    payload, text, _, _ = run(ActionEmergency(), make_tracker(message, "emergency"))
    assert payload["task"] == "emergency" and payload["ask"] is None
    assert first in text.splitlines()[0]


def test_handoff_flags_the_conversation() -> None:
    payload, text, _, events = run(ActionHandoff(), make_tracker("转人工", "handoff"))
    assert payload["task"] == "handoff" and "12345" in text
    assert slots_of(events)["handoff"] is True


def test_database_down_gives_the_hotline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    payload, text, _, _ = run(ActionFindService(), make_tracker("江汉区助餐点", "find_meal", ["江汉区"]))
    assert payload["task"] == "find_service" and "12345" in text


def test_clarify_twice_offers_the_hotline() -> None:
    events = [{"event": "user", "text": "x"}, {"event": "action", "name": "action_clarify"},
              {"event": "action", "name": "action_listen"}, {"event": "user", "text": "y"}]
    _, first, buttons, _ = run(ActionClarify(), make_tracker("啊这个", "nlu_fallback"))
    assert buttons
    _, second, _, _ = run(ActionClarify(), make_tracker("嗯嗯那个", "nlu_fallback", events=events))
    assert "12345" in second and "12345" not in first


def test_form_reads_several_answers_in_one_message() -> None:
    tracker = make_tracker("82岁 半失能 低保户 住在汉阳", "inform", [("汉阳", "汉阳")],
                           active_loop={"name": "eligibility_form"})
    tracker.slots["requested_slot"] = "age"
    dispatcher = CollectingDispatcher()
    domain = {"forms": {"eligibility_form": {"required_slots": ["region_code", "age", "self_care", "economic"]}},
              "slots": {s: {} for s in ("region_code", "age", "self_care", "economic", "requested_slot")}}
    events = asyncio.run(ValidateEligibilityForm().run(dispatcher, tracker, domain))
    got = slots_of(events)
    assert got["age"] == 82 and got["self_care"] == "半失能" and got["economic"] == "低保"
    assert got["region_code"] == "420105"


def test_eligibility_answer_lists_policies_of_the_place() -> None:
    slots = {"region_code": "420105", "age": 82.0, "self_care": "半失能", "economic": "低保"}
    payload, text, buttons, _ = run(ActionEligibility(), make_tracker("", "inform", slots=slots))
    assert payload["task"] == "eligibility" and payload["region"]["district"] == "汉阳区"
    assert payload["policies"] and buttons and "82岁" in text


def test_kiosk_place_answers_without_asking() -> None:
    kiosk = {"region": "兰山区", "lat": 35.0518, "lng": 118.3478}
    payload, _, _, _ = run(ActionFindService(), make_tracker("找助餐点", "find_meal", metadata=kiosk))
    assert payload["ask"] is None and payload["region"]["district"] == "兰山区"
    near, text, _, _ = run(ActionFindService(), make_tracker("离这最近的养老院", "find_care_home", metadata=kiosk))
    dists = [i["distance_km"] for i in near["items"]]
    assert dists and dists == sorted(dists) and "距离" in text


def test_shared_location_uses_the_conversation_category() -> None:
    from actions.services import ActionNearby

    tracker = make_tracker("/share_location", "share_location", slots={"category": "meal"})
    tracker.latest_message["entities"] = [{"entity": "lat", "value": 30.6}, {"entity": "lng", "value": 114.27}]
    payload, _, _, _ = run(ActionNearby(), tracker)
    assert payload["category"] == "meal" and payload["items"][0]["distance_km"] < 3


def test_location_first_then_service_uses_the_location() -> None:
    from actions.services import ActionNearby

    tracker = make_tracker("/share_location", "share_location")
    tracker.latest_message["entities"] = [{"entity": "lat", "value": 35.05}, {"entity": "lng", "value": 118.35}]
    asked, _, buttons, events = run(ActionNearby(), tracker)
    assert asked["ask"] == "category" and buttons
    payload, text, _, _ = run(ActionFindService(), make_tracker("找养老院", "find_care_home", slots=slots_of(events)))
    assert payload["ask"] is None and payload["items"][0]["distance_km"] < 10 and "距离" in text


def test_two_needs_answer_the_first_and_offer_the_second() -> None:
    tracker = make_tracker("江汉区有没有助餐点 顺便问下能不能租轮椅", "find_equipment_rental", ["江汉区", "轮椅"])
    payload, text, buttons, _ = run(ActionFindService(), tracker)
    assert payload["category"] == "meal" and payload["region"]["district"] == "江汉区"
    assert any(b["payload"].startswith("/find_equipment_rental") and "轮椅" in b["payload"] for b in buttons)
    assert "您还问到了" in text


def test_renting_an_item_wins_over_the_service_words() -> None:
    payload, _, _, _ = run(ActionFindService(), make_tracker("老人洗澡站不稳 想租个坐便椅", "find_bathing", ["坐便椅"]))
    assert payload["category"] == "equipment_rental" and payload["item"] == "坐便椅"


def test_a_policy_about_rental_stays_a_policy() -> None:
    tracker = make_tracker("临沂长护险能报销租护理床的钱吗", "policy_ltc_insurance", [("临沂", "临沂"), "护理床"])
    payload, _, _, _ = run(ActionPolicy(), tracker)
    assert payload["task"] == "policy" and payload["topic"] == "ltc_insurance"


def test_a_city_around_the_known_district_keeps_the_district() -> None:
    """"临沂的日托" after a search in 河东区: the city named is the one the district lies in, so the district stays."""
    payload, _, _, _ = run(ActionFindService(), make_tracker("临沂的日托有哪些", "find_day_care", ["临沂"],
                                                              slots={"region_code": "371312", "category": "day_care",
                                                                     "last_task": "find_service"}))
    assert payload["region"]["district"] == "河东区"


def test_the_nth_place_after_a_policy_question_is_the_list() -> None:
    """A policy asked in between; "第一个食堂几点开门" still asks about the canteens listed before it."""
    listed, _, _, events = run(ActionFindService(), make_tracker("咸安区老年食堂", "find_meal", ["咸安区"]))
    slots = slots_of(events) | {"last_task": "policy", "topic": "high_age_allowance", "category": None}
    payload, text, _, events = run(ActionFollowUp(), make_tracker("那第一个食堂几点开门", "ask_detail", slots=slots))
    assert payload["task"] == "find_service" and payload["category"] == "meal"
    assert [i["id"] for i in payload["items"]] == [listed["items"][0]["id"]]
    assert slots_of(events)["category"] == "meal"


def test_an_age_told_after_a_policy_answer_keeps_the_policy() -> None:
    """The person's age given on its own after a policy answer: the same policy again, not "I can't help"."""
    slots = {"last_task": "policy", "topic": "high_age_allowance", "region_code": "420103"}
    payload, _, _, _ = run(ActionOutOfScope(), make_tracker("我爸今年八十七了", "out_of_scope", slots=slots))
    assert payload["task"] == "policy" and payload["topic"] == "high_age_allowance"
    assert payload["region"]["district"] == "江汉区"


def test_how_much_is_paid_back_after_a_policy_answer_keeps_the_policy() -> None:
    slots = {"last_task": "policy", "topic": "ltc_insurance", "region_code": "371326"}
    payload, _, _, _ = run(ActionClarify(), make_tracker("我妈卧床好几年了 这个给报多少", "nlu_fallback", slots=slots))
    assert payload["task"] == "policy" and payload["topic"] == "ltc_insurance"


def test_nearby_an_unknown_spot_after_a_list_lists_the_same_service_again() -> None:
    slots = {"last_task": "find_service", "category": "care_home", "region_code": "371327"}
    payload, _, _, _ = run(ActionClarify(), make_tracker("大桥头那边还有没有", "nlu_fallback", slots=slots))
    assert payload["task"] == "find_service" and payload["category"] == "care_home"
    assert payload["region"]["district"] == "莒南县"


def test_this_policy_asked_for_another_place_is_the_same_policy_there() -> None:
    text = "那赤壁市有没有这个政策 我公公在那边"
    assert decide(normalize(text), "eligibility", []) == "inform"
    slots = {"last_task": "policy", "topic": "ltc_insurance", "region_code": "420103"}
    payload, _, _, _ = run(ActionFollowUp(), make_tracker(text, "inform", ["赤壁市"], slots=slots))
    assert payload["task"] == "policy" and payload["topic"] == "ltc_insurance"
    assert payload["region"]["district"] == "赤壁市"
