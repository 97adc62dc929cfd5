"""Regions: official codes and centroids (checked against cpca), aliases, and the district→city→province chain."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from catalog.lexicon import load_regions


def test_codes_names_and_centroids_match_cpca() -> None:
    import cpca

    ref = pd.read_csv(os.path.join(os.path.dirname(cpca.__file__), "resources", "adcodes.csv"), dtype=str)
    ref = ref.set_index("adcode")
    for r in load_regions():
        row = ref.loc[r["code"] + "000000"]
        assert row["name"] == r["name"]
        assert abs(float(row["latitude"]) - r["lat"]) < 1e-4 and abs(float(row["longitude"]) - r["lng"]) < 1e-4


def test_coverage_is_the_31_districts() -> None:
    districts = [r for r in load_regions() if r["level"] == "district"]
    by_city: dict[str, int] = {}
    for d in districts:
        by_city[d["parent"]] = by_city.get(d["parent"], 0) + 1
    assert by_city == {"420100": 13, "421200": 6, "371300": 12}


@pytest.mark.parametrize("alias,name,city,province", [
    ("武昌", "武昌区", "武汉市", "湖北省"), ("临沂", "临沂市", "临沂市", "山东省"),
    ("兰山", "兰山区", "临沂市", "山东省"), ("乔口", "硚口区", "武汉市", "湖北省"),
    ("蔡甸", "蔡甸区", "武汉市", "湖北省"), ("赤壁", "赤壁市", "咸宁市", "湖北省"),
    ("费县", "费县", "临沂市", "山东省"), ("湖北", "湖北省", None, "湖北省"),
])
def test_alias_resolves_with_its_chain(regions, alias: str, name: str, city: str | None, province: str) -> None:
    place = regions.resolve(alias)
    assert place is not None and place.name == name
    assert place.city == city and place.province == province


def test_chain_goes_up_to_the_province(regions) -> None:
    assert regions.chain("420106") == ["420106", "420100", "420000"]
    assert regions.resolve("火星") is None
