"""The catalog tells the truth: verbatim quotes, labelled demo data, the promised coverage."""

from __future__ import annotations

import re
from collections import Counter

from catalog.lexicon import SOURCES_DIR, load_regions
from catalog.loader import normalize_space, read_catalog

DATA = read_catalog()


def test_every_policy_quote_is_verbatim_in_its_source() -> None:
    for p in DATA.policies:
        src = p["source"]
        text = normalize_space((SOURCES_DIR / src["file"]).read_text(encoding="utf-8"))
        assert normalize_space(src["quote"]) in text, p["id"]


def test_policy_numbers_come_from_the_document() -> None:
    """Every amount or age in a policy's title/summary/eligibility appears in its source document."""
    for p in DATA.policies:
        text = (SOURCES_DIR / p["source"]["file"]).read_text(encoding="utf-8")
        said = " ".join([p["title"], p["summary"], *p.get("eligibility", [])])
        for number in re.findall(r"\d+(?:\.\d+)?", said):
            assert number in text, f"{p['id']}: {number}"


def test_planned_projects_say_so() -> None:
    """Points from a plan's construction table: planned, never verified, district-centre coordinates flagged."""
    planned = [sp for sp in DATA.service_points if isinstance(sp["source"], dict) and not sp.get("verified")]
    assert len(planned) >= 9
    assert all(sp["status"] == "planned" and sp.get("approximate") and sp["source"]["quote"] for sp in planned)


def test_demo_points_are_labelled_and_unreachable() -> None:
    for sp in DATA.service_points:
        if not sp.get("verified") and sp["status"] == "open":
            assert sp["source"] == "示例数据", sp["id"]
            # demo numbers start with 0 after the area code: no Chinese local number does
            assert sp.get("phone") is None or re.fullmatch(r"0\d{2,3}-0\d{7}", sp["phone"]), sp["id"]


def test_every_district_has_the_demo_coverage() -> None:
    per = Counter((sp["district"], sp["category"]) for sp in DATA.service_points)
    for r in load_regions():
        if r["level"] != "district":
            continue
        for cat in ("meal", "equipment_rental", "day_care", "care_home"):
            assert per[(r["code"], cat)] >= 2, (r["name"], cat)
        for cat in ("bathing", "cleaning", "medical_care", "senior_education", "elder_advisor"):
            assert per[(r["code"], cat)] >= 1, (r["name"], cat)
    for city in ("420100", "421200", "371300"):
        for cat in ("dementia_care", "legal_aid"):
            n = sum(v for (d, c), v in per.items() if c == cat and d.startswith(city[:4]))
            assert n >= 1, (city, cat)


def test_rental_points_list_canonical_items_with_prices() -> None:
    for sp in DATA.service_points:
        if sp["category"] == "equipment_rental":
            assert sp.get("items"), sp["id"]
            assert all(i.get("price_day") or i.get("price_month") for i in sp["items"]), sp["id"]
