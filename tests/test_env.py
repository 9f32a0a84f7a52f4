"""Environment variables: `app.env` (set/get/list/remove, Convex's rules and limits, durable) and
`ctx.env` in every kind of function; a live query re-runs when a variable it read changes, and
only then."""

from __future__ import annotations

import pytest

from convex_lab import App, Response
from convex_lab.errors import (
    EnvironmentVariableNameInvalid,
    EnvironmentVariableNameTooLong,
    EnvironmentVariableValueTooLarge,
    EnvVarLimitMet,
    EnvVarTotalSizeLimitMet,
    InvalidArgument,
)

from .conftest import check


def test_set_get_list_remove(app):
    assert app.env.list() == {} and app.env.get("API_KEY") is None
    app.env.set("API_KEY", "secret")
    app.env.set("A_FIRST", "1")
    assert app.env.get("API_KEY") == "secret"
    assert app.env.list() == {"A_FIRST": "1", "API_KEY": "secret"}
    assert list(app.env.list()) == ["API_KEY", "A_FIRST"]  # name order ("P" < "_")
    app.env.set("API_KEY", "rotated")  # replaces
    assert app.env.get("API_KEY") == "rotated"
    app.env.remove("API_KEY")
    app.env.remove("API_KEY")  # removing a missing variable is fine, as `npx convex env remove`
    assert app.env.get("API_KEY") is None and app.env.get("API_KEY", "fallback") == "fallback"
    assert app.env.list() == {"A_FIRST": "1"}
    assert repr(app.env) == "<app.env: 1 variable: A_FIRST>"
    check(app)


def test_variables_are_not_user_tables(app):
    app.env.set("API_KEY", "secret")
    assert app.tables() == {}
    assert app.tables(system=True) == {"_environment_variables": 1}
    with pytest.raises(Exception, match="_environment_variables does not exist"):
        app.sql("SELECT * FROM _environment_variables")


def test_functions_cannot_read_the_variables_table(app):
    app.env.set("API_KEY", "secret")
    doc_id = app._db.store.tables["_environment_variables"].docs.copy().popitem()[0]

    @app.query
    def read(ctx, table):
        return ctx.db.system.query(table).collect()

    @app.query
    def by_id(ctx, id):
        return [ctx.db.get(id), ctx.db.system.get(id), ctx.db.system.normalize_id("_environment_variables", id)]

    with pytest.raises(InvalidArgument, match='"_environment_variables" is not a system table. '
                                              "The system tables are _scheduled_functions, _storage."):
        read(table="_environment_variables")
    assert by_id(id=doc_id) == [None, None, None]


NAME_INVALID = ("The environment variable name {} is invalid. Environment variable names must begin with a letter "
                "and may only include characters a-z, A-Z, 0-9, and underscores.")


@pytest.mark.parametrize("name", ["1X", "A-B", "", "with space", "é", "A.B"])
def test_names_follow_convexs_rule(memory_app, name):
    with pytest.raises(EnvironmentVariableNameInvalid) as info:
        memory_app.env.set(name, "v")
    assert str(info.value) == NAME_INVALID.format(name)
    with pytest.raises(EnvironmentVariableNameInvalid):
        memory_app.env.get(name)
    with pytest.raises(EnvironmentVariableNameInvalid):
        memory_app.env.remove(name)
    assert memory_app.env.list() == {}


def test_a_leading_underscore_passes_as_in_convex(memory_app):
    memory_app.env.set("_PRIVATE", "x")
    assert memory_app.env.get("_PRIVATE") == "x"


def test_name_length_limit(memory_app):
    memory_app.env.set("A" * 256, "v")
    with pytest.raises(EnvironmentVariableNameTooLong) as info:
        memory_app.env.set("A" * 257, "v")
    assert str(info.value) == (f"The environment variable name {'A' * 257} is too long. Environment variable "
                               "names must be less than 256.")


def test_value_size_limit_in_utf8_bytes(memory_app):
    memory_app.env.set("BIG", "x" * 8192)
    with pytest.raises(EnvironmentVariableValueTooLarge) as info:
        memory_app.env.set("BIG", "é" * 4097)  # 8,194 bytes
    assert str(info.value) == "The environment variable value is 8194 bytes, which is too large. (max size: 8192)"
    assert memory_app.env.get("BIG") == "x" * 8192
    with pytest.raises(TypeError, match="value is a string, got int"):
        memory_app.env.set("N", 5)
    with pytest.raises(TypeError, match="name is a string, got int"):
        memory_app.env.get(5)


def test_count_limit_and_nothing_written_past_it(memory_app):
    env = memory_app.env
    for i in range(512):
        env.set(f"V{i}", "x")
    with pytest.raises(EnvVarLimitMet) as info:
        env.set("ONE_MORE", "x")
    assert str(info.value) == "The environment variable limit (512) has been met."
    assert env.get("ONE_MORE") is None and len(env.list()) == 512
    env.set("V0", "changed")  # changing an existing one is still allowed
    env.remove("V1")
    env.set("ONE_MORE", "x")
    check(memory_app)


def test_total_size_limit(memory_app):
    env = memory_app.env
    for i in range(63):
        env.set(f"V{i:02d}", "x" * 8192)  # 63 × 8,195 bytes = 516,285
    with pytest.raises(EnvVarTotalSizeLimitMet) as info:
        env.set("V63", "x" * 8192)
    assert str(info.value) == ("The total size of all environment variables (524480 bytes) exceeds the limit "
                               "(524288 bytes).")
    assert len(env.list()) == 63
    env.set("V63", "x" * 8000)  # 524,288 - 516,285 = 8,003 bytes left: fits
    with pytest.raises(EnvVarTotalSizeLimitMet):
        env.set("V63", "x" * 8001)  # growing an existing variable is checked too
    assert env.get("V63") == "x" * 8000


def test_variables_survive_reopening(tmp_path):
    path = tmp_path / "lab.duckdb"
    with App(path) as app:
        app.env.set("KEEP", "1")
        app.env.set("GONE", "2")
        app.env.remove("GONE")
        app.env.set("CHANGED", "old")
        app.env.set("CHANGED", "new")
    with App(path) as app:
        assert app.env.list() == {"CHANGED": "new", "KEEP": "1"}

        @app.query
        def keep(ctx):
            return ctx.env.get("KEEP")

        # The `by_name` index is rebuilt on reopening: reads and re-runs by name still work.
        seen = []
        sub = app.subscribe(keep, {}, seen.append)
        app.env.set("KEEP", "2")
        assert seen == ["1", "2"]
        sub.unsubscribe()
        check(app)


def test_ctx_env_in_queries_and_mutations(app):
    app.env.set("GREETING", "hello")

    @app.query
    def read(ctx):
        return [ctx.env["GREETING"], ctx.env.get("MISSING"), ctx.env.get("MISSING", "dflt"),
                "GREETING" in ctx.env, "MISSING" in ctx.env]

    @app.mutation
    def write(ctx):
        return ctx.db.insert("notes", {"text": ctx.env["GREETING"] + " world"})

    @app.query
    def read_note(ctx, id):
        return ctx.db.get(id)["text"]

    @app.query
    def missing(ctx):
        return ctx.env["MISSING"]

    @app.query
    def listing(ctx):
        return list(ctx.env)

    @app.query
    def bad_name(ctx):
        return ctx.env.get("not-a-name")

    assert read() == ["hello", None, "dflt", True, False]
    note_id = write()
    assert read_note(id=note_id) == "hello world"
    with pytest.raises(KeyError, match="MISSING"):
        missing()
    with pytest.raises(TypeError, match="ctx.env cannot be listed"):
        listing()
    with pytest.raises(EnvironmentVariableNameInvalid):
        bad_name()


def test_ctx_env_in_actions_is_read_once_per_run(memory_app):
    app = memory_app
    app.env.set("MODE", "first")

    @app.action
    def sync_action(ctx):
        before = ctx.env["MODE"]
        app.env.set("MODE", "second")  # changed while the action runs
        return [before, ctx.env["MODE"], ctx.env.get("NONE", "-")]

    @app.action
    async def async_action(ctx):
        return ctx.env["MODE"]

    assert sync_action() == ["first", "first", "-"]  # the values at its first read
    assert app.env.get("MODE") == "second"
    assert async_action() == "second"  # a new run reads anew


def test_ctx_env_in_http_actions(memory_app):
    from .test_server_http import send

    app = memory_app
    app.env.set("SECRET", "s3")
    app.http.route(path="/secret", method="GET", handler=lambda ctx, request: Response(ctx.env["SECRET"]))
    url = app.serve()
    assert send(url, "GET", "/http/secret").body == b"s3"


def test_a_live_query_reruns_when_a_variable_it_read_changes_and_only_then(app):
    @app.query
    def greeting(ctx):
        return ctx.env.get("GREETING", "none")

    seen = []
    sub = app.subscribe(greeting, {}, seen.append)
    app.env.set("OTHER", "x")  # another variable: no re-run
    app.env.remove("OTHER")
    assert sub.runs == 1 and seen == ["none"]
    app.env.set("GREETING", "hi")  # a variable read while missing: created
    app.env.set("GREETING", "hi")  # the same value: no write, no re-run
    app.env.set("GREETING", "hello")
    app.env.set("ANOTHER", "y")
    app.env.remove("GREETING")
    assert seen == ["none", "hi", "hello", "none"]
    assert sub.runs == 4
    assert {rerun.table for rerun in sub.reruns} == {"_environment_variables"}
    sub.unsubscribe()


def test_a_query_that_reads_no_variable_is_not_rerun(app):
    @app.query
    def notes(ctx):
        return ctx.db.query("notes").collect()

    sub = app.subscribe(notes, {}, lambda result: None)
    app.env.set("A", "1")
    assert sub.runs == 1
    sub.unsubscribe()
