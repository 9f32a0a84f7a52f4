"""Functions directories: module-level decorators, `app.load_functions(dir)`, reloading."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from convex_lab import App, query
from convex_lab.errors import FunctionNotFound, InvalidFunctionCall, SchemaValidationError


def write(directory: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


CHAT = {
    "schema.py": """
        from convex_lab import define_schema, define_table, v

        schema = define_schema({
            "messages": define_table({"room": v.string(), "body": v.string()}).index("by_room", ["room"]),
        })
    """,
    "messages.py": """
        from convex_lab import mutation, query, v

        @query(args={"room": v.string()})
        def list(ctx, room):
            rows = ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room)).collect()
            return [row["body"] for row in rows]

        @mutation(args={"room": v.string(), "body": v.string()})
        def send(ctx, room, body):
            return ctx.db.insert("messages", {"room": room, "body": body})
    """,
    "admin/users.py": """
        from convex_lab import internal_query, mutation

        from ..messages import send

        @internal_query
        def count(ctx):
            return len(ctx.db.query("messages").collect())

        @mutation
        def announce(ctx, body):
            return ctx.run_mutation(send, {"room": "all", "body": body})
    """,
    "_helpers.py": """
        raise RuntimeError("private modules are not loaded")
    """,
}


def test_a_directory_registers_its_modules_functions_and_schema(app, tmp_path):
    write(tmp_path, CHAT)
    paths = app.load_functions(tmp_path)
    assert paths == ["admin/users:announce", "admin/users:count", "messages:list", "messages:send"]
    assert app.function("admin/users:count").definition.internal
    assert set(app.schema.tables) == {"messages"}
    app.run("messages:send", {"room": "a", "body": "hi"})
    app.run("admin/users:announce", {"body": "welcome"})  # ctx.run_mutation with an imported spec
    assert app.run("messages:list", {"room": "a"}) == ["hi"]
    assert app.run("messages.js:list", {"room": "all"}) == ["welcome"]
    assert app.run("admin/users:count") == 2


def test_a_declared_function_says_how_to_run_it(tmp_path):
    @query
    def lonely(ctx):
        return 1

    with pytest.raises(InvalidFunctionCall, match="app.load_functions"):
        lonely()
    with App() as app:
        with pytest.raises(FunctionNotFound, match="not loaded"):
            app.run(lonely)


def test_reloading_replaces_changed_functions_removes_gone_ones_and_keeps_data(app, tmp_path):
    write(tmp_path, CHAT)
    app.load_functions(tmp_path)
    app.run("messages:send", {"room": "a", "body": "hi"})
    seen = []
    app.subscribe("messages:list", {"room": "a"}, seen.append)
    write(tmp_path, {"messages.py": CHAT["messages.py"].replace('[row["body"] for row in rows]',
                                                                 '[row["body"].upper() for row in rows]')})
    (tmp_path / "admin" / "users.py").unlink()
    paths = app.load_functions(tmp_path)
    app.flush()
    assert paths == ["messages:list", "messages:send"]
    assert seen == [["hi"], ["HI"]]  # the live query re-ran with the new code
    with pytest.raises(FunctionNotFound):
        app.run("admin/users:count")
    assert app.tables() == {"messages": 1}


def test_loading_is_all_or_nothing(app, tmp_path):
    write(tmp_path, CHAT)
    (tmp_path / "broken.py").write_text("from convex_lab import query\n\nraise ValueError('typo in a module')\n")
    with pytest.raises(ValueError, match="typo in a module") as raised:
        app.load_functions(tmp_path)
    assert any("broken.py" in note for note in raised.value.__notes__)
    assert app.functions == {} and app.schema is None

    (tmp_path / "broken.py").unlink()

    @app.mutation
    def legacy(ctx):
        ctx.db.insert("messages", {"text": "no room"})

    legacy()
    with pytest.raises(SchemaValidationError):
        app.load_functions(tmp_path)  # the schema does not fit the data: no function registered
    assert list(app.functions) == ["notebook:legacy"]


def test_module_errors_are_found_at_import(app, tmp_path):
    write(tmp_path, {"bad.py": """
        from convex_lab import query

        @query
        async def sneaky(ctx):
            return 1
    """})
    with pytest.raises(TypeError, match="only actions may be `async def`"):
        app.load_functions(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        app.load_functions(tmp_path / "missing")
