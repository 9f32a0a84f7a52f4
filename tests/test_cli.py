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
    for command in ([], ["dev"], ["run"], ["data"], ["logs"], ["env"], ["env", "list"], ["env", "get"],
                    ["env", "set"], ["env", "remove"]):
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


@pytest.mark.slow
def test_dev_refuses_a_bad_crons_py_and_keeps_what_it_had(project):
    import signal

    (project / "crons.py").write_text(textwrap.dedent("""
        from convex_lab import cron_jobs

        crons = cron_jobs()
        crons.daily("nightly", "messages:send", hour_utc=3, args={"room": "a", "body": "nightly"})
    """))
    dev = subprocess.Popen([sys.executable, "-m", "convex_lab.cli", "dev", str(project)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = Lines(dev.stdout), Lines(dev.stderr)
    try:
        out.until("reload on save")
        # A new function, and a crons.py naming one that does not exist: the reload is refused whole.
        source = (project / "messages.py").read_text()
        (project / "messages.py").write_text(source + "\n@query\ndef rooms(ctx):\n    return ['a']\n")
        (project / "crons.py").write_text(textwrap.dedent("""
            from convex_lab import cron_jobs

            crons = cron_jobs()
            crons.daily("nightly", "messages:sned", hour_utc=3)
        """))
        line = err.until("does not exist")
        assert "InvalidScheduledFunction" in line and "crons.py: cron 'nightly'" in line
        assert main(["run", "--dir", str(project), "messages:rooms"]) == 1  # not registered
        assert main(["run", "--dir", str(project), "messages:count"]) == 0
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=30)


GREET = """
from convex_lab import query

@query
def greet(ctx, name):
    print(f"greeting {name}")
    return ctx.env.get("GREETING", "hello") + " " + name
"""


def test_env_on_a_database_file(project, capsys):
    db = project / "lab.duckdb"
    App(db).close()

    def env(*words):
        code = main(["env", *words[:1], "--db", str(db), *words[1:]])
        captured = capsys.readouterr()
        return code, captured.out.strip(), captured.err.strip()

    assert env("list") == (0, "No environment variables set.", "")
    assert env("set", "GREETING", "good morning") == (0, "✔ Successfully set GREETING", "")
    assert env("set", "API_KEY=sk-1=2") == (0, "✔ Successfully set API_KEY", "")  # NAME=VALUE
    assert env("list") == (0, 'API_KEY=sk-1=2\nGREETING="good morning"', "")
    assert env("get", "GREETING") == (0, "good morning", "")
    # A missing variable is said on stderr, with exit status 0, as `npx convex env get`.
    assert env("get", "NOPE") == (0, "", 'Environment variable "NOPE" not found.')
    assert env("remove", "API_KEY") == (0, "✔ Successfully unset API_KEY", "")
    assert main(["env", "rm", "--db", str(db), "GREETING"]) == 0
    capsys.readouterr()
    with App(db) as app:
        assert app.env.list() == {}
    code, out, err = env("set", "1BAD", "x")
    assert code == 1 and "\n" not in err
    assert err.startswith("error: EnvironmentVariableNameInvalid: The environment variable name 1BAD is invalid.")
    code, out, err = env("set", "BIG", "x" * 8193)
    assert code == 1 and err == ("error: EnvironmentVariableValueTooLarge: The environment variable value is 8193 "
                                 "bytes, which is too large. (max size: 8192)")
    code, out, err = env("set", "NO_VALUE")
    assert code == 1 and "set needs a value" in err


def test_logs_on_a_database_file_has_nothing_to_follow(project, capsys):
    db = project / "lab.duckdb"
    App(db).close()
    assert main(["logs", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "nothing to follow" in err and "convex-lab dev" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_env_and_logs_against_a_running_app(project, capsys):
    import signal

    (project / "greet.py").write_text(textwrap.dedent(GREET))
    dev = subprocess.Popen([sys.executable, "-m", "convex_lab.cli", "dev", str(project)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    follower = None
    try:
        Lines(dev.stdout).until("reload on save")
        assert main(["run", "--dir", str(project), "greet:greet", '{"name": "before"}']) == 0
        # The variables live in the running app: set over HTTP, read by its functions.
        assert main(["env", "set", "--dir", str(project), "GREETING", "hi"]) == 0
        assert capsys.readouterr().out.strip().endswith("✔ Successfully set GREETING")
        assert main(["run", "--dir", str(project), "greet:greet", '{"name": "ann"}']) == 0
        assert json.loads(capsys.readouterr().out) == "hi ann"
        assert main(["env", "list", "--dir", str(project)]) == 0
        assert capsys.readouterr().out.strip() == "GREETING=hi"
        assert main(["env", "get", "--dir", str(project), "GREETING"]) == 0
        assert capsys.readouterr().out.strip() == "hi"
        assert main(["env", "remove", "--dir", str(project), "GREETING"]) == 0
        assert main(["env", "get", "--dir", str(project), "GREETING"]) == 0
        assert 'Environment variable "GREETING" not found.' in capsys.readouterr().err
        # `logs` shows the last executions, then follows new ones until Ctrl-C.
        follower = subprocess.Popen([sys.executable, "-m", "convex_lab.cli", "logs", "--dir", str(project),
                                     "--history", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = Lines(follower.stdout), Lines(follower.stderr)
        err.until("Ctrl-C to stop")
        history = out.until("greet:greet")
        assert "query greet:greet (http)" in history and "ok" in history
        assert main(["run", "--dir", str(project), "greet:greet", '{"name": "bob"}']) == 0
        followed = out.until("greeting bob")
        line, printed = followed.strip().splitlines()[-2:]
        assert "query greet:greet (http)" in line and " ms ok" in line
        assert printed == "    [LOG] greeting bob"
        # The CLI's own calls (env, logs) are not executions of the app.
        assert "_system" not in history + followed
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0
    finally:
        if follower is not None and follower.poll() is None:
            follower.kill()
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=30)


def test_the_logs_system_function_reads_the_log_by_cursor_and_is_not_logged_itself():
    from convex_lab.runtime.logs import format_entry

    with App() as app:
        @app.query
        def hello(ctx, n):
            print(f"hello {n:g}")
            return n

        @app.mutation
        def broken(ctx):
            raise ValueError("first line\nsecond line")

        hello(n=1)
        first = app.run("_system/cli:logs", {"history": 5})
        assert [e["path"] for e in first["entries"]] == ["notebook:hello"]
        assert app.run("_system/cli:logs", {"cursor": first["cursor"]}) == {"entries": [], "cursor": first["cursor"]}
        assert app.run("_system/cli:logs", {})["entries"] == []  # no history asked: only the cursor
        hello(n=2)
        with pytest.raises(ValueError):
            broken()
        later = app.run("_system/cli:logs", {"cursor": first["cursor"]})
        assert [e["path"] for e in later["entries"]] == ["notebook:hello", "notebook:broken"]
        assert later["cursor"] == first["cursor"] + 2
        app.run("_system/cli:envList", {})
        assert list(app.logs()["path"]) == ["notebook:hello", "notebook:hello", "notebook:broken"]
        ok, failed = (format_entry(e) for e in later["entries"])
        head, printed = ok.splitlines()
        assert head.split()[1:4] == ["query", "notebook:hello", "(notebook)"] and head.endswith(" ms ok")
        assert printed == "    [LOG] hello 2"
        assert failed.split()[1:4] == ["mutation", "notebook:broken", "(notebook)"]
        assert failed.endswith("failed: ValueError: first line")
        # Colour comes from the caller's painter; a caller this code has never heard of prints as is.
        painted = format_entry({**later["entries"][0], "caller": "cron"}, lambda code, text: f"<{code}>{text}</>")
        assert "<2>(cron)</>" in painted and "<32>ok</>" in painted
