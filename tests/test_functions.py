"""Functions: decorators, paths, calling styles, validation errors, nesting, actions, logs."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from convex_lab import (
    ArgumentValidationError,
    ConvexError,
    Int64,
    ReturnsValidationError,
    v,
)
from convex_lab.errors import FunctionNotFound, WrongFunctionKind
from convex_lab.runtime.registry import canonical_path, normalize_path


def test_decorators_bare_and_called(app):
    @app.query
    def a(ctx):
        return 1

    @app.query()
    def b(ctx):
        return 2

    @app.mutation(args={"x": v.number()})
    def c(ctx, x):
        return x * 2

    @app.internal_query
    def d(ctx):
        return "internal"

    assert a.path == "notebook:a" and b.path == "notebook:b"
    assert a() == 1.0 and b() == 2.0  # results are Convex values: numbers are Float64
    assert c(x=2) == 4.0
    assert d() == "internal"  # internal functions are callable from the notebook
    assert set(app.functions) >= {"notebook:a", "notebook:b", "notebook:c", "notebook:d"}


def test_names_and_paths(app):
    @app.query(name="listAll")
    def f(ctx):
        return "x"

    @app.query(name="messages:send")
    def g(ctx):
        return "y"

    assert f.path == "notebook:listAll"
    assert g.path == "messages:send"
    assert app.run("notebook:listAll") == "x"
    assert app.run("messages.js:send") == "y"
    assert normalize_path("mod") == "mod:default"
    assert canonical_path("messages:send") == "messages.js:send"
    with pytest.raises(FunctionNotFound):
        app.run("notebook:missing")


def test_a_bare_name_finds_the_one_function_with_that_name(app):
    @app.query
    def boom(ctx):
        return "notebook"

    assert app.run("boom") == "notebook"  # no `boom:default`: the one function named boom
    assert app.subscribe("boom", {}, lambda _: None).result == "notebook"

    @app.query(name="boom")
    def default_export(ctx):
        return "module default"

    @app.query(name="boom:default")
    def boom_default(ctx):
        return "boom module"

    # Convex's rule first: a bare module path is that module's default export.
    assert app.run("boom") == "boom module"

    @app.query(name="other:count")
    def count_other(ctx):
        return 1.0

    @app.query(name="count")
    def count_notebook(ctx):
        return 2.0

    with pytest.raises(FunctionNotFound) as raised:
        app.run("count")
    assert str(raised.value) == ("Could not find function for 'count:default'. Several functions are named "
                                 "'count': did you mean 'notebook:count' or 'other:count'?")
    with pytest.raises(FunctionNotFound) as raised:
        app.run("notebook:bom")
    assert "Did you mean 'notebook:boom'?" in str(raised.value)
    with pytest.raises(FunctionNotFound) as raised:
        app.run("zzzzzz:qqqqqq")
    assert "Define it with @app.query first (registered: " in str(raised.value)
    with pytest.raises(FunctionNotFound):
        app.run("other:boom")  # a full path is never guessed


def test_reregistration_replaces(app):
    @app.query
    def f(ctx):
        return "old"

    old_handle = f

    @app.query
    def f(ctx):  # noqa: F811 - re-running a cell
        return "new"

    assert app.run("notebook:f") == "new"
    assert old_handle() == "new"  # an old handle runs the current code at its path


def test_calling_styles(app):
    @app.mutation(args={"room": v.string(), "body": v.string()})
    def send(ctx, room, body):
        return ctx.db.insert("messages", {"room": room, "body": body})

    id1 = send(room="a", body="hi")
    id2 = send({"room": "a", "body": "hi"})
    id3 = app.run("notebook:send", {"room": "a", "body": "hi"})
    id4 = send.call({"room": "a", "body": "hi"})
    assert len({id1, id2, id3, id4}) == 4

    async def from_coroutine():
        return (await send(room="b", body="async"), await send.call_async({"room": "b", "body": "x"}),
                await app.run("notebook:send", {"room": "b", "body": "y"}))

    ids = asyncio.run(from_coroutine())
    assert len(ids) == 3 and all(isinstance(i, str) for i in ids)


def test_argument_validation_errors(app):
    @app.mutation(args={"room": v.string(), "n": v.optional(v.int64())})
    def send(ctx, room, n=None):
        return n

    with pytest.raises(ArgumentValidationError) as info:
        send(n=1)
    # Named as Convex's clients name it: [CONVEX M(path)] before the message.
    assert str(info.value).startswith(
        "[CONVEX M(notebook:send)] ArgumentValidationError: Object is missing the required field `room`")
    with pytest.raises(ArgumentValidationError, match=r"^\[CONVEX M\(notebook:send\)\] .*must be an object"):
        app.run(send, ["not", "a", "dict"])
    with pytest.raises(ArgumentValidationError, match="extra field `zzz`"):
        send(room="a", zzz=1)
    with pytest.raises(ArgumentValidationError, match=r"Path: \.room"):
        send(room=5)
    assert type(send(room="a", n=5)) is Int64  # int rule applies to args too


def test_optional_args_not_given_are_not_passed(app):
    @app.query(args={"a": v.optional(v.string())})
    def f(ctx, **kwargs):
        return sorted(kwargs)

    assert f() == []
    assert f(a="x") == ["a"]


def test_returns_validation(app):
    @app.query(returns=v.string())
    def bad(ctx):
        return 5

    with pytest.raises(ReturnsValidationError, match=r"^\[CONVEX Q\(notebook:bad\)\] ReturnsValidationError: "):
        bad()

    @app.query(returns=v.array(v.int64()))
    def ints(ctx):
        return [1, 2]

    assert all(type(x) is Int64 for x in ints())


def test_user_exceptions_reraised_unchanged(app):
    class Custom(Exception):
        pass

    @app.mutation
    def boom(ctx):
        raise Custom("mine")

    with pytest.raises(Custom, match="mine") as info:
        boom()
    assert any(frame.name == "boom" for frame in info.traceback)

    @app.query
    def convex_err(ctx):
        raise ConvexError({"code": 7})

    with pytest.raises(ConvexError) as info2:
        convex_err()
    assert info2.value.data == {"code": 7}


def test_direct_call_inside_function_is_refused(app):
    @app.query
    def inner(ctx):
        return 1

    @app.query
    def outer(ctx):
        return inner()

    with pytest.raises(RuntimeError, match="ctx.run_query"):
        outer()


def test_run_query_and_sub_transaction_rollback(app):
    @app.internal_mutation
    def failing_child(ctx):
        ctx.db.insert("t", {"from": "child"})
        raise ConvexError("child failed")

    @app.internal_mutation
    def ok_child(ctx, tag):
        return ctx.db.insert("t", {"from": tag})

    @app.query
    def count(ctx):
        return len(ctx.db.query("t").collect())

    @app.mutation
    def parent(ctx):
        ctx.db.insert("t", {"from": "parent"})
        ctx.run_mutation(ok_child, {"tag": "kept"})
        try:
            ctx.run_mutation(failing_child)
        except ConvexError:
            pass
        return ctx.run_query(count)  # same transaction: sees parent's writes

    assert parent() == 2.0
    assert count() == 2.0

    @app.mutation
    def wrong_kind(ctx):
        return ctx.run_mutation(count)

    with pytest.raises(WrongFunctionKind):
        wrong_kind()


def test_ctx_now_and_random(app):
    @app.mutation
    def stamp(ctx):
        doc_id = ctx.db.insert("t", {"r": ctx.random.random()})
        return ctx.now, ctx.db.get(doc_id)["_creationTime"]

    now, created = stamp()
    assert created >= now and created - now < 1.0


def test_sync_and_async_actions(app):
    @app.mutation(args={"tag": v.string()})
    def record(ctx, tag):
        return ctx.db.insert("log", {"tag": tag})

    @app.query
    def tags(ctx):
        return [d["tag"] for d in ctx.db.query("log").collect()]

    @app.action
    def sync_action(ctx, tag):
        ctx.run_mutation(record, {"tag": tag})
        return ctx.run_query(tags)

    loop_threads = []

    @app.action
    async def async_action(ctx, tag):
        loop_threads.append(threading.current_thread().name)
        await ctx.run_mutation(record, {"tag": tag})
        return await ctx.run_query(tags)

    assert sync_action(tag="s") == ["s"]
    assert async_action(tag="a") == ["s", "a"]
    assert loop_threads == ["convex_lab-runtime"]  # on convex_lab's own loop

    async def caller():
        return await async_action(tag="b")

    assert asyncio.run(caller()) == ["s", "a", "b"]


def test_logs_are_captured_per_execution(app):
    @app.mutation
    def talk(ctx, who):
        print("hello from", who)
        logging.getLogger("user").warning("careful %s", who)
        return who

    results = []

    def worker(name):
        results.append(app._runtime.execute("notebook:talk", {"who": name}, caller="thread"))

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    frame = app.logs()
    assert list(frame.columns[:8]) == ["id", "timestamp", "path", "kind", "caller", "duration_ms", "status", "error"]
    for i in range(4):
        row = frame[frame["lines"].apply(lambda lines: f"[LOG] hello from t{i}" in lines)]
        assert len(row) == 1
        assert row.iloc[0]["lines"] == [f"[LOG] hello from t{i}", f"[WARN] careful t{i}"]


def test_failed_execution_is_logged(app):
    @app.query
    def broken(ctx):
        raise ValueError("bad thing")

    with pytest.raises(ValueError):
        broken()
    last = app.logs().iloc[-1]
    assert last["status"] == "failure" and "bad thing" in last["error"]


def test_log_line_limit(app):
    @app.query
    def chatty(ctx):
        for i in range(300):
            print(i)

    chatty()
    lines = app.logs().iloc[-1]["lines"]
    assert len(lines) == 257 and "overflow" in lines[-1].lower()


def test_queries_cannot_write(app):
    @app.query
    def sneaky(ctx):
        return ctx.db.insert("t", {})

    with pytest.raises(AttributeError):
        sneaky()


def test_async_def_query_refused(app):
    with pytest.raises(TypeError, match="plain `def`"):
        @app.query
        async def nope(ctx):
            return 1


def test_async_action_can_run_a_sync_action_off_the_loop(app):
    @app.action
    def blocking(ctx, x):
        return threading.current_thread().name, x

    @app.action
    async def outer(ctx):
        return await ctx.run_action(blocking, {"x": 1})

    name, x = outer()
    assert x == 1.0 and name != "convex_lab-runtime"


def test_a_query_that_tries_to_write_is_told_to_use_a_mutation(memory_app):
    @memory_app.query
    def sneaky(ctx):
        return ctx.db.insert("t", {"x": 1.0})

    with pytest.raises(AttributeError, match=r"ctx\.db\.insert is not available here: queries .* only read"):
        sneaky()
    with pytest.raises(AttributeError, match="has no attribute 'nonsense'"):
        memory_app.run_query(memory_app.query(lambda ctx: ctx.db.nonsense, name="odd"))
