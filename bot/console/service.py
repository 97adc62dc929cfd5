"""What the console does, apart from HTTP: accounts and sessions, the audit log, catalog look-ups with SMS text,
policy source context, handed-over conversations read from Rasa's SQL tracker store, claims, corrections.

Everything runs on DATABASE_URL (catalog.db); the console's tables are its own (bot/console/models.py).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache

import yaml
from sqlalchemy import delete, inspect, select, text
from sqlalchemy.orm import Session

from bot.console.models import AuditEntry, Claim, Correction, LoginSession, Operator, utcnow
from bot.console.security import hash_password, mask, new_token, token_hash
from catalog.db import session_scope
from catalog.lexicon import DATA_DIR, SOURCES_DIR
from catalog.loader import haversine_km
from catalog.models import Policy, ServicePoint
from catalog.query import Regions, find_services, nearest_services, policies_for, policy_dict

SESSION_HOURS = 8
SMS_SEGMENT = 70
CONSOLE_SENDER_PREFIX = "console-"


# --- operators and sessions -------------------------------------------------------------------------------------


def add_user(name: str, password: str, url: str | None = None) -> None:
    """Create an operator, or set a new password for an existing one."""
    with session_scope(url) as s:
        user = s.scalar(select(Operator).where(Operator.name == name))
        if user is None:
            s.add(Operator(name=name, password_hash=hash_password(password)))
        else:
            user.password_hash, user.active = hash_password(password), True


def password_hash_of(s: Session, name: str) -> str | None:
    """The stored password hash of an active operator, or None."""
    user = s.scalar(select(Operator).where(Operator.name == name, Operator.active.is_(True)))
    return user.password_hash if user else None


def open_session(s: Session, operator: str, hours: float = SESSION_HOURS) -> tuple[str, str, datetime]:
    """A new login session: (cookie token, CSRF token, expiry). Only the token's hash is stored."""
    token, csrf = new_token(), new_token()
    expires = utcnow() + timedelta(hours=hours)
    s.execute(delete(LoginSession).where(LoginSession.expires_at < utcnow()))
    s.add(LoginSession(token_hash=token_hash(token), operator=operator, csrf=csrf, expires_at=expires))
    return token, csrf, expires


def find_session(s: Session, token: str | None) -> LoginSession | None:
    """The login session of a cookie token, if it exists and has not expired."""
    if not token:
        return None
    row = s.scalar(select(LoginSession).where(LoginSession.token_hash == token_hash(token)))
    if row is None or row.expires_at < utcnow():
        return None
    return row


def close_session(s: Session, token: str) -> None:
    """End the login session of a token."""
    s.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash(token)))


def audit(s: Session, operator: str | None, action: str, target: str | None = None,
          detail: dict | None = None, ip: str | None = None) -> None:
    """Record what an operator did (the audit log)."""
    s.add(AuditEntry(operator=operator, action=action, target=target, detail=detail or {}, ip=ip))


def audit_log(s: Session, limit: int = 200) -> list[dict]:
    """The latest audit entries, newest first."""
    rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    return [{"id": r.id, "at": r.at.isoformat(timespec="seconds") + "Z", "operator": r.operator,
             "action": r.action, "target": r.target, "detail": r.detail, "ip": r.ip} for r in rows]


# --- catalog ----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def taxonomy() -> dict:
    """The catalog's taxonomy file as it is (categories, topics, items)."""
    return yaml.safe_load((DATA_DIR / "taxonomy.yaml").read_text(encoding="utf-8"))


def meta(s: Session) -> dict:
    """What the console's forms offer: categories, topics, items and regions by level."""
    tax = taxonomy()
    regions = Regions(s)
    by_level: dict[str, list] = {}
    for r in sorted(regions.all(), key=lambda r: r.code):
        place = regions.place(r.code)
        by_level.setdefault(r.level, []).append({"code": r.code, "name": r.name, "city": place and place.city,
                                                 "province": place and place.province})
    return {"categories": {k: v["name"] for k, v in tax["categories"].items()},
            "topics": {k: v["name"] for k, v in tax["topics"].items()},
            "items": list(tax["items"]), "regions": by_level}


def sms_segments(body: str, size: int = SMS_SEGMENT) -> list[str]:
    """Split an SMS into segments of at most `size` characters, preferring to break after a separator."""
    body = " ".join(body.split())
    out = []
    while len(body) > size:
        cut = max((body.rfind(sep, 0, size) for sep in "；，。 "), default=-1)
        cut = cut + 1 if cut >= size // 2 else size
        out.append(body[:cut].strip())
        body = body[cut:].strip()
    if body:
        out.append(body)
    return out


SMS_STATUS = {"planned": "（规划建设中，是否建成请先电话核实）", "ended": "（规划期已结束，现行规定请拨打12345）",
              "draft": "（征求意见稿）"}


def sms_for_point(p: dict) -> dict:
    """An SMS about a service point (name, status note, address, phone) and its 70-character segments."""
    note = SMS_STATUS.get(p.get("status") or "", "" if p.get("verified") else "（示例数据，请电话核实）")
    body = f"{p.get('name') or ''}{note}，地址：{p.get('address') or ''}，电话：{p.get('phone') or ''}"
    return {"text": body, "segments": sms_segments(body)}


def sms_for_policy(p: dict) -> dict:
    """An SMS about a policy (title, materials, where, phone) and its segments."""
    materials = "、".join(p.get("materials") or [])
    note = SMS_STATUS.get(p.get("status") or "", "")
    body = f"{p.get('title')}{note}：带{materials}，到{p.get('where') or '社区'}办理，咨询{p.get('phone') or '12345'}"
    return {"text": body, "segments": sms_segments(body)}


def with_sms(items: list[dict]) -> list[dict]:
    """The points, each with its SMS."""
    return [{**i, "sms": sms_for_point(i)} for i in items]


def resolve_place(regions: Regions, name: str | None):
    """The place a name given in a form stands for, or None."""
    name = (name or "").strip()
    return regions.resolve(name) if name else None


def near_point(s: Session, regions: Regions, where: str) -> tuple[float, float, str] | None:
    """Coordinates of "lat,lng", a region name, or a landmark: a catalog point whose name or address has the text."""
    where = where.strip()
    parts = where.replace("，", ",").split(",")
    if len(parts) == 2:
        try:
            return float(parts[0]), float(parts[1]), where
        except ValueError:
            pass
    place = regions.resolve(where)
    if place:
        return place.lat, place.lng, place.name
    hit = ServicePoint.name.contains(where) | ServicePoint.address.contains(where)
    row = s.scalar(select(ServicePoint).where(hit).order_by(ServicePoint.verified.desc(), ServicePoint.id))
    if row:
        return row.lat, row.lng, f"{row.name}（{row.address}）"
    return None


SORTS = {"name", "district", "distance", "verified"}


def search_services(s: Session, category: str | None = None, district: str | None = None, item: str | None = None,
                    q: str | None = None, near: str | None = None, sort: str | None = None,
                    limit: int = 50) -> dict:
    """The catalog search: category, district, item, words, near a place, sorted; an error for an unknown place."""
    regions = Regions(s)
    place = resolve_place(regions, district)
    if district and place is None:
        return {"items": [], "error": f"不认识的地区：{district}"}
    origin = near_point(s, regions, near) if near else None
    if near and origin is None:
        return {"items": [], "error": f"找不到这个地址或地标：{near}"}
    if origin:
        rows = nearest_services(s, regions, origin[0], origin[1], category or None, item or None, limit=10_000)
        if place:
            codes = set(regions.descendants(place.code))
            rows = [r for r in rows if _district_code(regions, r) in codes]
    else:
        rows = find_services(s, regions, category or None, place.code if place else None, item or None,
                             limit=10_000)
    if q:
        words = q.split()
        rows = [r for r in rows if all(w in f"{r['name']} {r['address']} {' '.join(r['offers'])}" for w in words)]
    sort = sort if sort in SORTS else ("distance" if origin else None)
    if sort == "name":
        rows.sort(key=lambda r: r["name"])
    elif sort == "district":
        rows.sort(key=lambda r: (r["district"] or "", r["name"]))
    elif sort == "verified":
        rows.sort(key=lambda r: (not r["verified"], r["name"]))
    elif sort == "distance" and origin:
        rows.sort(key=lambda r: r.get("distance_km", haversine_km(origin[0], origin[1], r["lat"], r["lng"])))
    out = {"items": with_sms(rows[:limit]), "total": len(rows)}
    if origin:
        out["near"] = {"lat": origin[0], "lng": origin[1], "label": origin[2]}
    return out


def _district_code(regions: Regions, row: dict) -> str | None:
    place = regions.resolve(row.get("district") or "")
    return place.code if place else None


def search_policies(s: Session, topic: str | None = None, region: str | None = None) -> list[dict]:
    """Policies with their SMS: by topic and region (every level that covers the region), or all."""
    regions = Regions(s)
    place = resolve_place(regions, region)
    if topic and place:
        rows = policies_for(s, regions, topic, place.code)
    else:
        query = select(Policy).order_by(Policy.region_code, Policy.topic, Policy.id)
        if topic:
            query = query.where(Policy.topic == topic)
        if place:
            query = query.where(Policy.region_code.in_(regions.chain(place.code)))
        rows = [policy_dict(p, regions) for p in s.scalars(query)]
    return [{**p, "sms": sms_for_policy(p)} for p in rows]


# Full-width and half-width punctuation read alike when the quote is looked up in its source (same length: 1:1).
_FOLD = str.maketrans("，。：；！？（）　", ",.:;!?() ")


def _find_loose(full: str, quote: str) -> tuple[int, int]:
    """Start and end of `quote` in `full`, ignoring white space and the width of punctuation; (-1, -1) if absent."""
    keep = [i for i, c in enumerate(full) if not c.isspace()]
    hay = "".join(full[i] for i in keep).translate(_FOLD)
    needle = "".join(quote.split()).translate(_FOLD)
    at = hay.find(needle) if needle else -1
    if at < 0:
        return -1, -1
    return keep[at], keep[at + len(needle) - 1] + 1


def source_context(source: dict, around: int = 300) -> dict | None:
    """The source file's text around the verbatim quote: {before, quote, after, file, found}."""
    name = (source or {}).get("file")
    if not name:
        return None
    path = (SOURCES_DIR / name).resolve()
    if path.parent != SOURCES_DIR.resolve() or not path.is_file():
        return None
    full = path.read_text(encoding="utf-8")
    quote = source.get("quote") or ""
    at, end = _find_loose(full, quote)
    if at < 0:
        return {"file": name, "found": False, "before": full[:around * 2], "quote": "", "after": ""}
    start = max(0, full.rfind("\n", 0, max(0, at - around)) + 1)
    stop = full.find("\n", min(len(full), end + around))
    stop = len(full) if stop < 0 else stop
    return {"file": name, "found": True, "before": full[start:at], "quote": full[at:end], "after": full[end:stop]}


def policy_with_source(s: Session, policy_id: str) -> dict | None:
    """One policy with its SMS and the source text around its quote."""
    p = s.get(Policy, policy_id)
    if p is None:
        return None
    d = policy_dict(p, Regions(s))
    return {**d, "sms": sms_for_policy(d), "context": source_context(d["source"])}


def requery(s: Session, fields: dict) -> dict:
    """The answer for corrected understanding: services or policies straight from the catalog."""
    task = fields.get("task") or ("policy" if fields.get("topic") else "find_service")
    region = fields.get("district") or fields.get("region") or None
    if task == "policy" or (task == "eligibility" and fields.get("topic")):
        policies = search_policies(s, fields.get("topic") or None, region)
        for p in policies:
            p["context"] = source_context(p["source"])
        return {"task": "policy", "items": [], "policies": policies[:5]}
    found = search_services(s, fields.get("category") or None, region, fields.get("item") or None, limit=5)
    return {"task": "find_service", "items": found["items"], "policies": [], "error": found.get("error")}


# --- handed-over conversations (Rasa's SQL tracker store, table `events`) ---------------------------------------


def _events_table_exists(s: Session) -> bool:
    return inspect(s.get_bind()).has_table("events")


def handoff_states(s: Session) -> dict[str, tuple[bool, float]]:
    """sender_id -> (latest value of slot `handoff`, its time), for every conversation that ever set it."""
    if not _events_table_exists(s):
        return {}
    rows = s.execute(text(
        "SELECT sender_id, timestamp, data FROM events WHERE type_name = 'slot' AND data LIKE :pat ORDER BY id"),
        {"pat": '%"handoff"%'})
    out: dict[str, tuple[bool, float]] = {}
    for sender, ts, data in rows:
        try:
            ev = json.loads(data)
        except ValueError:
            continue
        if ev.get("name") == "handoff":
            out[sender] = (bool(ev.get("value")), ts or 0.0)
    return out


def conversation_events(s: Session, sender: str) -> list[dict]:
    """A conversation's events from the tracker store, oldest first."""
    if not _events_table_exists(s):
        return []
    rows = s.execute(text("SELECT data FROM events WHERE sender_id = :sid ORDER BY id"), {"sid": sender})
    out = []
    for (data,) in rows:
        try:
            out.append(json.loads(data))
        except ValueError:
            continue
    return out


def channel_of(events: list[dict]) -> str | None:
    """The channel of a conversation's latest user message."""
    for ev in reversed(events):
        if ev.get("event") == "user" and ev.get("input_channel"):
            return ev["input_channel"]
    return None


def transcript(events: list[dict], reveal: bool = False) -> list[dict]:
    """User and bot turns: who, when, text (user text masked unless revealed), the bot's task."""
    out = []
    for ev in events:
        kind = ev.get("event")
        if kind == "user":
            t = ev.get("text") or ""
            out.append({"who": "user", "at": ev.get("timestamp"), "text": t if reveal else mask(t),
                        "intent": ((ev.get("parse_data") or {}).get("intent") or {}).get("name")})
        elif kind == "bot":
            data = ev.get("data") or {}
            custom = data.get("custom")
            operator = (ev.get("metadata") or {}).get("operator")
            if custom and not ev.get("text"):
                continue  # the structured payload: its text is already in the text message
            t = ev.get("text") or ""
            out.append({"who": "operator" if operator else "bot", "operator": operator, "at": ev.get("timestamp"),
                        "text": t if reveal or not operator else mask(t)})
    return out


def claims(s: Session) -> dict[str, Claim]:
    """Every claim on a handed-off conversation, by sender."""
    return {c.sender_id: c for c in s.scalars(select(Claim))}


def list_handoffs(s: Session) -> list[dict]:
    """Conversations waiting for a person, oldest first, with masked last words and who has claimed them."""
    states = handoff_states(s)
    open_ = {sid: ts for sid, (on, ts) in states.items() if on and not sid.startswith(CONSOLE_SENDER_PREFIX)}
    taken = claims(s)
    out = []
    for sid, ts in sorted(open_.items(), key=lambda kv: kv[1]):
        events = conversation_events(s, sid)
        users = [e for e in events if e.get("event") == "user"]
        last = users[-1].get("text", "") if users else ""
        c = taken.get(sid)
        claimed = c if c is not None and c.resolved_at is None else None
        out.append({"sender_id": sid, "channel": channel_of(events), "handoff_at": ts,
                    "last_at": events[-1].get("timestamp") if events else ts,
                    "last_user_text": mask(last), "turns": len(users),
                    "claimed_by": claimed.operator if claimed else None,
                    "claimed_at": claimed.claimed_at.isoformat(timespec="seconds") + "Z" if claimed else None})
    return out


def claim(s: Session, sender: str, operator: str) -> str | None:
    """Claim a conversation; returns the operator who holds it already (another one), else None."""
    c = s.get(Claim, sender)
    if c is not None and c.resolved_at is None and c.operator != operator:
        return c.operator
    if c is None:
        s.add(Claim(sender_id=sender, operator=operator))
    else:
        c.operator, c.claimed_at, c.resolved_at = operator, utcnow(), None
    return None


def claim_holder(s: Session, sender: str) -> str | None:
    """The operator who holds an open claim on a conversation, or None."""
    c = s.get(Claim, sender)
    return c.operator if c is not None and c.resolved_at is None else None


def mark_resolved(s: Session, sender: str) -> None:
    """Close the claim on a conversation."""
    c = s.get(Claim, sender)
    if c is not None:
        c.resolved_at = utcnow()


# --- corrections (the learning loop) ----------------------------------------------------------------------------

EXPECT_KEYS = ("task", "category", "topic", "district", "city", "item")


def expectation(s: Session, fields: dict) -> dict:
    """A dev_cases.yaml `expect` from corrected fields: the region as district or city, empty fields left out."""
    out = {k: fields[k] for k in ("task", "category", "topic", "item") if fields.get(k)}
    region = fields.get("district") or fields.get("region")
    if region:
        place = Regions(s).resolve(region)
        if place is None:
            raise ValueError(f"不认识的地区：{region}")
        if place.level == "district":
            out["district"] = place.name
        elif place.level == "city":
            out["city"] = place.name
    return out


def add_correction(s: Session, operator: str, said: str, bot: dict, fields: dict, note: str | None = None) -> int:
    """Store an operator's correction of what the bot understood; returns its id."""
    expect = expectation(s, fields)
    if not expect.get("task"):
        raise ValueError("task is required")
    row = Correction(operator=operator, text=said, bot=bot, expect=expect, note=note)
    s.add(row)
    s.flush()
    return row.id


def corrections(s: Session) -> list[dict]:
    """Every stored correction, oldest first."""
    rows = s.scalars(select(Correction).order_by(Correction.id))
    return [{"id": r.id, "operator": r.operator, "text": r.text, "bot": r.bot, "expect": r.expect,
             "note": r.note, "at": r.at.isoformat(timespec="seconds") + "Z"} for r in rows]


def export_corrections(url: str | None = None) -> str:
    """The corrections as a case file in the format of ../shared/eval/dev_cases.yaml (one flow mapping a line)."""
    with session_scope(url) as s:
        rows = corrections(s)
    lines = ["# Operator corrections from the hotline console (python -m bot.console export-corrections).",
             "# Review each case before adding it to training or test data; the caller's words are as typed.",
             "cases:"]
    for r in rows:
        bot = {k: v for k, v in (r["bot"] or {}).items() if k in EXPECT_KEYS and v}
        lines.append(f"# correction {r['id']} by {r['operator']} at {r['at']}; the bot understood "
                     + json.dumps(bot, ensure_ascii=False))
        case = {"text": mask(r["text"]), "expect": r["expect"]}
        lines.append("- " + yaml.safe_dump(case, allow_unicode=True, default_flow_style=True, width=10_000,
                                           sort_keys=False).strip())
    return "\n".join(lines) + "\n"

