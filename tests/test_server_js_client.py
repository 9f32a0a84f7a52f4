"""The official clients against `app.serve()`: npm `convex`'s ConvexHttpClient (run by node, from
tests/js, pinned in its package-lock.json) and PyPI `convex`'s ConvexHttpClient."""

from __future__ import annotations

import json

import pytest

from convex_lab import App, ConvexError, Int64, v

from .npm_peer import requires_node, run_node


def define(app: App) -> None:
    @app.query(args={"n": v.number()})
    def double(ctx, n):
        print("doubling", n)
        return n * 2

    @app.query
    def echo(ctx, **args):
        return args

    @app.mutation(args={"body": v.string()})
    def add(ctx, body):
        return ctx.db.insert("notes", {"body": body})

    @app.query
    def count(ctx):
        return len(ctx.db.query("notes").collect())

    @app.action
    def plus_one(ctx, n):
        return ctx.run_query(double, {"n": n}) + 1

    @app.action
    async def async_plus_two(ctx, n):
        return await ctx.run_query(double, {"n": n}) + 2

    @app.query
    def fails(ctx):
        raise ValueError("boom")

    @app.mutation
    def refuses(ctx):
        raise ConvexError({"code": Int64(42), "why": "no"})

    @app.internal_query
    def secret(ctx):
        return "the secret"


@pytest.fixture
def served():
    app = App()
    define(app)
    url = app.serve()
    yield app, url
    app.close()


@requires_node
def test_npm_http_client(served):
    app, url = served
    done = run_node("http_client.mjs", url, app.admin_key)
    out = json.loads(done.stdout)

    assert out["query"] == {"value": 42}
    assert out["bigint"] == {"value": {"big": f"bigint:{2 ** 40}", "bytes": "bytes:0102"}}
    assert isinstance(out["mutation"]["value"], str) and len(out["mutation"]["value"]) == 32
    assert out["count"] == {"value": 1}
    assert out["action"] == {"value": 3} and out["asyncAction"] == {"value": 4}
    assert out["consistent"] == {"value": 2}  # query_ts, then query_at_ts at that ts

    failure = out["failure"]
    assert not failure["convexError"] and "Server Error\nUncaught ValueError: boom" in failure["error"]
    convex_error = out["convexError"]
    assert convex_error["convexError"] and convex_error["data"] == {"code": "bigint:42", "why": "no"}
    assert "Could not find public function for 'notebook:nope'." in out["missing"]["error"]
    assert "Trying to execute notebook.js:add as Query, but it is defined as Mutation." in out["wrongKind"]["error"]
    assert "ArgumentValidationError: Value does not match validator." in out["badArgs"]["error"]

    assert "Could not find public function for 'notebook:secret'." in out["internal"]["error"]
    assert out["internalAsAdmin"] == {"value": "the secret"}
    assert out["functionAsAdmin"] == {"value": "the secret"}
    bearer = json.loads(out["bearer"]["error"])  # a non-2xx answer: the client throws its body
    assert bearer["code"] == "InvalidAuthHeader"

    # The client prints each call's log lines (debug is on by default).
    assert any("doubling 21" in line for line in out["logged"])
    assert app.run("notebook:count") == 1


def test_python_http_client(served):
    convex = pytest.importorskip("convex", reason="the PyPI convex client is not installed")
    from convex.http_client import ConvexHttpClient

    app, url = served
    client = ConvexHttpClient(url)
    assert client.query("notebook:double", {"n": 21}) == 42
    assert client.query("notebook:echo", {"big": convex.ConvexInt64(2 ** 40)}) == {"big": 2 ** 40}
    assert isinstance(client.mutation("notebook:add", {"body": "from python"}), str)
    assert client.action("notebook:async_plus_two", {"n": 1}) == 4
    with pytest.raises(convex.ConvexError) as raised:
        client.mutation("notebook:refuses")
    assert raised.value.data == {"code": {"$integer": "KgAAAAAAAAA="}, "why": "no"}  # passed on undecoded
    with pytest.raises(Exception, match="Could not find public function for 'notebook:secret'"):
        client.query("notebook:secret")
    client.set_admin_auth(app.admin_key)
    assert client.query("notebook:secret") == "the secret"
