"""Read-only queries the bot and the command line use. Results are plain dicts (JSON-ready)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from catalog.clock import today
from catalog.conditions import Person, Verdict, check
from catalog.lexicon import load_regions
from catalog.loader import haversine_km
from catalog.models import Policy, Region, ServiceItem, ServicePoint

DEMO_LABEL = "示例数据"
EARTH_RADIUS_KM = 6371.0  # the sphere of haversine_km
FIRST_RADIUS_KM = 2.0  # nearest search: the first radius; it grows WIDEN times until k points lie within it
WIDEN = 4


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
        """The place as the reply contract's region (full official names)."""
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
        self._children: dict[str, list[str]] = {}
        for r in rows:
            for n in [r.name, *(r.aliases or [])]:
                self._by_name[n] = r.code
            if r.parent_code:
                self._children.setdefault(r.parent_code, []).append(r.code)

    def place(self, code: str) -> Place | None:
        """The place of a region code with its province, city and district names."""
        r = self._by_code.get(code)
        if r is None:
            return None
        chain = {}
        node: Region | None = r
        while node is not None:
            chain[node.level] = node.name
            node = self._by_code.get(node.parent_code) if node.parent_code else None
        return Place(r.code, r.name, r.level, chain.get("province"), chain.get("city"),
                     chain.get("district"), r.lat, r.lng)

    def resolve(self, name: str) -> Place | None:
        """The place a name or alias stands for."""
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
            todo.extend(self._children.get(c, ()))
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
        """Every region row."""
        return list(self._by_code.values())


def point_dict(p: ServicePoint, regions: Regions, distance_km: float | None = None) -> dict:
    """A service point as a JSON-ready dict (region names, items, status, source label)."""
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
        "verified": bool(p.verified), "status": p.status or "open",
        "last_verified": p.last_verified.isoformat() if p.last_verified else None,
        "source": src.get("label") or src.get("document") or DEMO_LABEL,
    }
    if distance_km is not None:
        d["distance_km"] = round(distance_km, 2)
    return d


def policy_status(status: str | None, end_date) -> str:
    """in_effect | draft, or ended once the document's period is over (Asia/Shanghai date)."""
    if end_date is not None and end_date < today():
        return "ended"
    return status or "in_effect"


def policy_dict(p: Policy, regions: Regions) -> dict:
    """A policy as a JSON-ready dict (region, level, status, conditions, source)."""
    place = regions.place(p.region_code)
    return {
        "id": p.id, "topic": p.topic, "title": p.title,
        "region": place.as_contract() if place else {}, "level": place.level if place else None,
        "status": policy_status(p.status, p.end_date), "draft": p.status == "draft",
        "end_date": p.end_date.isoformat() if p.end_date else None,
        "subsidy": bool(p.subsidy), "categories": list(p.categories or []),
        "summary": p.summary, "eligibility": list(p.eligibility or []),
        "conditions": dict(p.conditions or {}), "steps": list(p.steps or []),
        "materials": list(p.materials or []), "where": p.where, "phone": p.phone,
        "guidance": list(p.guidance or []), "covers_rental": bool(p.covers_rental),
        "source": dict(p.source or {}),
        "last_verified": p.last_verified.isoformat() if p.last_verified else None,
    }


def _point_filter(category: str | None, item: str | None, status: str = "open") -> list:
    cond = [ServicePoint.status == status]
    if category:
        cond.append(ServicePoint.category == category)
    if item:  # checked per candidate row (index on point_id), not a list of every point renting the item
        cond.append(select(ServiceItem.id).where(ServiceItem.point_id == ServicePoint.id, ServiceItem.name == item)
                    .exists())
    return cond


def _points(session: Session, ids: list[str]) -> list[ServicePoint]:
    """The points of `ids`, in that order: the full rows are read only for what is returned."""
    if not ids:
        return []
    by_id = {p.id: p for p in session.scalars(select(ServicePoint).where(ServicePoint.id.in_(ids)))}
    return [by_id[i] for i in ids]


def find_services(
    session: Session, regions: Regions, category: str | None, region_code: str | None,
    item: str | None = None, limit: int = 5, status: str = "open",
) -> list[dict]:
    """Points of a category (and item) in a region or anywhere below it; verified first.

    Only points of `status` are listed: open ones, or (status="planned") projects from a plan's table.

    A region above district level is spread round-robin over its districts. Only the first `limit` of each
    district can be listed, so the database ranks within districts (index on category, district, verified, id)
    and returns just those keys; the full rows are read for the `limit` listed.
    """
    cond = _point_filter(category, item, status)
    if not region_code:
        ids = list(session.scalars(
            select(ServicePoint.id).where(*cond)
            .order_by(ServicePoint.verified.desc(), ServicePoint.district_code, ServicePoint.id).limit(limit)
        ))
        return [point_dict(p, regions) for p in _points(session, ids)]
    cond.append(ServicePoint.district_code.in_(regions.descendants(region_code)))
    place_in_district = func.row_number().over(
        partition_by=ServicePoint.district_code, order_by=(ServicePoint.verified.desc(), ServicePoint.id)
    ).label("place_in_district")
    ranked = (select(ServicePoint.id, ServicePoint.district_code, ServicePoint.verified, place_in_district)
              .where(*cond).subquery())
    keys = session.execute(
        select(ranked.c.id, ranked.c.district_code).where(ranked.c.place_in_district <= limit)
        .order_by(ranked.c.verified.desc(), ranked.c.district_code, ranked.c.id)
    ).all()
    return [point_dict(p, regions) for p in _points(session, [k.id for k in _spread(keys)[:limit]])]


def _spread(rows: list) -> list:
    """Round-robin over districts (rows have .district_code), so a city-wide list is not one district's."""
    by_district: dict[str, list] = {}
    for p in rows:
        by_district.setdefault(p.district_code, []).append(p)
    out: list = []
    queues = list(by_district.values())
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def _box(lat: float, lng: float, radius_km: float) -> list | None:
    """Conditions on lat/lng true of every point within radius_km of (lat, lng); None when that is the whole sphere.

    The latitude band is exact; the longitude half-width is the widest a circle at that latitude reaches
    (asin(sin d / cos lat)); near a pole or across the antimeridian only the latitude band is kept. Both are a
    hair (1e-9°) wider than exact, so rounding never leaves out a point on the circle.
    """
    d = radius_km / EARTH_RADIUS_KM
    if d >= math.pi:
        return None
    dlat = math.degrees(d) + 1e-9
    cond = [ServicePoint.lat.between(lat - dlat, lat + dlat)]
    if abs(lat) + dlat < 90:
        dlng = math.degrees(math.asin(math.sin(d) / math.cos(math.radians(lat)))) + 1e-9
        if -180 <= lng - dlng <= lng + dlng <= 180:
            cond.append(ServicePoint.lng.between(lng - dlng, lng + dlng))
    return cond


def _nearest_keys(
    session: Session, cond: list, lat: float, lng: float, k: int, approximate: bool,
) -> list[tuple[float, str]]:
    """(distance, id) of the k nearest points by (distance, id): a box that widens until k lie within its radius.

    Every point within the radius is inside the box, so once k of them are, no point outside can be nearer.
    The box reads only id/lat/lng from the index on (category, approximate, lat, lng, id).
    """
    radius = FIRST_RADIUS_KM
    while True:
        box = _box(lat, lng, radius)
        q = select(ServicePoint.id, ServicePoint.lat, ServicePoint.lng).where(
            *cond, ServicePoint.approximate == approximate, *(box or []))
        found = sorted((haversine_km(lat, lng, p_lat, p_lng), pid) for pid, p_lat, p_lng in session.execute(q))
        if box is None or sum(dist <= radius for dist, _ in found) >= k:
            return found[:k]
        radius *= WIDEN


def nearest_services(
    session: Session, regions: Regions, lat: float, lng: float, category: str | None = None,
    item: str | None = None, limit: int = 5,
) -> list[dict]:
    """The k nearest points by great-circle distance; points with only approximate coordinates come last."""
    cond = _point_filter(category, item)
    keys = _nearest_keys(session, cond, lat, lng, limit, approximate=False)
    if len(keys) < limit:  # approximate places after exact ones
        keys += _nearest_keys(session, cond, lat, lng, limit - len(keys), approximate=True)
    points = _points(session, [pid for _, pid in keys])
    return [point_dict(p, regions, d) for (d, _), p in zip(keys, points, strict=True)]


def get_service(session: Session, regions: Regions, point_id: str) -> dict | None:
    """One service point by id."""
    p = session.get(ServicePoint, point_id)
    return point_dict(p, regions) if p else None


def _in_scope(session: Session, regions: Regions, region_code: str | None, *where) -> list[dict]:
    """Every policy record whose region contains the place, most local first; within a level, a subsidy a family
    can apply for before records with application steps, before descriptions (then by id), so the record a
    document's answer leads with is the one a family can act on."""
    if not region_code:
        return []
    chain = regions.chain(region_code)
    rows = session.scalars(select(Policy).where(Policy.region_code.in_(chain), *where))
    rank = {code: n for n, code in enumerate(chain)}
    return [policy_dict(p, regions) for p in sorted(
        rows, key=lambda p: (rank[p.region_code], not p.subsidy, not p.steps, p.id))]


def merge_duplicates(policies: list[dict]) -> list[dict]:
    """One entry per document and topic, in order; the others of the same pair go under `merged`."""
    out: dict[tuple, dict] = {}
    for p in policies:
        key = (p["source"].get("document"), p["topic"])
        if key in out:
            out[key]["merged"].append(p)
        else:
            out[key] = {**p, "merged": []}
    return list(out.values())


def policies_for(session: Session, regions: Regions, topic: str, region_code: str | None) -> list[dict]:
    """Every policy on a topic that covers the place: district's, city's and province's, most local first,
    merged by document."""
    return merge_duplicates(_in_scope(session, regions, region_code, Policy.topic == topic))


def rental_policies(session: Session, regions: Regions, region_code: str | None) -> list[dict]:
    """What the documents covering the place say about equipment rental, most local first."""
    return category_facts(session, regions, "equipment_rental", region_code)


def category_facts(session: Session, regions: Regions, category: str, region_code: str | None) -> list[dict]:
    """The documents' facts about a service category in the place (and above), most local first: records
    filed under it (topic or categories); for equipment rental also those that cover rental."""
    rental = category == "equipment_rental"
    rows = _in_scope(session, regions, region_code, or_(Policy.topic == category, Policy.categories.is_not(None),
                                                        Policy.covers_rental.is_(True)))
    return [p for p in rows if p["topic"] == category or category in p["categories"]
            or (rental and p["covers_rental"])]


def get_policy(session: Session, regions: Regions, policy_id: str) -> dict | None:
    """One policy by id."""
    p = session.get(Policy, policy_id)
    return policy_dict(p, regions) if p else None


def matching_policies(
    session: Session, regions: Regions, region_code: str, person: Person, topics: list[str],
) -> tuple[list[tuple[dict, Verdict]], list[tuple[dict, Verdict]]]:
    """(met, to_check): every record covering the place whose conditions the person meets, and those that
    depend on something not yet known. Conditions are checked on every record first; the records kept are
    then ranked by topic order, most local first. Each keeps its own verdict (records of one document and
    topic may differ in whom they are for), so they are not merged."""
    kept: dict[str, list[tuple[dict, Verdict]]] = {"yes": [], "unknown": []}
    for pol in _in_scope(session, regions, region_code, Policy.topic.in_(topics)):
        v = check(pol["conditions"], person)
        if v.result != "no":
            kept[v.result].append((pol, v))
    rank = {t: n for n, t in enumerate(topics)}
    for found in kept.values():
        found.sort(key=lambda pv: rank[pv[0]["topic"]])  # stable: most local first within a topic
    return kept["yes"], kept["unknown"]
