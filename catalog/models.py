"""Catalog tables, shaped after Open Referral HSDS 3.0.

A ServicePoint is HSDS's service_at_location folded with its location, schedule and cost (one place
offering one category of service); ServiceItem is a rentable item with its cost; Policy is an HSDS
service that is a benefit: eligibility, required documents, application process, service area (its
region) and its provenance. Lists are JSON columns so SQLite and PostgreSQL share the same code.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, inspect, text
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.sql.schema import Column

Base = declarative_base()


class Region(Base):
    """A province, city or district (GB/T 2260 code), with aliases and a centre."""

    __tablename__ = "catalog_region"
    code = Column(String(6), primary_key=True)  # GB/T 2260
    name = Column(String(32), nullable=False)
    level = Column(String(10), nullable=False)  # province | city | district
    parent_code = Column(String(6), ForeignKey("catalog_region.code"), nullable=True)
    aliases = Column(JSON, nullable=False, default=list)
    lat = Column(Float, nullable=False)
    lng = Column(Float, nullable=False)
    radius_km = Column(Float, nullable=True)


class ServicePoint(Base):
    """A place that offers an elderly-care service, with its source."""

    __tablename__ = "catalog_service_point"
    __table_args__ = (
        # "category in district": ranked within each district by the index alone (query.find_services)
        Index("ix_catalog_service_point_category_district", "category", "status", "district_code", "verified", "id"),
        # "nearest k of a category": a lat/lng box read from the index alone (query.nearest_services)
        Index("ix_catalog_service_point_category_position", "category", "status", "approximate", "lat", "lng", "id"),
    )
    id = Column(String(64), primary_key=True)
    category = Column(String(32), nullable=False)
    name = Column(String(128), nullable=False)
    district_code = Column(String(6), ForeignKey("catalog_region.code"), nullable=False, index=True)
    address = Column(String(256), nullable=False)
    lat = Column(Float, nullable=False)
    lng = Column(Float, nullable=False)
    approximate = Column(Boolean, nullable=False, default=False)  # lat/lng are the district's centre
    phone = Column(String(32), nullable=True)
    hours = Column(String(128), nullable=True)
    price = Column(String(256), nullable=True)
    offers = Column(JSON, nullable=False, default=list)
    serves = Column(String(256), nullable=True)
    verified = Column(Boolean, nullable=False, default=False)
    status = Column(String(16), nullable=False, default="open")  # open | planned (a plan's construction table)
    last_verified = Column(Date, nullable=True)
    source = Column(JSON, nullable=False)  # {"label": "示例数据"} or {file, document, issuer, date, clause, quote}
    items = relationship(
        "ServiceItem", cascade="all, delete-orphan", order_by="ServiceItem.position", lazy="selectin"
    )


class ServiceItem(Base):
    """A piece of equipment a rental point lends, with its prices."""

    __tablename__ = "catalog_service_item"
    id = Column(Integer, primary_key=True, autoincrement=True)
    point_id = Column(String(64), ForeignKey("catalog_service_point.id"), nullable=False, index=True)
    position = Column(Integer, nullable=False, default=0)
    name = Column(String(32), nullable=False, index=True)  # canonical item name
    price_day = Column(Float, nullable=True)
    price_month = Column(Float, nullable=True)
    deposit = Column(Float, nullable=True)


class Policy(Base):
    """A policy record: what it gives, who qualifies, how to apply, with its source quote."""

    __tablename__ = "catalog_policy"
    id = Column(String(64), primary_key=True)
    topic = Column(String(32), nullable=False, index=True)
    region_code = Column(String(6), ForeignKey("catalog_region.code"), nullable=False, index=True)
    title = Column(String(128), nullable=False)
    summary = Column(Text, nullable=False)
    eligibility = Column(JSON, nullable=False, default=list)
    conditions = Column(JSON, nullable=False, default=dict)
    steps = Column(JSON, nullable=False, default=list)
    materials = Column(JSON, nullable=False, default=list)
    where = Column(String(256), nullable=True)
    phone = Column(String(32), nullable=True)
    guidance = Column(JSON, nullable=False, default=list)  # fields that are general guidance
    covers_rental = Column(Boolean, nullable=False, default=False)
    subsidy = Column(Boolean, nullable=False, default=False)  # the record states a subsidy or payment
    categories = Column(JSON, nullable=True)  # service categories the record states facts about
    status = Column(String(16), nullable=False, default="in_effect")  # in_effect | draft (ended: past end_date)
    source = Column(JSON, nullable=False)
    last_verified = Column(Date, nullable=True)
    end_date = Column(Date, nullable=True)  # end of the plan period or target year the document states


class CatalogMeta(Base):
    """Key-value state of the catalog (feed ETags, the data hash of the last import)."""

    __tablename__ = "catalog_meta"
    key = Column(String(64), primary_key=True)
    value = Column(Text, nullable=False)


class CatalogImport(Base):
    """One change to the catalog: a file import, a feed sync, a full data import or a revert."""

    __tablename__ = "catalog_import"
    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime, nullable=False)
    by = Column(String(64), nullable=False)
    kind = Column(String(16), nullable=False)  # full | file | feed | revert
    source = Column(String(512), nullable=False)  # file path, feed name or data directory
    sha256 = Column(String(64), nullable=True)
    added = Column(Integer, nullable=False, default=0)
    changed = Column(Integer, nullable=False, default=0)
    removed = Column(Integer, nullable=False, default=0)
    reverts = Column(Integer, ForeignKey("catalog_import.id"), nullable=True)
    reverted_by = Column(Integer, nullable=True)
    changes = relationship("CatalogChange", cascade="all, delete-orphan", order_by="CatalogChange.id",
                           lazy="selectin")


class CatalogChange(Base):
    """One record's change in an import: its content before and after (None when added or removed)."""

    __tablename__ = "catalog_change"
    id = Column(Integer, primary_key=True, autoincrement=True)
    import_id = Column(Integer, ForeignKey("catalog_import.id"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)  # service_point | policy
    record_id = Column(String(64), nullable=False, index=True)
    action = Column(String(8), nullable=False)  # add | change | remove
    before = Column(JSON, nullable=True)
    after = Column(JSON, nullable=True)


# Columns added after a table first shipped: created on databases that predate them.
_ADDED_COLUMNS = {"catalog_policy": {"end_date": "DATE", "subsidy": "BOOLEAN NOT NULL DEFAULT FALSE",
                                     "categories": "JSON", "status": "VARCHAR(16) NOT NULL DEFAULT 'in_effect'"},
                  "catalog_service_point": {"approximate": "BOOLEAN NOT NULL DEFAULT FALSE",
                                            "status": "VARCHAR(16) NOT NULL DEFAULT 'open'"}}


def ensure_schema(engine) -> None:
    """Create missing tables, add columns and indexes introduced since a database was created."""
    Base.metadata.create_all(engine)
    insp = inspect(engine)
    for table, cols in _ADDED_COLUMNS.items():
        have = {c["name"] for c in insp.get_columns(table)}
        for name, sqltype in cols.items():
            if name not in have:
                with engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {sqltype}"))
    for table in Base.metadata.sorted_tables:
        indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes(table.name)}
        for index in table.indexes:
            if index.name in indexes and indexes[index.name] != [c.name for c in index.columns]:
                index.drop(engine)  # an older definition under the same name
            if indexes.get(index.name) != [c.name for c in index.columns]:
                index.create(engine)


def as_date(value: object) -> date | None:
    """A date from a date or an ISO string (None stays None)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
