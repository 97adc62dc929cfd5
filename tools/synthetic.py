"""A synthetic catalog at scale, only for measuring the catalog's queries: never the project's database, never shown.

    python -m tools.synthetic [--points 1000000] [--url sqlite:///var/scale/catalog-1000000.db] [--seed N]

The real regions (catalog/data/regions.yaml) plus a grid of synthetic districts over eastern China, about
POINTS_PER_DISTRICT points each, 20 districts to a city and 20 cities to a province, coded 91xxxx-99xxxx (prefixes
GB/T 2260 does not use) and named 合成…. Points are spread evenly over all districts and all categories of
taxonomy.yaml, labelled 示例数据 with `synthetic: true`, never verified; 1 in 100 has only its district's centre
(approximate), rental points rent one to three items. Same seed, same catalog. The real schema (catalog.models) is
used, so the benchmark (python -m tools.bench_catalog) measures the real query functions.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Iterator

from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateTable

from catalog.db import ROOT, database_url, get_engine
from catalog.lexicon import load_regions, load_taxonomy
from catalog.models import Base, CatalogMeta, Region, ServiceItem, ServicePoint, ensure_schema
from catalog.query import DEMO_LABEL, EARTH_RADIUS_KM

SEED = 20261125
POINTS = 1_000_000
POINTS_PER_DISTRICT = 300
DISTRICTS_PER_CITY = 20
CITIES_PER_PROVINCE = 20
PROVINCE_PREFIXES = range(91, 100)  # not used by GB/T 2260
GRID = (22.0, 40.0, 104.0, 122.0)  # south, north, west, east of the synthetic districts
APPROXIMATE_SHARE = 0.01
BATCH = 20_000
META_KEY = "synthetic"


def default_url(points: int) -> str:
    """The SQLite file of a synthetic catalog of `points` points (under var/scale/)."""
    return f"sqlite:///{ROOT / 'var' / 'scale' / f'catalog-{points}.db'}"


def synthetic_regions(points: int) -> list[dict]:
    """Real regions, then synthetic provinces, cities and districts (as in regions.yaml) for `points` points."""
    per_province = DISTRICTS_PER_CITY * CITIES_PER_PROVINCE
    count = min(max(1, points // POINTS_PER_DISTRICT), per_province * len(PROVINCE_PREFIXES))
    cols = math.ceil(math.sqrt(count))
    south, north, west, east = GRID
    dlat, dlng = (north - south) / cols, (east - west) / cols
    # the disc a district's points lie in fits inside its grid cell
    radius_km = min(dlat, dlng * math.cos(math.radians(north))) / 2 * math.pi / 180 * EARTH_RADIUS_KM
    out = [dict(r) for r in load_regions()]
    for i in range(count):
        prefix = PROVINCE_PREFIXES[i // per_province]
        city = i % per_province // DISTRICTS_PER_CITY + 1
        lat, lng = south + (i // cols + 0.5) * dlat, west + (i % cols + 0.5) * dlng
        if i % per_province == 0:
            out.append({"code": f"{prefix}0000", "name": f"合成{prefix}省", "level": "province",
                        "lat": lat, "lng": lng})
        if i % DISTRICTS_PER_CITY == 0:
            out.append({"code": f"{prefix}{city:02d}00", "name": f"合成{prefix}{city:02d}市", "level": "city",
                        "parent": f"{prefix}0000", "lat": lat, "lng": lng})
        code = f"{prefix}{city:02d}{i % DISTRICTS_PER_CITY + 1:02d}"
        out.append({"code": code, "name": f"合成{code}区", "level": "district", "parent": f"{prefix}{city:02d}00",
                    "lat": lat, "lng": lng, "radius_km": radius_km})
    return out


def point_in_district(rng: random.Random, district: dict) -> tuple[float, float]:
    """A uniformly random position within the district's radius (regions.yaml's default: 40 km) of its centre."""
    r = (district.get("radius_km") or 40) * math.sqrt(rng.random()) / EARTH_RADIUS_KM
    angle = rng.uniform(0, 2 * math.pi)
    lat = district["lat"] + math.degrees(r * math.cos(angle))
    lng = district["lng"] + math.degrees(r * math.sin(angle)) / math.cos(math.radians(district["lat"]))
    return round(lat, 6), round(lng, 6)


def _rows(points: int, districts: list[dict], seed: int) -> Iterator[tuple[list[dict], list[dict]]]:
    """Batches of (service point rows, item rows)."""
    rng = random.Random(seed)
    categories = load_taxonomy().categories
    codes = list(categories)
    item_names = list(load_taxonomy().items)
    batch: list[dict] = []
    items: list[dict] = []
    for i in range(points):
        district = districts[i % len(districts)]
        category = rng.choice(codes)
        approximate = rng.random() < APPROXIMATE_SHARE
        lat, lng = (district["lat"], district["lng"]) if approximate else point_in_district(rng, district)
        pid = f"syn-{i:07d}"
        batch.append({
            "id": pid, "category": category, "name": f"{district['name']}{categories[category]['name']}{i}号（合成）",
            "district_code": district["code"], "address": f"{district['name']}合成路{i}号", "lat": lat, "lng": lng,
            "approximate": approximate, "phone": None, "hours": None, "price": None, "offers": [], "serves": None,
            "verified": False, "last_verified": None, "source": {"label": DEMO_LABEL, "synthetic": True},
        })
        if category == "equipment_rental":
            for position, name in enumerate(rng.sample(item_names, rng.randint(1, 3))):
                day = rng.randint(2, 20)
                items.append({"point_id": pid, "position": position, "name": name, "price_day": day,
                              "price_month": day * 20, "deposit": day * 50})
        if len(batch) == BATCH:
            yield batch, items
            batch, items = [], []
    if batch:
        yield batch, items


def generate(url: str, points: int = POINTS, seed: int = SEED) -> float:
    """Replace the catalog at `url` by a synthetic one; returns the seconds taken. Refuses the project's database."""
    if url == database_url():
        raise ValueError(f"拒绝覆盖项目数据库 {url}：合成目录须写入单独的数据库")
    started = time.monotonic()
    engine = get_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:  # tables first, indexes after the load (faster than keeping them up to date)
        for table in Base.metadata.sorted_tables:
            conn.execute(CreateTable(table))
    regions = synthetic_regions(points)
    with engine.begin() as conn:
        conn.execute(Region.__table__.insert(), [
            {"code": r["code"], "name": r["name"], "level": r["level"], "parent_code": r.get("parent"),
             "aliases": list(r.get("aliases") or []), "lat": r["lat"], "lng": r["lng"],
             "radius_km": r.get("radius_km")} for r in regions
        ])
    districts = [r for r in regions if r["level"] == "district"]
    for batch, items in _rows(points, districts, seed):
        with engine.begin() as conn:
            conn.execute(ServicePoint.__table__.insert(), batch)
            if items:
                conn.execute(ServiceItem.__table__.insert(), items)
    ensure_schema(engine)
    _analyze(engine)
    seconds = time.monotonic() - started
    with engine.begin() as conn:
        conn.execute(CatalogMeta.__table__.insert(), {"key": META_KEY, "value": json.dumps(
            {"points": points, "seed": seed, "districts": len(districts), "seconds": round(seconds, 1)})})
    return seconds


def _analyze(engine: Engine) -> None:
    """PostgreSQL: statistics and the visibility map, so the planner can read the new indexes alone."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def generated(url: str) -> dict | None:
    """What generate() recorded at `url` ({points, seed, districts, seconds}), or None."""
    engine = get_engine(url)
    if not inspect(engine).has_table(CatalogMeta.__tablename__):
        return None
    with engine.connect() as conn:
        value = conn.scalar(select(CatalogMeta.value).where(CatalogMeta.key == META_KEY))
    return json.loads(value) if value else None


def main(argv: list[str] | None = None) -> int:
    """Command line (python -m tools.synthetic): generate a synthetic catalog for benchmarks."""
    p = argparse.ArgumentParser(prog="python -m tools.synthetic", description="生成合成目录（仅供性能测试）")
    p.add_argument("--points", type=int, default=POINTS, help="服务点个数")
    p.add_argument("--url", help="目标数据库（默认 var/scale/catalog-<个数>.db）")
    p.add_argument("--seed", type=int, default=SEED, help="随机种子")
    args = p.parse_args(argv)
    url = args.url or default_url(args.points)
    seconds = generate(url, args.points, args.seed)
    print(f"已生成 {args.points} 个合成服务点到 {url}，用时 {seconds:.0f} 秒。")
    return 0


if __name__ == "__main__":
    sys.exit(main())
