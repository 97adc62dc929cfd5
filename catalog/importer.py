"""Write validated catalog data to the database in one transaction (all or nothing)."""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from catalog.clock import local_naive
from catalog.db import get_engine, session_scope
from catalog.lexicon import DATA_DIR, SOURCES_DIR
from catalog.loader import CatalogData, read_catalog
from catalog.models import (
    CatalogChange,
    CatalogImport,
    CatalogMeta,
    Policy,
    Region,
    ServiceItem,
    ServicePoint,
    as_date,
    ensure_schema,
)

HASH_KEY = "data_hash"
FILE_IDS_KEY = "file_ids"  # ids the data files own (JSON), so a full import keeps staff-added records


class CatalogInvalid(Exception):
    """The source files have problems; `errors` lists them as file:line messages."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} 处错误")
        self.errors = errors


@dataclass
class ImportResult:
    """What a full import wrote (counts), or that the data was unchanged and skipped."""

    regions: int
    service_points: int
    policies: int
    skipped: bool = False


def data_hash(data_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR) -> str:
    """A hash of every data and source file, to skip an import when nothing changed."""
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
        return {k: _clean(v) for k, v in rec.items() if not (isinstance(k, str) and k.startswith("__"))}
    if isinstance(rec, list):
        return [_clean(v) for v in rec]
    return rec


def _point(rec: dict) -> ServicePoint:
    src = rec.get("source")
    return ServicePoint(
        id=str(rec["id"]), category=rec["category"], name=rec["name"], district_code=rec["district"],
        address=rec["address"], lat=float(rec["lat"]), lng=float(rec["lng"]),
        approximate=bool(rec.get("approximate")),
        phone=str(rec["phone"]) if rec.get("phone") else None, hours=rec.get("hours"),
        price=rec.get("price"), offers=rec.get("offers") or [], serves=rec.get("serves"),
        verified=bool(rec.get("verified")), status=rec.get("status") or "open",
        last_verified=as_date(rec.get("last_verified")),
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
        covers_rental=bool(rec.get("covers_rental")), subsidy=bool(rec.get("subsidy")),
        categories=list(rec.get("categories") or []), status=rec.get("status") or "in_effect",
        source=_clean(rec["source"]),
        last_verified=as_date(rec.get("last_verified")), end_date=as_date(rec.get("end_date")),
    )


MODELS = {"service_points": (ServicePoint, _point), "policies": (Policy, _policy)}
KIND_NAMES = {"service_points": "服务点", "policies": "政策"}


def _iso(d) -> str | None:
    return d.isoformat() if d else None


def point_record(p: ServicePoint) -> dict:
    """A stored point as the record dict the YAML files hold (the inverse of _point)."""
    src = dict(p.source or {})
    return {
        "id": p.id, "category": p.category, "name": p.name, "district": p.district_code, "address": p.address,
        "lat": p.lat, "lng": p.lng, "phone": p.phone, "hours": p.hours, "price": p.price,
        "offers": list(p.offers or []), "serves": p.serves,
        "items": [{"name": i.name, "price_day": i.price_day, "price_month": i.price_month, "deposit": i.deposit}
                  for i in sorted(p.items, key=lambda i: i.position or 0)],
        "verified": bool(p.verified), "status": p.status or "open", "last_verified": _iso(p.last_verified),
        "source": src["label"] if set(src) == {"label"} else src,
    }


def policy_record(p: Policy) -> dict:
    """A policy row as the record the data files hold (for diffs and history)."""
    return {
        "id": p.id, "topic": p.topic, "region": p.region_code, "title": p.title, "summary": p.summary,
        "eligibility": list(p.eligibility or []), "conditions": dict(p.conditions or {}),
        "steps": list(p.steps or []), "materials": list(p.materials or []), "where": p.where, "phone": p.phone,
        "guidance": list(p.guidance or []), "covers_rental": bool(p.covers_rental), "subsidy": bool(p.subsidy),
        "categories": list(p.categories or []), "status": p.status or "in_effect", "source": dict(p.source or {}),
        "last_verified": _iso(p.last_verified), "end_date": _iso(p.end_date),
    }


def record_of(kind: str, obj) -> dict:
    """A row of `kind` as its data-file record."""
    return point_record(obj) if kind == "service_points" else policy_record(obj)


def canonical(kind: str, rec: dict) -> dict:
    """A validated record in the stored form, so that equal content compares equal."""
    return record_of(kind, MODELS[kind][1](rec))


def snapshot(session: Session, kind: str) -> dict[str, dict]:
    """Every record of `kind` in the database, by id."""
    model = MODELS[kind][0]
    return {o.id: record_of(kind, o) for o in session.scalars(select(model))}


@dataclass
class Change:
    """One record added, changed or removed, with its record before and after."""

    kind: str
    record_id: str
    action: str  # add | change | remove
    before: dict | None
    after: dict | None


def diff_records(
    kind: str, current: dict[str, dict], incoming: list[dict], remove: AbstractSet[str] = frozenset(),
) -> list[Change]:
    """What importing `incoming` (added or replaced by id) and removing `remove` would change."""
    out = []
    for rec in incoming:
        after = canonical(kind, rec)
        before = current.get(after["id"])
        if before is None:
            out.append(Change(kind, after["id"], "add", None, after))
        elif before != after:
            out.append(Change(kind, after["id"], "change", before, after))
    for rid in sorted(remove):
        if rid in current:
            out.append(Change(kind, rid, "remove", current[rid], None))
    return out


def who(by: str | None = None) -> str:
    """The operator's name: `by`, else the system user name."""
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown"


def apply_changes(
    session: Session, changes: list[Change], *, by: str | None, kind: str, source: str, sha256: str | None = None,
    reverts: int | None = None,
) -> CatalogImport:
    """Write the changes and their history entry in the caller's transaction."""
    for c in changes:
        model, build = MODELS[c.kind]
        old = session.get(model, c.record_id)
        if old is not None:
            session.delete(old)
            session.flush()
        if c.after is not None:
            session.add(build(c.after))
    entry = CatalogImport(
        at=local_naive(), by=who(by), kind=kind, source=source, sha256=sha256,
        added=sum(c.action == "add" for c in changes), changed=sum(c.action == "change" for c in changes),
        removed=sum(c.action == "remove" for c in changes), reverts=reverts,
        changes=[CatalogChange(kind=c.kind, record_id=c.record_id, action=c.action, before=c.before, after=c.after)
                 for c in changes],
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass
class RevertResult:
    """What a revert changed, or the conflicts that stopped it."""

    import_id: int | None
    changes: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


class RevertRefused(Exception):
    """A revert that cannot be applied (the message says why, in Chinese)."""

    pass


def revert_import(import_id: int, by: str | None = None, url: str | None = None) -> RevertResult:
    """Undo one import: every record it touched goes back to its content before. Refused when a later change
    touched the same record (revert that one first) or the import was already reverted."""
    ensure_schema(get_engine(url))
    with session_scope(url) as s:
        entry = s.get(CatalogImport, import_id)
        if entry is None:
            raise RevertRefused(f"没有编号为 {import_id} 的导入记录")
        if entry.reverted_by:
            raise RevertRefused(f"导入 {import_id} 已被第 {entry.reverted_by} 次操作撤销")
        undo, conflicts = [], []
        for c in entry.changes:
            model = MODELS[c.kind][0]
            obj = s.get(model, c.record_id)
            now = record_of(c.kind, obj) if obj is not None else None
            if now != c.after:
                conflicts.append(f"{KIND_NAMES[c.kind]} {c.record_id} 在这次导入之后又被修改过")
                continue
            action = {"add": "remove", "remove": "add", "change": "change"}[c.action]
            undo.append(Change(c.kind, c.record_id, action, c.after, c.before))
        if conflicts:
            raise RevertRefused("无法撤销：" + "；".join(conflicts) + "。请先撤销之后的导入。")
        rev = apply_changes(s, undo, by=by, kind="revert", source=f"撤销导入 {import_id}", reverts=import_id)
        entry.reverted_by = rev.id
        return RevertResult(rev.id, undo)


def import_catalog(
    url: str | None = None, data_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR,
    if_changed: bool = False, by: str | None = None,
) -> ImportResult:
    """Validate everything, then replace the records the files own in one transaction.

    Raises CatalogInvalid (and changes nothing) when any record is invalid.
    """
    digest = data_hash(data_dir, sources_dir)
    ensure_schema(get_engine(url))
    if if_changed:
        with session_scope(url) as s:
            meta = s.get(CatalogMeta, HASH_KEY)
            if meta is not None and meta.value == digest:
                return ImportResult(0, 0, 0, skipped=True)
    data: CatalogData = read_catalog(data_dir, sources_dir)
    if data.errors:
        raise CatalogInvalid(data.errors)
    with session_scope(url) as s:
        before = {kind: snapshot(s, kind) for kind in MODELS}
        # Replace what the files own (this import's ids and the previous full import's); records that staff
        # added from sheets or that feeds brought stay.
        owned_meta = s.get(CatalogMeta, FILE_IDS_KEY)
        point_ids = {str(r["id"]) for r in data.service_points}
        policy_ids = {str(r["id"]) for r in data.policies}
        if owned_meta is None:  # a database from before this was tracked: the files owned everything
            for table in (ServiceItem, ServicePoint, Policy):
                s.execute(delete(table))
        else:
            owned = json.loads(owned_meta.value)
            points = point_ids | set(owned.get("points", []))
            policies = policy_ids | set(owned.get("policies", []))
            s.execute(delete(ServiceItem).where(ServiceItem.point_id.in_(points)))
            s.execute(delete(ServicePoint).where(ServicePoint.id.in_(points)))
            s.execute(delete(Policy).where(Policy.id.in_(policies)))
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
        s.merge(CatalogMeta(key=FILE_IDS_KEY, value=json.dumps(
            {"points": sorted(point_ids), "policies": sorted(policy_ids)})))
        s.flush()
        changes = []
        for kind in MODELS:
            after = snapshot(s, kind)
            changes += diff_records(kind, before[kind], list(after.values()), set(before[kind]) - set(after))
        if changes:  # history only: the records are already written
            s.add(CatalogImport(
                at=local_naive(), by=who(by), kind="full", source=str(data_dir),
                sha256=digest, added=sum(c.action == "add" for c in changes),
                changed=sum(c.action == "change" for c in changes),
                removed=sum(c.action == "remove" for c in changes),
                changes=[CatalogChange(kind=c.kind, record_id=c.record_id, action=c.action, before=c.before,
                                       after=c.after) for c in changes]))
    return ImportResult(len(data.regions), len(data.service_points), len(data.policies))
