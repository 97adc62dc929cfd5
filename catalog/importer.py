"""Write validated catalog data to the database in one transaction (all or nothing)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from catalog.db import get_engine, session_scope
from catalog.lexicon import DATA_DIR, SOURCES_DIR
from catalog.loader import LINE, CatalogData, read_catalog
from catalog.models import Base, CatalogMeta, Policy, Region, ServiceItem, ServicePoint, as_date

HASH_KEY = "data_hash"


class CatalogInvalid(Exception):
    """The source files have problems; `errors` lists them as file:line messages."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} 处错误")
        self.errors = errors


@dataclass
class ImportResult:
    regions: int
    service_points: int
    policies: int
    skipped: bool = False


def data_hash(data_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR) -> str:
    h = hashlib.sha256()
    for base in (data_dir, sources_dir):
        for p in sorted(base.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(base)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def _clean(rec: dict) -> dict:
    """Drop loader bookkeeping (line numbers, file) from a record, recursively."""
    if isinstance(rec, dict):
        return {k: _clean(v) for k, v in rec.items() if k not in (LINE, "__file__")}
    if isinstance(rec, list):
        return [_clean(v) for v in rec]
    return rec


def _point(rec: dict) -> ServicePoint:
    src = rec.get("source")
    return ServicePoint(
        id=str(rec["id"]), category=rec["category"], name=rec["name"], district_code=rec["district"],
        address=rec["address"], lat=float(rec["lat"]), lng=float(rec["lng"]),
        phone=str(rec["phone"]) if rec.get("phone") else None, hours=rec.get("hours"),
        price=rec.get("price"), offers=rec.get("offers") or [], serves=rec.get("serves"),
        verified=bool(rec.get("verified")), last_verified=as_date(rec.get("last_verified")),
        source=_clean(src) if isinstance(src, dict) else {"label": str(src)},
        items=[
            ServiceItem(position=i, name=it["name"], price_day=it.get("price_day"),
                        price_month=it.get("price_month"), deposit=it.get("deposit"))
            for i, it in enumerate(rec.get("items") or [])
        ],
    )


def _policy(rec: dict) -> Policy:
    return Policy(
        id=str(rec["id"]), topic=rec["topic"], region_code=rec["region"], title=rec["title"],
        summary=rec["summary"], eligibility=rec.get("eligibility") or [],
        conditions=_clean(rec.get("conditions") or {}), steps=rec.get("steps") or [],
        materials=rec.get("materials") or [], where=rec.get("where"),
        phone=str(rec["phone"]) if rec.get("phone") else None, guidance=rec.get("guidance") or [],
        covers_rental=bool(rec.get("covers_rental")), source=_clean(rec["source"]),
        last_verified=as_date(rec.get("last_verified")),
    )


def import_catalog(
    url: str | None = None, data_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR,
    if_changed: bool = False,
) -> ImportResult:
    """Validate everything, then replace the catalog's content in one transaction.

    Raises CatalogInvalid (and changes nothing) when any record is invalid.
    """
    digest = data_hash(data_dir, sources_dir)
    Base.metadata.create_all(get_engine(url))
    if if_changed:
        with session_scope(url) as s:
            meta = s.get(CatalogMeta, HASH_KEY)
            if meta is not None and meta.value == digest:
                return ImportResult(0, 0, 0, skipped=True)
    data: CatalogData = read_catalog(data_dir, sources_dir)
    if data.errors:
        raise CatalogInvalid(data.errors)
    with session_scope(url) as s:
        for table in (ServiceItem, ServicePoint, Policy):
            s.execute(delete(table))
        # Regions are referenced by points and policies: update in place, children before parents' removal.
        known = {r.code: r for r in s.scalars(select(Region))}
        for rec in data.regions:
            region = known.pop(rec["code"], None) or Region(code=rec["code"])
            region.name, region.level, region.parent_code = rec["name"], rec["level"], rec.get("parent")
            region.aliases = list(rec.get("aliases") or [])
            region.lat, region.lng, region.radius_km = rec["lat"], rec["lng"], rec.get("radius_km")
            s.add(region)
        s.flush()
        for stale in sorted(known.values(), key=lambda r: {"district": 0, "city": 1}.get(r.level, 2)):
            s.delete(stale)
            s.flush()
        s.add_all(_point(rec) for rec in data.service_points)
        s.add_all(_policy(rec) for rec in data.policies)
        s.merge(CatalogMeta(key=HASH_KEY, value=digest))
    return ImportResult(len(data.regions), len(data.service_points), len(data.policies))
