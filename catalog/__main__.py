"""Command line: python -m catalog import|template|history|revert|stale|sync|search|stats|export."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from catalog.db import session_scope
from catalog.export import export_hsds, export_json
from catalog.importer import CatalogInvalid, import_catalog
from catalog.lexicon import DATA_DIR
from catalog.models import Policy, ServicePoint
from catalog.query import Regions, find_services, nearest_services


def _fail(errors: list[str]) -> int:
    for e in errors:
        print(e, file=sys.stderr)
    print(f"导入失败：发现 {len(errors)} 处错误，数据库未做任何修改。", file=sys.stderr)
    return 1


def _import_file(args: argparse.Namespace) -> int:
    from catalog.sheets import format_changes, import_file

    if not args.file.is_file():
        print(f"找不到文件：{args.file}", file=sys.stderr)
        return 2
    try:
        res = import_file(args.file, by=args.by, dry_run=args.dry_run)
    except CatalogInvalid as exc:
        return _fail(exc.errors)
    print("\n".join(format_changes(res.changes)))
    if args.dry_run:
        print("（预览：未做任何修改。去掉 --dry-run 即正式导入。）")
    elif res.import_id is None:
        print("与目录中现有内容相同，没有需要导入的修改。")
    else:
        print(f"导入完成，导入编号 {res.import_id}（撤销：python -m catalog revert {res.import_id}）。")
    return 0


def _import(args: argparse.Namespace) -> int:
    if args.file is not None:
        return _import_file(args)
    if args.dry_run:
        print("--dry-run 需要指定文件：python -m catalog import 文件 --dry-run", file=sys.stderr)
        return 2
    try:
        res = import_catalog(data_dir=args.data_dir, if_changed=args.if_changed, by=args.by)
    except CatalogInvalid as exc:
        return _fail(exc.errors)
    if res.skipped:
        print("目录数据未变化，无需导入。")
    else:
        print(f"导入完成：{res.regions} 个行政区划，{res.service_points} 个服务点，{res.policies} 条政策。")
    return 0


def _search(args: argparse.Namespace) -> int:
    with session_scope() as s:
        regions = Regions(s)
        if args.near:
            lat, lng = (float(x) for x in args.near.split(","))
            rows = nearest_services(s, regions, lat, lng, args.category, args.item, args.limit)
        else:
            place = regions.resolve(args.district) if args.district else None
            if args.district and place is None:
                print(f"未知的地区：{args.district}", file=sys.stderr)
                return 2
            rows = find_services(s, regions, args.category, place.code if place else None, args.item, args.limit)
    for r in rows:
        dist = f"{r['distance_km']:.1f}km" if "distance_km" in r else ""
        tag = "" if r["verified"] else "[示例数据]"
        print(f"{r['id']:<28} {r['district'] or '':<6} {r['name']}{tag}  {r['address']}  {r['phone'] or ''} {dist}")
    print(f"共 {len(rows)} 条")
    return 0


def _district_name(regions: Regions, code: str) -> str:
    place = regions.place(code)
    return (place.district or place.name) if place else code


def _stats(_args: argparse.Namespace) -> int:
    with session_scope() as s:
        regions = Regions(s)
        by = Counter((_district_name(regions, p.district_code), p.category)
                     for p in s.scalars(select(ServicePoint)))
        topics = Counter(p.topic for p in s.scalars(select(Policy)))
    cats = sorted({c for _, c in by})
    print("区县".ljust(8) + " ".join(c[:6].rjust(6) for c in cats))
    for d in sorted({d for d, _ in by}):
        print(d.ljust(8) + " ".join(str(by[(d, c)]).rjust(6) for c in cats))
    print("政策：" + "，".join(f"{t} {n}" for t, n in sorted(topics.items())))
    return 0


def _export(args: argparse.Namespace) -> int:
    with session_scope() as s:
        data = export_json(s) if args.format == "json" else export_hsds(s)
    json.dump(data, sys.stdout, ensure_ascii=False, indent=1)
    print()
    return 0


def _template(args: argparse.Namespace) -> int:
    from catalog.sheets import write_templates

    for path in write_templates(args.out):
        print(f"已生成：{path}")
    return 0


def _history(args: argparse.Namespace) -> int:
    from catalog.history import show_history

    print("\n".join(show_history(args.id)))
    return 0


def _revert(args: argparse.Namespace) -> int:
    from catalog.importer import RevertRefused, revert_import
    from catalog.sheets import format_changes

    try:
        res = revert_import(args.import_id, by=args.by)
    except RevertRefused as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print("\n".join(format_changes(res.changes)))
    print(f"已撤销导入 {args.import_id}，本次撤销记为导入 {res.import_id}。")
    return 0


def _stale(args: argparse.Namespace) -> int:
    from catalog.freshness import stale_entries, stale_table, write_stale_csv

    rows = stale_entries(args.days)
    print("\n".join(stale_table(rows, args.days)))
    if args.csv:
        write_stale_csv(rows, args.csv)
        print(f"已写入 {args.csv}")
    return 0


def _sync(args: argparse.Namespace) -> int:
    from catalog.feeds import FEEDS_FILE, sync_feeds

    results = sync_feeds(args.config or FEEDS_FILE, by=args.by, only=args.feed, dry_run=args.dry_run)
    for r in results:
        print(r.report())
    if not results:
        print("没有配置数据源（catalog/data/feeds.yaml 的 feeds 为空）。")
    return 1 if any(not r.ok for r in results) else 0


def main(argv: list[str] | None = None) -> int:
    """Command line (python -m catalog): import, export, history, revert, stale, sync, stats; see --help."""
    p = argparse.ArgumentParser(prog="python -m catalog", description="养老服务与政策目录")
    sub = p.add_subparsers(dest="cmd", required=True)
    imp = sub.add_parser("import", help="校验并导入：不给文件时导入 catalog/data/ 全部数据")
    imp.add_argument("file", nargs="?", type=Path, help="要导入的 .xlsx、.csv 或 .yaml 文件")
    imp.add_argument("--dry-run", action="store_true", help="只预览新增、修改、删除，不改数据库")
    imp.add_argument("--by", help="操作人（默认系统用户名）")
    imp.add_argument("--if-changed", action="store_true", help="数据未变化时跳过")
    imp.add_argument("--data-dir", type=Path, default=DATA_DIR, help="数据目录（默认 catalog/data）")
    imp.set_defaults(func=_import)
    tp = sub.add_parser("template", help="生成填报模板（Excel 和 CSV）")
    tp.add_argument("--out", type=Path, default=Path("catalog-templates"), help="输出目录")
    tp.set_defaults(func=_template)
    hi = sub.add_parser("history", help="查看导入记录；给编号时显示逐条修改")
    hi.add_argument("id", nargs="?", type=int)
    hi.set_defaults(func=_history)
    rv = sub.add_parser("revert", help="撤销一次导入")
    rv.add_argument("import_id", type=int)
    rv.add_argument("--by", help="操作人（默认系统用户名）")
    rv.set_defaults(func=_revert)
    st = sub.add_parser("stale", help="列出超过 N 天未核实的服务点和政策")
    st.add_argument("--days", type=int, default=None, help="天数（默认 CATALOG_STALE_DAYS 或 365）")
    st.add_argument("--csv", type=Path, help="另存为 CSV（Excel 可直接打开）")
    st.set_defaults(func=_stale)
    sy = sub.add_parser("sync", help="从配置的数据源（CSV / HSDS JSON）同步")
    sy.add_argument("--config", type=Path, help="数据源配置（默认 catalog/data/feeds.yaml）")
    sy.add_argument("--feed", help="只同步这一个数据源")
    sy.add_argument("--dry-run", action="store_true", help="只预览，不改数据库")
    sy.add_argument("--by", help="操作人（默认系统用户名）")
    sy.set_defaults(func=_sync)
    se = sub.add_parser("search", help="查找服务点")
    se.add_argument("--category")
    se.add_argument("--district")
    se.add_argument("--item")
    se.add_argument("--near", help="纬度,经度")
    se.add_argument("--limit", type=int, default=10)
    se.set_defaults(func=_search)
    sub.add_parser("stats", help="按类别和地区统计").set_defaults(func=_stats)
    ex = sub.add_parser("export", help="导出目录")
    ex.add_argument("--format", choices=("json", "hsds"), default="json")
    ex.set_defaults(func=_export)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
