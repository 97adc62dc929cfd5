"""Sync from open-data feeds (CSV or Open Referral HSDS JSON) configured in catalog/data/feeds.yaml.

Each feed: fetched with timeouts, retries with backoff, a conditional GET (ETag / Last-Modified) and a size
limit; its rows are mapped to our fields by configuration, read into the same record dicts as a spreadsheet
and checked by the same loader checks; applied in one transaction and recorded in the change history.
A failing or malformed feed changes nothing and is reported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from catalog.db import get_engine, session_scope
from catalog.importer import CatalogInvalid, Change
from catalog.lexicon import DATA_DIR, SOURCES_DIR
from catalog.models import CatalogMeta, ensure_schema
from catalog.sheets import HEADER, FileRecords, decode_text, import_records, read_csv_bytes, rows_to_records

FEEDS_FILE = DATA_DIR / "feeds.yaml"
DEFAULTS = {"timeout": 10.0, "retries": 3, "backoff": 1.0, "max_bytes": 5_000_000}


class FeedError(Exception):
    """A feed that cannot be fetched or read (the message says why, in Chinese)."""

    pass


@dataclass
class SyncResult:
    """The outcome of syncing one feed: status, changes, the import's id or the errors."""

    name: str
    ok: bool
    status: str  # unchanged | applied | no_changes | preview | failed
    changes: list[Change] = field(default_factory=list)
    import_id: int | None = None
    errors: list[str] = field(default_factory=list)

    def report(self) -> str:
        """The outcome for the operator, in Chinese."""
        if self.status == "unchanged":
            return f"数据源“{self.name}”：未变化（304），未做修改。"
        if not self.ok:
            return f"数据源“{self.name}”同步失败，未做任何修改：\n  " + "\n  ".join(self.errors)
        n = {a: sum(c.action == a for c in self.changes) for a in ("add", "change", "remove")}
        text = f"新增 {n['add']} 条，修改 {n['change']} 条，删除 {n['remove']} 条"
        if self.status == "preview":
            return f"数据源“{self.name}”（预览）：{text}，未做修改。"
        if self.status == "no_changes":
            return f"数据源“{self.name}”：内容与目录相同，没有修改。"
        return f"数据源“{self.name}”：{text}，导入编号 {self.import_id}。"


def load_feeds(path: Path = FEEDS_FILE) -> list[dict]:
    """The feeds configured in feeds.yaml (none when the file is absent)."""
    if not path.is_file():
        return []
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list(doc.get("feeds") or [])


def _meta_key(name: str, what: str) -> str:
    return f"feed:{name}:{what}"


def fetch(feed: dict, etag: str | None, last_modified: str | None,
          session: requests.Session | None = None) -> tuple[bytes | None, dict]:
    """The feed's body, or None when the server says 304 Not Modified. Raises FeedError."""
    cfg = {**DEFAULTS, **feed}
    url = str(feed.get("url") or "")
    if not url.startswith(("http://", "https://")):
        raise FeedError(f"地址须以 http:// 或 https:// 开头：{url}")
    headers = {"User-Agent": "yinling-catalog-sync/1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    http = session or requests.Session()
    last_problem = ""
    for attempt in range(int(cfg["retries"]) + 1):
        if attempt:
            time.sleep(float(cfg["backoff"]) * 2 ** (attempt - 1))
        try:
            resp = http.get(url, headers=headers, timeout=float(cfg["timeout"]), stream=True)
        except requests.Timeout:
            last_problem = f"超时（{cfg['timeout']} 秒）"
            continue
        except requests.RequestException as exc:
            last_problem = f"连接失败：{exc.__class__.__name__}"
            continue
        if resp.status_code >= 500 or resp.status_code == 429:
            last_problem = f"服务器错误 HTTP {resp.status_code}"
            resp.close()
            continue
        break
    else:
        raise FeedError(f"重试 {cfg['retries']} 次后仍失败：{last_problem}")
    with resp:
        if resp.status_code == 304:
            return None, {}
        if resp.status_code != 200:
            raise FeedError(f"HTTP {resp.status_code}")
        limit = int(cfg["max_bytes"])
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise FeedError(f"内容过大：{declared} 字节，上限 {limit} 字节")
        body = bytearray()
        try:
            for chunk in resp.iter_content(65536):
                body += chunk
                if len(body) > limit:
                    raise FeedError(f"内容过大：超过上限 {limit} 字节")
        except requests.RequestException as exc:
            raise FeedError(f"读取中断：{exc.__class__.__name__}") from None
        return bytes(body), {"etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified")}


def _path(obj, path: str):
    """A dotted path into nested JSON: 'location.addresses.0.address_1'."""
    for part in path.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)] if part.isdigit() and int(part) < len(obj) else None
        elif isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


def hsds_rows(doc) -> list[dict]:
    """One row per service at a location: {service, location, service_at_location}. Accepts the tabular
    shape ({services, locations, service_at_locations}, as our own export) and the API shape (a list of
    services, or {contents: [...]}, each with service_at_locations[].location)."""
    if isinstance(doc, dict) and "service_at_locations" in doc:
        by_id = {s.get("id"): s for s in doc.get("services") or []}
        locations = {s.get("id"): s for s in doc.get("locations") or []}
        return [{"service": by_id.get(sal.get("service_id")) or {},
                 "location": locations.get(sal.get("location_id")) or {}, "service_at_location": sal}
                for sal in doc["service_at_locations"]]
    services = doc.get("contents") if isinstance(doc, dict) else doc
    if not isinstance(services, list):
        raise FeedError("不是 HSDS JSON：应有 services/service_at_locations，或服务列表")
    rows = []
    for svc in services:
        for sal in (svc.get("service_at_locations") or [{}]) if isinstance(svc, dict) else []:
            rows.append({"service": svc, "location": sal.get("location") or {}, "service_at_location": sal})
    return rows


def _cell(v):
    if isinstance(v, list):
        return "；".join(str(x) for x in v)
    return v


def feed_records(feed: dict, body: bytes) -> FileRecords:
    """Map the feed's rows to our column headers (configuration), then read them like a spreadsheet."""
    kind = feed.get("kind", "service_points")
    where = f"数据源“{feed['name']}”"
    mapping: dict = feed.get("mapping") or {}
    defaults: dict = feed.get("defaults") or {}
    headers = HEADER[kind]
    unknown = [f for f in [*mapping, *defaults] if f not in headers]
    if unknown:
        return FileRecords(kind, errors=[f"{where}配置错误：未知的字段 {'、'.join(unknown)}"])
    if feed.get("format", "csv") == "csv":
        if not mapping:
            got = read_csv_bytes(body, where)
            if defaults and got.records:
                got.errors.append(f"{where}配置错误：defaults 须与 mapping 一起使用")
            return got
        text = decode_text(body)
        if text is None:
            return FileRecords(kind, errors=[f"{where}：无法识别文件编码（应为 UTF-8 或 GBK）"])
        raw = list(csv.DictReader(io.StringIO(text)))
        missing = [c for c in mapping.values() if raw and c not in raw[0]]
        if missing:
            return FileRecords(kind, errors=[f"{where}：源数据缺少列 {'、'.join(missing)}"])
        rows = [(i + 2, {**{headers[f]: v for f, v in defaults.items()},
                         **{headers[f]: r.get(col) for f, col in mapping.items()}}) for i, r in enumerate(raw)]
        return rows_to_records(kind, rows, where)
    try:
        doc = json.loads(body.decode("utf-8-sig"))
        flat = hsds_rows(doc)
    except (ValueError, UnicodeDecodeError) as exc:
        return FileRecords(kind, errors=[f"{where}：JSON 格式错误：{exc}"])
    except FeedError as exc:
        return FileRecords(kind, errors=[f"{where}：{exc}"])
    rows = [(i + 1, {**{headers[f]: v for f, v in defaults.items()},
                     **{headers[f]: _cell(_path(r, p)) for f, p in mapping.items()}}) for i, r in enumerate(flat)]
    return rows_to_records(kind, rows, where)


def sync_feed(feed: dict, by: str | None = None, url: str | None = None, dry_run: bool = False,
              data_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR) -> SyncResult:
    """Fetch one feed (conditional GET) and import its records as a whole; nothing changes on any error."""
    name = str(feed.get("name") or feed.get("url"))
    feed = {**feed, "name": name}
    ensure_schema(get_engine(url))
    with session_scope(url) as s:
        state = {w: (m.value if (m := s.get(CatalogMeta, _meta_key(name, w))) else None)
                 for w in ("etag", "last_modified")}
    try:
        body, got_headers = fetch(feed, state["etag"], state["last_modified"])
    except FeedError as exc:
        return SyncResult(name, False, "failed", errors=[str(exc)])
    if body is None:
        return SyncResult(name, True, "unchanged")
    got = feed_records(feed, body)
    try:
        res = import_records(got, source=f"数据源 {name} {feed['url']}", sha256=hashlib.sha256(body).hexdigest(),
                             by=by, dry_run=dry_run, url=url, kind="feed", data_dir=data_dir,
                             sources_dir=sources_dir, remove_prefix=feed.get("id_prefix"))
    except CatalogInvalid as exc:
        return SyncResult(name, False, "failed", errors=exc.errors)
    if not dry_run:  # remember validators only once the content is in: a failed apply is fetched again
        with session_scope(url) as s:
            for w in ("etag", "last_modified"):
                if got_headers.get(w):
                    s.merge(CatalogMeta(key=_meta_key(name, w), value=got_headers[w]))
    status = "preview" if dry_run else ("applied" if res.import_id else "no_changes")
    return SyncResult(name, True, status, res.changes, res.import_id)


def sync_feeds(config: Path = FEEDS_FILE, by: str | None = None, only: str | None = None,
               dry_run: bool = False, url: str | None = None) -> list[SyncResult]:
    """Every configured feed, each in its own transaction: one failing feed does not stop the others."""
    return [sync_feed(f, by=by, url=url, dry_run=dry_run) for f in load_feeds(config)
            if only is None or f.get("name") == only]
