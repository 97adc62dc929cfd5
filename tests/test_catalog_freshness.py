"""Freshness: the stale list, the bot's 信息核实于 note, and policies past their end date not offered."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from catalog.__main__ import main
from catalog.db import session_scope
from catalog.freshness import is_stale, stale_entries
from catalog.importer import import_catalog, snapshot
from catalog.query import Regions, rental_policies
from catalog.sheets import FileRecords, import_records


@pytest.fixture()
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    u = f"sqlite:///{tmp_path / 'c.db'}"
    import_catalog(u)
    monkeypatch.setenv("DATABASE_URL", u)
    return u


def test_is_stale_uses_the_configured_age(monkeypatch: pytest.MonkeyPatch) -> None:
    today = date(2026, 11, 25)
    monkeypatch.setenv("CATALOG_STALE_DAYS", "30")
    assert is_stale("2026-10-01", today=today) and not is_stale("2026-11-01", today=today)
    assert not is_stale(None, today=today)
    monkeypatch.delenv("CATALOG_STALE_DAYS")
    assert not is_stale("2026-01-01", today=today) and is_stale("2025-11-01", today=today)  # default 365


def test_stale_lists_by_district_and_category_with_csv(url: str, tmp_path: Path, capsys) -> None:
    rows = stale_entries(10, url, today=date(2026, 11, 25))
    assert rows and {r["last_verified"] for r in rows} == {"从未核实"}  # demo points; policies are 11-25 or later
    assert rows == sorted(rows, key=lambda r: (r["district"], r["kind"], r["category"], r["id"]))
    assert {r["last_verified"] for r in stale_entries(10000, url, today=date(2026, 11, 25))} == {"从未核实"}
    out_csv = tmp_path / "stale.csv"
    assert main(["stale", "--days", "0", "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert "未核实的条目" in out and "【江汉区】老年助餐" in out
    with out_csv.open(encoding="utf-8-sig") as fh:
        table = list(csv.reader(fh))
    assert table[0][:3] == ["地区", "类别/主题", "类型"] and len(table) > 1


def test_policy_past_its_end_date_says_its_period_ended(url: str) -> None:
    """An ended plan is still what the document said: shown, marked ended (Asia/Shanghai date)."""
    with session_scope(url) as s:
        rec = snapshot(s, "policies")["wuhan-care-subsidy-rental"]
    got = FileRecords("policies", [{**rec, "end_date": "2020-01-01"}])
    import_records(got, source="test", sha256="0", url=url)
    with session_scope(url) as s:
        found = {p["id"]: p for p in rental_policies(s, Regions(s), "420103")}
        assert found["wuhan-care-subsidy-rental"]["status"] == "ended"
    import_records(FileRecords("policies", [{**rec, "end_date": "2999-12-31"}]), source="test", sha256="0", url=url)
    with session_scope(url) as s:
        found = {p["id"]: p for p in rental_policies(s, Regions(s), "420103")}
        assert found["wuhan-care-subsidy-rental"]["status"] == "in_effect"


def test_bot_says_when_an_old_entry_was_verified(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from actions.services import ActionFindService
    from tests.test_actions import make_tracker, run

    with session_scope(url) as s:  # demo points carry no date: give one point a verification date
        rec = snapshot(s, "service_points")["wh-420103-meal-1"]
    import_records(FileRecords("service_points", [{**rec, "last_verified": "2026-10-01"}]), source="test",
                   sha256="0", url=url)
    monkeypatch.setenv("CATALOG_STALE_DAYS", "0")  # every dated entry counts as old
    payload, text, _, _ = run(ActionFindService(), make_tracker("江汉区有助餐点吗", "find_meal", ["江汉区"]))
    assert any(i["id"] == "wh-420103-meal-1" for i in payload["items"])
    assert "信息核实于2026年10月，建议先电话确认" in text
    monkeypatch.setenv("CATALOG_STALE_DAYS", "100000")
    _, text, _, _ = run(ActionFindService(), make_tracker("江汉区有助餐点吗", "find_meal", ["江汉区"]))
    assert "信息核实于" not in text


def test_dates_are_china_dates_whatever_the_host_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 20:00 UTC on 30 June it is already 1 July in Beijing: a policy ending 30 June is over."""
    import time as systime
    from datetime import UTC, datetime

    from catalog import clock

    utc_evening = datetime(2026, 6, 30, 20, 0, tzinfo=UTC)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # datetime.now's signature
            return utc_evening.astimezone(tz) if tz else utc_evening.replace(tzinfo=None)

    monkeypatch.setenv("TZ", "UTC")
    systime.tzset()
    try:
        monkeypatch.setattr(clock, "datetime", Frozen)
        assert clock.today() == date(2026, 7, 1)
        assert clock.local_naive() == datetime(2026, 7, 1, 4, 0, tzinfo=clock.TZ).replace(tzinfo=None)
        assert is_stale("2025-06-30", days=365) and not is_stale("2025-07-01", days=365)
    finally:
        monkeypatch.undo()
        systime.tzset()
