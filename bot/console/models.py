"""The console's own tables (operators, sessions, claims, answers, corrections, audit log) in DATABASE_URL.

A declarative base of their own: `create_all` creates only these tables, never the catalog's or Rasa's.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, String, Text
from sqlalchemy.orm import declarative_base

from catalog.db import get_engine

Base = declarative_base()


def utcnow() -> datetime:
    """The current UTC time without tzinfo, as the console's DateTime columns store it."""
    return datetime.now(UTC).replace(tzinfo=None)


class Operator(Base):
    """A console user (scrypt password hash; inactive users cannot log in)."""

    __tablename__ = "console_users"
    id = Column(Integer, primary_key=True)
    name = Column(String(64), unique=True, nullable=False)
    password_hash = Column(String(256), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class LoginSession(Base):
    """A login session: the hash of its cookie token and when it expires."""

    __tablename__ = "console_sessions"
    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), unique=True, nullable=False)   # sha256 of the cookie value
    operator = Column(String(64), nullable=False)
    csrf = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)


class Claim(Base):
    """An operator's claim on a handed-off conversation, until resolved."""

    __tablename__ = "console_claims"
    sender_id = Column(String(255), primary_key=True)
    operator = Column(String(64), nullable=False)
    claimed_at = Column(DateTime, nullable=False, default=utcnow)
    resolved_at = Column(DateTime)


class Answer(Base):
    """What an operator answered a handed-off user, and how it was delivered."""

    __tablename__ = "console_answers"
    id = Column(Integer, primary_key=True)
    sender_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(32))
    operator = Column(String(64), nullable=False)
    text = Column(Text, nullable=False)
    delivered = Column(String(32), nullable=False)   # "wechat" | "recorded" | "wechat_failed"
    at = Column(DateTime, nullable=False, default=utcnow)


class Correction(Base):
    """An operator's correction of what the bot understood, exported as a development case."""

    __tablename__ = "console_corrections"
    id = Column(Integer, primary_key=True)
    operator = Column(String(64), nullable=False)
    text = Column(Text, nullable=False)              # the caller's words as typed
    bot = Column(JSON, nullable=False)               # what the bot understood
    expect = Column(JSON, nullable=False)            # what it should have understood
    note = Column(Text)
    at = Column(DateTime, nullable=False, default=utcnow)


class AuditEntry(Base):
    """One audited operator action."""

    __tablename__ = "console_audit"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, default=utcnow, index=True)
    operator = Column(String(64))
    action = Column(String(32), nullable=False)
    target = Column(String(255))
    detail = Column(JSON)
    ip = Column(String(64))


def create_tables(url: str | None = None) -> None:
    """Create the console's tables if they do not exist."""
    Base.metadata.create_all(get_engine(url))
