"""`/static/convex_browser.js`: the server hands pages the official client's bundle (with real
HTTP requests against a served App). The browser test (tests/browser/test_chat.py) runs a page
that imports it."""

from __future__ import annotations

from pathlib import Path

import pytest

from convex_lab import App

from .test_server_http import send

BUNDLE = Path(__file__).resolve().parent.parent / "convex_lab/static/convex_browser.js"


@pytest.fixture
def url():
    app = App()
    yield app.serve()
    app.close()


def test_the_client_bundle_is_served_as_javascript_and_revalidated(url):
    reply = send(url, "GET", "/static/convex_browser.js")
    assert reply.status == 200
    assert reply.body == BUNDLE.read_bytes()
    assert reply.headers["content-type"] == "text/javascript; charset=utf-8"
    assert reply.headers["cache-control"] == "no-cache"
    assert reply.headers["access-control-allow-origin"] == "*"
    etag = reply.headers["etag"]
    again = send(url, "GET", "/static/convex_browser.js", headers={"If-None-Match": etag})
    assert (again.status, again.body) == (304, b"")
    changed = send(url, "GET", "/static/convex_browser.js", headers={"If-None-Match": '"stale"'})
    assert changed.status == 200 and changed.body == BUNDLE.read_bytes()


def test_head_sends_the_headers_only(url):
    reply = send(url, "HEAD", "/static/convex_browser.js")
    assert reply.status == 200 and reply.body == b""
    assert int(reply.headers["content-length"]) == BUNDLE.stat().st_size


@pytest.mark.parametrize("path", ["/static/live_view.js", "/static/", "/static/../app.py", "/static/convex_browser.jsx"])
def test_only_the_client_bundle_is_served(url, path):
    reply = send(url, "GET", path)
    assert reply.status == 404
    assert reply.json["code"] == "NotFound"


def test_other_methods_are_refused(url):
    assert send(url, "POST", "/static/convex_browser.js", raw=b"x").status == 405
