"""Rasa's own checks: data validation, generated files up to date, test stories, and the REST contract
end to end (both servers on free ports, the dev cases of shared/eval)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot import generate
from bot.eval import load_cases, run
from bot.launcher import ROOT, base_env, ensure_model, serving
from catalog.importer import import_catalog

DEV_CASES = ROOT / "tests" / "eval" / "dev_cases.yaml"


def _rasa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rasa", *args], cwd=ROOT, env=base_env(),
                          capture_output=True, text=True, timeout=900)


def test_generated_nlu_files_are_fresh() -> None:
    assert generate.main(["--check"]) == 0, "run: python -m bot.generate"


def test_rasa_data_validate() -> None:
    res = _rasa("data", "validate", "--config", "config.yml", "--domain", "bot/domain.yml", "--data", "data")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


@pytest.fixture(scope="session")
def model() -> Path:
    return ensure_model()


def test_rasa_test_core_stories(model: Path, tmp_path: Path) -> None:
    res = _rasa("test", "core", "--model", str(model), "--stories", "tests/test_stories.yml",
                "--fail-on-prediction-errors", "--out", str(tmp_path))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def bot_url(model: Path, tmp_path_factory: pytest.TempPathFactory):
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'bot.db'}"
    import_catalog(url)
    logs = tmp_path_factory.mktemp("logs")
    try:
        with serving(model, _free_port(), _free_port(), url=url, log_dir=logs) as servers:
            yield servers.rasa_url
    except RuntimeError:
        for f in logs.iterdir():
            print(f.read_text(errors="replace")[-3000:])
        raise


def test_dev_cases_end_to_end(bot_url: str) -> None:
    cases, dialogues = load_cases(DEV_CASES)
    failures = [o for o in run(bot_url, cases, dialogues) if o.problems]
    assert not failures, "\n".join(f"{o.label}: {o.problems}" for o in failures)


def test_hostile_and_empty_messages_still_answer(bot_url: str) -> None:
    from bot.eval import send

    for message in ["", "   ", "<script>alert(1)</script>", "'; DROP TABLE events; --", "🙂" * 50, "1" * 300]:
        turn = send(bot_url, f"hostile-{abs(hash(message))}", message)
        assert turn.payload is not None and turn.payload["task"], message
