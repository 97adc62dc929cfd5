"""Read and validate the catalog's source files; every problem is reported as file:line."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from catalog.lexicon import DATA_DIR, SOURCES_DIR, load_taxonomy

PHONE_RE = re.compile(r"^(0\d{2,3}-\d{7,8}|1[3-9]\d{9}|\d{3,5})$")
LINE = "__line__"


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records the 1-based line of every mapping under LINE."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        mapping[LINE] = node.start_mark.line + 1
        return mapping


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def normalize_space(text: str) -> str:
    return re.sub(r"\s+", "", text or "")


@dataclass
class CatalogData:
    regions: list[dict] = field(default_factory=list)
    service_points: list[dict] = field(default_factory=list)
    policies: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, data_dir: Path, sources_dir: Path) -> None:
        self.data_dir, self.sources_dir = data_dir, sources_dir
        self.out = CatalogData()
        self._source_texts: dict[str, str] = {}

    def error(self, path: Path, line: int | None, message: str) -> None:
        self.out.errors.append(f"{self._rel(path)}:{line or 1}: {message}")

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.data_dir.parent.parent))
        except ValueError:
            return str(path)

    def records(self, path: Path, key: str) -> list[dict]:
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506
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
            self.error(rec["__file__"], rec.get(LINE), f"缺少必填字段“{f}”")
        return not missing

    def check_source(self, rec: dict, required_quote: bool) -> None:
        src = rec.get("source")
        where = (rec["__file__"], rec.get(LINE))
        if src == "示例数据" and not required_quote:
            return
        if not isinstance(src, dict):
            self.error(*where, "缺少来源（source）：政策须注明文件、条款和原文引用")
            return
        for f in ("file", "document", "clause", "quote"):
            if not src.get(f):
                self.error(where[0], src.get(LINE), f"来源缺少“{f}”")
        if src.get("file") and src.get("quote"):
            text = self.source_text(str(src["file"]))
            if text is None:
                self.error(where[0], src.get(LINE), f"来源文件不存在：catalog/sources/{src['file']}")
            elif normalize_space(str(src["quote"])) not in text:
                self.error(where[0], src.get(LINE), f"引用原文在 {src['file']} 中找不到（须逐字摘录）")


def read_catalog(data_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR) -> CatalogData:
    """Load every file under data_dir; the result lists all problems found (nothing is partial)."""
    r = _Reader(data_dir, sources_dir)
    tax = load_taxonomy(data_dir)
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
    r.out.regions = list(regions.values())

    seen: dict[str, str] = {}

    def check_id(rec: dict) -> None:
        rid = str(rec.get("id"))
        if rid in seen:
            r.error(rec["__file__"], rec.get(LINE), f"重复的编号 id：{rid}（首次出现在 {seen[rid]}）")
        seen[rid] = f"{r._rel(rec['__file__'])}:{rec.get(LINE)}"

    for path in sorted((data_dir / "services").glob("*.yaml")):
        for rec in r.records(path, "service_points"):
            where = (path, rec[LINE])
            if not r.require(rec, ("id", "category", "name", "district", "address", "lat", "lng")):
                continue
            check_id(rec)
            rec["district"] = str(rec["district"])
            if rec["category"] not in tax.categories:
                r.error(*where, f"未知的服务类别代码：{rec['category']}")
            region = regions.get(rec["district"])
            if region is None or region["level"] != "district":
                r.error(*where, f"未知的区县代码：{rec['district']}")
            else:
                try:
                    dist = haversine_km(float(rec["lat"]), float(rec["lng"]), region["lat"], region["lng"])
                except (TypeError, ValueError):
                    r.error(*where, "经纬度应为数字")
                else:
                    if dist > float(region.get("radius_km") or 40):
                        r.error(*where, f"坐标不在{region['name']}范围内（距中心 {dist:.1f} 公里）")
            phone = rec.get("phone")
            if phone is not None and not PHONE_RE.match(str(phone)):
                r.error(*where, f"电话号码格式不对：{phone}（应如 027-12345678、13912345678 或 12345）")
            for item in rec.get("items") or []:
                if not isinstance(item, dict) or item.get("name") not in tax.items:
                    r.error(path, item.get(LINE) if isinstance(item, dict) else rec[LINE],
                            f"未知的辅具名称：{item.get('name') if isinstance(item, dict) else item}")
            if rec.get("verified") and rec.get("source") == "示例数据":
                r.error(*where, "示例数据不能标记为已核实（verified: true）")
            r.check_source(rec, required_quote=bool(rec.get("verified")))
            r.out.service_points.append(rec)

    for path in sorted((data_dir / "policies").glob("*.yaml")):
        for rec in r.records(path, "policies"):
            where = (path, rec[LINE])
            if not r.require(rec, ("id", "topic", "region", "title", "summary")):
                continue
            check_id(rec)
            rec["region"] = str(rec["region"])
            if rec["topic"] not in tax.topics:
                r.error(*where, f"未知的政策主题代码：{rec['topic']}")
            if rec["region"] not in regions:
                r.error(*where, f"未知的行政区划代码：{rec['region']}")
            if rec.get("phone") is not None and not PHONE_RE.match(str(rec["phone"])):
                r.error(*where, f"电话号码格式不对：{rec['phone']}")
            r.check_source(rec, required_quote=True)
            r.out.policies.append(rec)
    return r.out
