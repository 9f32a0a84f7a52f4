"""File storage over HTTP, against a real `app.serve()`: uploads to the URL `generate_upload_url`
returns, and the bytes served at the URL `get_url` returns."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.parse

import pytest

from convex_lab import App, v

from .npm_peer import requires_node, run_node
from .test_server_http import Reply, protocol_error, send


@pytest.fixture
def served(tmp_path):
    app = App(tmp_path / "lab.duckdb")

    @app.mutation
    def upload_url(ctx):
        return ctx.storage.generate_upload_url()

    @app.query
    def url(ctx, id):
        return ctx.storage.get_url(id)

    app.serve()
    yield app, {"upload_url": upload_url, "url": url}
    app.close()


def upload(url: str, data: bytes, content_type: str | None = "text/plain", headers: dict | None = None) -> Reply:
    parts = urllib.parse.urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    return send(url, "POST", path, raw=data, content_type=content_type, headers=headers)


def get(url: str, method: str = "GET", headers: dict | None = None) -> Reply:
    return send(url, method, urllib.parse.urlsplit(url).path, headers=headers)


def nothing_left(app: App) -> None:
    assert app.storage.list() == [] and app._storage.blobs.files() == []
    app._storage.blobs._check()


# -- uploads ----------------------------------------------------------------------------------


def test_an_upload_answers_the_storage_id_and_keeps_the_content_type(served):
    app, fns = served
    url = fns["upload_url"]()
    assert url.startswith(app.url + "/api/storage/upload?token=")
    reply = upload(url, b"<svg/>", "image/svg+xml")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    assert set(reply.json) == {"storageId"}
    storage_id = reply.json["storageId"]
    assert app.storage.get(storage_id) == b"<svg/>"
    row = app.storage.list()[0]
    assert row["_id"] == storage_id and row["contentType"] == "image/svg+xml" and row["size"] == 6.0
    app._storage.blobs._check()


def test_an_upload_url_works_until_it_expires(served):
    app, fns = served
    url = fns["upload_url"]()
    first, second = upload(url, b"one"), upload(url, b"two")  # Convex's URLs are not single-use
    assert first.status == second.status == 200
    stale = app._storage.upload_token(now_ms=time.time() * 1000 - 61 * 60 * 1000)
    message = protocol_error(upload(f"{app.url}/api/storage/upload?token={stale}", b"late"),
                             400, "StorageUploadTokenInvalid")
    assert "expired" in message
    assert len(app.storage.list()) == 2


@pytest.mark.parametrize("query", ["", "?token=", "?token=forged", "?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
def test_an_upload_without_a_valid_token_is_refused(served, query):
    app, _ = served
    reply = upload(f"{app.url}/api/storage/upload{query}", b"sneaky")
    protocol_error(reply, 400, "StorageUploadTokenInvalid")
    nothing_left(app)


def test_a_token_of_another_app_is_refused(served):
    app, _ = served
    with App() as other:
        token = other._storage.upload_token()
    protocol_error(upload(f"{app.url}/api/storage/upload?token={token}", b"x"), 400, "StorageUploadTokenInvalid")
    nothing_left(app)


def test_an_upload_over_the_size_limit_is_413_and_leaves_nothing(served):
    app, fns = served
    app.storage.max_file_size = 1000
    url = fns["upload_url"]()
    message = protocol_error(upload(url, b"x" * 5000), 413, "FileTooLarge")
    assert "1000 bytes" in message
    nothing_left(app)
    assert upload(url, b"x" * 1000).status == 200  # at the limit


def test_the_digest_header_is_checked(served):
    app, fns = served
    url = fns["upload_url"]()
    good = base64.b64encode(hashlib.sha256(b"checked").digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    protocol_error(upload(url, b"checked", headers={"Digest": f"sha-256={wrong}"}), 400, "InvalidDigest")
    nothing_left(app)
    reply = upload(url, b"checked", headers={"Digest": f"sha-256={good}"})
    assert reply.status == 200


def test_an_upload_preflight_and_answer_carry_cors(served):
    app, fns = served
    url = fns["upload_url"]()
    path = urllib.parse.urlsplit(url).path
    preflight = send(app.url, "OPTIONS", path, headers={"Origin": "http://page.example",
                                                        "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status == 200
    assert preflight.headers["access-control-allow-origin"] == "http://page.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    reply = upload(url, b"x", headers={"Origin": "http://page.example"})
    assert reply.status == 200 and reply.headers["access-control-allow-origin"] == "http://page.example"


# -- downloads ----------------------------------------------------------------------------------


def test_get_url_serves_the_bytes_with_convex_headers(served):
    app, fns = served
    data = b"\x89PNG" + bytes(range(256)) * 10
    storage_id = app.storage.store(data, content_type="image/png")
    url = fns["url"](id=storage_id)
    reply = get(url, headers={"Origin": "http://page.example"})
    assert reply.status == 200 and reply.body == data
    assert reply.headers["content-type"] == "image/png"
    assert reply.headers["content-length"] == str(len(data))
    assert reply.headers["digest"] == "sha-256=" + base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert reply.headers["cache-control"] == "private, max-age=2592000"
    assert reply.headers["accept-ranges"] == "bytes"
    assert reply.headers["access-control-allow-origin"] == "http://page.example"
    head = get(url, "HEAD")
    assert head.status == 200 and head.body == b"" and head.headers["content-length"] == str(len(data))


def test_a_file_without_content_type_is_served_as_octet_stream(served):
    app, fns = served
    url = fns["url"](id=app.storage.store(b"raw"))
    assert get(url).headers["content-type"] == "application/octet-stream"


def test_one_range_is_served_and_several_are_not(served):
    app, fns = served
    url = fns["url"](id=app.storage.store(b"0123456789"))
    for header, body, content_range in (("bytes=2-4", b"234", "bytes 2-4/10"), ("bytes=7-", b"789", "bytes 7-9/10"),
                                        ("bytes=-2", b"89", "bytes 8-9/10"), ("bytes=8-100", b"89", "bytes 8-9/10")):
        reply = get(url, headers={"Range": header})
        assert (reply.status, reply.body, reply.headers["content-range"]) == (206, body, content_range), header
    for header in ("bytes=0-1,4-5", "bytes=20-", "lines=1-2"):
        reply = get(url, headers={"Range": header})
        assert reply.status == 416 and reply.headers["content-range"] == "bytes */10", header


def test_a_deleted_or_unknown_file_is_404(served):
    app, fns = served
    storage_id = app.storage.store(b"soon gone")
    url = fns["url"](id=storage_id)
    app.storage.delete(storage_id)
    protocol_error(get(url), 404, "FileNotFound")
    protocol_error(get(f"{app.url}/api/storage/00000000-0000-4000-8000-000000000000"), 404, "FileNotFound")


@pytest.mark.parametrize("name", ["..", "../lab.duckdb", "..%2Flab.duckdb", "%2e%2e%2flab.duckdb", "a%2Fb",
                                  "tmp", "STORAGE_ID", "NOTE_ID", "SHA256", "UUID/extra"])
def test_paths_that_are_not_a_files_uuid_are_refused(served, name):
    app, fns = served
    storage_id = app.storage.store(b"secret bytes")
    note = app.run_mutation(app.mutation(lambda ctx: ctx.db.insert("notes", {}), name="add"))
    handle = app.storage.get_metadata(storage_id)["storageId"]
    name = (name.replace("STORAGE_ID", storage_id).replace("NOTE_ID", note).replace("UUID", handle)
            .replace("SHA256", hashlib.sha256(b"secret bytes").hexdigest()))
    reply = send(app.url, "GET", "/api/storage/" + name)
    if reply.status == 404:  # a path the router itself never hands to storage
        assert reply.json["code"] == "NotFound"
    else:
        protocol_error(reply, 400, "InvalidStoragePath")
    assert b"secret bytes" not in reply.body


# -- the official npm client ----------------------------------------------------------------------


@requires_node
def test_npm_client_and_fetch_upload_and_download(served):
    app, _ = served

    @app.mutation(args={"storageId": v.id("_storage")})
    def save(ctx, storageId):
        ctx.db.insert("uploads", {"file": storageId})

    @app.query
    def saved_url(ctx):
        return ctx.storage.get_url(ctx.db.query("uploads").first()["file"])

    done = run_node("storage_client.mjs", app.url)
    out = json.loads(done.stdout)
    assert out["uploadStatus"] == 200 and out["servedStatus"] == 200
    assert out["contentType"] == "text/plain" and out["text"] == "hello from node"
    assert app.storage.get(out["storageId"]) == b"hello from node"
