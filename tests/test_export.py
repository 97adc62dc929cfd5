"""Both export shapes, as documented in README."""

from __future__ import annotations

from catalog.export import export_hsds, export_json


def test_json_export_shape(session) -> None:
    data = export_json(session)
    assert set(data) == {"regions", "service_points", "policies"}
    assert set(data["regions"][0]) == {"code", "name", "level", "parent"}
    sp = data["service_points"][0]
    assert set(sp) == {"id", "name", "category", "province", "city", "district", "address", "lat", "lng",
                       "approximate", "phone", "hours", "price", "items", "verified", "status", "source"}
    pol = data["policies"][0]
    assert set(pol) == {"id", "topic", "title", "region", "level", "summary", "eligibility", "conditions", "steps",
                        "materials", "where", "phone", "status", "draft", "end_date", "subsidy", "categories",
                        "source"}
    assert set(pol["source"]) >= {"file", "document", "issuer", "date", "clause", "quote"}
    assert set(pol["region"]) == {"province", "city", "district"}
    assert len(data["policies"]) >= 20 and len({p["topic"] for p in data["policies"]}) >= 9


def test_json_export_says_status(session) -> None:
    data = export_json(session)
    planned = [p for p in data["service_points"] if p["status"] == "planned"]
    assert planned and all(p["approximate"] and not p["verified"] for p in planned)
    by_id = {p["id"]: p for p in data["policies"]}
    assert by_id["wuhan-family-care-bed"]["status"] == "ended"  # 十四五 (2021-2025) is over
    assert by_id["xianning-family-care-bed"]["draft"] and by_id["hubei-family-care-bed"]["status"] == "in_effect"
    hsds = {s["id"]: s for s in export_hsds(session)["services"]}
    assert hsds[f"svc-{planned[0]['id']}"]["status"] == "inactive"


def test_hsds_export_links_services_and_locations(session) -> None:
    data = export_hsds(session)
    services = {s["id"] for s in data["services"]}
    locations = {loc["id"] for loc in data["locations"]}
    assert data["service_at_locations"]
    for sal in data["service_at_locations"]:
        assert sal["service_id"] in services and sal["location_id"] in locations
    assert any(s["id"].startswith("policy-") and s["required_documents"] is not None for s in data["services"])
    assert {t["code"] for t in data["taxonomy_terms"]} >= {"meal", "high_age_allowance"}
