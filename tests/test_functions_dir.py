"""Functions directories: module-level decorators, `app.load_functions(dir)`, reloading."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from convex_lab import App, AppClosedError, Response, http_action, http_router, query
from convex_lab.errors import FunctionNotFound, InvalidFunctionCall, SchemaValidationError
from tests.test_server_http import send


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


# -- http.py: HTTP actions of a functions directory ------------------------------------------------

HTTP_DIR = {
    "messages.py": """
        from convex_lab import Response, http_action, mutation, query, v

        @mutation(args={"body": v.string()})
        def send(ctx, body):
            return ctx.db.insert("messages", {"body": body})

        @query
        def count(ctx):
            return len(ctx.db.query("messages").collect())

        @http_action
        def post_message(ctx, request):
            ctx.run_mutation(send, {"body": request.text()})
            return Response({"count": ctx.run_query(count)}, status=201)
    """,
    "http.py": """
        from convex_lab import Response, http_action, http_router

        from .messages import post_message

        http = http_router()
        http.route(path="/messages", method="POST", handler=post_message)

        @http_action
        async def hello(ctx, request):
            return Response("hello " + request.query.get("name", "world"))

        http.route(path="/hello", method="GET", handler=hello)

        @http.route(path_prefix="/files/", method="GET")
        def files(ctx, request):
            return Response("file " + request.path.removeprefix("/files/"))
    """,
}


def test_http_py_routes_are_served_with_handlers_from_other_modules(app, tmp_path):
    write(tmp_path, HTTP_DIR)
    assert app.load_functions(tmp_path) == ["messages:count", "messages:send"]
    assert [(r.method, r.pattern) for r in app.http.routes] == [
        ("POST", "/messages"), ("GET", "/hello"), ("GET", "/files/*")]
    url = app.serve()
    reply = send(url, "POST", "/http/messages", raw=b"hi", content_type="text/plain")
    assert reply.status == 201 and reply.json == {"count": 1}
    assert send(url, "GET", "/http/hello?name=Ada").body == b"hello Ada"  # async def http_action
    assert send(url, "GET", "/http/files/a/b.txt").body == b"file a/b.txt"
    assert app.run("messages:count") == 1


def test_an_http_action_is_no_function_path(app, tmp_path):
    write(tmp_path, HTTP_DIR)
    app.load_functions(tmp_path)
    assert "messages:post_message" not in app.functions and "http:hello" not in app.functions
    with pytest.raises(FunctionNotFound):
        app.run("messages:post_message")
    url = app.serve()
    for path in ("messages:post_message", "http:hello"):
        reply = send(url, "POST", "/api/action", {"path": path, "args": {}},
                     headers={"Authorization": f"Convex {app.admin_key}"})
        assert reply.json["status"] == "error"
        assert f"Could not find public function for '{path}'" in reply.json["errorMessage"]
    assert app.tables() == {}  # nothing ran


def test_reloading_replaces_the_directorys_routes_and_keeps_the_notebooks(app, tmp_path):
    write(tmp_path, HTTP_DIR)
    app.http.route(path="/notebook", method="GET", handler=lambda ctx, request: Response("mine"))
    app.http.route(path="/hello", method="GET", handler=lambda ctx, request: Response("overridden"))
    app.load_functions(tmp_path)
    url = app.serve()
    assert send(url, "GET", "/http/hello").body == b"hello world"  # loaded last: the directory's wins
    write(tmp_path, {"http.py": """
        from convex_lab import Response, http_router

        http = http_router()
        http.route(path="/hello", method="GET", handler=lambda ctx, request: Response("hello again"))
        http.route(path="/new", method="PUT", handler=lambda ctx, request: Response("new"))
    """})
    app.load_functions(tmp_path)
    assert send(url, "GET", "/http/hello").body == b"hello again"
    assert send(url, "PUT", "/http/new", raw=b"").body == b"new"
    assert send(url, "POST", "/http/messages", raw=b"x").status == 404  # removed from http.py
    assert send(url, "GET", "/http/files/a").status == 404
    assert send(url, "GET", "/http/notebook").body == b"mine"
    # A route the notebook defines after the load wins until the directory defines it again.
    app.http.route(path="/new", method="PUT", handler=lambda ctx, request: Response("notebook's"))
    (tmp_path / "http.py").unlink()
    app.load_functions(tmp_path)
    assert send(url, "PUT", "/http/new", raw=b"").body == b"notebook's"
    assert [(r.method, r.pattern) for r in app.http.routes] == [("GET", "/notebook"), ("PUT", "/new")]


@pytest.mark.parametrize("source, message", [
    ("raise RuntimeError('typo in http.py')", "typo in http.py"),
    ("from convex_lab import http_router\nrouter = http_router()", r"must set `http = http_router\(\)`.*does not set it"),
    ("http = {'GET /x': None}", r"must set `http = http_router\(\)`.*sets it to \{"),
])
def test_a_broken_http_py_names_its_file_and_keeps_the_previous_routes(app, tmp_path, source, message):
    write(tmp_path, HTTP_DIR)
    app.load_functions(tmp_path)
    (tmp_path / "http.py").write_text(source)
    with pytest.raises(Exception, match=message) as raised:
        app.load_functions(tmp_path)
    assert "http.py" in str(raised.value) + " ".join(getattr(raised.value, "__notes__", []))
    url = app.serve()
    assert send(url, "GET", "/http/hello").body == b"hello world"
    assert len(app.http.routes) == 3


def test_http_action_and_route_refuse_what_they_cannot_serve(app):
    @http_action
    def hook(ctx, request):
        return Response("hooked")

    with pytest.raises(InvalidFunctionCall, match="is an HTTP action: route it"):
        hook(None, None)
    with pytest.raises(TypeError, match="decorates a plain handler"):
        http_action(query(lambda ctx: 1))
    with pytest.raises(TypeError, match="decorates a function"):
        http_action("hook")

    @app.query
    def q(ctx):
        return 1

    with pytest.raises(TypeError, match="ctx.run_query"):
        app.http.route(path="/q", method="GET", handler=q)
    assert app.http.route(path="/hook", method="GET")(hook) is hook  # the decorator form keeps it
    assert send(app.url, "GET", "/http/hook").body == b"hooked"


def test_app_url_starts_the_server_once(app):
    url = app.url
    assert url.startswith("http://127.0.0.1:") and app.url == url == app.serve()
    assert send(url, "GET", "/version").status == 200
    assert app.http.url("/hook?x=1") == f"{url}/http/hook?x=1"
    with pytest.raises(ValueError, match="starts with a /"):
        app.http.url("hook")
    with pytest.raises(RuntimeError, match="belongs to no App"):
        http_router().url("/x")
    app.stop_serving()
    again = app.url  # serving again, on a new free port
    assert send(again, "GET", "/version").status == 200
    app.close()
    with pytest.raises(AppClosedError):
        app.url
