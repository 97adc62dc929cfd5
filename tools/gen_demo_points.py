#!/usr/bin/env python3
"""Generate the DEMO service points: catalog/data/services/demo_{wuhan,xianning,linyi}.yaml.

Reads catalog/data/regions.yaml, catalog/data/taxonomy.yaml and tools/demo_places.yaml.
The output is deterministic (fixed seed). Demo data must not be mistaken for fact, so every point:
- is marked verified: false, source 示例数据, and has no last_verified (nobody checked it);
- has a name that starts with 示例 and is not built from a real public body (老年大学, 卫生院, …);
- has an address of a road or a whole community with no house number;
- states no age, age tier, subsidy or discount in its price, offers or target group;
- has an unreachable phone number (local numbers never start with 0).
check() enforces all of this on the written files (and tests/test_demo_data.py runs it).

    python -m tools.gen_demo_points           # write the three files, then check them
    python -m tools.gen_demo_points --check   # only check the files already written
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from catalog.lexicon import short_name

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "catalog" / "data"
OUT = DATA / "services"
SOURCES = ROOT / "catalog" / "sources"
SEED = 20261101
KM_PER_DEG = 6371.0088 * math.pi / 180  # spherical earth, the same model as km_between()
MAX_FRAC = 0.45  # a point must lie within MAX_FRAC * radius_km of its district centroid
# city code -> (id prefix, file suffix, area code)
CITIES = {
    "420100": ("wh", "wuhan", "027"),
    "421200": ("xn", "xianning", "0715"),
    "371300": ("ly", "linyi", "0539"),
}
BIG = {"371302", "371311", "371312", "421202"}  # plus every Wuhan district: longer lists
WUHAN_CORE = {"420102", "420103", "420104", "420105", "420106", "420107", "420111"}
BASE = {
    "meal": 2,
    "equipment_rental": 2,
    "day_care": 2,
    "care_home": 2,
    "bathing": 1,
    "cleaning": 1,
    "medical_care": 1,
    "senior_education": 1,
    "elder_advisor": 1,
}
CITY_WIDE = ("dementia_care", "legal_aid")  # 2 of each per city, in different districts
# Demo names: 示例 + the district's short name + a plain word for the service + a number ("示例·江岸助餐点2号"),
# so no name can be a real institution's or be built from a real public body.
NAMES = {
    "meal": "助餐点",
    "equipment_rental": "辅具租赁点",
    "day_care": "日托点",
    "care_home": "养老院",
    "bathing": "助浴点",
    "cleaning": "助洁服务点",
    "medical_care": "护理服务点",
    "senior_education": "老年兴趣课堂",
    "elder_advisor": "养老咨询点",
    "dementia_care": "认知照护点",
    "legal_aid": "老年法律咨询点",
}
DEMO_NAME = "示例·{d}{noun}{n}号"
DEMO_ADDRESS = "（示例地址）"
# Words that name real public bodies or the kinds of them: never in a demo name.
PUBLIC_BODIES = ("老年大学", "老年学校", "老年开放大学", "公共法律服务", "法律援助中心", "法律援助工作站", "司法所",
                 "卫生院", "卫生服务中心", "卫生服务站", "卫生室", "医院", "综合养老服务中心", "养老服务中心",
                 "区域养老", "福利院", "福利中心", "敬老院", "幸福院", "民政", "政府", "街道", "社区", "居委会",
                 "村委会", "镇", "乡", "老干部", "残联", "红十字")
# An age, an age tier, a subsidy or a discount: never in a demo price, offer or target group.
INVENTED_FACTS = re.compile(r"岁|补贴|补助|津贴|优惠|减免|免费|折|老人价|高龄|低保|特困|特殊困难|优先|政府")
HOURS = {
    "meal": ["周一至周日 10:30-13:00，16:30-18:00", "周一至周六 10:30-12:30"],
    "equipment_rental": ["周一至周五 9:00-17:00", "周一至周六 8:30-17:30"],
    "day_care": ["周一至周五 8:00-17:30", "周一至周六 8:30-17:00"],
    "care_home": ["全天24小时；探视 9:00-11:00，14:30-17:00"],
    "bathing": ["周二、周四、周六 9:00-16:00（需提前1天预约）"],
    "cleaning": ["周一至周日 8:00-18:00（电话预约上门）"],
    "medical_care": ["周一至周五 8:00-12:00，14:00-17:30（上门服务需预约）"],
    "senior_education": ["周一至周五 8:30-11:30，14:30-16:30（寒暑假停课）"],
    "elder_advisor": ["周一至周五 8:30-12:00，14:30-17:30"],
    "dementia_care": ["全天24小时；参观咨询 9:00-17:00"],
    "legal_aid": ["周一至周五 9:00-12:00，14:00-17:00"],
}
OFFERS = {
    "meal": ["堂食", "送餐上门", "低盐少油餐", "软食"],
    "equipment_rental": ["短租", "长租", "送货上门", "使用指导", "清洁消毒"],
    "day_care": ["日间托养", "午餐午休", "康复训练", "文体活动", "短期托养"],
    "care_home": ["长期全托", "失能半失能照护", "短期托养", "医养结合", "康复护理"],
    "bathing": ["助浴点洗浴", "上门助浴", "失能老人助浴"],
    "cleaning": ["上门保洁", "被褥清洗", "居室整理", "家电清洗"],
    "medical_care": ["上门护理", "康复理疗", "健康评估", "慢病管理"],
    "senior_education": ["书法", "声乐", "太极拳", "智能手机使用", "摄影", "国画"],
    "elder_advisor": ["养老政策咨询", "服务转介", "办事指导"],
    "dementia_care": ["认知障碍评估", "专区照护", "日间照护", "家属照护培训"],
    "legal_aid": ["法律咨询", "法律援助申请", "赡养纠纷调解", "防诈骗宣传"],
}
SERVES = {
    "meal": "老年人",
    "equipment_rental": "有需要的老年人及其家属",
    "day_care": "生活能自理或半自理的老年人",
    "care_home": "自理、半失能、失能老年人",
    "bathing": "行动不便的老年人",
    "cleaning": "居家老年人",
    "medical_care": "居家老年人",
    "senior_education": "中老年人",
    "elder_advisor": "老年人及其家属",
    "dementia_care": "认知障碍老年人及其家属",
    "legal_aid": "老年人及其家属",
}
# Wuhan-core rental price per item: (per day, per month, deposit); scaled down elsewhere.
ITEM_PRICES = {
    "轮椅": (5, 90, 300),
    "护理床": (12, 240, 800),
    "助行器": (3, 50, 150),
    "拐杖": (1, 20, 50),
    "坐便椅": (3, 45, 150),
    "洗澡椅": (2, 30, 100),
    "防褥疮床垫": (4, 80, 300),
    "制氧机": (15, 300, 2000),
}


class Quoted(str):
    """A string written double-quoted, as in the schema (district, phone, dates)."""


yaml.SafeDumper.add_representer(Quoted, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style='"'))


def load(path: Path) -> Any:  # noqa: ANN401 - whatever the YAML holds
    """A YAML file's content."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rnd(x: float, step: int) -> int:
    """The value rounded to a multiple of step (at least step)."""
    return max(step, int(round(x / step)) * step)


def km_between(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    return 2 * KM_PER_DEG * 180 / math.pi * math.asin(math.sqrt(h))


def jitter(lat: float, lng: float, radius_km: float, rng: random.Random) -> tuple[float, float]:
    # Uniform in a disc of 0.95 * MAX_FRAC * radius (margin for rounding), km -> degrees.
    """A point near (lat, lng) within the district's radius."""
    r = 0.95 * MAX_FRAC * radius_km * math.sqrt(rng.random())
    a = rng.uniform(0, 2 * math.pi)
    dlat = r * math.cos(a) / KM_PER_DEG
    dlng = r * math.sin(a) / (KM_PER_DEG * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lng + dlng, 6)


def factor(code: str) -> float:
    """How a district's prices compare with central Wuhan (1.0)."""
    if code in WUHAN_CORE:
        return 1.0
    if code.startswith("4201"):
        return 0.85
    return 0.75 if code in BIG else 0.6


def price(cat: str, f: float, rng: random.Random) -> str | None:
    """One invented price for everyone: no age tiers, subsidies or discounts."""
    j = rng.uniform(0.9, 1.15)
    if cat == "meal":
        return f"午餐{round(14 * f) + rng.choice([-1, 0, 1])}元/份"
    if cat == "day_care":
        return f"日托{rnd(70 * f * j, 5)}元/天（含午餐）；月托{rnd(1500 * f * j, 50)}元/月"
    if cat in ("care_home", "dementia_care"):
        lo = rnd((2600 if cat == "care_home" else 6000) * f * j, 100)
        hi = rnd(lo * (2.2 if cat == "care_home" else 1.4), 100)
        return f"{lo}-{hi}元/月（含床位费、伙食费、护理费，按照护等级定价）"
    if cat == "bathing":
        return f"助浴点{rnd(50 * f, 5)}元/次；上门助浴{rnd(120 * f, 10)}元/次"
    if cat == "cleaning":
        return f"上门保洁{rnd(45 * f, 5)}元/小时；被褥清洗{rnd(30 * f, 5)}元/床"
    if cat == "medical_care":
        return f"上门护理{rnd(80 * f, 10)}元/次起；康复理疗{rnd(60 * f, 10)}元/次"
    if cat == "senior_education":
        return f"学费{rnd(150 * f, 10)}元/门/学期"
    if cat == "equipment_rental":
        return "按件计租，见租赁清单；归还时退还押金"
    return None  # 养老咨询, 法律咨询: no price stated


def items(names: list[str], f: float, rng: random.Random) -> list[dict[str, Any]]:
    """Three to six of the equipment items with invented prices."""
    chosen = set(rng.sample(names, rng.randint(3, 6)))
    out = []
    for n in names:
        if n in chosen:
            day, month, dep = ITEM_PRICES[n]
            out.append(
                {
                    "name": n,
                    "price_day": max(1, round(day * f)),
                    "price_month": rnd(month * f, 5),
                    "deposit": rnd(dep * f, 50),
                }
            )
    return out


def point(
    cat: str,
    n: int,
    reg: dict[str, Any],
    city: dict[str, Any],
    spot: str,
    tax_items: list[str],
    rng: random.Random,
) -> dict[str, Any]:
    """One demo service point (labelled 示例数据) of a category in a district."""
    code, dname = reg["code"], reg["name"]
    prefix, _, area = CITIES[city["code"]]
    # a road or a whole community (a town's 社区), never a house number
    address = city["name"] + dname + spot + DEMO_ADDRESS
    name = DEMO_NAME.format(d=short_name(dname), noun=NAMES[cat], n=n)
    lat, lng = jitter(reg["lat"], reg["lng"], reg["radius_km"], rng)
    picked = set(rng.sample(OFFERS[cat], rng.randint(2, min(4, len(OFFERS[cat])))))
    offers = [o for o in OFFERS[cat] if o in picked]  # keep the list order
    rec: dict[str, Any] = {
        "id": f"{prefix}-{code}-{cat}-{n}",
        "category": cat,
        "name": name,
        "district": Quoted(code),
        "address": address,
        "lat": lat,
        "lng": lng,
        "phone": Quoted(f"{area}-0{rng.randint(0, 9_999_999):07d}"),
        "hours": rng.choice(HOURS[cat]),
        "price": price(cat, factor(code), rng),
        "offers": offers,
    }
    if cat == "equipment_rental":
        rec["items"] = items(tax_items, factor(code), rng)
    rec.update(serves=SERVES[cat], verified=False, source="示例数据")
    return rec


def generate() -> None:
    """Write the demo service point files."""
    regions = load(DATA / "regions.yaml")["regions"]
    tax = load(DATA / "taxonomy.yaml")
    places = load(ROOT / "tools" / "demo_places.yaml")["districts"]
    assert set(NAMES) == set(tax["categories"]), "category list differs from taxonomy.yaml"
    assert set(tax["items"]) <= set(ITEM_PRICES), "taxonomy item without a demo price"
    tax_items = list(tax["items"])
    rng = random.Random(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    for city in (r for r in regions if r["code"] in CITIES):
        prefix, suffix, _ = CITIES[city["code"]]
        dists = [r for r in regions if r.get("parent") == city["code"]]
        extra = {cat: set(rng.sample([d["code"] for d in dists], 2)) for cat in CITY_WIDE}
        points: list[dict[str, Any]] = []
        for reg in dists:
            big = reg["code"] in BIG or reg["code"].startswith("4201")
            counts = dict(BASE, **({"meal": 3, "equipment_rental": 3} if big else {}))
            counts.update({cat: 1 for cat in CITY_WIDE if reg["code"] in extra[cat]})
            spots = list(places[reg["code"]]["places"])
            rng.shuffle(spots)
            todo = [(c, n) for c, num in counts.items() for n in range(1, num + 1)]
            for k, (cat, n) in enumerate(todo):
                points.append(point(cat, n, reg, city, spots[k % len(spots)], tax_items, rng))
        head = (
            f"# DEMO data for {city['name']}: generated by python -m tools.gen_demo_points, do not edit.\n"
            "# Invented services named 示例…; addresses are real roads or communities without a house number;\n"
            "# no ages, subsidies or discounts; phones are unreachable (-0...); never verified.\n"
        )
        body = yaml.safe_dump(
            {"service_points": points}, allow_unicode=True, sort_keys=False, default_flow_style=None, width=120
        )
        (OUT / f"demo_{suffix}.yaml").write_text(head + body, encoding="utf-8")
        print(f"demo_{suffix}.yaml: {len(points)} points ({prefix})")


def demo_problems(p: dict[str, Any]) -> list[str]:
    """What makes a demo point look like fact (empty when it cannot be mistaken for it)."""
    out = []
    if p.get("source") != "示例数据" or p.get("verified"):
        out.append("not labelled 示例数据 / marked verified")
    if p.get("last_verified"):
        out.append("has last_verified")
    name = str(p.get("name") or "")
    if not name.startswith("示例") or any(w in name for w in PUBLIC_BODIES):
        out.append(f"name looks like a real institution: {name}")
    address = str(p.get("address") or "")
    if re.search(r"\d+\s*号", address) or DEMO_ADDRESS not in address:
        out.append(f"address is not a plain road or community: {address}")
    said = [str(p.get("price") or ""), str(p.get("serves") or ""), *map(str, p.get("offers") or [])]
    for text in said:
        if INVENTED_FACTS.search(text):
            out.append(f"states an age, subsidy or discount: {text}")
    return out


def check() -> None:
    """Check the existing demo files: ids, districts, distance from the centre, phone format, rental items."""
    regions = {r["code"]: r for r in load(DATA / "regions.yaml")["regions"]}
    tax = load(DATA / "taxonomy.yaml")
    ids: set[str] = set()
    for city_code, (prefix, suffix, area) in CITIES.items():
        pts = load(OUT / f"demo_{suffix}.yaml")["service_points"]
        for p in pts:
            reg = regions[p["district"]]
            assert reg["parent"] == city_code and p["category"] in tax["categories"], p["id"]
            assert p["id"] not in ids and p["id"].startswith(f"{prefix}-{reg['code']}-"), p["id"]
            ids.add(p["id"])
            dist = km_between(reg["lat"], reg["lng"], p["lat"], p["lng"])
            assert dist <= MAX_FRAC * reg["radius_km"], f"{p['id']} is {dist:.2f} km out"
            assert re.fullmatch(rf"{area}-0\d{{7}}", p["phone"]), p["id"]
            assert ("items" in p) == (p["category"] == "equipment_rental"), p["id"]
            assert all(i["name"] in tax["items"] for i in p.get("items", [])), p["id"]
            assert 3 <= len(p.get("items", [0] * 3)) <= 6, p["id"]
            for problem in demo_problems(p):
                raise AssertionError(f"{p['id']}: {problem}")
        for code in (c for c, r in regions.items() if r.get("parent") == city_code):
            have = [p["category"] for p in pts if p["district"] == code]
            big = code in BIG or code.startswith("4201")
            need = dict(BASE, **({"meal": 3, "equipment_rental": 3} if big else {}))
            assert all(have.count(c) >= n for c, n in need.items()), f"{code}: {have}"
        assert len({p["name"] for p in pts}) == len(pts), f"{suffix}: duplicate names"
        for cat in CITY_WIDE:
            where = [p["district"] for p in pts if p["category"] == cat]
            assert len(where) == 2 and len(set(where)) == 2, f"{suffix} {cat}: {where}"
    for path in sorted(OUT.glob("verified_*.yaml")):  # points quoted from a document: quotes verbatim
        for p in load(path)["service_points"]:
            src = p["source"]
            text = re.sub(r"\s+", "", (SOURCES / Path(src["file"]).name).read_text(encoding="utf-8"))
            assert re.sub(r"\s+", "", src["quote"]) in text, f"{p['id']}: quote not in {src['file']}"
            assert p["id"] not in ids, p["id"]
            ids.add(p["id"])
    print(f"check ok: {len(ids)} points")


def main() -> int:
    """Command line: generate the demo points, or --check them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check the existing files")
    if not ap.parse_args().check:
        generate()
    check()
    return 0


if __name__ == "__main__":
    sys.exit(main())
