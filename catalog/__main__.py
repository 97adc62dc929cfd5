"""Command line: python -m catalog import|search|stats|export."""

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


def _import(args: argparse.Namespace) -> int:
    try:
        res = import_catalog(data_dir=args.data_dir, if_changed=args.if_changed)
    except CatalogInvalid as exc:
        for e in exc.errors:
            print(e, file=sys.stderr)
        print(f"导入失败：发现 {len(exc.errors)} 处错误，数据库未做任何修改。", file=sys.stderr)
        return 1
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


def _stats(_args: argparse.Namespace) -> int:
    with session_scope() as s:
        regions = Regions(s)
        by = Counter((regions.place(p.district_code).district, p.category)
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m catalog", description="养老服务与政策目录")
    sub = p.add_subparsers(dest="cmd", required=True)
    imp = sub.add_parser("import", help="校验并导入 catalog/data/ 下的数据")
    imp.add_argument("--if-changed", action="store_true", help="数据未变化时跳过")
    imp.add_argument("--data-dir", type=Path, default=DATA_DIR, help="数据目录（默认 catalog/data）")
    imp.set_defaults(func=_import)
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
