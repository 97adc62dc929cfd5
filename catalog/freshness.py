"""Freshness: entries whose last_verified is older than a configured age (CATALOG_STALE_DAYS, default 365)."""

from __future__ import annotations

import csv
import os
from datetime import date
from pathlib import Path

from sqlalchemy import select

from catalog.clock import today as china_today
from catalog.db import get_engine, session_scope
from catalog.lexicon import load_taxonomy
from catalog.models import Policy, ServicePoint, as_date, ensure_schema
from catalog.query import Regions

DEFAULT_STALE_DAYS = 365


def stale_days() -> int:
    """CATALOG_STALE_DAYS, or 365 when unset or not a number."""
    try:
        return int(os.environ.get("CATALOG_STALE_DAYS") or DEFAULT_STALE_DAYS)
    except ValueError:
        return DEFAULT_STALE_DAYS


def is_stale(last_verified: str | date | None, days: int | None = None, today: date | None = None) -> bool:
    """True when the entry was verified more than `days` ago (unknown dates are not claimed stale here)."""
    d = as_date(last_verified)
    if d is None:
        return False
    return ((today or china_today()) - d).days > (stale_days() if days is None else days)


def stale_entries(days: int | None = None, url: str | None = None, today: date | None = None) -> list[dict]:
    """Points and policies verified more than `days` ago or never, sorted by district, category, id."""
    days = stale_days() if days is None else days
    today = today or china_today()
    tax = load_taxonomy()
    ensure_schema(get_engine(url))
    rows = []
    with session_scope(url) as s:
        regions = Regions(s)

        def name(code: str) -> str:
            place = regions.place(code)
            return place.name if place else code

        for p in s.scalars(select(ServicePoint)):
            rows.append({"kind": "服务点", "district": name(p.district_code),
                         "category": tax.categories.get(p.category, {}).get("name", p.category),
                         "id": p.id, "name": p.name, "last_verified": p.last_verified, "phone": p.phone or ""})
        for p in s.scalars(select(Policy)):
            rows.append({"kind": "政策", "district": name(p.region_code),
                         "category": tax.topics.get(p.topic, {}).get("name", p.topic),
                         "id": p.id, "name": p.title, "last_verified": p.last_verified, "phone": p.phone or ""})
    out = []
    for r in rows:
        d = r["last_verified"]
        if d is None or (today - d).days > days:
            r["days"] = (today - d).days if d else None
            r["last_verified"] = d.isoformat() if d else "从未核实"
            out.append(r)
    out.sort(key=lambda r: (r["district"], r["kind"], r["category"], r["id"]))
    return out


def stale_table(rows: list[dict], days: int | None) -> list[str]:
    """The stale entries as text lines, grouped by district and category."""
    days = stale_days() if days is None else days
    if not rows:
        return [f"没有超过 {days} 天未核实的条目。"]
    lines = [f"超过 {days} 天未核实的条目：{len(rows)} 条"]
    current = None
    for r in rows:
        if (r["district"], r["category"]) != current:
            current = (r["district"], r["category"])
            lines.append(f"【{r['district']}】{r['category']}")
        age = f"{r['days']} 天前" if r["days"] is not None else ""
        lines.append(f"  {r['kind']}  {r['id']:<30} {r['name']}  核实于 {r['last_verified']} {age}  {r['phone']}")
    return lines


CSV_HEADERS = {"district": "地区", "category": "类别/主题", "kind": "类型", "id": "编号", "name": "名称",
               "last_verified": "核实日期", "days": "距今天数", "phone": "电话"}


def write_stale_csv(rows: list[dict], path: Path) -> None:
    """Write the stale entries as a CSV that Excel opens in Chinese (UTF-8 with BOM)."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:  # utf-8-sig: Excel opens it in Chinese
        w = csv.writer(fh)
        w.writerow(CSV_HEADERS.values())
        for r in rows:
            w.writerow(["" if r[k] is None else r[k] for k in CSV_HEADERS])
