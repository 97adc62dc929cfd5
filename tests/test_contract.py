"""The reply contract as types (replies/contract.py), its generated JSON Schema, docs/contract.md's codes, and
what the builder (every catalog record) and the failure reply emit. The channels' tests validate the bot's turns."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from bot.fallback import failure_message
from catalog.models import Policy
from catalog.query import find_services, policy_dict
from replies import Reply, button, intent_payload
from replies.builder import ITEM_EXTRA_KEYS, ITEM_KEYS, POLICY_KEYS, SOURCE_KEYS
from replies.contract import ContractError, ItemOut, PolicyOut, SourceOut, json_schema, main, validate_turn
from tests.conftest import ROOT

pytestmark = pytest.mark.unit


def _turn(payload: dict, *extra: dict) -> list[dict]:
    return [{"recipient_id": "u", "text": payload["text"]}, {"recipient_id": "u", "custom": payload}, *extra]


def test_schema_file_is_generated_from_the_types() -> None:
    assert main(["--check"]) == 0, "run: python -m replies"


def test_builder_fields_are_the_typed_fields() -> None:
    assert set(ITEM_KEYS) == ItemOut.__required_keys__ and set(ITEM_EXTRA_KEYS) <= ItemOut.__optional_keys__
    assert {*POLICY_KEYS, "source", "guidance"} == PolicyOut.__required_keys__
    assert set(SOURCE_KEYS) == SourceOut.__required_keys__


def test_every_catalog_record_fits_the_contract(session, regions) -> None:
    """Each service point and policy of the imported catalog, as the builder puts it in a payload."""
    points = find_services(session, regions, None, None, None, limit=100_000)
    policies = [policy_dict(p, regions) for p in session.scalars(select(Policy))]
    assert points and policies
    for i in range(0, len(points), 5):
        validate_turn(_turn(Reply("find_service", items=points[i:i + 5]).payload()))
    for p in policies:
        validate_turn(_turn(Reply("policy", policy=p).payload()))


def test_codes_are_docs_contract_md_codes() -> None:
    doc = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")

    def table(heading: str) -> list[str]:
        section = doc.split(heading, 1)[1].split("\n## ", 1)[0]
        return [c for c in re.findall(r"^\| ([a-z_]+) \|", section, re.MULTILINE) if c != "code"]

    items_line = doc.split("## Equipment canonical names (`item`)", 1)[1].strip().split("\n\n", 1)[0]
    items = [x.strip(" .") for x in re.sub(r"（.*?）|\n", "", items_line).split("、")]
    defs = json_schema()["$defs"]["Payload"]["properties"]
    assert defs["category"]["enum"] == [*table("## Service category codes"), None]
    assert defs["topic"]["enum"] == [*table("## Policy topic codes"), None]
    assert defs["item"]["enum"] == [*items, None]
    assert defs["task"]["enum"] == re.findall(r"[a-z_]+", doc.split('"task": "', 1)[1].split('"', 1)[0])


def test_every_failure_reply_is_valid() -> None:
    for intent in (None, "find_meal", "policy_ltc_insurance", "emergency", "handoff", "eligibility", "inform",
                   "greet", "nonsense"):
        for slots in ({}, {"region_code": "420103", "last_task": "policy", "topic": "respite_care"}):
            message = failure_message(intent, slots)
            validate_turn([{"text": message["text"]}, {"custom": message["custom"]}])


def test_button_payloads_are_json_whatever_the_name() -> None:
    for name in ['江汉区', 'a"b', "back\\slash", "{x}", "new\nline"]:
        payload = intent_payload("inform", region=name)
        assert payload.startswith("/inform{")
        assert json.loads(payload.removeprefix("/inform")) == {"region": name}
        validate_turn(_turn(Reply("find_service", buttons=[button(name, payload)]).payload()))
    assert intent_payload("handoff") == "/handoff"


def test_offer_buttons_carry_the_item_as_json() -> None:
    reply = Reply("policy").offer(["find_equipment_rental"], item='轮"椅')
    (b,) = reply.buttons
    assert json.loads(b["payload"].removeprefix("/find_equipment_rental")) == {"item": '轮"椅'}


@pytest.mark.parametrize(("broken", "why"), [
    (lambda p: [{"text": "hi"}], "0 custom"),
    (lambda p: _turn(p, {"custom": p}), "2 custom"),
    (lambda p: _turn(p | {"task": "weather"}), "task"),
    (lambda p: _turn({k: v for k, v in p.items() if k != "region"}), "region"),
    (lambda p: _turn(p | {"category": "pizza"}), "category"),
    (lambda p: _turn(p | {"surprise": 1}), "surprise"),
    (lambda p: _turn(p | {"items": [{"id": "x", "name": "y"}]}), "items/0"),
    (lambda p: _turn(p | {"buttons": [{"title": "武汉市", "payload": '/inform{"region": "武"汉"}'}]}), "JSON"),
    (lambda p: _turn(p, {"text": "选", "buttons": [{"title": "", "payload": "/x"}]}), "title"),
    (lambda p: [{"text": 3}, {"custom": p}], "string"),
])
def test_broken_turns_are_refused(broken, why: str) -> None:
    good = Reply("chitchat").say("您好").payload()
    validate_turn(_turn(good))
    with pytest.raises(ContractError, match=re.escape(why)):
        validate_turn(broken(dict(good)))
