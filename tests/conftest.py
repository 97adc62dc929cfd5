"""Shared fixtures: a fresh SQLite catalog per test session, and copies of the data for bad-record tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from catalog.db import session_scope
from catalog.importer import import_catalog
from catalog.lexicon import DATA_DIR, SOURCES_DIR
from catalog.models import Policy, ServicePoint
from catalog.query import Regions

ROOT = Path(__file__).resolve().parent.parent


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
