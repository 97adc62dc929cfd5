"""A point without coordinates gets its district's centre, marked approximate and listed after exact ones."""

from __future__ import annotations

from pathlib import Path

from catalog.db import session_scope
from catalog.importer import import_catalog
from catalog.query import Regions, nearest_services
from tests.conftest import SOURCES


def test_point_without_coordinates_is_approximate_and_sorted_last(data_copy: Path, tmp_path: Path) -> None:
    (data_copy / "services" / "staff_added.yaml").write_text(
        "service_points:\n"
        "- id: staff-420103-meal-1\n"
        "  category: meal\n"
        "  name: 新开社区长者食堂\n"
        '  district: "420103"\n'
        "  address: 武汉市江汉区某社区\n"
        '  phone: "027-01234567"\n'
        "  source: 示例数据\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'c.db'}"
    import_catalog(url, data_dir=data_copy, sources_dir=SOURCES)
    with session_scope(url) as s:
        regions = Regions(s)
        centre = regions.resolve("江汉区")
        rows = nearest_services(s, regions, centre.lat, centre.lng, "meal", limit=500)
    new = next(r for r in rows if r["id"] == "staff-420103-meal-1")
    assert new["approximate"] and (new["lat"], new["lng"]) == (centre.lat, centre.lng)
    assert new["distance_km"] == 0 and rows[-1]["id"] == "staff-420103-meal-1"  # exact places first
    assert not any(r["approximate"] for r in rows[:-1])
