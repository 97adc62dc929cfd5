"""A short fuzz run in make test (make fuzz sends 10,000): no server error, no reply without a payload, no crash."""

from __future__ import annotations

from pathlib import Path

from bot import fuzz


def test_short_fuzz_run(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    assert fuzz.main(["--count", "1000", "--max-seconds", "240", "--seed", "11", "--out", str(out)]) == 0
    assert out.exists()
