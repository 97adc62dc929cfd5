"""Shared fixtures: a fresh SQLite catalog per test session, and copies of the data for bad-record tests.

Kinds of test (markers, pyproject.toml): `unit` needs nothing running and no network; `e2e` trains or starts the bot
(the `bot`, `bot_url` and `model` fixtures); `browser` drives headless Chromium (make browser); `scaleout` needs
PostgreSQL, Redis and nginx (make services). A module or test says `browser` or `scaleout` itself; the others are
`e2e` when they use a bot fixture, else `unit`. `make test-unit` runs the unit tests only.

Waits poll a condition with a deadline (wait_until, await_until) instead of sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.launcher import ensure_model, free_port, serving
from catalog.db import session_scope
from catalog.importer import import_catalog
from catalog.lexicon import DATA_DIR, SOURCES_DIR
from catalog.models import Policy, ServicePoint
from catalog.query import Regions

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("unit", "e2e", "browser", "scaleout")
BOT_FIXTURES = {"bot", "bot_url", "model"}  # they train the model or start the servers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test its kind: the module's or test's own mark, else e2e with a bot fixture, else unit."""
    for item in items:
        kinds = {m.name for m in item.iter_markers() if m.name in KINDS}
        uses_bot = bool(BOT_FIXTURES & set(getattr(item, "fixturenames", ())))
        if "unit" in kinds and uses_bot:
            raise pytest.UsageError(f"{item.nodeid} is marked unit but uses the bot")
        if not kinds:
            item.add_marker(pytest.mark.e2e if uses_bot else pytest.mark.unit)


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until it is true (True) or `timeout` seconds have passed (False).

    For a negative check ("nothing else happens") `assert not wait_until(...)` watches the whole window and fails as
    soon as the thing happens."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


async def await_until(condition: Callable[[], object | Awaitable[object]], seconds: float,
                      interval: float = 0.02) -> bool:
    """wait_until inside an event loop, for `seconds` at most; `condition` may be a coroutine function."""
    deadline = time.monotonic() + seconds
    while True:
        got = condition()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)

# Test settings of the WeChat channel, set before any server starts (the `bot` fixture's servers inherit them).
for _name, _value in {
    "WECHAT_TOKEN": "yinling-test-token",
    "WECHAT_APPID": "wx5e1f0c2b7a9d3e41",
    "WECHAT_APPSECRET": "yinling-test-secret",
    "WECHAT_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "WECHAT_API_BASE": "http://127.0.0.1:9",  # nothing listens: the e2e test expects passive replies only
}.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def catalog_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'catalog.db'}"
    import_catalog(url)
    return url


@pytest.fixture()
def session(catalog_url: str):
    with session_scope(catalog_url) as s:
        yield s


@pytest.fixture()
def regions(session) -> Regions:
    return Regions(session)


@pytest.fixture()
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of catalog/data (sources stay shared, read-only)."""
    dst = tmp_path / "catalog" / "data"
    shutil.copytree(DATA_DIR, dst)
    return dst


def counts(url: str) -> tuple[int, int]:
    with session_scope(url) as s:
        return (s.scalar(select(func.count()).select_from(ServicePoint)),
                s.scalar(select(func.count()).select_from(Policy)))


SOURCES = SOURCES_DIR


@pytest.fixture(scope="session")
def model() -> Path:
    """The trained model (trained once, reused while training inputs are unchanged)."""
    return ensure_model()


@pytest.fixture(scope="session")
def bot(model: Path, tmp_path_factory: pytest.TempPathFactory):
    """Action server + Rasa on free loopback ports, on a fresh SQLite catalog and tracker store."""
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'bot.db'}"
    import_catalog(url)
    logs = tmp_path_factory.mktemp("logs")
    try:
        with serving(model, free_port(), free_port(), url=url, log_dir=logs) as servers:
            yield servers
    except RuntimeError:
        for f in logs.iterdir():
            print(f.read_text(errors="replace")[-3000:])
        raise


@pytest.fixture(scope="session")
def bot_url(bot) -> str:
    return bot.rasa_url
