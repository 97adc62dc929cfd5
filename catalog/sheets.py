"""Spreadsheets for staff: templates with Chinese headers, and reading .xlsx / .csv / .yaml into the same
record dicts the YAML loader produces. Every row then passes the loader's checks (validate_records); its
errors name the sheet, row and column."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from catalog.db import get_engine, session_scope
from catalog.importer import KIND_NAMES, CatalogInvalid, Change, apply_changes, diff_records, snapshot
from catalog.lexicon import DATA_DIR, SOURCES_DIR, load_regions, load_taxonomy
from catalog.loader import LOC, read_yaml_records, validate_records
from catalog.models import ensure_schema

# (field, header, type, required, explanation). Types: str, num, list, groups (list of lists), bool, date, items.
POINT_COLUMNS = [
    ("id", "编号", "str", True, "每条记录唯一，如 wh-420103-meal-9；修改已有记录时填它原来的编号"),
    ("category", "服务类别", "str", True, "类别代码或中文名称，见下方“可用代码”"),
    ("name", "名称", "str", True, "服务点全称"),
    ("district", "区县", "str", True, "区县代码（6位数字）或区县名称，见下方“可用代码”"),
    ("address", "地址", "str", True, "详细地址"),
    ("lat", "纬度", "num", False, "数字，如 30.6015，须在所填区县内；不知道就和经度一起留空，按区县中心近似处理"),
    ("lng", "经度", "num", False, "数字，如 114.2709"),
    ("phone", "电话", "str", False, "如 027-12345678、13912345678 或 12345；请设为文本格式，以免丢掉开头的0"),
    ("hours", "服务时间", "str", False, "如 周一至周五 9:00-17:00"),
    ("price", "价格", "str", False, "收费说明，照实填写，不清楚就留空"),
    ("offers", "服务内容", "list", False, "多项用“；”隔开"),
    ("serves", "服务对象", "str", False, "如 辖区60周岁以上老年人"),
    ("items", "辅具租赁", "items", False, "仅辅具租赁点：名称:日租/月租/押金（元），多项用“；”隔开；未知填 -"),
    ("verified", "已核实", "bool", False, "是/否：是 = 已按来源文件或电话核实；示例数据只能填 否"),
    ("status", "状态", "str", False, "open 正常服务（默认）/ planned 规划建设项目（不会作为正在服务的机构列出）"),
    ("last_verified", "核实日期", "date", False, "最近一次核实的日期，如 2026-11-25"),
    ("source.document", "来源", "str", False, "来源文件名称；演示用的虚构数据填 示例数据"),
    ("source.file", "来源文件", "str", False, "catalog/sources 下的原文文件名（已核实时必填）"),
    ("source.issuer", "发文机关", "str", False, "如 武汉市民政局"),
    ("source.date", "发文日期", "str", False, "如 2021-12-23"),
    ("source.clause", "条款", "str", False, "引用所在的章节或条款（已核实时必填）"),
    ("source.quote", "原文引用", "str", False, "从原文逐字摘录（已核实时必填）"),
    ("__op__", "操作", "str", False, "留空 = 新增或修改；填 删除 = 从目录中删除该编号的记录（其余列可空）"),
]
POLICY_COLUMNS = [
    ("id", "编号", "str", True, "每条政策唯一，如 wuhan-care-subsidy"),
    ("topic", "政策主题", "str", True, "主题代码或中文名称，见下方“可用代码”"),
    ("region", "行政区划", "str", True, "适用地区的代码（6位）或名称：省、市或区县"),
    ("title", "标题", "str", True, "政策名称"),
    ("summary", "摘要", "str", True, "用老人听得懂的话概括，只写文件里有的内容"),
    ("eligibility", "适用对象", "list", False, "多项用“；”隔开"),
    ("conditions.min_age", "最低年龄", "num", False, "文件规定的最低年龄（整数），没有规定就留空"),
    ("conditions.self_care", "自理状况", "list", False, "文件限定的自理状况，如 失能；多项用“；”隔开"),
    ("conditions.economic", "经济状况", "list", False, "文件限定的经济状况，如 特困；多项用“；”隔开"),
    ("conditions.requires", "限定对象", "groups", False,
     "文件限定的对象，用 catalog/data/conditions.yaml 的词：每组都要满足，用“；”隔开；组内任一即可，用“/”隔开，"
     "如 经济困难；失能/失智"),
    ("conditions.quote", "限定对象原文", "str", False, "限定对象所依据的原文（逐字摘录）；填了“限定对象”就必填"),
    ("status", "状态", "str", False,
     "in_effect 现行 / draft 征求意见稿 / ended 已过期 / planned 规划目标；留空按来源文件"),
    ("subsidy", "是补贴", "bool", False, "是/否：原文规定了补贴、津贴或费用报销才填 是"),
    ("categories", "相关服务类别", "list", False, "本条讲到的服务类别代码，如 meal；多项用“；”隔开"),
    ("steps", "办理步骤", "list", False, "按顺序，用“；”隔开"),
    ("materials", "所需材料", "list", False, "用“；”隔开"),
    ("where", "办理地点", "str", False, "如 户籍所在地街道便民服务中心"),
    ("phone", "咨询电话", "str", False, "如 12345"),
    ("guidance", "一般性指引字段", "list", False, "哪些字段是一般性指引而非文件原文：steps；materials；where；phone"),
    ("covers_rental", "含辅具租赁", "bool", False, "是/否"),
    ("end_date", "截止日期", "date", False, "仅当文件写明有效期或截止日期时填写；过期后机器人不再推荐"),
    ("last_verified", "核实日期", "date", False, "如 2026-11-25"),
    ("source.document", "来源", "str", True, "政策文件名称"),
    ("source.file", "来源文件", "str", True, "catalog/sources 下的原文文件名"),
    ("source.issuer", "发文机关", "str", False, "如 武汉市民政局"),
    ("source.date", "发文日期", "str", False, "如 2021-12-23"),
    ("source.clause", "条款", "str", True, "引用所在的章节或条款"),
    ("source.quote", "原文引用", "str", True, "从原文逐字摘录"),
    ("__op__", "操作", "str", False, "留空 = 新增或修改；填 删除 = 从目录中删除该编号的政策（其余列可空）"),
]
COLUMNS = {"service_points": POINT_COLUMNS, "policies": POLICY_COLUMNS}
SHEETS = {"service_points": "服务点", "policies": "政策"}
EXAMPLE_IDS = {"service_points": "wh-420103-meal-1", "policies": "wuhan-care-subsidy"}
HEADER = {kind: {f: h for f, h, *_ in cols} for kind, cols in COLUMNS.items()}
FIELD_LABELS = {f: h for cols in COLUMNS.values() for f, h, *_ in cols}
SPLIT_RE = re.compile(r"[；;\n]+")


# ---------------------------------------------------------------- records <-> rows

def _join(v) -> str:
    return "；".join(str(x) for x in v) if v else ""


def _num_text(v) -> str:
    if v is None:
        return "-"
    return str(int(v)) if float(v).is_integer() else str(v)


def _item_text(i: dict) -> str:
    return f"{i['name']}:" + "/".join(_num_text(i.get(k)) for k in ("price_day", "price_month", "deposit"))


def record_to_row(kind: str, rec: dict) -> list:
    """A record as a spreadsheet row in COLUMNS order."""
    row = []
    for f, _h, typ, _req, _ in COLUMNS[kind]:
        if f == "__op__":
            row.append("")
            continue
        v: Any
        if f.startswith("source."):
            src = rec.get("source")
            v = src if (isinstance(src, str) and f == "source.document") else (
                src.get(f[7:]) if isinstance(src, dict) else None)
        elif f.startswith("conditions."):
            v = (rec.get("conditions") or {}).get(f[11:])
        else:
            v = rec.get(f)
        if typ == "list":
            v = _join(v)
        elif typ == "groups":
            v = "；".join("/".join(g) for g in v or [])
        elif typ == "bool":
            v = "是" if v else "否"
        elif typ == "items":
            v = "；".join(_item_text(i) for i in v or [])
        elif typ == "date":
            v = str(v) if v else ""
        row.append("" if v is None else v)
    return row


def _example(kind: str) -> dict:
    """A record from the shipped data (a demo point labelled 示例数据; a real, quoted policy)."""
    from catalog.loader import read_catalog

    data = read_catalog()
    recs = getattr(data, kind)
    return next((r for r in recs if str(r["id"]) == EXAMPLE_IDS[kind]), recs[0])


def _code_lists(kind: str) -> list[list[str]]:
    tax = load_taxonomy()
    rows = [["可用代码", "", ""]]
    if kind == "service_points":
        rows += [["服务类别", c, v["name"]] for c, v in tax.categories.items()]
        rows += [["区县", r["code"], r["name"]] for r in load_regions() if r["level"] == "district"]
        rows += [["辅具名称", n, "、".join(w)] for n, w in tax.items.items()]
    else:
        rows += [["政策主题", c, v["name"]] for c, v in tax.topics.items()]
        rows += [["行政区划", r["code"], r["name"]] for r in load_regions()]
    return rows


def write_templates(out_dir: Path) -> list[Path]:
    """服务点模板.xlsx/.csv and 政策模板.xlsx/.csv: headers, one example row, and an explanation sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, cols in COLUMNS.items():
        name = SHEETS[kind]
        headers = [h for _f, h, *_ in cols]
        example = record_to_row(kind, _example(kind))
        wb = Workbook()
        ws = wb.active
        ws.title = name
        ws.append(headers)
        ws.append(example)
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.number_format = "@"
        for col in ws.iter_cols(min_row=2, max_row=200):
            for cell in col:
                cell.number_format = "@"  # text: phones keep their leading 0
        ws.freeze_panes = "A2"
        doc = wb.create_sheet("填写说明")
        doc.append(["列名", "是否必填", "说明"])
        for _f, h, _t, req, text in cols:
            doc.append([h, "必填" if req else "", text])
        doc.append([])
        doc.append(["第2行是示例（取自现有目录），可以删除；保留则与目录中相同，不会产生修改。"])
        doc.append(["导入前请先用 --dry-run 预览；有任何错误时整份文件都不会导入。"])
        doc.append([])
        for r in _code_lists(kind):
            doc.append(r)
        xlsx = out_dir / f"{name}模板.xlsx"
        wb.save(xlsx)
        csv_path = out_dir / f"{name}模板.csv"
        with csv_path.open("w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(headers)
            w.writerow(example)
        written += [xlsx, csv_path]
    return written


@dataclass
class FileRecords:
    """The records read from a file or feed, with what to remove and the errors found."""

    kind: str | None = None
    records: list[dict] = field(default_factory=list)
    remove: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


def _aliases() -> dict[str, dict[str, str]]:
    tax = load_taxonomy()
    regions = load_regions()
    names = {}
    for r in regions:
        for n in [r["name"], *(r.get("aliases") or [])]:
            names[n] = str(r["code"])
    return {
        "category": {v["name"]: c for c, v in tax.categories.items()},
        "topic": {v["name"]: c for c, v in tax.topics.items()},
        "district": {n: c for n, c in names.items()
                     if next(r for r in regions if str(r["code"]) == c)["level"] == "district"},
        "region": names,
    }


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, datetime | date):
        return v.strftime("%Y-%m-%d")
    return str(v).strip()


def rows_to_records(kind: str, rows: list[tuple[int, dict]], where: str) -> FileRecords:
    """Rows (row number, {header: value}) of one kind -> record dicts with LOC for sheet/row/column errors."""
    out = FileRecords(kind)
    by_header = {h: (f, typ) for f, h, typ, *_ in COLUMNS[kind]}
    aliases = _aliases()
    for n, row in rows:
        cells = {by_header[h]: v for h, v in row.items() if h in by_header}
        if all(_text(v) == "" for v in cells.values()):
            continue

        def loc(fld, n=n):
            col = HEADER[kind].get(fld or "") or FIELD_LABELS.get(fld or "")
            return f"{where}第{n}行" + (f"“{col}”列" if col else "")

        rec: dict = {LOC: loc}
        src: dict = {}
        cond: dict = {}
        op = ""
        for (f, typ), raw in cells.items():
            t = _text(raw)
            if f == "__op__":
                op = t
                continue
            if t == "":
                continue
            try:
                val = _convert(typ, t, raw)
            except ValueError as exc:
                out.errors.append(f"{loc(f)}：{exc}")
                continue
            if f in aliases and val in aliases[f]:
                val = aliases[f][val]
            if f.startswith("source."):
                src[f[7:]] = val
            elif f.startswith("conditions."):
                cond[f[11:]] = val
            else:
                rec[f] = val
        if op in ("删除", "delete"):
            if not rec.get("id"):
                out.errors.append(f"{loc('id')}：要删除的行须填写编号")
            else:
                out.remove.add(str(rec["id"]))
            continue
        if op:
            out.errors.append(f"{loc('__op__')}：“操作”只能留空或填 删除：{op}")
            continue
        if src.get("document") == "示例数据" and len(src) == 1:
            rec["source"] = "示例数据"
        elif src:
            rec["source"] = src
        if cond:
            if "min_age" in cond:
                cond["min_age"] = int(cond["min_age"])
            rec["conditions"] = cond
        out.records.append(rec)
    return out


def _convert(typ: str, t: str, raw):
    if typ == "num":
        try:
            return float(t)
        except ValueError:
            raise ValueError(f"应为数字：{t}") from None
    if typ == "list":
        return [x.strip() for x in SPLIT_RE.split(t) if x.strip()]
    if typ == "groups":
        return [[w.strip() for w in re.split(r"[/／]", g) if w.strip()] for g in SPLIT_RE.split(t) if g.strip()]
    if typ == "bool":
        if t in ("是", "true", "True", "TRUE", "1", "Y", "y"):
            return True
        if t in ("否", "false", "False", "FALSE", "0", "N", "n"):
            return False
        raise ValueError(f"应填 是 或 否：{t}")
    if typ == "date":
        m = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", t.split(" ")[0])
        if not m:
            raise ValueError(f"日期格式不对：{t}（应如 2026-11-25）")
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            raise ValueError(f"不是有效日期：{t}") from None
    if typ == "items":
        items = []
        for part in SPLIT_RE.split(t):
            if not part.strip():
                continue
            name, _, prices = part.replace("：", ":").partition(":")
            nums = (prices.split("/") + ["-", "-", "-"])[:3] if prices else ["-", "-", "-"]
            item = {"name": name.strip()}
            for k, v in zip(("price_day", "price_month", "deposit"), nums, strict=True):
                v = v.strip()
                if v in ("", "-", "—"):
                    item[k] = None
                    continue
                try:
                    item[k] = float(v)
                except ValueError:
                    raise ValueError(f"辅具“{name}”的价格应为数字：{v}（格式 名称:日租/月租/押金）") from None
            items.append(item)
        return items
    return t


def _kind_of_headers(headers: list[str]) -> str | None:
    if "服务类别" in headers:
        return "service_points"
    if "政策主题" in headers:
        return "policies"
    return None


def _table(kind_hint: str | None, header_row: list, body: list[tuple[int, list]], where: str) -> FileRecords:
    headers = [_text(h) for h in header_row]
    kind = kind_hint or _kind_of_headers(headers)
    if kind is None:
        return FileRecords(errors=[f"{where}第1行：表头应包含“服务类别”（服务点）或“政策主题”（政策）"])
    missing = [h for _f, h, _t, req, _ in COLUMNS[kind] if req and h not in headers]
    if missing:
        return FileRecords(kind, errors=[f"{where}第1行：缺少必填列“{m}”" for m in missing])
    unknown = [h for h in headers if h and h not in HEADER[kind].values()]
    out = rows_to_records(kind, [(n, dict(zip(headers, vals, strict=False))) for n, vals in body], where)
    out.errors = [f"{where}第1行：无法识别的列“{u}”" for u in unknown] + out.errors
    return out


def decode_text(raw: bytes) -> str | None:
    """The file's text as UTF-8 or GB18030, or None."""
    for enc in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves GBK; gb18030 is its superset
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return None


def read_csv_bytes(raw: bytes, where: str) -> FileRecords:
    """The records of a CSV file."""
    text = decode_text(raw)
    if text is None:
        return FileRecords(errors=[f"{where}：无法识别文件编码（请另存为 UTF-8 或 GBK 的 CSV）"])
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return FileRecords(errors=[f"{where}：文件是空的"])
    return _table(None, rows[0], [(i + 2, r) for i, r in enumerate(rows[1:])], where)


def read_file(path: Path, data_dir: Path = DATA_DIR) -> FileRecords:
    """The records of an .xlsx, .csv or .yaml file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv_bytes(path.read_bytes(), f"文件“{path.name}”")
    if suffix in (".yaml", ".yml"):
        kind, recs, errors = read_yaml_records(path, data_dir)
        return FileRecords(kind, recs, errors=errors)
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable workbook is reported the same way
            return FileRecords(errors=[f"文件“{path.name}”无法打开（不是有效的 .xlsx）：{exc}"])
        parts = []
        for kind, sheet in SHEETS.items():
            if sheet in wb.sheetnames:
                rows = list(wb[sheet].iter_rows(values_only=True))
                if rows:
                    parts.append(_table(kind, list(rows[0]), [(i + 2, list(r)) for i, r in enumerate(rows[1:])],
                                        f"工作表“{sheet}”"))
        wb.close()
        if not parts:
            return FileRecords(errors=[f"文件“{path.name}”中没有名为“服务点”或“政策”的工作表"])
        if len(parts) > 1:
            return FileRecords(errors=[f"文件“{path.name}”：一次只导入一种记录，请把“服务点”和“政策”分成两个文件"])
        return parts[0]
    return FileRecords(errors=[f"不支持的文件类型：{path.suffix}（可用 .xlsx、.csv、.yaml）"])


# ---------------------------------------------------------------- import

@dataclass
class FileImport:
    """What importing a file changed, its import id and its hash."""

    changes: list[Change]
    import_id: int | None  # None on a dry run or when nothing changed
    sha256: str


def check_records(got: FileRecords, data_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR) -> FileRecords:
    """The loader's checks on records read from a file or feed; errors keep their sheet/row/column."""
    if got.kind is None:
        return got
    data = validate_records(got.kind, got.records, data_dir, sources_dir)
    reported = {e.split("：", 1)[0] for e in got.errors}  # a cell that did not parse is reported once
    got.errors = got.errors + [e for e in data.errors if e.split("：", 1)[0] not in reported]
    return got


def import_records(
    got: FileRecords, *, source: str, sha256: str, by: str | None = None, dry_run: bool = False,
    url: str | None = None, kind: str = "file", data_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR,
    remove_prefix: str | None = None,
) -> FileImport:
    """Validate, diff against the database and (unless dry_run) apply in one transaction with history.
    Raises CatalogInvalid, changing nothing, when any row is invalid."""
    got = check_records(got, data_dir, sources_dir)
    ensure_schema(get_engine(url))
    with session_scope(url) as s:
        current = snapshot(s, got.kind) if got.kind else {}
        if remove_prefix:  # a feed is the whole list of its records: those it no longer has are removed
            incoming = {str(r.get("id")) for r in got.records}
            got.remove |= {rid for rid in current if rid.startswith(remove_prefix) and rid not in incoming}
        for rid in sorted(got.remove - set(current)):
            got.errors.append(f"要删除的编号 {rid} 在目录中不存在")
        if got.errors:
            raise CatalogInvalid(got.errors)
        changes = diff_records(got.kind, current, got.records, got.remove) if got.kind else []
        if dry_run or not changes:
            s.rollback()
            return FileImport(changes, None, sha256)
        entry = apply_changes(s, changes, by=by, kind=kind, source=source, sha256=sha256)
        return FileImport(changes, entry.id, sha256)


def import_file(
    path: Path, by: str | None = None, dry_run: bool = False, url: str | None = None,
    data_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR,
) -> FileImport:
    """Import a file's records (see import_records)."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return import_records(read_file(path, data_dir), source=str(path), sha256=sha, by=by, dry_run=dry_run,
                          url=url, data_dir=data_dir, sources_dir=sources_dir)


def _show(v) -> str:
    if v is None or v == "" or v == []:
        return "（空）"
    if isinstance(v, list):
        return "；".join(_show(x) if isinstance(x, dict) else str(x) for x in v)
    if isinstance(v, dict):
        if "name" in v:
            return _item_text(v)
        return yaml.safe_dump(v, allow_unicode=True, default_flow_style=True, width=1000).strip()
    if isinstance(v, bool):
        return "是" if v else "否"
    return str(v)


def _label(kind: str, f: str) -> str:
    return HEADER[kind].get(f) or {"source": "来源", "conditions": "适用条件"}.get(f, f)


def format_changes(changes: list[Change]) -> list[str]:
    """A readable diff: one line per added/removed record, one indented line per changed field."""
    lines = []
    verbs = {"add": "+ 新增", "change": "~ 修改", "remove": "- 删除"}
    for c in changes:
        before, after = c.before or {}, c.after or {}
        rec = after or before
        title = rec.get("name") or rec.get("title") or ""
        lines.append(f"{verbs[c.action]} {KIND_NAMES[c.kind]} {c.record_id} {title}")
        if c.action == "change":
            for f in after:
                if before.get(f) != after.get(f):
                    lines.append(f"      {_label(c.kind, f)}：{_show(before.get(f))} → {_show(after.get(f))}")
    n = {a: sum(c.action == a for c in changes) for a in verbs}
    lines.append(f"合计：新增 {n['add']} 条，修改 {n['change']} 条，删除 {n['remove']} 条")
    return lines
