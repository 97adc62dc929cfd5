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
    categories: dict[str, dict]  # code -> {name, words}
    topics: dict[str, dict]
    items: dict[str, list[str]]  # canonical item -> words

    def item_words(self) -> dict[str, str]:
        """Every word for an item -> its canonical name."""
        return {w: canon for canon, words in self.items.items() for w in [canon, *words]}


@lru_cache(maxsize=4)
def load_taxonomy(data_dir: Path = DATA_DIR) -> Taxonomy:
    raw = yaml.safe_load((data_dir / "taxonomy.yaml").read_text(encoding="utf-8"))
    return Taxonomy(raw["categories"], raw["topics"], raw["items"])


@lru_cache(maxsize=4)
def load_regions(data_dir: Path = DATA_DIR) -> list[dict]:
    raw = yaml.safe_load((data_dir / "regions.yaml").read_text(encoding="utf-8"))
    return raw["regions"]
