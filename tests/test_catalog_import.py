"""The importer validates every record, reports file:line, and imports all or nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from catalog.importer import CatalogInvalid, import_catalog
from catalog.loader import read_catalog
from tests.conftest import SOURCES, counts


def test_shipped_data_is_valid() -> None:
    data = read_catalog()
    assert data.errors == []
    assert len(data.policies) >= 20
    assert len({p["topic"] for p in data.policies}) >= 9


def test_import_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    first = import_catalog(url)
    assert counts(url) == (first.service_points, first.policies)
    import_catalog(url)
    assert counts(url) == (first.service_points, first.policies)
    assert import_catalog(url, if_changed=True).skipped


def _edit(path: Path, old: str, new: str, count: int = 1) -> int:
    """Replace the first `old` in the file; return the 1-based line where it was."""
    text = path.read_text(encoding="utf-8")
    pos = text.index(old)
    path.write_text(text[:pos] + new + text[pos + len(old):], encoding="utf-8")
    return text.count("\n", 0, pos) + 1


def _record_line(path: Path, needle: str) -> int:
    """Line of the '- id:' that starts the record containing `needle`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if needle in line)
    while not lines[at].lstrip().startswith("- "):
        at -= 1
    return at + 1


def _first_service_file(data: Path) -> Path:
    return sorted((data / "services").glob("demo_*.yaml"))[0]


def _policy_file(data: Path) -> Path:
    return data / "policies" / "wuhan.yaml"


BAD_RECORDS = [
    ("unknown category", _first_service_file, "category: meal", "category: meals", "未知的服务类别代码"),
    ("unknown region", _first_service_file, 'district: "', 'district: "99', "未知的区县代码"),
    ("malformed phone", _first_service_file, 'phone: "0', 'phone: "abc0', "电话号码格式不对"),
    ("coordinates outside", _first_service_file, "lat: 3", "lat: 4", "坐标不在"),
    ("unknown topic", _policy_file, "topic: ", "topic: x", "未知的政策主题代码"),
    ("quote not in source", _policy_file, "quote: ", "quote: 并非原文", "找不到"),
]


@pytest.mark.parametrize("name,target,old,new,message", BAD_RECORDS, ids=[b[0] for b in BAD_RECORDS])
def test_bad_record_refused_with_file_line(
    name: str, target, old: str, new: str, message: str, data_copy: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    import_catalog(url)
    before = counts(url)
    path = target(data_copy)
    line = _edit(path, old, new)
    rec_line = _record_line(path, new)
    with pytest.raises(CatalogInvalid) as err:
        import_catalog(url, data_dir=data_copy, sources_dir=SOURCES)
    rel = f"catalog/data/{path.parent.name}/{path.name}"
    hits = [e for e in err.value.errors if message in e]
    assert hits, err.value.errors
    # the message names the file and a line inside the bad record
    assert any(e.startswith(f"{rel}:") and rec_line <= int(e.split(":")[1]) <= line for e in hits), hits
    assert counts(url) == before


def test_duplicate_id_is_refused(data_copy: Path, tmp_path: Path) -> None:
    path = _first_service_file(data_copy)
    text = path.read_text(encoding="utf-8")
    first_id = re.search(r"- id: (\S+)", text).group(1)
    second_id = re.findall(r"- id: (\S+)", text)[1]
    path.write_text(text.replace(f"- id: {second_id}\n", f"- id: {first_id}\n", 1), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with pytest.raises(CatalogInvalid) as err:
        import_catalog(url, data_dir=data_copy, sources_dir=SOURCES)
    assert any("重复的编号" in e and first_id in e for e in err.value.errors)
    assert counts(url) == (0, 0)


def test_policy_without_source_is_refused(data_copy: Path, tmp_path: Path) -> None:
    path = _policy_file(data_copy)
    text = path.read_text(encoding="utf-8")
    start = text.index("  source:")
    end = text.index("\n  last_verified", start) if "\n  last_verified" in text[start:] else text.index("\n- id", start)
    path.write_text(text[:start] + text[end + 1:], encoding="utf-8")
    with pytest.raises(CatalogInvalid) as err:
        import_catalog(f"sqlite:///{tmp_path / 'c.db'}", data_dir=data_copy, sources_dir=SOURCES)
    assert any("缺少来源" in e and "wuhan.yaml:" in e for e in err.value.errors)


def test_broken_yaml_names_the_line(data_copy: Path, tmp_path: Path) -> None:
    path = _policy_file(data_copy)
    line = _edit(path, "  title: ", "  title: [unclosed ")
    with pytest.raises(CatalogInvalid) as err:
        import_catalog(f"sqlite:///{tmp_path / 'c.db'}", data_dir=data_copy, sources_dir=SOURCES)
    assert any(e.startswith("catalog/data/policies/wuhan.yaml:") and "YAML" in e for e in err.value.errors)
    assert any(abs(int(e.split(":")[1]) - line) <= 1 for e in err.value.errors)


def test_cli_refuses_and_exits_nonzero(data_copy: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from catalog.__main__ import main

    _edit(_first_service_file(data_copy), "category: meal", "category: nope")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    assert main(["import", "--data-dir", str(data_copy)]) == 1
    err = capsys.readouterr().err
    assert "未知的服务类别代码" in err and "数据库未做任何修改" in err
