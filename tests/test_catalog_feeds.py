"""`catalog sync` against a local HTTP server on 127.0.0.1: 200, 304, 500, timeout, too large, malformed rows,
HSDS JSON; a failing feed changes nothing; a good one is one history entry."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from catalog.__main__ import main
from catalog.db import session_scope
from catalog.feeds import sync_feed
from catalog.history import list_imports
from catalog.importer import import_catalog, snapshot
from tests.conftest import counts

ROUTES: dict[str, dict] = {}
HITS: dict[str, int] = {}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        HITS[self.path] = HITS.get(self.path, 0) + 1
        r = ROUTES.get(self.path, {"status": 404, "body": b""})
        if r.get("sleep"):
            time.sleep(r["sleep"])
        if r.get("etag") and self.headers.get("If-None-Match") == r["etag"]:
            self.send_response(304)
            self.end_headers()
            return
        body = r.get("body", b"")
        self.send_response(r.get("status", 200))
        if r.get("etag"):
            self.send_header("ETag", r["etag"])
            self.send_header("Last-Modified", "Wed, 25 Nov 2026 08:00:00 GMT")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (size limit)
            self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    ROUTES.clear()
    HITS.clear()
    u = f"sqlite:///{tmp_path / 'c.db'}"
    import_catalog(u)
    monkeypatch.setenv("DATABASE_URL", u)
    return u


def _points(url: str) -> dict[str, dict]:
    with session_scope(url) as s:
        return snapshot(s, "service_points")


MAPPING = {"id": "code", "name": "title", "district": "area", "address": "addr", "lat": "y", "lng": "x",
           "phone": "tel", "hours": "open", "last_verified": "checked"}
DEFAULTS = {"category": "meal", "source.document": "示例数据"}


def _feed_csv(url: str, rows: list[dict] | None = None, encoding: str = "utf-8") -> bytes:
    """A feed in someone else's column names, made from existing catalog points (test data)."""
    pts = _points(url)
    if rows is None:
        rows = [{"code": f"feed-{p['id']}", "title": p["name"] + "（源）", "area": p["district"],
                 "addr": p["address"], "y": p["lat"], "x": p["lng"], "tel": p["phone"], "open": p["hours"],
                 "checked": p["last_verified"]}
                for p in [pts["wh-420103-meal-1"], pts["wh-420103-meal-2"]]]
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(MAPPING.values()))
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode(encoding)


def _feed(server: str, path: str, **extra) -> dict:
    return {"name": "测试源", "url": server + path, "format": "csv", "kind": "service_points",
            "mapping": MAPPING, "defaults": DEFAULTS, "id_prefix": "feed-", "timeout": 0.5, "retries": 2,
            "backoff": 0.01, **extra}


def test_200_then_304_then_changed_feed(server: str, url: str, tmp_path: Path, capsys) -> None:
    ROUTES["/p.csv"] = {"body": _feed_csv(url, encoding="gbk"), "etag": '"v1"'}
    config = tmp_path / "feeds.yaml"
    config.write_text(yaml.safe_dump({"feeds": [_feed(server, "/p.csv")]}, allow_unicode=True), "utf-8")
    assert main(["sync", "--config", str(config), "--by", "同步"]) == 0
    assert "新增 2 条" in capsys.readouterr().out
    pts = _points(url)
    assert pts["feed-wh-420103-meal-1"]["name"].endswith("（源）")
    entry = list_imports(url)[-1]
    assert (entry.kind, entry.by, entry.added) == ("feed", "同步", 2)
    # unchanged: one conditional request answered 304, nothing recorded
    assert main(["sync", "--config", str(config)]) == 0
    assert "未变化（304）" in capsys.readouterr().out and HITS["/p.csv"] == 2
    assert len(list_imports(url)) == 2
    # the feed drops a row and changes another: one removal, one change
    rows = [{"code": "feed-wh-420103-meal-1", "title": "改名（源）", "area": "420103", "addr": pts[
        "feed-wh-420103-meal-1"]["address"], "y": pts["feed-wh-420103-meal-1"]["lat"],
        "x": pts["feed-wh-420103-meal-1"]["lng"], "tel": "", "open": "", "checked": "2026-11-01"}]
    ROUTES["/p.csv"] = {"body": _feed_csv(url, rows), "etag": '"v2"'}
    res = sync_feed(_feed(server, "/p.csv"), url=url)
    assert res.ok and sorted(c.action for c in res.changes) == ["change", "remove"]


@pytest.mark.parametrize("route,expect", [
    ({"status": 500, "body": b"oops"}, "HTTP 500"),
    ({"sleep": 1.5, "body": b""}, "超时"),
    ({"body": b"x" * 5000}, "内容过大"),
])
def test_failing_feed_changes_nothing(server: str, url: str, route: dict, expect: str) -> None:
    ROUTES["/f"] = route
    before = counts(url)
    res = sync_feed(_feed(server, "/f", max_bytes=1000), url=url)
    assert not res.ok and expect in res.errors[0], res.errors
    assert counts(url) == before and len(list_imports(url)) == 1
    if "status" in route:
        assert HITS["/f"] == 3  # first try + 2 retries with backoff


def test_malformed_rows_change_nothing_and_name_row_and_field(server: str, url: str) -> None:
    body = (_feed_csv(url).decode() + "feed-x,坏行,420103,某地址,not-a-number,114.27,,,\n"
            + "feed-y,坏电话,420103,某地址,30.59,114.27,abc,,\n")
    ROUTES["/bad.csv"] = {"body": body.encode(), "etag": '"b1"'}
    before = counts(url)
    res = sync_feed(_feed(server, "/bad.csv"), url=url)
    assert not res.ok
    assert any(e.startswith("数据源“测试源”第4行“纬度”列：应为数字") for e in res.errors), res.errors
    assert any(e.startswith("数据源“测试源”第5行“电话”列：电话号码格式不对") for e in res.errors), res.errors
    assert counts(url) == before
    ROUTES["/bad.csv"]["body"] = _feed_csv(url)  # fixed upstream, same ETag: not remembered, fetched again
    assert sync_feed(_feed(server, "/bad.csv"), url=url).status == "applied"


def test_hsds_json_feed(server: str, url: str) -> None:
    p = _points(url)["wh-420103-meal-1"]
    doc = {"services": [{"id": "svc-1", "name": "HSDS测试助餐点"}],
           "locations": [{"id": "loc-1", "latitude": p["lat"], "longitude": p["lng"],
                          "addresses": [{"address_1": p["address"]}]}],
           "service_at_locations": [{"id": "feed-hsds-1", "service_id": "svc-1", "location_id": "loc-1"}]}
    ROUTES["/h.json"] = {"body": json.dumps(doc, ensure_ascii=False).encode()}
    mapping = {"id": "service_at_location.id", "name": "service.name", "address": "location.addresses.0.address_1",
               "lat": "location.latitude", "lng": "location.longitude"}
    res = sync_feed(_feed(server, "/h.json", format="hsds", mapping=mapping,
                          defaults={**DEFAULTS, "district": "420103"}), url=url)
    assert res.ok and [c.record_id for c in res.changes] == ["feed-hsds-1"], res.errors
    assert _points(url)["feed-hsds-1"]["name"] == "HSDS测试助餐点"
    ROUTES["/h.json"] = {"body": b"{not json"}
    res = sync_feed(_feed(server, "/h.json", format="hsds", mapping=mapping), url=url)
    assert not res.ok and "JSON" in res.errors[0]


def test_shipped_feed_config_is_empty_and_sync_says_so(url: str, capsys) -> None:
    assert main(["sync"]) == 0
    assert "没有配置数据源" in capsys.readouterr().out
