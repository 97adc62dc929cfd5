"""How a record's level, status and conditions read: the labels every channel shows (texts in templates.yml)."""

from __future__ import annotations

from typing import Any

from catalog.conditions import Verdict
from replies.builder import t, templates


def level_label(p: dict[str, Any]) -> str:
    """本区县/本市/省级 with the region's name, e.g. 省级·湖北省."""
    region = p.get("region") or {}
    name = region.get("district") or region.get("city") or region.get("province") or ""
    return t("level_label", level=templates()["level_labels"].get(p.get("level"), ""), region=name)


def _end(p: dict[str, Any]) -> str:
    end = str(p.get("end_date") or "")
    return f"{end[:4]}年底" if end.endswith("-12-31") else end


def status_short(p: dict[str, Any]) -> str:
    """A few words: 现行 / 征求意见稿 / 规划期已结束 / 规划建设中 (empty for an open point)."""
    words = templates()["status_short"]
    parts = [words["draft"]] if p.get("draft") and p.get("status") != "draft" else []
    return "，".join([words.get(p.get("status") or "", ""), *parts]).strip("，")


def status_line(p: dict[str, Any]) -> str:
    """The sentence a policy's text opens with: in effect, a draft, or a plan whose period has ended."""
    status = p.get("status") or "in_effect"
    key = "draft_ended" if status == "ended" and p.get("draft") else status
    if status == "ended" and not p.get("end_date"):
        key = "ended_undated"
    return t(f"policy_status_{key}", end=_end(p))


def point_status_note(p: dict[str, Any]) -> str:
    """What a point's name is followed by: 示例数据, 规划建设中, or nothing for a checked entry."""
    if p.get("status") == "planned":
        return t("planned_note")
    return "" if p.get("verified") else t("demo_note")


def distance_line(p: dict[str, Any]) -> str:
    """A listed point's distance: an estimate when its coordinates are a district centre, an example for demo
    points (their coordinates are invented), plain otherwise."""
    if p.get("approximate"):
        return t("approximate_distance", value=p["distance_km"])
    if p.get("status") != "planned" and not p.get("verified"):
        return t("demo_distance", value=p["distance_km"])
    return templates()["service_fields"]["distance_km"].format(value=p["distance_km"])


def verdict_text(v: Verdict) -> str:
    """Why a policy matches: the condition words met, or 文件未限定对象; plus notes (高龄: no age stated)."""
    why = t("eligibility_met", met="、".join(v.met)) if v.met else t("eligibility_open")
    return why + "".join(t("eligibility_note", note=n) for n in v.notes)


def verdict_asks(v: Verdict) -> str:
    """What is still unknown for a policy, as the questions to ask."""
    facts = templates()["eligibility_fact_asks"]
    return "；".join(facts.get(a, a) for a in v.asks)
