"""Generate language/towns.yml: the names of the streets, towns and communities (街道/乡镇, 社区/村) of every district
the catalog covers, as people say them, so that "我住水果湖街道" or "在水果湖" names 武昌区.

Source: the five-level China location dictionary shipped in the installed `jionlp` package
(jionlp/dictionary/china_location.zip; JioNLP, Apache License 2.0). Read from the package's files, without
importing jionlp and without any download. Districts are matched by their GB/T 2260 code (catalog/data/regions.yaml).
Units that are not towns (development zones, farms, companies) are left out. A town also counts as people say it:
without its ending (水果湖 for 水果湖街道, 汤头 for 汤头镇) and a 街道 as 街 (前川街) where that names one district.
Names of regions and of places in language/places.yml are left out, and so are ordinary words (jieba's dictionary
other than as a proper noun, and places.yml's ordinary_names) of 3+ characters; two-character names are read only
with a place cue (short_names), with a cue that says where someone lives if they are rare ordinary words
(home_names), or only as a whole message if they are common ordinary words (bare_names).

    python -m tools.gen_towns           # write language/towns.yml
    python -m tools.gen_towns --check   # exit 1 if the file is not what the installed package gives
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import yaml

from catalog.lexicon import load_regions
from language.words import words

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "language" / "towns.yml"
TOWN_SUFFIXES = ("街道", "镇", "乡")
COMMUNITY_SUFFIXES = ("社区", "村")
# An ordinary two-character word rarer than this in jieba's dictionary (宗关, 九曲; not 车站, 花园, 路口, 纸坊) may
# name its town after a cue that says where someone lives (home_names); a commoner one only as a whole message.
RARE_WORD = 350


def _location_text() -> str:
    spec = importlib.util.find_spec("jionlp")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("jionlp is not installed (make install)")
    path = Path(next(iter(spec.submodule_search_locations))) / "dictionary" / "china_location.zip"
    with zipfile.ZipFile(path) as z:
        return io.TextIOWrapper(z.open("china_location.txt"), encoding="utf-8").read()


def _raw() -> dict[str, dict[str, list[str]]]:
    """District code -> its towns and its communities, as the source names them."""
    wanted = {r["code"] for r in load_regions() if r["level"] == "district"}
    out: dict[str, dict[str, list[str]]] = {}
    code = town = None
    for line in _location_text().splitlines():
        depth = len(line) - len(line.lstrip("\t"))
        fields = line.strip().split("\t")
        if depth == 2:
            code = fields[1] if len(fields) > 1 and fields[1] in wanted else None
            town = None
        elif depth == 3 and code:
            town = fields[0] if fields[0].endswith(TOWN_SUFFIXES) else None
            if town:
                out.setdefault(code, {"towns": [], "communities": []})["towns"].append(town)
        elif depth == 4 and code and town and fields[0].endswith(COMMUNITY_SUFFIXES):
            out[code]["communities"].append(fields[0])
    missing = wanted - set(out)
    if missing:
        sys.exit(f"no towns for {sorted(missing)}")
    return out


def _ordinary(candidates: set[str]) -> dict[str, int]:
    """Candidates that are ordinary words -> how common (jieba's frequency): in jieba's dictionary other than as a
    proper noun, or listed (as common as can be)."""
    out = dict.fromkeys(candidates & set(words("places")["ordinary_names"]), sys.maxsize)
    spec = importlib.util.find_spec("jieba")
    dictionary = Path(next(iter(spec.submodule_search_locations))) / "dict.txt"
    for line in dictionary.read_text(encoding="utf-8").splitlines():
        word, freq, tag = line.split(" ")
        if word in candidates and tag not in ("nr", "ns", "nt", "nz"):
            out.setdefault(word, int(freq))
    return out


def _region_and_ending(name: str, regions: set[str]) -> bool:
    """"临沭社区", "兰山街道": a region's name and an ending, read as the region (its entity) and a word."""
    return any(name.endswith(e) and name[:-len(e)] in regions for e in TOWN_SUFFIXES + COMMUNITY_SUFFIXES + ("街",))


def _spoken(town: str) -> tuple[str, str | None]:
    """How people say a town's name: its name without the ending (汤头镇 -> 汤头, 马牧池乡 -> 马牧池), and for a
    街道 a name ending in 街 (前川街道 -> 前川街; none for 万松街街道 or 青山镇街道)."""
    base = next(town[:-len(s)] for s in TOWN_SUFFIXES if town.endswith(s))
    street = town.endswith("街道") and not base.endswith(("街", "镇", "乡", "处"))
    return base, base + "街" if street else None


def build() -> dict[str, dict[str, list[str]]]:
    """{"districts": district code -> names that name it, "short_names": code -> two-character names ("关山" for
    关山街道), which count only with a place cue, "bare_names": two-character names that are also ordinary words
    ("纸坊"), which count only as a whole message, and "home_names": rarer ordinary words ("宗关"), which count
    after a cue that says where someone lives (language/places.py). A name may be in several districts."""
    places = words("places")
    regions = {n for r in load_regions() for n in [r["name"], *(r.get("aliases") or [])]}
    taken = regions | set(places["ambiguous_places"]) | set(places["outside_places"])
    names: dict[str, set[str]] = {}
    streets: dict[str, set[str]] = {}  # 前川街 -> the districts with a 前川街道
    for code, d in _raw().items():
        found = set(d["towns"]) | set(d["communities"])
        for town in d["towns"]:
            base, street = _spoken(town)
            found.add(base)
            if street:
                streets.setdefault(street, set()).add(code)
        names[code] = found
    everywhere = set().union(*names.values())
    for street, codes in streets.items():  # only where it names one district and is no other place's name
        if len(codes) == 1 and street not in everywhere:
            names[next(iter(codes))].add(street)
    for code, found in names.items():
        names[code] = {n for n in found if len(n) >= 2 and n not in taken and not _region_and_ending(n, regions)}
    ordinary = _ordinary(set().union(*names.values()))
    rare = {w for w, freq in ordinary.items() if freq < RARE_WORD}
    names = dict(sorted(names.items()))
    return {"districts": {c: sorted(n for n in ns - set(ordinary) if len(n) >= 3) for c, ns in names.items()},
            "short_names": {c: sorted(n for n in ns - set(ordinary) if len(n) == 2) for c, ns in names.items()},
            "home_names": {c: sorted(n for n in ns & rare if len(n) == 2) for c, ns in names.items()},
            "bare_names": {c: sorted(n for n in ns & set(ordinary) - rare if len(n) == 2) for c, ns in names.items()}}


def render(data: dict[str, dict[str, list[str]]]) -> str:
    """The file's text: one line per district, names in a flow list."""
    version = importlib.metadata.version("jionlp")
    out = [f"# Generated by tools/gen_towns.py from jionlp {version} (china_location; JioNLP, Apache License 2.0).\n",
           "# Do not edit: change the generator. District code -> names of its streets, towns and communities;\n",
           "# short_names: two-character names, read only with a place cue (在关山, 关山那边);\n",
           "# home_names: two-character names that are also rare ordinary words, read only with a home cue (住宗关);\n",
           "# bare_names: two-character names that are also common ordinary words, read only as a whole message.\n"]
    for section, table in data.items():
        out.append(f"{section}:\n")
        out += [f"  '{code}': [{', '.join(names)}]\n" for code, names in table.items() if names]
    return "".join(out)


def main() -> int:
    """Write the file, or with --check compare it with what the installed package gives."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render(build())
    if args.check:
        ok = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("language/towns.yml is up to date" if ok else "language/towns.yml differs from the generator's output")
        return 0 if ok else 1
    OUT.write_text(text, encoding="utf-8")
    data = yaml.safe_load(text)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(data['districts'])} districts; "
          + ", ".join(f"{sum(map(len, data[k].values()))} {k}" for k in data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
