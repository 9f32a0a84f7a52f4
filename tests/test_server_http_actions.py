"""HTTP actions: `app.http.route(...)` served at `<url>/http/<path>`, routed as Convex routes them."""

from __future__ import annotations

import json

import pytest

from convex_lab import App, ConvexError, Int64, Response, v
from tests.test_server_http import send


@pytest.fixture
def app():
    instance = App()
    yield instance
    instance.close()


def test_no_routes_means_http_actions_are_not_enabled(app):
    url = app.serve()
    reply = send(url, "GET", "/http/anything")
    assert reply.status == 404 and reply.body == b"This Convex deployment does not have HTTP actions enabled."


def test_exact_route_with_request_details(app):
    @app.http.route(path="/echo", method="POST")
    def echo(ctx, request):
        return Response({"method": request.method, "path": request.path, "query": request.query,
                         "type": request.headers.get("content-type"), "json": request.json(),
                         "text": request.text(), "url": request.url})

    url = app.serve()
    reply = send(url, "POST", "/http/echo?a=1&b=2&a=3", {"x": 1})
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    body = reply.json
    assert body["method"] == "POST" and body["path"] == "/echo" and body["query"] == {"a": "1", "b": "2"}
    assert body["type"] == "application/json" and body["json"] == {"x": 1} and body["text"] == '{"x": 1}'
    assert body["url"] == f"{url}/http/echo?a=1&b=2&a=3"


def test_decorator_returns_the_function_and_handlers_reach_the_database(app):
    @app.mutation(args={"body": v.string()})
    def add(ctx, body):
        return ctx.db.insert("notes", {"body": body})

    @app.query
    def count(ctx):
        return len(ctx.db.query("notes").collect())

    @app.http.route(path="/notes", method="POST")
    def post_note(ctx, request):
        note = ctx.run_mutation(add, {"body": request.text()})
        return Response(note, status=201, headers={"X-Count": str(int(ctx.run_query(count)))})

    assert callable(post_note)
    url = app.serve()
    reply = send(url, "POST", "/http/notes", raw=b"hello", content_type="text/plain")
    assert reply.status == 201 and reply.headers["x-count"] == "1" and len(reply.body) == 32
    assert app.run("notebook:count") == 1


def test_async_handler(app):
    @app.query
    def twice(ctx, n):
        return n * 2

    @app.http.route(path="/twice", method="GET")
    async def get_twice(ctx, request):
        value = await ctx.run_query(twice, {"n": float(request.query["n"])})
        return Response(str(value))

    url = app.serve()
    reply = send(url, "GET", "/http/twice?n=21")
    assert reply.status == 200 and reply.body == b"42.0"
    assert reply.headers["content-type"] == "text/plain;charset=UTF-8"


def test_longest_prefix_wins_and_exact_beats_prefix(app):
    def answer(name):
        return lambda ctx, request: Response(name)

    app.http.route(path_prefix="/files/", method="GET", handler=answer("files"))
    app.http.route(path_prefix="/files/images/", method="GET", handler=answer("images"))
    app.http.route(path="/files/images/logo.png", method="GET", handler=answer("logo"))
    app.http.route(pathPrefix="/files/", method="POST", handler=answer("upload"))
    url = app.serve()
    assert send(url, "GET", "/http/files/a.txt").body == b"files"
    assert send(url, "GET", "/http/files/images/cat.png").body == b"images"
    assert send(url, "GET", "/http/files/images/logo.png").body == b"logo"
    assert send(url, "POST", "/http/files/a.txt", raw=b"").body == b"upload"
    reply = send(url, "PUT", "/http/files/a.txt", raw=b"")
    assert reply.status == 404 and reply.body == b"No HttpAction routed for /files/a.txt"
    assert send(url, "GET", "/http/other").body == b"No HttpAction routed for /other"


def test_head_runs_the_get_route_without_a_body(app):
    seen = []

    @app.http.route(path="/page", method="GET")
    def page(ctx, request):
        seen.append(request.method)
        return Response("<p>hi</p>", headers={"Content-Type": "text/html"})

    url = app.serve()
    reply = send(url, "HEAD", "/http/page")
    assert reply.status == 200 and reply.body == b"" and reply.headers["content-length"] == "9"
    assert reply.headers["content-type"] == "text/html" and seen == ["GET"]


def test_uncaught_errors_are_500_with_code_and_trace(app):
    @app.http.route(path="/fail", method="GET")
    def fail(ctx, request):
        raise ValueError("boom")

    @app.http.route(path="/refuse", method="GET")
    def refuse(ctx, request):
        raise ConvexError({"code": Int64(7)})

    @app.http.route(path="/wrong", method="GET")
    def wrong(ctx, request):
        return {"not": "a Response"}

    url = app.serve()
    reply = send(url, "GET", "/http/fail")
    assert reply.status == 500
    body = reply.json
    assert body["code"].endswith("] Server Error: Uncaught ValueError: boom") and body["code"].startswith("[Request ID: ")
    assert body["trace"].startswith("Uncaught ValueError: boom\n    at fail (") and "data" not in body
    refused = send(url, "GET", "/http/refuse").json
    assert refused["data"] == {"code": {"$integer": "BwAAAAAAAAA="}}
    wrong_reply = send(url, "GET", "/http/wrong")
    assert wrong_reply.status == 500 and "returned dict, not a convex_lab.Response" in wrong_reply.json["code"]


def test_http_actions_are_logged(app):
    @app.http.route(path="/log", method="GET")
    def log(ctx, request):
        print("handled")
        return Response(None, status=204)

    url = app.serve()
    assert send(url, "GET", "/http/log").status == 204
    row = app.logs().iloc[-1]
    assert row.path == "GET /log" and row.kind == "http_action" and row.caller == "http"
    assert list(row.lines) == ["[LOG] handled"]


def test_redefining_a_route_replaces_it(app):
    app.http.route(path="/v", method="GET", handler=lambda ctx, request: Response("one"))
    app.http.route(path="/v", method="GET", handler=lambda ctx, request: Response("two"))
    url = app.serve()
    assert send(url, "GET", "/http/v").body == b"two"
    assert len(app.http.routes) == 1


def test_a_bearer_token_that_does_not_verify_leaves_no_identity(app):
    @app.http.route(path="/who", method="GET")
    def who(ctx, request):
        return Response({"identity": ctx.auth.get_user_identity(), "header": request.headers.get("authorization")})

    url = app.serve()
    reply = send(url, "GET", "/http/who", headers={"Authorization": "Bearer my-webhook-secret"})
    assert reply.json == {"identity": None, "header": "Bearer my-webhook-secret"}


@pytest.mark.parametrize("kwargs, message", [
    ({"path": "/a", "path_prefix": "/b/", "method": "GET"}, "cannot contain both 'path' and 'pathPrefix'"),
    ({"method": "GET"}, "must contain either field 'path' or 'pathPrefix'"),
    ({"path": "a", "method": "GET"}, "path 'a' does not start with a /"),
    ({"path": "/.files/x", "method": "GET"}, "path '/.files/x' is reserved"),
    ({"path_prefix": "/b", "method": "GET"}, "pathPrefix /b must end with a /"),
    ({"path_prefix": "b/", "method": "GET"}, "pathPrefix 'b/' does not start with a /"),
    ({"path": "/a", "method": "HEAD"}, "'HEAD' is not an allowed HTTP method"),
])
def test_route_rules(app, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        app.http.route(handler=lambda ctx, request: Response(""), **kwargs)


def test_response_bodies():
    assert Response(b"\x00").body == b"\x00" and Response(b"\x00").headers == {}
    assert Response(["a"]).body == b'["a"]'
    assert Response("x", headers={"content-type": "text/csv"}).headers == {"content-type": "text/csv"}
    with pytest.raises(TypeError):
        Response(5)
    with pytest.raises(ValueError):
        Response("x", status=99)


def test_http_actions_get_no_cors_headers(app):
    app.http.route(path="/x", method="GET", handler=lambda ctx, request: Response("x"))
    url = app.serve()
    reply = send(url, "GET", "/http/x", headers={"Origin": "https://example.com"})
    assert "access-control-allow-origin" not in reply.headers
    assert json.loads(send(url, "POST", "/api/query", {"path": "x:y", "args": {}},
                           headers={"Origin": "https://example.com"}).body)["status"] == "error"
