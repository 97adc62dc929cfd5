"""A full import from catalog/data replaces what the files own and keeps what staff imported from sheets."""

from __future__ import annotations

from pathlib import Path

from catalog.db import session_scope
from catalog.importer import import_catalog
from catalog.models import ServicePoint
from catalog.sheets import import_file
from tests.conftest import SOURCES


def test_full_import_keeps_staff_records(data_copy: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    import_catalog(url, data_dir=data_copy, sources_dir=SOURCES)
    sheet = tmp_path / "staff.csv"
    sheet.write_text("编号,服务类别,名称,区县,地址,电话,来源\n"
                     "staff-420103-meal-1,meal,员工新增长者食堂,江汉区,武汉市江汉区某社区,027-01234567,示例数据\n",
                     encoding="utf-8")
    import_file(sheet, by="staff", url=url, data_dir=data_copy, sources_dir=SOURCES)
    # the files change (one demo point removed) and make run imports them again
    path = sorted((data_copy / "services").glob("demo_*.yaml"))[0]
    text = path.read_text(encoding="utf-8")
    first = text.index("- id: ")
    second = text.index("\n- id: ", first + 1)
    removed_id = text[first + 6:text.index("\n", first)].strip()
    path.write_text(text[:first] + text[second + 1:], encoding="utf-8")
    import_catalog(url, data_dir=data_copy, sources_dir=SOURCES, if_changed=True)
    with session_scope(url) as s:
        assert s.get(ServicePoint, "staff-420103-meal-1") is not None  # staff record kept
        assert s.get(ServicePoint, removed_id) is None  # the record the files dropped is gone
