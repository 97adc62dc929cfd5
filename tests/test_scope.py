"""Issue 17, items 1-2: every policy whose region contains the place reaches it, labelled with its level; the
eligibility answer checks the documents' conditions first and says why a policy matches or what to ask."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from actions.policies import answer_policy
from catalog.conditions import Person, check, load_terms
from catalog.lexicon import load_taxonomy
from catalog.models import Policy
from catalog.query import matching_policies, policies_for
from tests.test_actions import make_tracker, run

LEVELS = ["district", "city", "province"]
LEVEL_WORDS = {"province": "省级", "city": "本市"}


@pytest.fixture(autouse=True)
def _db(catalog_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", catalog_url)


def _districts(regions) -> list:
    return [r for r in regions.all() if r.level == "district"]


def test_there_are_31_districts(regions) -> None:
    assert len(_districts(regions)) == 31


@pytest.mark.parametrize("topic", list(load_taxonomy().topics))
def test_every_record_above_a_district_reaches_it_most_local_first(session, regions, topic: str) -> None:
    records = list(session.scalars(select(Policy).where(Policy.topic == topic)))
    for district in _districts(regions):
        chain = regions.chain(district.code)
        found = policies_for(session, regions, topic, district.code)
        shown = {p["id"] for p in found} | {m["id"] for p in found for m in p["merged"]}
        assert shown == {r.id for r in records if r.region_code in chain}, (district.name, topic)
        ranks = [LEVELS.index(p["level"]) for p in found]
        assert ranks == sorted(ranks), (district.name, topic)


@pytest.mark.parametrize("topic", list(load_taxonomy().topics))
def test_the_policy_answer_names_each_document_with_its_level(session, regions, topic: str) -> None:
    for district in _districts(regions):
        place = regions.place(district.code)
        found = policies_for(session, regions, topic, district.code)
        reply, _ = answer_policy(session, regions, topic, place)
        text = "\n".join(reply.texts)
        for p in found:
            assert p["title"] in text and p["source"]["document"] in text, (district.name, p["id"])
            region = p["region"]["city"] or p["region"]["province"]
            assert f"{LEVEL_WORDS[p['level']]}·{region}" in text, (district.name, p["id"])


def test_records_of_one_document_and_topic_are_merged(session, regions) -> None:
    found = policies_for(session, regions, "home_adaptation", regions.resolve("咸安区").code)
    docs = [(p["source"]["document"], p["topic"]) for p in found]
    assert len(docs) == len(set(docs))
    xianning = next(p for p in found if p["level"] == "city")
    assert xianning["merged"] and all(m["source"]["document"] == xianning["source"]["document"]
                                      for m in xianning["merged"])


RESTRICTING = {"失能", "半失能", "失智", "长期照护对象", "经济困难", "低保", "特困", "高龄", "特殊困难"}


def test_a_self_reliant_62_year_old_of_ordinary_income_gets_no_restricted_policy(session, regions) -> None:
    found, to_check = matching_policies(session, regions, regions.resolve("江岸区").code,
                                        Person(62, "能自理", "一般"), list(load_taxonomy().topics))
    assert found
    for p, v in found:
        cond = p["conditions"]
        words = {w for group in cond.get("requires") or [] for w in group}
        assert not words & RESTRICTING and not cond.get("self_care") and not cond.get("economic"), p["id"]
        assert v.result == "yes"
    checked = {p["id"]: v for p, v in to_check}
    assert "wuhan-respite-care" in checked and "失智" in "".join(checked["wuhan-respite-care"].asks)
    listed = {p["id"] for p, _ in found} | set(checked)
    for pid in ("wuhan-high-age-allowance", "hubei-family-care-bed"):  # clearly not 高龄 / not 经济困难
        assert pid not in listed


def test_the_eligibility_answer_says_why_and_asks_what_is_unknown() -> None:
    from actions.eligibility import ActionEligibility

    slots = {"region_code": "420102", "age": 62.0, "self_care": "能自理", "economic": "一般"}
    payload, text, _, _ = run(ActionEligibility(), make_tracker("就这些", "inform", slots=slots))
    head, _, rest = text.partition("要看老人是否符合")
    for title in ("武汉市失能失智老年人家庭喘息服务", "湖北省家庭养老床位建设"):
        assert title not in head
    assert "高龄津贴" not in text
    assert "文件没有限定对象" in head and "失智" in rest
    ids = {p["id"] for p in payload["policies"]}
    assert ids and all(p["why"] and p["level"] in LEVELS for p in payload["policies"])
    assert "wuhan-respite-care" in {p["id"] for p in payload["policies_to_check"]}
    assert "wuhan-respite-care" not in ids


def test_high_age_without_an_age_in_the_document_says_so(session, regions) -> None:
    _, to_check = matching_policies(session, regions, regions.resolve("江岸区").code,
                                    Person(85, "能自理", "一般"), ["high_age_allowance"])
    v = dict((p["id"], v) for p, v in to_check)["wuhan-high-age-allowance"]
    assert v.result == "unknown" and "文件未规定具体年龄" in "".join(v.asks)


def test_conditions_are_checked_before_ranking(session, regions) -> None:
    """The city record excludes the person; the province's record that fits still appears."""
    found, _ = matching_policies(session, regions, regions.resolve("兰山区").code, Person(80, "失能", "一般"),
                                 ["family_care_bed", "care_subsidy"])
    ids = {p["id"] for p, _ in found}
    assert "shandong-family-care-bed" in ids and "linyi-care-subsidy-2" not in ids


def test_a_person_who_meets_the_conditions_is_told_which(session, regions) -> None:
    found, _ = matching_policies(session, regions, regions.resolve("兰山区").code, Person(80, "失能", "低保"),
                                 ["care_subsidy"])
    v = dict((p["id"], v) for p, v in found)["linyi-care-subsidy-2"]
    assert {"经济困难", "失能"} <= set(v.met)


def test_condition_words_use_only_known_checks() -> None:
    """A misspelt key (or YAML reading yes/no as booleans) would silently leave a word unknown forever."""
    terms = load_terms()
    for word, spec in terms.items():
        assert set(spec) <= {"self_care", "economic", "not_below", "any_of", "ask", "note"}, word
        for fact in ("self_care", "economic"):
            assert set(spec.get(fact, {})) <= {"meets", "excludes"}, word
        assert all(w in terms for w in spec.get("any_of", [])), word
    assert check({"requires": [["经济困难"]]}, Person(economic="一般")).result == "no"
    assert check({"requires": [["经济困难"]]}, Person(economic="低保")).result == "yes"
    assert check({"requires": [["高龄"]]}, Person(age=62)).result == "no"
