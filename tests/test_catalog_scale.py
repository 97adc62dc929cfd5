"""The catalog's queries at scale: on 20,000 synthetic points the indexed searches return what a full scan would."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, inspect, select, text

from catalog.db import get_engine, session_scope
from catalog.lexicon import load_taxonomy
from catalog.loader import haversine_km
from catalog.models import ServiceItem, ServicePoint, ensure_schema
from catalog.query import Regions, find_services, nearest_services
from tools.synthetic import generate, point_in_district, synthetic_regions

POINTS = 20_000
CATEGORIES = sorted(load_taxonomy().categories)
DISTRICTS = [r for r in synthetic_regions(POINTS) if r["level"] == "district"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('scale') / 'synthetic.db'}"
    generate(url, POINTS)
    return url


@pytest.fixture(scope="module")
def everything(synthetic: str) -> list:
    with session_scope(synthetic) as s:
        return s.execute(select(ServicePoint.id, ServicePoint.category, ServicePoint.district_code,
                                ServicePoint.lat, ServicePoint.lng, ServicePoint.approximate)).all()


def brute_nearest(rows: list, lat: float, lng: float, k: int) -> list[str]:
    """The old way: every row's distance, exact coordinates before approximate ones."""
    return [r.id for r in sorted(rows, key=lambda r: (r.approximate, haversine_km(lat, lng, r.lat, r.lng), r.id))[:k]]


def test_generator_covers_every_category_and_district(everything: list) -> None:
    assert len(everything) == POINTS
    assert {r.category for r in everything} == set(CATEGORIES)
    assert {r.district_code for r in everything} == {d["code"] for d in DISTRICTS}
    assert any(r.approximate for r in everything) and not all(r.approximate for r in everything)


def test_nearest_is_the_true_nearest(synthetic: str, everything: list) -> None:
    rng = random.Random(7)
    origins = [point_in_district(rng, rng.choice(DISTRICTS)) for _ in range(30)]
    origins.append((-33.87, 151.21))  # Sydney: the box widens to thousands of kilometres
    with session_scope(synthetic) as s:
        regions = Regions(s)
        for lat, lng in origins:
            category = rng.choice(CATEGORIES)
            rows = nearest_services(s, regions, lat, lng, category, limit=5)
            assert [r["id"] for r in rows] == brute_nearest([r for r in everything if r.category == category],
                                                            lat, lng, 5)


def test_nearest_beyond_the_exact_points_lists_approximate_ones_last(synthetic: str, everything: list) -> None:
    with session_scope(synthetic) as s:
        regions = Regions(s)
        renting = set(s.scalars(select(ServiceItem.point_id).where(ServiceItem.name == "制氧机")))
        rows = nearest_services(s, regions, 30.59, 114.31, "equipment_rental", "制氧机", limit=10_000)
    expected = brute_nearest([r for r in everything if r.id in renting], 30.59, 114.31, 10_000)
    assert [r["id"] for r in rows] == expected and len(expected) == len(renting)
    assert rows[-1]["approximate"] and not rows[0]["approximate"]


def test_category_in_district_and_city(synthetic: str, everything: list) -> None:
    rng = random.Random(8)
    with session_scope(synthetic) as s:
        regions = Regions(s)
        for district in rng.sample(DISTRICTS, 20):
            category = rng.choice(CATEGORIES)
            rows = find_services(s, regions, category, district["code"], limit=5)
            assert [r["id"] for r in rows] == sorted(
                r.id for r in everything if r.category == category and r.district_code == district["code"])[:5]
        city = DISTRICTS[-1]["parent"]
        rows = find_services(s, regions, "meal", city, limit=5)
    first_of_district: dict[str, str] = {}
    for r in sorted(everything, key=lambda r: (r.district_code, r.id)):
        if r.category == "meal" and r.district_code.startswith(city[:4]):
            first_of_district.setdefault(r.district_code, r.id)
    assert [r["id"] for r in rows] == [first_of_district[d] for d in sorted(first_of_district)][:5]


@pytest.fixture()
def statements(synthetic: str) -> Iterator[list[tuple[str, tuple]]]:
    seen: list[tuple[str, tuple]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        seen.append((statement, parameters))

    engine = get_engine(synthetic)
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_queries_read_the_indexes_alone(synthetic: str, statements: list[tuple[str, tuple]]) -> None:
    with session_scope(synthetic) as s:
        regions = Regions(s)
        nearest_services(s, regions, 30.59, 114.31, "meal")
        find_services(s, regions, "meal", "420103")
        searches = [(q, p) for q, p in statements if "catalog_service_point.lat BETWEEN" in q or "OVER" in q]
        plans = [" ".join(row[-1] for row in s.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {q}", p))
                 for q, p in searches]
    assert any("COVERING INDEX ix_catalog_service_point_category_position" in plan for plan in plans)
    assert any("COVERING INDEX ix_catalog_service_point_category_district" in plan for plan in plans)
    assert not any(" SCAN catalog_service_point" in f" {plan}" for plan in plans)


def test_existing_database_gets_the_new_indexes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = get_engine(url)
    ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_catalog_service_point_category_position"))
    ensure_schema(engine)
    assert "ix_catalog_service_point_category_position" in {
        ix["name"] for ix in inspect(engine).get_indexes("catalog_service_point")}


def test_generator_refuses_the_project_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'project.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ValueError, match="拒绝覆盖项目数据库"):
        generate(url, 10)
