"""The tree shows the flow: runtime packages import one way, and nothing in the runtime imports the tooling."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ["language", "catalog", "replies", "actions", "bot"]
# What each runtime package may import (besides itself): channel → NLU → actions → catalog query → replies.
ALLOWED = {
    "catalog": set(),
    "language": {"catalog"},
    "replies": {"catalog"},
    "actions": {"language", "catalog", "replies"},
    "bot": {"language", "catalog", "replies"},
    "tools": {"language", "catalog", "replies", "actions", "bot"},
}


def imports_of(package: str) -> dict[str, set[str]]:
    """Top-level project packages imported by each module of `package` (module path -> packages)."""
    out: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        out[str(path.relative_to(ROOT))] = names & set(ALLOWED)
    return out


def test_packages_import_one_way() -> None:
    bad = [f"{module} imports {dep}"
           for package, allowed in ALLOWED.items()
           for module, deps in imports_of(package).items()
           for dep in deps - allowed - {package}]
    assert not bad, bad


def test_the_allowed_imports_have_no_cycle() -> None:
    for a, deps in ALLOWED.items():
        for b in deps:
            assert a not in ALLOWED[b], f"{a} and {b} may import each other"


def test_the_runtime_never_imports_tools() -> None:
    bad = [m for p in RUNTIME for m, deps in imports_of(p).items() if "tools" in deps]
    assert not bad, bad


def test_the_language_layer_imports_no_rasa() -> None:
    for path in (ROOT / "language").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import rasa" not in text and "from rasa" not in text and "sanic" not in text, path
