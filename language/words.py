"""The word lists of the language layer: one YAML file per concept, next to the code that reads it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


@cache
def words(name: str) -> dict:
    """The contents of language/<name>.yml."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: towns.yml loads in a tenth of the time
    return yaml.load((HERE / f"{name}.yml").read_text(encoding="utf-8"), Loader=loader)
