"""Reading the change history: every import, sync and revert, and the per-record changes of one."""

from __future__ import annotations

from sqlalchemy import select

from catalog.db import get_engine, session_scope
from catalog.models import CatalogImport, ensure_schema

KIND_LABELS = {"full": "全量导入", "file": "文件导入", "feed": "数据源同步", "revert": "撤销"}


def list_imports(url: str | None = None) -> list[CatalogImport]:
    """Every recorded change to the catalog, oldest first."""
    ensure_schema(get_engine(url))
    with session_scope(url) as s:
        return list(s.scalars(select(CatalogImport).order_by(CatalogImport.id)))


def show_history(import_id: int | None = None, url: str | None = None) -> list[str]:
    """The history as text lines: one line per import, or one import's changes in detail."""
    from catalog.importer import Change
    from catalog.sheets import format_changes

    ensure_schema(get_engine(url))
    with session_scope(url) as s:
        if import_id is None:
            rows = list(s.scalars(select(CatalogImport).order_by(CatalogImport.id)))
            if not rows:
                return ["还没有导入记录。"]
            lines = ["编号  时间                 操作人        类型        新增 修改 删除  来源"]
            for e in rows:
                note = f"（已被 {e.reverted_by} 撤销）" if e.reverted_by else ""
                lines.append(f"{e.id:<5} {e.at:%Y-%m-%d %H:%M:%S}  {e.by:<12} {KIND_LABELS.get(e.kind, e.kind):<8} "
                             f"{e.added:>4} {e.changed:>4} {e.removed:>4}  {e.source}{note}")
            return lines
        e = s.get(CatalogImport, import_id)
        if e is None:
            return [f"没有编号为 {import_id} 的导入记录。"]
        head = [f"导入 {e.id}：{KIND_LABELS.get(e.kind, e.kind)}，{e.at:%Y-%m-%d %H:%M:%S}，操作人 {e.by}",
                f"来源：{e.source}" + (f"（SHA-256 {e.sha256}）" if e.sha256 else "")]
        if e.reverted_by:
            head.append(f"已被导入 {e.reverted_by} 撤销")
        changes = [Change(c.kind, c.record_id, c.action, c.before, c.after) for c in e.changes]
        return head + format_changes(changes)
