"""`Runtime.execute` returns an `Execution`: the value or the error (kept, not raised), the commit or
snapshot timestamp, the read set, the pagination journal, the log lines, timing and who called."""

from __future__ import annotations

import asyncio

import pytest

from convex_lab import (
    ArgumentValidationError,
    ConvexError,
    MaximumCallDepthExceeded,
    define_schema,
    define_table,
    v,
)
from convex_lab.runtime.execution import Execution
from convex_lab.runtime.reactivity import describe_interval


@pytest.fixture
def runtime(app):
    app.set_schema(define_schema({"notes": define_table({"room": v.string(), "n": v.number()}).index("by_room", ["room"])}))

    @app.mutation(args={"room": v.string(), "n": v.number()})
    def add(ctx, room, n):
        print("adding", n)
        return ctx.db.insert("notes", {"room": room, "n": n})

    @app.mutation
    def nothing(ctx):
        return ctx.db.query("notes").first()

    @app.query
    def in_room(ctx, room):
        print("reading", room)
        return [d["n"] for d in ctx.db.query("notes").with_index("by_room", lambda q: q.eq("room", room)).collect()]

    @app.query
    def page(ctx, cursor=None):
        return ctx.db.query("notes").paginate({"numItems": 2, "cursor": cursor})

    @app.query
    def fails(ctx):
        ctx.db.query("notes").with_index("by_room", lambda q: q.eq("room", "z")).collect()
        raise ConvexError({"code": 7})

    @app.action
    def act(ctx, room):
        print("acting")
        return ctx.run_query("notebook:in_room", {"room": room})

    @app.action
    async def act_async(ctx, room):
        print("acting async")
        return await ctx.run_query("notebook:in_room", {"room": room})

    return app._runtime


def test_a_mutation_carries_its_commit_ts(runtime):
    first = runtime.execute("notebook:add", {"room": "a", "n": 1})
    assert isinstance(first, Execution)
    assert first.error is None and isinstance(first.value, str)
    assert (first.path, first.kind, first.caller) == ("notebook:add", "mutation", "notebook")
    assert first.ts == runtime.database.last_ts  # what the commit produced
    second = runtime.execute("notebook:add", {"room": "a", "n": 2}, caller="thread")
    assert second.ts > first.ts and second.ts == runtime.database.last_ts
    assert second.caller == "thread"
    assert first.lines == ["[LOG] adding 1.0"] and second.lines == ["[LOG] adding 2.0"]
    assert first.duration_ms >= 0 and first.started_ms > 0
    assert first.result() == first.value


def test_a_mutation_that_writes_nothing_carries_its_snapshot_ts(runtime):
    runtime.execute("notebook:add", {"room": "a", "n": 1})
    before = runtime.database.last_ts
    outcome = runtime.execute("notebook:nothing", {})
    assert outcome.error is None and outcome.ts == before == runtime.database.last_ts


def test_a_query_carries_its_snapshot_ts_and_read_set(runtime):
    runtime.execute("notebook:add", {"room": "a", "n": 1})
    runtime.execute("notebook:add", {"room": "b", "n": 2})
    outcome = runtime.execute("notebook:in_room", {"room": "a"}, caller="subscription")
    assert outcome.value == [1.0] and outcome.error is None
    assert (outcome.kind, outcome.caller) == ("query", "subscription")
    assert outcome.ts == runtime.database.last_ts
    assert outcome.reads, "a query that read has a read set"
    table, index, lo, hi = outcome.reads[0]
    assert (table, index) == ("notes", "by_room")
    fields = runtime.database.store.tables["notes"].indexes["by_room"].full_fields
    assert describe_interval(table, index, fields, lo, hi) == 'notes.by_room: room == "a"'
    assert outcome.lines == ["[LOG] reading a"]
    assert outcome.journal is None  # not paginated


def test_a_paginated_query_carries_its_journal(runtime):
    for n in range(5):
        runtime.execute("notebook:add", {"room": "a", "n": n})
    outcome = runtime.execute("notebook:page", {})
    assert len(outcome.value["page"]) == 2
    assert outcome.journal == outcome.value["continueCursor"]
    # Given back, the journal keeps the page's end where it was (what a live query does).
    again = runtime.execute("notebook:page", {}, journal=outcome.journal)
    assert again.journal == outcome.journal and len(again.value["page"]) == 2


def test_an_error_is_kept_not_raised(runtime):
    outcome = runtime.execute("notebook:fails", {})
    assert outcome.value is None
    assert isinstance(outcome.error, ConvexError) and outcome.error.data == {"code": 7}
    assert outcome.reads and outcome.reads[0][:2] == ("notes", "by_room")  # what it read until then
    with pytest.raises(ConvexError) as raised:
        outcome.result()
    assert raised.value is outcome.error
    assert any(entry.name == "fails" for entry in raised.traceback)  # the original traceback
    bad = runtime.execute("notebook:add", {"room": 1, "n": 1})
    assert isinstance(bad.error, ArgumentValidationError) and bad.ts is None and bad.reads == []
    log = runtime.execution_log.entries()[-2:]
    assert [e["status"] for e in log] == ["failure", "failure"]
    assert log[0]["error"] == f"ConvexError: {outcome.error}"


def test_actions(runtime):
    runtime.execute("notebook:add", {"room": "a", "n": 1})
    for path, line in (("notebook:act", "[LOG] acting"), ("notebook:act_async", "[LOG] acting async")):
        outcome = runtime.execute(path, {"room": "a"})
        assert outcome.value == [1.0] and outcome.error is None
        assert (outcome.kind, outcome.ts, outcome.reads, outcome.journal) == ("action", None, [], None)
        # The nested query's lines are part of the action's; its own entry has none.
        assert outcome.lines == [line, "[LOG] reading a"]
        nested, entry = runtime.execution_log.entries()[-2:]
        assert (nested["path"], nested["caller"], nested["lines"]) == ("notebook:in_room", "action", [])
        assert (entry["path"], entry["lines"]) == (path, outcome.lines)


def test_call_and_call_async_return_the_value_or_raise(runtime):
    assert isinstance(runtime.call("notebook:add", {"room": "a", "n": 1}), str)
    with pytest.raises(ConvexError):
        runtime.call("notebook:fails", {})

    async def both():
        return (await runtime.call_async("notebook:act_async", {"room": "a"}),
                await runtime.call_async("notebook:in_room", {"room": "a"}))

    assert asyncio.run(both()) == ([1.0], [1.0])


def test_nesting_too_deep_raises_convex_error(app):
    @app.query
    def deep(ctx, n):
        return ctx.run_query(deep, {"n": n + 1})

    outcome = app._runtime.execute("notebook:deep", {"n": 0})
    assert isinstance(outcome.error, MaximumCallDepthExceeded)
    assert "Function call depth limit exceeded" in str(outcome.error)
