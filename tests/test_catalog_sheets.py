"""Spreadsheet upkeep: templates round-trip, UTF-8 and GBK CSV, dry-run, sheet/row/column errors, history, revert."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook

from catalog.__main__ import main
from catalog.db import session_scope
from catalog.history import list_imports, show_history
from catalog.importer import CatalogInvalid, RevertRefused, import_catalog, revert_import, snapshot
from catalog.models import ServicePoint
from catalog.sheets import COLUMNS, import_file, write_templates
from tests.conftest import counts

HEADERS = [h for _f, h, *_ in COLUMNS["service_points"]]


@pytest.fixture()
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    u = f"sqlite:///{tmp_path / 'c.db'}"
    import_catalog(u, by="setup")
    monkeypatch.setenv("DATABASE_URL", u)
    return u


def _point(url: str, pid: str) -> dict | None:
    with session_scope(url) as s:
        return snapshot(s, "service_points").get(pid)


def _row(url: str, pid: str = "wh-420103-meal-1", **changes: str) -> list[str]:
    """A CSV row of an existing point (content from the catalog), with some cells changed (test data)."""
    rec = _point(url, pid)
    from catalog.sheets import record_to_row

    row = [str(v) for v in record_to_row("service_points", rec)]
    for header, value in changes.items():
        row[HEADERS.index(header)] = value
    return row


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows([HEADERS, *rows])
    return path


def test_templates_round_trip(tmp_path: Path, url: str) -> None:
    paths = write_templates(tmp_path / "t")
    assert {p.name for p in paths} == {"服务点模板.xlsx", "服务点模板.csv", "政策模板.xlsx", "政策模板.csv"}
    wb = load_workbook(tmp_path / "t" / "服务点模板.xlsx")
    assert wb.sheetnames == ["服务点", "填写说明"]
    assert [c.value for c in wb["服务点"][1]] == HEADERS
    assert any(r[1].value == "meal" for r in wb["填写说明"].iter_rows())  # allowed codes are listed
    # unchanged template: the example row is the catalog's own record, nothing changes
    for p in paths:
        assert import_file(p, url=url).changes == [], p
    # fill: a new row (test data, in a temporary database) added to the xlsx, imported
    ws = wb["服务点"]
    ws.append(_row(url, 名称="测试新助餐点", 编号="test-420103-meal-new"))
    wb.save(tmp_path / "filled.xlsx")
    res = import_file(tmp_path / "filled.xlsx", url=url, by="张三")
    assert [(c.action, c.record_id) for c in res.changes] == [("add", "test-420103-meal-new")]
    assert _point(url, "test-420103-meal-new")["name"] == "测试新助餐点"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
def test_csv_in_utf8_and_gbk(tmp_path: Path, url: str, encoding: str) -> None:
    path = _write_csv(tmp_path / "p.csv", [_row(url, 名称="雪松路长者食堂（测试改名）")], encoding)
    res = import_file(path, url=url)
    assert [(c.action, c.record_id) for c in res.changes] == [("change", "wh-420103-meal-1")]
    assert _point(url, "wh-420103-meal-1")["name"] == "雪松路长者食堂（测试改名）"


def test_dry_run_changes_nothing_and_prints_a_diff(tmp_path: Path, url: str, capsys) -> None:
    before = _point(url, "wh-420103-meal-1")
    path = _write_csv(tmp_path / "p.csv", [
        _row(url, 服务时间="周一至周五 10:30-12:30"),
        _row(url, 编号="test-new-1", 名称="测试新增点"),
        _row(url, "wh-420103-meal-2", 操作="删除"),
    ])
    assert main(["import", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "~ 修改 服务点 wh-420103-meal-1" in out and "服务时间：" in out and "→ 周一至周五 10:30-12:30" in out
    assert "+ 新增 服务点 test-new-1 测试新增点" in out and "- 删除 服务点 wh-420103-meal-2" in out
    assert "合计：新增 1 条，修改 1 条，删除 1 条" in out and "未做任何修改" in out
    assert _point(url, "wh-420103-meal-1") == before and _point(url, "test-new-1") is None
    assert [e.kind for e in list_imports(url)] == ["full"]


BAD_CELLS = [
    ("电话", "abc123", "电话号码格式不对"),
    ("服务类别", "meals", "未知的服务类别代码"),
    ("区县", "999999", "未知的区县代码"),
    ("纬度", "40.1", "坐标不在"),
    ("纬度", "三十", "应为数字"),
    ("核实日期", "2026-13-40", "日期"),
    ("已核实", "也许", "应填 是 或 否"),
    ("已核实", "是", "示例数据不能标记为已核实"),
    ("名称", "", "缺少必填字段"),
    ("辅具租赁", "飞行器:1/2/3", "未知的辅具名称"),
]


@pytest.mark.parametrize("header,value,message", BAD_CELLS, ids=[f"{b[0]}-{b[2]}" for b in BAD_CELLS])
def test_errors_name_sheet_row_column_and_import_nothing(
    tmp_path: Path, url: str, header: str, value: str, message: str,
) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "服务点"
    ws.append(HEADERS)
    ws.append(_row(url, 编号="test-good", 名称="好的一行"))
    ws.append(_row(url, "wh-420103-meal-2", **{header: value}))
    wb.save(tmp_path / "bad.xlsx")
    before = counts(url)
    with pytest.raises(CatalogInvalid) as err:
        import_file(tmp_path / "bad.xlsx", url=url)
    hits = [e for e in err.value.errors if message in e]
    expected_col = "已核实" if message == "示例数据不能标记为已核实" else header
    assert hits and all(e.startswith(f"工作表“服务点”第3行“{expected_col}”列：") for e in hits), err.value.errors
    assert counts(url) == before and _point(url, "test-good") is None  # the good row is not imported either


def test_csv_errors_name_file_row_column(tmp_path: Path, url: str) -> None:
    path = _write_csv(tmp_path / "p.csv", [_row(url), _row(url, 电话="12")], "gbk")
    with pytest.raises(CatalogInvalid) as err:
        import_file(path, url=url)
    assert any(e.startswith("文件“p.csv”第3行“电话”列：电话号码格式不对") for e in err.value.errors), err.value.errors
    assert any("重复的编号" in e and "第3行“编号”列" in e for e in err.value.errors)


def test_history_records_who_when_hash_and_revert_undoes(tmp_path: Path, url: str, capsys) -> None:
    original = _point(url, "wh-420103-meal-1")
    path = _write_csv(tmp_path / "p.csv", [_row(url, 名称="改名测试"), _row(url, 编号="test-rev-1", 名称="新点"),
                                           _row(url, "wh-420103-meal-2", 操作="删除")])
    assert main(["import", str(path), "--by", "李四"]) == 0
    entry = list_imports(url)[-1]
    assert (entry.by, entry.kind, entry.added, entry.changed, entry.removed) == ("李四", "file", 1, 1, 1)
    import hashlib

    assert entry.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    lines = show_history(entry.id, url)
    assert "操作人 李四" in lines[0] and any("名称：示例·江汉区助餐点1号 → 改名测试" in x for x in lines)
    assert main(["history"]) == 0 and "李四" in capsys.readouterr().out
    # revert: the three records are back as they were
    assert main(["revert", str(entry.id)]) == 0
    assert _point(url, "wh-420103-meal-1") == original and _point(url, "test-rev-1") is None
    assert _point(url, "wh-420103-meal-2") is not None
    with pytest.raises(RevertRefused):
        revert_import(entry.id, url=url)  # already reverted


def test_revert_refused_when_a_later_import_touched_the_record(tmp_path: Path, url: str) -> None:
    first = import_file(_write_csv(tmp_path / "a.csv", [_row(url, 名称="第一次")]), url=url)
    import_file(_write_csv(tmp_path / "b.csv", [_row(url, 名称="第二次")]), url=url)
    with pytest.raises(RevertRefused, match="之后又被修改"):
        revert_import(first.import_id, url=url)
    assert _point(url, "wh-420103-meal-1")["name"] == "第二次"


def test_yaml_file_import_uses_the_same_checks(tmp_path: Path, url: str) -> None:
    path = tmp_path / "one.yaml"
    rec = _point(url, "wh-420103-meal-1")
    import yaml

    path.write_text(yaml.safe_dump({"service_points": [{**rec, "phone": "abc"}]}, allow_unicode=True), "utf-8")
    with pytest.raises(CatalogInvalid) as err:
        import_file(path, url=url)
    assert any("one.yaml:2:" in e and "电话号码格式不对" in e for e in err.value.errors), err.value.errors
    path.write_text(yaml.safe_dump({"service_points": [{**rec, "hours": "测试时间"}]}, allow_unicode=True), "utf-8")
    assert [c.action for c in import_file(path, url=url).changes] == ["change"]
    with session_scope(url) as s:
        assert s.get(ServicePoint, "wh-420103-meal-1").hours == "测试时间"
