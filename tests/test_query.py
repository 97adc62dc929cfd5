"""Catalog queries: search by category and district, nearest by true distance, policies of every level."""

from __future__ import annotations

from catalog.loader import haversine_km
from catalog.query import find_services, nearest_services, policies_for, rental_policies


def test_search_by_category_and_district(session, regions) -> None:
    place = regions.resolve("江汉区")
    rows = find_services(session, regions, "meal", place.code, limit=10)
    assert len(rows) >= 2
    assert all(r["category"] == "meal" and r["district"] == "江汉区" for r in rows)


def test_city_search_spreads_over_districts(session, regions) -> None:
    rows = find_services(session, regions, "care_home", regions.resolve("武汉市").code, limit=5)
    assert len({r["district"] for r in rows}) == 5


def test_item_filter_lists_only_points_renting_it(session, regions) -> None:
    rows = find_services(session, regions, "equipment_rental", regions.resolve("武汉").code, "护理床", limit=20)
    assert rows and all("护理床" in [i["name"] for i in r["items"]] for r in rows)


def test_nearest_is_ordered_by_true_distance(session, regions) -> None:
    lat, lng = 30.5928, 114.3055  # 武汉 city centre
    rows = nearest_services(session, regions, lat, lng, "meal", limit=8)
    dists = [r["distance_km"] for r in rows]
    assert dists == sorted(dists)
    for r in rows:
        assert abs(haversine_km(lat, lng, r["lat"], r["lng"]) - r["distance_km"]) < 0.01
    # nothing left out is nearer than the last one listed
    everything = nearest_services(session, regions, lat, lng, "meal", limit=10_000)
    assert [r["id"] for r in everything[:8]] == [r["id"] for r in rows]


def test_haversine_known_distance() -> None:
    # one degree of latitude is 111.19 km on a 6371 km sphere; a degree of longitude shrinks with cos(lat)
    assert abs(haversine_km(30, 114, 31, 114) - 111.19) < 0.01
    assert abs(haversine_km(60, 114, 60, 115) - 55.60) < 0.01


def test_policies_of_every_level_most_local_first(session, regions) -> None:
    wuhan = policies_for(session, regions, "family_care_bed", regions.resolve("江汉区").code)
    assert [p["level"] for p in wuhan] == sorted((p["level"] for p in wuhan), key=["city", "province"].index)
    assert {p["region"]["province"] for p in wuhan} == {"湖北省"}
    assert {"city", "province"} <= {p["level"] for p in wuhan}
    hubei = policies_for(session, regions, "family_doctor", regions.resolve("咸安区").code)
    assert hubei and all(p["region"]["city"] is None and p["region"]["province"] == "湖北省" for p in hubei)
    assert policies_for(session, regions, "high_age_allowance", regions.resolve("兰山区").code) == []


def test_planned_projects_are_not_listed_as_open(session, regions) -> None:
    code = regions.resolve("江岸区").code
    assert all(r["status"] == "open" for r in find_services(session, regions, "care_home", code, limit=50))
    planned = find_services(session, regions, "care_home", code, limit=50, status="planned")
    assert planned and all(r["status"] == "planned" and not r["verified"] and r["approximate"] for r in planned)
    near = nearest_services(session, regions, planned[0]["lat"], planned[0]["lng"], "care_home", limit=50)
    assert planned[0]["id"] not in {r["id"] for r in near}


def test_rental_policies_of_the_region(session, regions) -> None:
    rows = rental_policies(session, regions, regions.resolve("兰山区").code)
    assert rows and all(p["region"]["province"] == "山东省" for p in rows)
