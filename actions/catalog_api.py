"""The actions' door to the catalog: one session per request, database errors as one exception."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from catalog.db import session_scope
from catalog.query import Regions


class CatalogUnavailable(Exception):
    """The catalog database could not be read."""


@contextmanager
def open_catalog() -> Iterator[tuple[Session, Regions]]:
    try:
        with session_scope() as session:
            yield session, Regions(session)
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(str(exc)) from exc
