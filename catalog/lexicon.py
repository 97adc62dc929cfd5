"""The catalog's vocabulary: codes and the words people use for them (catalog/data/*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).resolve().parent / "data"
SOURCES_DIR = Path(__file__).resolve().parent / "sources"


@dataclass(frozen=True)
class Taxonomy:
    """Service categories, policy topics and equipment items with the words people use for them."""

    categories: dict[str, dict]  # code -> {name, words}
    topics: dict[str, dict]
    items: dict[str, list[str]]  # canonical item -> words

    def item_words(self) -> dict[str, str]:
        """Every word for an item -> its canonical name."""
        return {w: canon for canon, words in self.items.items() for w in [canon, *words]}


@lru_cache(maxsize=4)
def load_taxonomy(data_dir: Path = DATA_DIR) -> Taxonomy:
    """The taxonomy of taxonomy.yaml."""
    raw = yaml.safe_load((data_dir / "taxonomy.yaml").read_text(encoding="utf-8"))
    return Taxonomy(raw["categories"], raw["topics"], raw["items"])


@lru_cache(maxsize=4)
def load_regions(data_dir: Path = DATA_DIR) -> list[dict]:
    """The region records of regions.yaml."""
    raw = yaml.safe_load((data_dir / "regions.yaml").read_text(encoding="utf-8"))
    return raw["regions"]


def short_name(name: str) -> str:
    """湖北省 -> 湖北, 武汉市 -> 武汉: the name people say, for lists of places."""
    return name[:-1] if len(name) > 2 and name[-1] in "省市" else name


def covered_cities(data_dir: Path = DATA_DIR) -> list[tuple[str, list[str]]]:
    """The cities the catalog covers, by province, in regions.yaml order: [(湖北省, [武汉市, 咸宁市]), ...]."""
    regions = load_regions(data_dir)
    names = {str(r["code"]): r["name"] for r in regions}
    out: dict[str, list[str]] = {}
    for r in regions:
        if r["level"] == "city":
            out.setdefault(names.get(str(r.get("parent")), ""), []).append(r["name"])
    return list(out.items())
