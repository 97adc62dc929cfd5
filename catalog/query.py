"""Read-only queries the bot and the command line use. Results are plain dicts (JSON-ready)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from catalog.lexicon import load_regions
from catalog.loader import haversine_km
from catalog.models import Policy, Region, ServiceItem, ServicePoint

DEMO_LABEL = "示例数据"


@dataclass(frozen=True)
class Place:
    """A region with its chain of names, as the reply contract spells it."""

    code: str
    name: str
    level: str
    province: str | None
    city: str | None
    district: str | None
    lat: float
    lng: float

    def as_contract(self) -> dict:
        return {"province": self.province, "city": self.city, "district": self.district}


class Regions:
    """All regions in memory (a few dozen rows): lookups by code, name or alias."""

    def __init__(self, session: Session) -> None:
        self._index(list(session.scalars(select(Region))))

    @classmethod
    def from_data(cls) -> Regions:
        """The same lookups from catalog/data/regions.yaml, without a database."""
        regions = cls.__new__(cls)
        regions._index([
            Region(code=r["code"], name=r["name"], level=r["level"], parent_code=r.get("parent"),
                   aliases=list(r.get("aliases") or []), lat=r["lat"], lng=r["lng"])
            for r in load_regions()
        ])
        return regions

    def _index(self, rows: list[Region]) -> None:
        self._by_code = {r.code: r for r in rows}
        self._by_name: dict[str, str] = {}
        for r in rows:
            for n in [r.name, *(r.aliases or [])]:
                self._by_name[n] = r.code

    def place(self, code: str) -> Place | None:
        r = self._by_code.get(code)
        if r is None:
            return None
        chain = {}
        node = r
        while node is not None:
            chain[node.level] = node.name
            node = self._by_code.get(node.parent_code) if node.parent_code else None
        return Place(r.code, r.name, r.level, chain.get("province"), chain.get("city"),
                     chain.get("district"), r.lat, r.lng)

    def resolve(self, name: str) -> Place | None:
        code = self._by_name.get((name or "").strip())
        return self.place(code) if code else None

    def names(self) -> dict[str, str]:
        """Every name and alias -> official name."""
        return {n: self._by_code[c].name for n, c in self._by_name.items()}

    def descendants(self, code: str) -> list[str]:
        """The region's code and every code below it."""
        out, todo = [], [code]
        while todo:
            c = todo.pop()
            out.append(c)
            todo.extend(r.code for r in self._by_code.values() if r.parent_code == c)
        return out

    def chain(self, code: str) -> list[str]:
        """Codes from the region up to its province (most local first)."""
        out = []
        node = self._by_code.get(code)
        while node is not None:
            out.append(node.code)
            node = self._by_code.get(node.parent_code) if node.parent_code else None
        return out

    def all(self) -> list[Region]:
        return list(self._by_code.values())


def point_dict(p: ServicePoint, regions: Regions, distance_km: float | None = None) -> dict:
    place = regions.place(p.district_code)
    src = p.source or {}
    d = {
        "id": p.id, "name": p.name, "category": p.category,
        "province": place.province if place else None, "city": place.city if place else None,
        "district": place.district if place else None,
        "address": p.address, "lat": p.lat, "lng": p.lng, "approximate": bool(p.approximate),
        "phone": p.phone, "hours": p.hours,
        "price": p.price, "offers": list(p.offers or []), "serves": p.serves,
        "items": [
            {"name": i.name, "price_day": i.price_day, "price_month": i.price_month, "deposit": i.deposit}
            for i in p.items
        ],
        "verified": bool(p.verified),
        "last_verified": p.last_verified.isoformat() if p.last_verified else None,
        "source": src.get("label") or src.get("document") or DEMO_LABEL,
    }
    if distance_km is not None:
        d["distance_km"] = round(distance_km, 2)
    return d


def policy_dict(p: Policy, regions: Regions) -> dict:
    place = regions.place(p.region_code)
    return {
        "id": p.id, "topic": p.topic, "title": p.title,
        "region": place.as_contract() if place else {},
        "summary": p.summary, "eligibility": list(p.eligibility or []),
        "conditions": dict(p.conditions or {}), "steps": list(p.steps or []),
        "materials": list(p.materials or []), "where": p.where, "phone": p.phone,
        "guidance": list(p.guidance or []), "covers_rental": bool(p.covers_rental),
        "source": dict(p.source or {}),
        "last_verified": p.last_verified.isoformat() if p.last_verified else None,
    }


def _point_query(category: str | None, item: str | None):
    q = select(ServicePoint)
    if category:
        q = q.where(ServicePoint.category == category)
    if item:
        q = q.where(ServicePoint.id.in_(select(ServiceItem.point_id).where(ServiceItem.name == item)))
    return q


def find_services(
    session: Session, regions: Regions, category: str | None, region_code: str | None,
    item: str | None = None, limit: int = 5,
) -> list[dict]:
    """Points of a category (and item) in a region or anywhere below it; verified first."""
    q = _point_query(category, item)
    if region_code:
        q = q.where(ServicePoint.district_code.in_(regions.descendants(region_code)))
    q = q.order_by(ServicePoint.verified.desc(), ServicePoint.district_code, ServicePoint.id)
    rows = list(session.scalars(q))
    if region_code and regions.place(region_code) and regions.place(region_code).level != "district":
        rows = _spread(rows)
    return [point_dict(p, regions) for p in rows[:limit]]


def _spread(rows: list[ServicePoint]) -> list[ServicePoint]:
    """Round-robin over districts, so a city-wide list is not one district's."""
    by_district: dict[str, list[ServicePoint]] = {}
    for p in rows:
        by_district.setdefault(p.district_code, []).append(p)
    out: list[ServicePoint] = []
    queues = list(by_district.values())
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def nearest_services(
    session: Session, regions: Regions, lat: float, lng: float, category: str | None = None,
    item: str | None = None, limit: int = 5,
) -> list[dict]:
    """The k nearest points by great-circle distance; points with only approximate coordinates come last."""
    rows = [(haversine_km(lat, lng, p.lat, p.lng), p) for p in session.scalars(_point_query(category, item))]
    rows.sort(key=lambda t: (bool(t[1].approximate), t[0], t[1].id))  # approximate places after exact ones
    return [point_dict(p, regions, d) for d, p in rows[:limit]]


def get_service(session: Session, regions: Regions, point_id: str) -> dict | None:
    p = session.get(ServicePoint, point_id)
    return point_dict(p, regions) if p else None


def _in_force():
    """Policies with no known end date, or whose end date has not passed: the only ones offered."""
    return or_(Policy.end_date.is_(None), Policy.end_date >= date.today())


def policies_for(session: Session, regions: Regions, topic: str, region_code: str | None) -> list[dict]:
    """The most local policies on a topic: the district's, else the city's, else the province's."""
    if not region_code:
        return []
    for code in regions.chain(region_code):
        rows = list(session.scalars(
            select(Policy).where(Policy.topic == topic, Policy.region_code == code, _in_force()).order_by(Policy.id)
        ))
        if rows:
            return [policy_dict(p, regions) for p in rows]
    return []


def rental_policies(session: Session, regions: Regions, region_code: str | None) -> list[dict]:
    """Policies of the region (or above) that cover equipment rental."""
    if not region_code:
        return []
    codes = regions.chain(region_code)
    rows = session.scalars(
        select(Policy).where(Policy.covers_rental.is_(True), Policy.region_code.in_(codes), _in_force())
        .order_by(Policy.id)
    )
    return [policy_dict(p, regions) for p in rows]


def get_policy(session: Session, regions: Regions, policy_id: str) -> dict | None:
    p = session.get(Policy, policy_id)
    return policy_dict(p, regions) if p else None


def matching_policies(
    session: Session, regions: Regions, region_code: str, age: int | None, self_care: str | None,
    economic: str | None, topics: list[str],
) -> list[dict]:
    """Every topic's most local policies whose stated conditions the person meets."""
    out = []
    for topic in topics:
        for pol in policies_for(session, regions, topic, region_code):
            cond = pol["conditions"]
            if cond.get("min_age") and age is not None and age < int(cond["min_age"]):
                continue
            if cond.get("self_care") and self_care and self_care not in cond["self_care"]:
                continue
            if cond.get("economic") and economic and economic not in cond["economic"]:
                continue
            out.append(pol)
    return out
