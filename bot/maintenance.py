"""Retention and backups of what the bot stores in DATABASE_URL (the catalog, Rasa's tracker store, the console).

    python -m bot.maintenance purge [--days N] [--dry-run]   # RETENTION_DAYS, default 180
    python -m bot.maintenance backup [OUT]                    # default var/backups/yinling-<time>.db|.pgdump
    python -m bot.maintenance restore FILE

purge deletes the conversations whose last event is older than the retention (all their events), the console's
records older than it (answers, claims, corrections, audit entries by their own time; login sessions once expired)
and backup files in var/backups/ older than it: a backup would otherwise keep what purge deleted.

backup writes one consistent copy of the whole database: SQLite through its online backup API (one read transaction,
safe while the bot writes), PostgreSQL with `pg_dump -Fc` (one snapshot). restore brings it back: SQLite through the
same API into the live file (all tables replaced at once), PostgreSQL with `pg_restore --clean` in one transaction
(the tables in the dump are replaced; tables created after the backup stay).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import column, delete, func, inspect, select, table
from sqlalchemy.engine import URL, make_url

from bot.console.models import Answer, AuditEntry, Claim, Correction, LoginSession, utcnow
from catalog import clock
from catalog.db import ROOT, database_url, get_engine

BACKUPS = ROOT / "var" / "backups"
SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"

EVENTS = table("events", column("sender_id"), column("timestamp"))  # Rasa's SQL tracker store
TRACKER_STATE = table("tracker_state", column("sender_id"))  # each conversation's last state (bot/stores.py)

# Console records deleted once older than the retention, by their own time column (Chinese name for the report).
CONSOLE = [(Answer, Answer.at, "话务员回复"), (Claim, Claim.claimed_at, "接手记录"),
           (Correction, Correction.at, "纠错记录"), (AuditEntry, AuditEntry.at, "审计日志")]


class MaintenanceError(Exception):
    """A purge, backup or restore that cannot be done; the message is for the user."""


def pg_bin() -> Path:
    """The directory of the newest installed PostgreSQL binaries (pg_dump, pg_restore)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("找不到 PostgreSQL（initdb）：请先运行 scripts/install-services.sh")
    return found[-1].parent


def as_pg_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: then run it as the Debian package's `postgres` user."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def retention_days() -> int:
    """RETENTION_DAYS (default 180); a wrong value stops with a message."""
    value = os.environ.get("RETENTION_DAYS", "180")
    if not value.isdigit():
        raise MaintenanceError(f"RETENTION_DAYS 应是天数（不小于 0 的整数），现在是 {value!r}。")
    return int(value)


@dataclass
class Purged:
    """What a purge deleted (or would delete, on a dry run)."""

    days: int
    dry_run: bool
    conversations: int = 0
    events: int = 0
    console: dict[str, int] = field(default_factory=dict)
    backups: list[Path] = field(default_factory=list)

    def report(self) -> str:
        """The purge's outcome for the operator, in Chinese."""
        verb = "将删除" if self.dry_run else "已删除"
        lines = [f"{verb} {self.conversations} 个超过 {self.days} 天没有新消息的对话（{self.events} 条对话事件）。"]
        if self.console:
            lines.append("控制台：" + "，".join(f"{name} {n} 条" for name, n in self.console.items()) + "。")
        lines.append(f"备份文件：{len(self.backups)} 个。" + "".join(f"\n  {p}" for p in self.backups))
        if self.dry_run:
            lines.append("（试运行：什么都没有删除。）")
        return "\n".join(lines)


def purge(days: int | None = None, dry_run: bool = False, url: str | None = None,
          backups: Path = BACKUPS) -> Purged:
    """Delete what is older than `days` (default RETENTION_DAYS); with dry_run only count it."""
    days = retention_days() if days is None else days
    if days < 0:
        raise MaintenanceError("保留天数不能是负数。")
    engine = get_engine(url)
    cutoff = time.time() - days * 86400
    cutoff_utc = datetime.fromtimestamp(cutoff, UTC).replace(tzinfo=None)  # the console's naive UTC columns
    result = Purged(days, dry_run)
    existing = set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        if "events" in existing:
            old = (select(EVENTS.c.sender_id).group_by(EVENTS.c.sender_id)
                   .having(func.max(EVENTS.c.timestamp) < cutoff))
            result.conversations = conn.scalar(select(func.count()).select_from(old.subquery()))
            result.events = conn.scalar(select(func.count()).select_from(EVENTS).where(EVENTS.c.sender_id.in_(old)))
            if not dry_run:
                if "tracker_state" in existing:
                    conn.execute(delete(TRACKER_STATE).where(TRACKER_STATE.c.sender_id.in_(old)))
                conn.execute(delete(EVENTS).where(EVENTS.c.sender_id.in_(old)))
        stale: list[tuple[Any, Any, str]] = [(model, col < cutoff_utc, name) for model, col, name in CONSOLE]
        stale.append((LoginSession, LoginSession.expires_at < utcnow(), "过期登录会话"))
        for model, where, name in stale:
            if model.__tablename__ in existing:
                result.console[name] = conn.scalar(select(func.count()).select_from(model).where(where))
                if not dry_run:
                    conn.execute(delete(model).where(where))
    if backups.is_dir():
        result.backups = sorted(p for p in backups.glob("yinling-*") if p.stat().st_mtime < cutoff)
        if not dry_run:
            for p in result.backups:
                p.unlink()
    return result


def _pg_command(tool: str, u: URL) -> tuple[list[str], dict[str, str]]:
    """The PostgreSQL client `tool` connected to u's database; the password goes in the environment, not argv."""
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    target = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return [str(pg_bin() / tool), f"--dbname={target}"], env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise MaintenanceError(f"{Path(cmd[0]).name} 失败：{done.stderr.strip()[-1000:]}")


def _sqlite_path(u: URL) -> Path:
    if not u.database or u.database == ":memory:":
        raise MaintenanceError("DATABASE_URL 是内存数据库，没有可备份或恢复的文件。")
    return Path(u.database)


def backup(out: Path | None = None, url: str | None = None) -> Path:
    """Write a consistent copy of the database to `out` (default var/backups/yinling-<time>.db|.pgdump)."""
    u = make_url(url or database_url())
    sqlite = u.get_backend_name() == "sqlite"
    if out is None:
        out = BACKUPS / f"yinling-{clock.now():%Y%m%d-%H%M%S}.{'db' if sqlite else 'pgdump'}"
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    part.unlink(missing_ok=True)
    if sqlite:
        source = _sqlite_path(u)
        if not source.exists():
            raise MaintenanceError(f"数据库文件不存在：{source}")
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(part)) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    elif u.get_backend_name() == "postgresql":
        cmd, env = _pg_command("pg_dump", u)
        _run([*cmd, "--format=custom", f"--file={part}"], env)
    else:
        raise MaintenanceError(f"不支持备份这种数据库：{u.get_backend_name()}（只支持 SQLite 和 PostgreSQL）")
    part.chmod(0o600)  # conversations are personal data
    part.replace(out)
    return out


def restore(file: Path, url: str | None = None) -> None:
    """Replace the database's content with the backup `file` (made by `backup` from the same kind of database)."""
    u = make_url(url or database_url())
    try:
        with file.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError:
        raise MaintenanceError(f"找不到或读不到备份文件：{file}") from None
    kind = "sqlite" if head == SQLITE_MAGIC else "postgresql" if head.startswith(PGDUMP_MAGIC) else None
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    if kind is None:
        raise MaintenanceError(f"{file} 不是 make backup 写出的备份（既不是 SQLite 文件，也不是 pg_dump 文件）。")
    if kind != u.get_backend_name():
        raise MaintenanceError(f"{file} 是 {names[kind]} 备份，而 DATABASE_URL 指向 "
                               f"{names.get(u.get_backend_name(), u.get_backend_name())}。")
    if kind == "sqlite":
        target = _sqlite_path(u)
        target.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as src, \
                closing(sqlite3.connect(target, timeout=30)) as dst:
            src.backup(dst)
    else:
        cmd, env = _pg_command("pg_restore", u)
        _run([*cmd, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction", str(file)],
             env)


def main(argv: list[str] | None = None) -> int:
    """Command line (python -m bot.maintenance): backup, restore, purge; see --help."""
    parser = argparse.ArgumentParser(prog="python -m bot.maintenance",
                                     description="银龄助手：清理过期的个人信息、备份与恢复")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_purge = sub.add_parser("purge", help="删除超过保留期的对话、控制台记录和备份")
    p_purge.add_argument("--days", type=int, help="保留天数（默认取环境变量 RETENTION_DAYS，未设则 180）")
    p_purge.add_argument("--dry-run", action="store_true", help="只统计，不删除")
    p_backup = sub.add_parser("backup", help="把目录和对话记录所在的数据库备份到一个文件")
    p_backup.add_argument("out", nargs="?", type=Path, help="备份文件（默认 var/backups/yinling-时间.db 或 .pgdump）")
    p_restore = sub.add_parser("restore", help="用备份文件恢复数据库（请先停止机器人）")
    p_restore.add_argument("file", type=Path)
    args = parser.parse_args(argv)

    try:
        if args.cmd == "purge":
            print(purge(args.days, args.dry_run).report())
        elif args.cmd == "backup":
            print(f"已备份到 {backup(args.out)}")
        else:
            restore(args.file)
            print(f"已从 {args.file} 恢复。")
    except MaintenanceError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
