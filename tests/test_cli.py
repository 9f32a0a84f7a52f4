"""The `convex-lab` command: help, `run` and `data` on a database file, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from convex_lab import App
from convex_lab.cli import format_table, main

MESSAGES = """
from convex_lab import mutation, query, v

@mutation(args={"room": v.string(), "body": v.string()})
def send(ctx, room, body):
    return ctx.db.insert("messages", {"room": room, "body": body})

@query
def count(ctx):
    return len(ctx.db.query("messages").collect())
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "messages.py").write_text(textwrap.dedent(MESSAGES))
    return tmp_path


def test_every_command_has_help_with_an_example():
    for command in ([], ["dev"], ["run"], ["data"]):
        out = subprocess.run([sys.executable, "-m", "convex_lab.cli", *command, "--help"],
                             capture_output=True, text=True, check=True).stdout
        assert "Example: convex-lab" in out, command


def test_run_and_data_open_the_directory_database_when_no_app_runs(project, capsys):
    db = project / ".convex_lab" / "data.duckdb"
    db.parent.mkdir()
    assert main(["run", "--dir", str(project), "messages:send", '{"room": "a", "body": "hi"}']) == 1
    err = capsys.readouterr().err
    assert "No running app and no database" in err  # nothing created behind the user's back
    App(db).close()
    assert main(["run", "--dir", str(project), "messages:send", '{"room": "a", "body": "hi"}']) == 0
    doc_id = json.loads(capsys.readouterr().out)
    assert main(["run", "--dir", str(project), "messages:count"]) == 0
    assert json.loads(capsys.readouterr().out) == 1
    assert main(["data", "--dir", str(project)]) == 0
    out = capsys.readouterr().out
    assert "messages" in out and "1" in out
    assert main(["data", "--dir", str(project), "messages"]) == 0
    out = capsys.readouterr().out
    assert doc_id in out and "hi" in out and out.index("room") < out.index("_id")


def test_errors_are_one_line(project, capsys):
    db = project / "lab.duckdb"
    App(db).close()
    assert main(["run", "--db", str(db), "--dir", str(project), "messages:send", '{"room": 1}']) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: [CONVEX M(messages:send)] ArgumentValidationError: Object is missing")
    assert "Traceback" not in err
    assert main(["run", "--db", str(db), "--dir", str(project), "messages:send", "not json"]) == 1
    assert "ARGS_JSON is not JSON" in capsys.readouterr().err
    assert main(["run", "--db", str(db), "nothing:here"]) == 1
    assert "FunctionNotFound" in capsys.readouterr().err


def test_a_file_held_by_another_app_is_refused_with_its_holder(project, capsys):
    db = project / "lab.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from convex_lab import App
        app = App({str(db)!r})
        print("open", flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        assert main(["data", "--db", str(db)]) == 1
        err = capsys.readouterr().err
        assert "in use by" in err and str(holder.pid) in err
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_tables_are_aligned_with_system_fields_last():
    text = format_table([{"_id": "abc", "_creationTime": 1.5, "body": "hi"}, {"_id": "de", "body": "a\nb"}])
    header, rule, first, second = text.splitlines()
    assert header.split() == ["body", "_id", "_creationTime"]
    assert first.split() == ["hi", "abc", "1.5"] and second.split() == ["a", "b", "de"]
    assert len(rule) >= len(header.rstrip())


class Lines:
    """The lines a process writes to a pipe, read on a thread, waited for with a timeout."""

    def __init__(self, pipe) -> None:
        import queue
        import threading

        self.queue: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [self.queue.put(line) for line in pipe], daemon=True).start()

    def until(self, text: str, timeout: float = 60) -> str:
        import queue

        seen = ""
        while text not in seen:
            try:
                seen += self.queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"{text!r} never came; got {seen!r}") from None
        return seen


@pytest.mark.slow
def test_dev_serves_reloads_and_the_other_commands_use_its_server(project, capsys):
    import signal

    dev = subprocess.Popen([sys.executable, "-m", "convex_lab.cli", "dev", str(project)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = Lines(dev.stdout), Lines(dev.stderr)
    deployment = project / ".convex_lab" / "deployment.json"
    try:
        out.until("reload on save")
        info = json.loads(deployment.read_text())
        assert oct(deployment.stat().st_mode & 0o777) == "0o600" and info["pid"] == dev.pid
        assert main(["run", "--dir", str(project), "messages:send", '{"room": "a", "body": "over http"}']) == 0
        capsys.readouterr()
        # The database file is the dev server's: the CLI says so and uses its server.
        assert main(["data", "--dir", str(project), "--db", info["db"], "messages"]) == 0
        captured = capsys.readouterr()
        assert "held by the running app" in captured.err and "over http" in captured.out
        # An edit is picked up: a new function appears.
        source = (project / "messages.py").read_text()
        (project / "messages.py").write_text(source + "\n@query\ndef rooms(ctx):\n    return ['a']\n")
        out.until("Reloaded")
        assert main(["run", "--dir", str(project), "messages:rooms"]) == 0
        assert json.loads(capsys.readouterr().out) == ["a"]
        # A broken edit is reported and the server keeps the old functions.
        (project / "messages.py").write_text(source + "\ndef broken(:\n")
        assert "messages.py" in err.until("SyntaxError")
        assert main(["run", "--dir", str(project), "messages:count"]) == 0
        assert json.loads(capsys.readouterr().out) == 1
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=30)
    assert not deployment.exists()


@pytest.mark.slow
def test_dev_reloads_http_py(project):
    import signal

    from tests.test_server_http import send

    (project / "http.py").write_text(textwrap.dedent("""
        from convex_lab import Response, http_router

        http = http_router()
        http.route(path="/ping", method="GET", handler=lambda ctx, request: Response("pong"))
    """))
    dev = subprocess.Popen([sys.executable, "-m", "convex_lab.cli", "dev", str(project)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = Lines(dev.stdout), Lines(dev.stderr)
    try:
        assert "1 HTTP route under /http/" in out.until("reload on save")
        url = json.loads((project / ".convex_lab" / "deployment.json").read_text())["url"]
        assert send(url, "GET", "/http/ping").body == b"pong"
        # An edit of http.py is picked up: the new route is served, the removed one is gone.
        (project / "http.py").write_text(textwrap.dedent("""
            from convex_lab import Response, http_action, http_router

            from .messages import count

            @http_action
            def counted(ctx, request):
                return Response({"count": ctx.run_query(count)})

            http = http_router()
            http.route(path_prefix="/count/", method="GET", handler=counted)
        """))
        assert "1 HTTP route" in out.until("Reloaded")
        assert send(url, "GET", "/http/count/x").json == {"count": 0}
        assert send(url, "GET", "/http/ping").status == 404
        # A broken http.py is reported with its name and the routes stay.
        (project / "http.py").write_text("from convex_lab import http_router\nrouter = http_router()\n")
        assert "http.py must set `http = http_router()`" in err.until("does not set it")
        assert send(url, "GET", "/http/count/x").json == {"count": 0}
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=30)
