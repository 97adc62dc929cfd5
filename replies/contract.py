"""The reply contract (v1, docs/contract.md): the one `custom` payload of every turn as typed dicts.

contract.schema.json is generated from these types and the catalog's codes (`python -m replies` writes it;
tests/test_contract.py fails when it is stale). `validate_turn` checks a turn's Rasa messages against it: every
channel's tests and the fuzzer use it.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired from evaluated annotations.

import json
import re
import sys
import types
from functools import lru_cache
from pathlib import Path
from typing import (
    Any,
    Literal,
    NotRequired,
    TypedDict,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

from catalog.lexicon import load_taxonomy

SCHEMA_FILE = Path(__file__).resolve().parent / "contract.schema.json"

Task = Literal["find_service", "policy", "eligibility", "emergency", "handoff", "chitchat", "out_of_scope"]


class RegionOut(TypedDict):
    """Full official names; what the conversation knows so far (keys may be null)."""

    province: str | None
    city: str | None
    district: str | None


class RentalItemOut(TypedDict):
    """One piece of equipment a rental point lends, with its prices in yuan."""

    name: str
    price_day: float | None
    price_month: float | None
    deposit: float | None


class ItemOut(TypedDict):
    """One catalog entry the text talks about, in the text's order."""

    id: str
    name: str
    category: str
    district: str | None
    address: str | None
    phone: str | None
    hours: str | None
    price: str | None
    verified: bool
    source: str
    province: NotRequired[str]
    city: NotRequired[str]
    lat: NotRequired[float]
    lng: NotRequired[float]
    approximate: NotRequired[bool]  # lat/lng are the district's centre
    distance_km: NotRequired[float]
    items: NotRequired[list[RentalItemOut]]
    offers: NotRequired[list[str]]
    last_verified: NotRequired[str]  # YYYY-MM-DD
    status: NotRequired[Literal["open", "planned"]]  # planned: a project from a plan's table, not an open service


class SourceOut(TypedDict):
    """Where a policy fact comes from: document, issuer, date (YYYY-MM-DD), clause, verbatim quote, file."""

    document: str | None
    issuer: str | None
    date: str | None
    clause: str | None
    quote: str | None
    file: str | None


class PolicyOut(TypedDict):
    """The policy the text explains."""

    id: str
    title: str
    region: RegionOut
    summary: str
    eligibility: list[str]
    steps: list[str]
    materials: list[str]
    where: str | None
    phone: str | None
    source: SourceOut
    guidance: list[str]  # fields that are general guidance, not quoted from the document
    level: NotRequired[Literal["district", "city", "province"]]  # the level of the region the document covers
    status: NotRequired[Literal["in_effect", "draft", "ended", "planned"]]  # ended: the plan's period is over
    draft: NotRequired[bool]  # the document is a draft for comment (征求意见稿)
    end_date: NotRequired[str]  # YYYY-MM-DD, end of the period the document plans for


class PolicyRef(TypedDict):
    """A policy an eligibility answer lists: why it applies, or what to ask before it can be said."""

    id: str
    topic: str
    title: str
    level: NotRequired[Literal["district", "city", "province"]]
    status: NotRequired[Literal["in_effect", "draft", "ended", "planned"]]
    why: NotRequired[str]  # why it matches, or what is still to ask


class Button(TypedDict):
    """A button: its label and what it sends (the label, or "/intent" with an optional JSON object)."""

    title: str
    payload: str


class Payload(TypedDict):
    """The turn's structured summary: exactly one per turn, in the message with `custom`."""

    task: Task
    category: str | None
    topic: str | None
    region: RegionOut
    item: str | None
    ask: str | None
    items: list[ItemOut]
    policy: PolicyOut | None
    text: str
    buttons: list[Button]
    handoff: NotRequired[bool]
    policies: NotRequired[list[PolicyRef]]
    policies_to_check: NotRequired[list[PolicyRef]]  # eligibility: policies that depend on something not yet known


class ContractError(ValueError):
    """A turn's messages break the reply contract."""


_PAYLOAD = re.compile(r"/(\w+)(\{.*\})?", re.DOTALL)
_SCALARS: dict[Any, dict[str, str]] = {
    str: {"type": "string"}, bool: {"type": "boolean"}, int: {"type": "integer"}, float: {"type": "number"},
    type(None): {"type": "null"},
}


def _codes() -> dict[str, list[str]]:
    """Closed vocabularies by field name: service categories, policy topics, canonical equipment names."""
    tax = load_taxonomy()
    return {"category": list(tax.categories), "topic": list(tax.topics), "item": list(tax.items)}


def _schema_of(tp: Any, defs: dict[str, Any], codes: list[str] | None = None) -> dict[str, Any]:  # noqa: ANN401 - a type
    origin = get_origin(tp)
    if tp in _SCALARS:
        return {"enum": codes} if codes and tp is str else dict(_SCALARS[tp])
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin is list:
        return {"type": "array", "items": _schema_of(get_args(tp)[0], defs)}
    if origin in (Union, types.UnionType):
        options = [_schema_of(a, defs, codes) for a in get_args(tp)]
        if codes and {"type": "null"} in options:  # an enum of codes or null
            return {"enum": [*codes, None]}
        return {"anyOf": options}
    if is_typeddict(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder against recursion
            hints = get_type_hints(tp)
            defs[name] = {
                "type": "object",
                "description": " ".join((tp.__doc__ or "").split()),
                "properties": {k: _schema_of(v, defs, _codes().get(k)) for k, v in hints.items()},
                "required": sorted(tp.__required_keys__),
                "additionalProperties": False,
            }
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `Payload`, as contract.schema.json holds it."""
    defs: dict[str, Any] = {}
    root = _schema_of(Payload, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://yinling.invalid/reply-contract/v1",
        "title": "银龄助手 reply contract v1: the custom payload of a turn",
        **root,
        "$defs": defs,
    }


def schema_text() -> str:
    """contract.schema.json's text: the generated schema, indented, with a final newline."""
    return json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"


@lru_cache(maxsize=1)
def _validator() -> Any:  # noqa: ANN401 - jsonschema's validator (untyped)
    from jsonschema import Draft202012Validator  # only tests and tools validate: the runtime does not load it

    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def check_button(button: object) -> None:
    """A button has a label and a payload: its label, or "/intent" with an optional JSON object of entities."""
    if not isinstance(button, dict) or not (isinstance(button.get("title"), str) and button["title"]
                                            and isinstance(button.get("payload"), str) and button["payload"]):
        raise ContractError(f"button without a title and payload: {button!r}")
    payload = button["payload"]
    if payload.startswith("/"):
        m = _PAYLOAD.fullmatch(payload)
        if not m:
            raise ContractError(f"button payload is not /intent{{json}}: {payload!r}")
        if m.group(2):
            try:
                entities = json.loads(m.group(2))
            except ValueError as e:
                raise ContractError(f"button payload entities are not JSON: {payload!r}") from e
            if not isinstance(entities, dict):
                raise ContractError(f"button payload entities are not an object: {payload!r}")


def validate_payload(payload: object) -> Payload:
    """The payload if it matches contract.schema.json and its buttons are well formed, else ContractError."""
    errors = sorted(_validator().iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        raise ContractError("; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(payload)'}: {e.message}"
                                      for e in errors[:5]))
    out = cast(Payload, payload)
    for b in out["buttons"]:
        check_button(b)
    return out


def validate_turn(messages: object) -> Payload:
    """A turn's Rasa messages: texts, buttons, and exactly one schema-valid `custom` payload (returned)."""
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ContractError(f"a turn is a list of message objects: {messages!r}")
    customs = [m["custom"] for m in messages if m.get("custom")]  # the action server's dispatcher sends {} for none
    if len(customs) != 1:
        raise ContractError(f"{len(customs)} custom payloads in one turn (exactly one expected): {messages!r}")
    for m in messages:
        if m.get("text") is not None and not isinstance(m["text"], str):
            raise ContractError(f"text is not a string: {m!r}")
        for b in m.get("buttons") or []:
            check_button(b)
    return validate_payload(customs[0])


def main(argv: list[str] | None = None) -> int:
    """Write contract.schema.json from the types (--check: exit 1 if the file is stale)."""
    argv = sys.argv[1:] if argv is None else argv
    fresh = schema_text()
    if "--check" in argv:
        if SCHEMA_FILE.read_text(encoding="utf-8") != fresh:
            print("replies/contract.schema.json is stale: run python -m replies", file=sys.stderr)
            return 1
        return 0
    SCHEMA_FILE.write_text(fresh, encoding="utf-8")
    return 0

