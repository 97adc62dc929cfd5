"""Read and validate the catalog's source files; every problem is reported as file:line."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from catalog.conditions import (
    POINT_STATUSES,
    POLICY_STATUSES,
    STATUS_ALIASES,
    load_documents,
    load_terms,
    words_of,
)
from catalog.lexicon import DATA_DIR, SOURCES_DIR, load_taxonomy

PHONE_RE = re.compile(r"^(0\d{2,3}-\d{7,8}|1[3-9]\d{9}|\d{3,5})$")
LINE = "__line__"
LOC = "__loc__"  # records not from YAML (spreadsheet rows, feed rows): field -> "where" text for errors
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records the 1-based line of every mapping under LINE."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        mapping[LINE] = node.start_mark.line + 1
        return mapping


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def normalize_space(text: str) -> str:
    """The text without any whitespace (for comparing quotes with source documents)."""
    return re.sub(r"\s+", "", text or "")


@dataclass
class CatalogData:
    """The validated records of the data files, and the errors found."""

    regions: list[dict] = field(default_factory=list)
    service_points: list[dict] = field(default_factory=list)
    policies: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, data_dir: Path, sources_dir: Path) -> None:
        self.data_dir, self.sources_dir = data_dir, sources_dir
        self.out = CatalogData()
        self._source_texts: dict[str, str | None] = {}

    def error(self, path: Path, line: int | None, message: str) -> None:
        self.out.errors.append(f"{self._rel(path)}:{line or 1}: {message}")

    def rec_error(self, rec: dict, message: str, field: str | None = None, line: int | None = None) -> None:
        """An error in one record: file:line for YAML, sheet/row/column (or feed/row/field) otherwise."""
        loc = rec.get(LOC)
        if loc is not None:
            self.out.errors.append(f"{loc(field)}：{message}")
        elif "__file__" not in rec:  # built in code (tests, revert): name the record
            self.out.errors.append(f"记录 {rec.get('id')}：{message}")
        else:
            self.error(rec["__file__"], line or rec.get(LINE), message)

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.data_dir.parent.parent))
        except ValueError:
            return str(path)

    def records(self, path: Path, key: str) -> list[dict]:
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            self.error(path, mark.line + 1 if mark else None, f"YAML 格式错误：{getattr(exc, 'problem', exc)}")
            return []
        except UnicodeDecodeError:
            self.error(path, None, "文件不是 UTF-8 编码")
            return []
        if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
            self.error(path, None, f"文件应以“{key}:”开头，后面是记录列表")
            return []
        rows = []
        for rec in doc[key]:
            if not isinstance(rec, dict):
                self.error(path, None, f"“{key}”下的每一项都应是一条记录（键: 值）")
                continue
            rec["__file__"] = path
            rows.append(rec)
        return rows

    def source_text(self, name: str) -> str | None:
        if name not in self._source_texts:
            p = self.sources_dir / Path(name).name
            self._source_texts[name] = normalize_space(p.read_text(encoding="utf-8")) if p.is_file() else None
        return self._source_texts[name]

    def require(self, rec: dict, fields: tuple[str, ...]) -> bool:
        missing = [f for f in fields if rec.get(f) in (None, "", [])]
        for f in missing:
            self.rec_error(rec, f"缺少必填字段“{f}”", f)
        return not missing

    def check_dates(self, rec: dict, fields: tuple[str, ...]) -> None:
        for f in fields:
            v = rec.get(f)
            if v is None or isinstance(v, date):
                continue
            try:
                ok = bool(DATE_RE.match(str(v))) and date.fromisoformat(str(v)) is not None
            except ValueError:
                ok = False
            if not ok:
                self.rec_error(rec, f"日期格式不对：{v}（应如 2026-11-25）", f)
                rec[f] = None

    def check_source(self, rec: dict, required_quote: bool) -> None:
        src = rec.get("source")
        if src == "示例数据" and not required_quote:
            return
        if not isinstance(src, dict):
            self.rec_error(rec, "缺少来源（source）：政策须注明文件、条款和原文引用", "source")
            return
        for f in ("file", "document", "clause", "quote"):
            if not src.get(f):
                self.rec_error(rec, f"来源缺少“{f}”", f"source.{f}", src.get(LINE))
        if src.get("file") and src.get("quote"):
            text = self.source_text(str(src["file"]))
            if text is None:
                self.rec_error(rec, f"来源文件不存在：catalog/sources/{src['file']}", "source.file", src.get(LINE))
            elif normalize_space(str(src["quote"])) not in text:
                self.rec_error(rec, f"引用原文在 {src['file']} 中找不到（须逐字摘录）", "source.quote", src.get(LINE))


def _read_regions(r: _Reader, data_dir: Path) -> dict[str, dict]:
    regions: dict[str, dict] = {}
    names: dict[str, str] = {}
    path = data_dir / "regions.yaml"
    for rec in r.records(path, "regions"):
        rec["code"] = str(rec.get("code", ""))
        if not r.require(rec, ("code", "name", "level", "lat", "lng")):
            continue
        if not re.fullmatch(r"\d{6}", rec["code"]):
            r.error(path, rec[LINE], f"行政区划代码应为6位数字：{rec['code']}")
        elif rec["code"] in regions:
            r.error(path, rec[LINE], f"重复的行政区划代码：{rec['code']}")
        if rec["level"] not in ("province", "city", "district"):
            r.error(path, rec[LINE], f"level 只能是 province/city/district：{rec['level']}")
        if rec.get("parent") is not None:
            rec["parent"] = str(rec["parent"])
            if rec["parent"] not in regions:
                r.error(path, rec[LINE], f"上级区划 {rec['parent']} 未定义（须写在本条之前）")
        for n in [rec["name"], *(rec.get("aliases") or [])]:
            if n in names and names[n] != rec["code"]:
                r.error(path, rec[LINE], f"名称或别名“{n}”与 {names[n]} 重复")
            names[n] = rec["code"]
        regions[rec["code"]] = rec
    return regions


class _Checker:
    """The checks every service point and policy passes, wherever it comes from."""

    def __init__(self, r: _Reader, regions: dict[str, dict], data_dir: Path) -> None:
        self.r, self.regions, self.tax = r, regions, load_taxonomy(data_dir)
        self.seen: dict[str, str] = {}
        self.terms = load_terms(data_dir)
        self.documents = load_documents(data_dir)
        for doc in self.documents.values():
            text = r.source_text(str(doc["file"]))
            status = str(doc.get("status") or "")
            if STATUS_ALIASES.get(status, status) not in POLICY_STATUSES:
                r.error(data_dir / "documents.yaml", None,
                        f"{doc['file']} 的 status 只能是 {'/'.join(POLICY_STATUSES)}")
            if text is not None and normalize_space(str(doc.get("quote"))) not in text:
                r.error(data_dir / "documents.yaml", None, f"{doc['file']} 的引用原文在来源文件中找不到")

    def inherit(self, rec: dict) -> None:
        """A record's status and end_date: its own, else its source document's (documents.yaml)."""
        src = rec.get("source")
        doc = self.documents.get(Path(str(src.get("file"))).name, {}) if isinstance(src, dict) else {}
        for f in ("status", "end_date"):
            if rec.get(f) in (None, "") and doc.get(f):
                rec[f] = doc[f]

    def _where(self, rec: dict) -> str:
        if rec.get(LOC) is not None:
            return rec[LOC](None)
        if "__file__" not in rec:
            return f"记录 {rec.get('id')}"
        return f"{self.r._rel(rec['__file__'])}:{rec.get(LINE)}"

    def check_id(self, rec: dict) -> None:
        rid = str(rec.get("id"))
        if rid in self.seen:
            self.r.rec_error(rec, f"重复的编号 id：{rid}（首次出现在 {self.seen[rid]}）", "id")
        self.seen[rid] = self._where(rec)

    def point(self, rec: dict) -> bool:
        r, tax = self.r, self.tax
        if not r.require(rec, ("id", "category", "name", "district", "address")):
            return False
        if rec.get("lat") in (None, "") and rec.get("lng") in (None, ""):
            # No coordinates: the district's centre, marked approximate (sorted after exact ones).
            region = self.regions.get(str(rec["district"]))
            if region is not None:
                rec["lat"], rec["lng"], rec["approximate"] = region["lat"], region["lng"], True
        elif not r.require(rec, ("lat", "lng")):
            return False
        self.check_id(rec)
        rec["id"] = str(rec["id"])
        rec["district"] = str(rec["district"])
        if rec["category"] not in tax.categories:
            r.rec_error(rec, f"未知的服务类别代码：{rec['category']}", "category")
        region = self.regions.get(rec["district"])
        if region is None or region["level"] != "district":
            r.rec_error(rec, f"未知的区县代码：{rec['district']}", "district")
        else:
            try:
                dist = haversine_km(float(rec["lat"]), float(rec["lng"]), region["lat"], region["lng"])
            except (TypeError, ValueError):
                r.rec_error(rec, "经纬度应为数字", "lat")
            else:
                if dist > float(region.get("radius_km") or 40):
                    r.rec_error(rec, f"坐标不在{region['name']}范围内（距中心 {dist:.1f} 公里）", "lat")
        phone = rec.get("phone")
        if phone is not None and not PHONE_RE.match(str(phone)):
            r.rec_error(rec, f"电话号码格式不对：{phone}（应如 027-12345678、13912345678 或 12345）", "phone")
        for item in rec.get("items") or []:
            if not isinstance(item, dict) or item.get("name") not in tax.items:
                r.rec_error(rec, f"未知的辅具名称：{item.get('name') if isinstance(item, dict) else item}", "items",
                            item.get(LINE) if isinstance(item, dict) else None)
            else:
                for k in ("price_day", "price_month", "deposit"):
                    if item.get(k) is not None and not isinstance(item[k], int | float):
                        r.rec_error(rec, f"辅具“{item['name']}”的价格应为数字：{item[k]}", "items")
        if rec.get("verified") and rec.get("source") == "示例数据":
            r.rec_error(rec, "示例数据不能标记为已核实（verified: true）", "verified")
        rec["status"] = rec.get("status") or "open"
        if rec["status"] not in POINT_STATUSES:
            r.rec_error(rec, f"服务点 status 只能是 {'/'.join(POINT_STATUSES)}：{rec['status']}", "status")
        elif rec["status"] == "planned" and rec.get("verified"):
            r.rec_error(rec, "规划建设项目不能标记为已核实（verified: true）", "verified")
        elif rec["status"] == "planned" and not isinstance(rec.get("source"), dict):
            r.rec_error(rec, "规划建设项目须注明来源文件、条款和原文引用（source）", "source")
        r.check_dates(rec, ("last_verified",))
        r.check_source(rec, required_quote=bool(rec.get("verified")))
        return True

    def policy(self, rec: dict) -> bool:
        r, tax = self.r, self.tax
        if not r.require(rec, ("id", "topic", "region", "title", "summary")):
            return False
        self.check_id(rec)
        rec["id"] = str(rec["id"])
        rec["region"] = str(rec["region"])
        if rec["topic"] not in tax.topics and rec["topic"] not in tax.categories:
            r.rec_error(rec, f"未知的政策主题代码：{rec['topic']}", "topic")
        for c in rec.get("categories") or []:
            if c not in tax.categories:
                r.rec_error(rec, f"未知的服务类别代码：{c}", "categories")
        self.inherit(rec)
        rec["status"] = STATUS_ALIASES.get(str(rec.get("status") or "in_effect"), rec.get("status") or "in_effect")
        if rec["status"] not in POLICY_STATUSES:
            r.rec_error(rec, f"政策 status 只能是 {'/'.join(POLICY_STATUSES)}：{rec['status']}", "status")
        self.check_conditions(rec)
        if rec["region"] not in self.regions:
            r.rec_error(rec, f"未知的行政区划代码：{rec['region']}", "region")
        if rec.get("phone") is not None and not PHONE_RE.match(str(rec["phone"])):
            r.rec_error(rec, f"电话号码格式不对：{rec['phone']}", "phone")
        r.check_dates(rec, ("last_verified", "end_date"))
        r.check_source(rec, required_quote=True)
        return True

    def check_conditions(self, rec: dict) -> None:
        cond = rec.get("conditions") or {}
        if not isinstance(cond, dict):
            self.r.rec_error(rec, "conditions 应为“键: 值”", "conditions")
            return
        for w in words_of(cond):
            if w not in self.terms:
                self.r.rec_error(rec, f"未知的条件词：{w}（见 catalog/data/conditions.yaml）", "conditions")
        src = rec.get("source")
        if cond.get("requires") and isinstance(src, dict) and src.get("file"):
            text = self.r.source_text(str(src["file"]))
            if not cond.get("quote"):
                self.r.rec_error(rec, "conditions 缺少 quote（条件所依据的原文）", "conditions.quote")
            elif text is not None and normalize_space(str(cond["quote"])) not in text:
                self.r.rec_error(rec, f"条件原文在 {src['file']} 中找不到（须逐字摘录）", "conditions.quote")


def read_catalog(data_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR) -> CatalogData:
    """Load every file under data_dir; the result lists all problems found (nothing is partial)."""
    r = _Reader(data_dir, sources_dir)
    regions = _read_regions(r, data_dir)
    r.out.regions = list(regions.values())
    check = _Checker(r, regions, data_dir)
    for path in sorted((data_dir / "services").glob("*.yaml")):
        r.out.service_points += [rec for rec in r.records(path, "service_points") if check.point(rec)]
    for path in sorted((data_dir / "policies").glob("*.yaml")):
        r.out.policies += [rec for rec in r.records(path, "policies") if check.policy(rec)]
    return r.out


KINDS = ("service_points", "policies")


def validate_records(
    kind: str, records: list[dict], data_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR,
) -> CatalogData:
    """Check records of one kind (service_points or policies) read from anywhere: a spreadsheet, a single
    YAML file or a feed. Each record carries LOC (a function field -> place text) or __file__/LINE."""
    r = _Reader(data_dir, sources_dir)
    regions = _read_regions(r, data_dir)
    check = _Checker(r, regions, data_dir)
    fn: Callable[[dict], bool] = check.point if kind == "service_points" else check.policy
    setattr(r.out, kind, [rec for rec in records if fn(rec)])
    return r.out


def read_yaml_records(path: Path, data_dir: Path = DATA_DIR) -> tuple[str | None, list[dict], list[str]]:
    """One YAML file of the foundation's shape: (kind, records, read errors)."""
    r = _Reader(data_dir, SOURCES_DIR)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        doc = None
    kind = next((k for k in KINDS if isinstance(doc, dict) and k in doc), None)
    if kind is None:
        return None, [], [f"{path}:1: 文件应以“service_points:”或“policies:”开头，后面是记录列表"]
    recs = r.records(path, kind)
    return kind, recs, r.out.errors
