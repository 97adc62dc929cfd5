"""Rasa graph component: what decides the intent whatever the classifier said.

An emergency situation or a hand-over phrase wins. The classifier's emergency stands when a danger is told of
now; without one, a message whose danger words are only about the past ("前年迷过一回路"), or that asks for a
service, is never left an emergency. Then meaning over the classifier: a generic "what can we get" question is
eligibility; a catalog name or a need described by what it does (language/concepts.yml) names the service or policy
when the classifier's guess does not fit it.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from language.aspects import aspect
from language.concepts import (
    asked_whether,
    asks_question,
    bare_detail,
    catalog_needs,
    concept_item,
    concept_needs,
    narrowed,
    off_topic,
    rents,
    requested,
    story_only,
    without_conditions,
)
from language.keywords import danger_now, false_alarm, keyword_intent

UNSURE = ("out_of_scope", "nlu_fallback")
CHITCHAT = ("greet", "thank", "goodbye", "bot_challenge", "capabilities")
INTENT_PREFIXES = ("find_", "policy_", "eligibility", "greet")


POLICY_ASPECTS = ("materials", "steps", "eligibility", "time")  # parts of a policy answer, not of a place


def decide(text: str, top: str, ranking: list[str]) -> str | None:
    """The intent to use instead of the classifier's `top` (ranking: its other guesses, best first), or None."""
    concepts = concept_needs(text)
    described = [n for n in concepts if n.startswith(INTENT_PREFIXES)]
    named = catalog_needs(text)
    ordinary = named or described or concept_item(text) or off_topic(text) \
        or {"thank", "goodbye", "ask_person", "capabilities", "benefit", "list_followup"} & set(concepts)
    if name := keyword_intent(text, bool(ordinary)):
        return name
    if "ask_person" in concepts and top != "emergency" and not [n for n in described if n != "greet"] and not named:
        return "handoff"  # a person to ask, and no need named or described (that would be the need's advisor)
    named_services = [n for n in named if n.startswith("find_")]
    named_policies = [n for n in named if n.startswith("policy_")]
    if "this_policy" in concepts and not named and not [n for n in described if n.startswith("policy_")] \
            and top != "emergency":
        return "inform"  # "那个区有没有这个政策": the policy just answered, for another place or person
    if top == "emergency" and false_alarm(text, bool(ordinary)):
        top = "find_equipment_rental" if concept_item(text) and not named and not described \
            else next((r for r in ranking if r not in ("emergency", *UNSURE)), "out_of_scope")
    if top in UNSURE and ranking[:1] == ["emergency"] and danger_now(text) and not false_alarm(text, bool(ordinary)):
        return "emergency"  # the classifier's best guess, though unsure, and a danger told of now that nothing doubts
    if off_topic(text, first=True) \
            and (not named or ("media" in concepts and not requested(text) and not asks_question(text))) \
            and top != "emergency":
        return "out_of_scope"  # a remedy, a film, a ticket: a subject of its own, no request for care beside it (a
        # home or a fraud inside a news story told is no request either)
    if story_only(text) and top not in ("emergency", "handoff", *CHITCHAT):
        return "out_of_scope"  # news, hearsay or gossip told, nothing asked: no request for a service
    if "find_elder_advisor" in named_services and top not in ("emergency", "handoff"):
        return "find_elder_advisor"  # the advisor named: the service for not knowing which benefits there are
    if "advisor_sought" in concepts and top not in ("emergency", "handoff"):
        return "find_elder_advisor"  # someone asked for to advise, whatever they would advise on
    if "eligibility" in described and (not named_policies or "除了" in text) \
            and not any(n.startswith("policy_") for n in described[:described.index("eligibility")]) \
            and ("benefit" in concepts or not [n for n in catalog_needs(without_conditions(text))
                                               if n.startswith("find_")]):
        return "eligibility"  # no policy named or better described, no service asked for (a wheelchair one sits in)
    if top == "eligibility" and "eligibility" not in described and "benefit" not in concepts:
        if named_services and not named_policies:
            return named_services[0]  # a service named, no benefit asked for
        if not named and described[:1] and described[0].startswith("find_"):
            return described[0]  # a service described, no benefit asked for
    if top.startswith("find_") and asked_whether(text) in named_policies:
        return asked_whether(text)  # "有没有" asked of a policy, a service only the person's condition
    policy_first = bool(described) and described[0].startswith("policy_")
    object_ = requested(text)
    if "reimburse" not in concepts and not policy_first and not (object_ or "").startswith("policy_") \
            and (name := narrowed(text, [top, *named_services], described + named_services)):
        return name  # (not where a cost to be paid back, a policy described first or one applied for is the question)
    if object_ and object_ != top and top.startswith("find_") \
            and not (object_.startswith("find_") and "benefit" in concepts) \
            and (object_ in named or described[:1] == [object_] or object_ == "find_equipment_rental"):
        return object_  # what the request verb asks for (named, or the best described), not a service named as the
        # setting or a past event
    if object_ in named_services and top.startswith("policy_") and not named_policies \
            and "benefit" not in concepts and not aspect(text):
        return object_  # a service named as what is looked for, the person's plight only described (no question
        # about a step, a wait or papers of a policy)
    if top == "handoff" and "ask_person" not in concepts:
        if named_services or named_policies:
            return (named_services or named_policies)[0]  # an operator's note of a request: no hand-over phrase
        if described[:1] and described[0].startswith(("find_", "policy_")):
            return described[0]  # someone to assess and arrange services is the advisor, not a hand-over
        if described == ["greet"]:
            return "greet"  # a greeting and a word on how to talk, no person asked for
        if not described and {"list_detail", "list_followup"} & set(concepts):
            return "ask_detail"  # a phone number or an address of the places just listed, not the hotline
    if "correction" in concepts and top.startswith(("find_", "policy_")) and top not in concepts \
            and not named and not described and not concept_item(text):
        return "inform"  # a place told again ("说错了 是青山区"): no new need, the last one stays
    if top == "inform" and described[:1] and described[0].startswith(("find_", "policy_")) and not named:
        return described[0]  # a need described beside a place ("住在宗关 想找口热饭吃")
    if top == "inform" and named_services and not named_policies:
        return named_services[0]  # a service named with a place is a request, not only the place
    if top == "eligibility" and not named and "list_detail" in concepts and "benefit" not in concepts:
        return "ask_detail"  # "押金多少 我们是低保": a question about the last list, the status only a detail
    if top in ("policy_care_home_admission", "policy_family_care_bed") and "care_home_search" in concepts \
            and aspect(text) not in POLICY_ASPECTS \
            and (top not in concepts or concepts.index("care_home_search") < concepts.index(top)):
        return "find_care_home"
    if (concept_item(text) or described[:1] == ["find_equipment_rental"]) and rents(text) \
            and not {"benefit", "reimburse"} & set(concepts):
        return "find_equipment_rental"
    if top == "find_equipment_rental" and not rents(text) and len(named_services) > 1:
        return next(n for n in named_services if n != top)  # the item is the person's condition, not the request
    if top.startswith(("find_", "eligibility")) and described[:1] and described[0].startswith("policy_") \
            and (not named_policies or described[0] in named_policies):
        return described[0]
    if top.startswith("policy_") and not named_policies and "benefit" not in concepts and described[:1] \
            and described[0].startswith("find_"):
        return described[0]  # a service described by what it does, with no word of a policy
    if top.startswith("policy_") and described[:1] and described[0].startswith("policy_") and described[0] != top \
            and (not named_policies or described[0] in named_policies):
        return described[0]  # another policy described by what it gives
    if top.startswith("policy_") and named_policies and top not in named_policies and top not in described:
        return named_policies[0]  # the catalog's own name of a policy outweighs the classifier
    asked = [n for n in catalog_needs(text, now_only=True) if n.startswith("find_")]
    if top.startswith("find_") and named_policies \
            and ("reimburse" in concepts or not asked or aspect(text) in POLICY_ASPECTS):
        return named_policies[0]  # an aid's cost to be paid back, a policy named and no service, or the papers,
        # steps or conditions of a named policy asked for: the policy
    if described[:1] == ["find_elder_advisor"] and "还是" in text:
        return "find_elder_advisor"  # weighing a home against a carer: advice first
    if top.startswith("find_") and asked and top not in asked:
        return asked[0]  # the catalog's own name of a service asked for now outweighs the classifier
    if top.startswith("find_") and not asked and described[:1] and described[0].startswith("find_") \
            and top != described[0]:
        return described[0]  # no name, but the need is described: the description outweighs the classifier
    if top.startswith("policy_") and not named_policies and named_services and top not in described \
            and "benefit" not in concepts:
        return (asked or named_services)[0]  # a service named, nothing of the policy said
    if top in ("ask_detail", "inform") and described[:1] and described[0].startswith("policy_") \
            and "list_detail" not in concepts:
        return described[0]  # "有公办的吗 排队怎么弄" after a list: the policy described, not a detail of the list
    if top == "eligibility" and named_policies \
            and ("eligibility" not in described or aspect(text) or "besides" not in concepts):
        return named_policies[0]  # a policy named with a question about it (not about others): that policy
    if "thank" in concepts and not asks_question(text) and not rents(text) and not requested(text):
        return "thank"  # thanks for something done, whatever it names ("多亏你们帮我找到助浴")
    pleasantry = next((n for n in concepts if n in ("thank", "goodbye", "bot_challenge", "capabilities")), None)
    if pleasantry and not named and not described \
            and (top in UNSURE or top.startswith(("find_", "policy_", "eligibility"))):
        return pleasantry  # "懂了 你忙吧", "你真机灵", "你叫啥": no request in it
    if top in CHITCHAT and "translation" in concepts:
        return "out_of_scope"  # "再见用英语怎么说": a question about words, not a goodbye
    if off_topic(text) and not named and not described and "list_followup" not in concepts:
        return "out_of_scope"  # a market's or a station's opening hours
    if described == ["greet"] and not named and top in ("inform", "ask_detail", *UNSURE):
        return "greet"  # "在吗": a greeting, not a detail or a place
    if "list_followup" in concepts and top.startswith("find_") and not named and top not in described:
        return "ask_detail"  # "第一家几点开门": the places just listed, whatever the classifier guessed
    if top in UNSURE and not named \
            and ("list_followup" in concepts or ("list_detail" in concepts and bare_detail(text))):
        return "ask_detail"  # "那几家在哪": a detail of the places just listed
    wanted = [n for n in named + described if n.startswith(("find_", "policy_", "eligibility"))]
    if top in CHITCHAT and wanted and (not {"thank", "goodbye"} & set(concepts) or rents(text) or requested(text)):
        return decide(text, wanted[0], ranking)  # a greeting or a remark beside a request: the request
    if top in UNSURE and (named or described):
        return decide(text, (named or described)[0], ranking)  # the best named or described need, refined
    if (top in UNSURE or (top.startswith("find_") and top not in named + described)) and concept_item(text) \
            and not {"benefit", "reimburse"} & set(concepts):
        return "find_equipment_rental"  # an aid described by what it does ("洗澡时坐的椅子")
    return top


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class KeywordIntents(GraphComponent):
    """Runs after DIET and the fallback classifier; sets the intent `decide` gives."""

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> KeywordIntents:
        """No state: everything is read from language/."""
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        """Overrides the intent of each message where `decide` differs from the classifier."""
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue  # "/intent{...}" from buttons: Rasa's own syntax
            ranking = message.get(INTENT_RANKING_KEY) or []
            top = (message.get(INTENT) or {}).get("name") or "nlu_fallback"
            name = decide(text, top, [r.get("name") for r in ranking if r.get("name") != top])
            if name is None or name == top:
                continue
            chosen = {"name": name, "confidence": 1.0}
            ranking = [r for r in ranking if r.get("name") != name]
            message.set(INTENT, chosen, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [chosen, *ranking], add_to_output=True)
        return messages
