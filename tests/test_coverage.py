"""Adding a place or a document is data only: the coverage sentence comes from the regions data, a new official
document (its text in catalog/sources and records quoting it) is answered after an import with no code change,
and place names that mean two places are asked back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from actions.policies import ActionPolicy
from actions.services import ActionFindService
from catalog.db import session_scope
from catalog.export import export_json
from catalog.importer import import_catalog
from catalog.lexicon import SOURCES_DIR
from catalog.query import Regions, policies_for
from language.places import place_problem
from replies import t
from replies.builder import coverage
from tests.test_actions import make_tracker, run

CHECK_QUOTES = Path("/work/shared/tools/check_quotes.py")

# A small document made for this test: it is not a real document and lives only in a temporary catalog.
DOC_NAME = "900_test_jianghan_respite.txt"
DOC_TEXT = """江汉区开展家庭照护者喘息服务试点的通知（测试用文件）
一、服务对象。本区户籍、经评估为失能的老年人的家庭照护者,每年可申请不超过14天的短期托养喘息服务。
二、申请方式。向所在街道便民服务中心提出申请。
"""
DOC_RECORDS = {"policies": [{
    "id": "jianghan-respite-test", "topic": "respite_care", "region": "420103",
    "title": "江汉区家庭照护者喘息服务试点（测试文件）",
    "summary": "失能老年人的家庭照护者每年可申请不超过14天的短期托养喘息服务。",
    "eligibility": ["经评估为失能的老年人的家庭照护者"],
    "conditions": {"requires": [["失能"]], "quote": "经评估为失能的老年人的家庭照护者"},
    "where": "所在街道便民服务中心", "phone": "12345", "guidance": ["phone"],
    "source": {"file": DOC_NAME, "document": "江汉区开展家庭照护者喘息服务试点的通知（测试用文件）",
               "issuer": "测试", "date": "2026-11-30", "clause": "一、服务对象",
               "quote": "本区户籍、经评估为失能的老年人的家庭照护者,每年可申请不超过14天的短期托养喘息服务。"},
}]}


def test_the_coverage_sentence_lists_the_cities_of_the_regions_data() -> None:
    assert coverage() == "我们目前覆盖湖北武汉、咸宁和山东临沂。"
    assert t("unknown_region", name="北京").endswith(coverage())


def test_a_new_city_is_data_only(data_copy: Path, tmp_path: Path) -> None:
    path = data_copy / "regions.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["regions"] += [
        {"code": "370100", "name": "济南市", "level": "city", "parent": "370000", "lat": 36.65, "lng": 117.12,
         "aliases": ["济南"]},
        {"code": "370102", "name": "历下区", "level": "district", "parent": "370100", "lat": 36.67, "lng": 117.08,
         "radius_km": 15, "aliases": ["历下"]},
    ]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert coverage(data_copy) == "我们目前覆盖湖北武汉、咸宁和山东临沂、济南。"
    url = f"sqlite:///{tmp_path / 'c.db'}"
    import_catalog(url, data_dir=data_copy)
    with session_scope(url) as s:
        regions = Regions(s)
        place = regions.resolve("历下")
        assert place is not None and (place.name, place.city, place.province) == ("历下区", "济南市", "山东省")
        # the new district is covered by the Shandong records at once
        found = policies_for(s, regions, "family_doctor", place.code)
        assert found and all(p["region"]["province"] == "山东省" for p in found)


@pytest.fixture()
def with_new_document(data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A temporary catalog: the real data and sources plus one new document and its records, imported."""
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR, sources)
    (sources / DOC_NAME).write_text(DOC_TEXT, encoding="utf-8")
    (data_copy / "policies" / "jianghan_test.yaml").write_text(
        yaml.safe_dump(DOC_RECORDS, allow_unicode=True, sort_keys=False), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    import_catalog(url, data_dir=data_copy, sources_dir=sources)
    monkeypatch.setenv("DATABASE_URL", url)
    return url, sources


def test_a_new_document_is_answered_after_import(with_new_document: tuple[str, Path]) -> None:
    url, _ = with_new_document
    with session_scope(url) as s:
        found = policies_for(s, Regions(s), "respite_care", "420103")
    assert found[0]["id"] == "jianghan-respite-test"  # the most local record first, then the city's
    assert any(p["region"].get("city") == "武汉市" and p["id"] != found[0]["id"] for p in found)
    payload, text, _, _ = run(ActionPolicy(), make_tracker("江汉区喘息服务怎么申请", "policy_respite_care", ["江汉区"]))
    assert payload["task"] == "policy" and payload["policy"]["id"] == "jianghan-respite-test"
    assert "江汉区家庭照护者喘息服务试点" in text and "每年可申请不超过14天的短期托养喘息服务" in text


@pytest.mark.skipif(not CHECK_QUOTES.is_file(), reason="the shared quote checker is not here")
def test_the_new_document_passes_the_quote_check(with_new_document: tuple[str, Path], tmp_path: Path) -> None:
    url, sources = with_new_document
    with session_scope(url) as s:
        data = export_json(s)
    assert any(p["id"] == "jianghan-respite-test" for p in data["policies"])
    out = tmp_path / "export.json"
    out.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    res = subprocess.run([sys.executable, str(CHECK_QUOTES), str(out), str(sources)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout


@pytest.mark.parametrize(("message", "name", "options"), [
    ("我婆婆在蔡店 白天家里没人", "蔡店", ["黄陂区", "蔡甸区"]),
    ("老头子住青山 想找个养老院", "青山", ["青山区", "崇阳县"]),
])
def test_names_of_two_places_are_asked_back(regions, message: str, name: str, options: list[str]) -> None:
    assert regions.resolve(name) is None
    assert place_problem(message, regions) == (name, options)
    for full in ("青山区", "蔡甸区", "武汉青山"):
        assert place_problem(f"{full}有没有助餐点", regions) is None
    assert regions.resolve("武汉青山").name == "青山区"


def test_the_service_answer_asks_which_place(catalog_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", catalog_url)
    payload, text, buttons, _ = run(ActionFindService(), make_tracker("蔡店有没有日间照料", "find_day_care", ["蔡店"]))
    assert payload.get("ask") == "region" and "黄陂区" in text and "蔡甸区" in text
    assert {b["title"] for b in buttons} >= {"黄陂区", "蔡甸区"}
