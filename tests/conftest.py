"""Shared fixtures: a fresh SQLite catalog per test session, and copies of the data for bad-record tests."""

from __future__ import annotations

import os
import shutil
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
