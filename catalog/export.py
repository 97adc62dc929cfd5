"""Catalog exports: the project's stable JSON (documented in README) and Open Referral HSDS 3.0."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.lexicon import load_taxonomy
from catalog.models import Policy, ServicePoint
from catalog.query import Regions, point_dict, policy_dict

POINT_KEYS = ("id", "name", "category", "province", "city", "district", "address", "lat", "lng", "approximate",
              "phone", "hours", "price", "items", "verified", "status", "source")
POLICY_KEYS = ("id", "topic", "title", "region", "level", "summary", "eligibility", "conditions", "steps",
               "materials", "where", "phone", "status", "draft", "end_date", "subsidy", "categories", "source")
# HSDS service.status: a planned project or an ended plan is not an active service
HSDS_STATUS = {"open": "active", "in_effect": "active", "draft": "inactive", "planned": "inactive",
               "ended": "inactive"}


def export_json(session: Session) -> dict:
    """The whole catalog as JSON-ready dicts: regions, service points, policies."""
    regions = Regions(session)
    points = [point_dict(p, regions) for p in session.scalars(select(ServicePoint).order_by(ServicePoint.id))]
    policies = [policy_dict(p, regions) for p in session.scalars(select(Policy).order_by(Policy.id))]
    return {
        "regions": [
            {"code": r.code, "name": r.name, "level": r.level, "parent": r.parent_code}
            for r in sorted(regions.all(), key=lambda r: r.code)
        ],
        "service_points": [{k: p[k] for k in POINT_KEYS} for p in points],
        "policies": [{k: p[k] for k in POLICY_KEYS} for p in policies],
    }


def export_hsds(session: Session) -> dict:
    """HSDS 3.0 shaped objects: services, locations, service_at_locations, taxonomy terms."""
    regions = Regions(session)
    tax = load_taxonomy()
    terms = [{"id": f"category:{c}", "code": c, "name": v["name"], "taxonomy": "yinling-category"}
             for c, v in tax.categories.items()]
    terms += [{"id": f"topic:{c}", "code": c, "name": v["name"], "taxonomy": "yinling-topic"}
              for c, v in tax.topics.items()]
    services, locations, sals = [], [], []
    for p in session.scalars(select(ServicePoint).order_by(ServicePoint.id)):
        d = point_dict(p, regions)
        services.append({
            "id": f"svc-{p.id}", "name": p.name, "status": HSDS_STATUS[d["status"]],
            "description": "、".join(d["offers"]), "eligibility_description": p.serves,
            "taxonomy_terms": [f"category:{p.category}"],
            "costs": [{"option": i["name"], "amount": i["price_day"], "amount_description":
                       f"日租{i['price_day']}元，月租{i['price_month']}元，押金{i['deposit']}元"}
                      for i in d["items"]] or ([{"amount_description": p.price}] if p.price else []),
            "attributes": [{"label": "verified", "value": str(d["verified"]).lower()},
                           {"label": "source", "value": d["source"]}, {"label": "status", "value": d["status"]},
                           {"label": "approximate_location", "value": str(d["approximate"]).lower()}],
            "assured_date": d["last_verified"],
        })
        locations.append({
            "id": f"loc-{p.id}", "name": p.name, "latitude": p.lat, "longitude": p.lng,
            "addresses": [{"address_1": p.address, "city": d["city"], "region": d["district"],
                           "state_province": d["province"], "country": "CN"}],
        })
        sals.append({
            "id": f"sal-{p.id}", "service_id": f"svc-{p.id}", "location_id": f"loc-{p.id}",
            "phones": [{"number": p.phone}] if p.phone else [],
            "schedules": [{"description": p.hours}] if p.hours else [],
        })
    for p in session.scalars(select(Policy).order_by(Policy.id)):
        d = policy_dict(p, regions)
        area = next((n for n in (d["region"].get("district"), d["region"].get("city"),
                                  d["region"].get("province")) if n), None)
        services.append({
            "id": f"policy-{p.id}", "name": p.title, "status": HSDS_STATUS[d["status"]], "description": p.summary,
            "eligibility_description": "；".join(d["eligibility"]),
            "application_process": "；".join(d["steps"]),
            "required_documents": [{"document": m} for m in d["materials"]],
            "service_areas": [{"name": area, "extent_type": "administrative_division"}],
            "taxonomy_terms": [f"topic:{p.topic}"],
            "phones": [{"number": p.phone}] if p.phone else [],
            "attributes": [{"label": "source", "value": d["source"]}, {"label": "status", "value": d["status"]},
                           {"label": "end_date", "value": d["end_date"]}],
            "assured_date": d["last_verified"],
        })
    return {"services": services, "locations": locations, "service_at_locations": sals,
            "taxonomy_terms": terms}
