"""The public calls the notebook, the dashboard and the server use: `App.function`, `App.on_log`,
`App.tables`, `App.subscribe(notifier_only=...)`."""

from __future__ import annotations

import threading

import pytest

from convex_lab.errors import FunctionNotFound, WrongFunctionKind


def test_function_finds_a_handle_by_handle_path_or_bare_name(app):
    @app.query
    def hello(ctx):
        return "hi"

    assert app.function(hello) is hello
    assert app.function("notebook:hello") is hello
    assert app.function("notebook.js:hello") is hello
    assert app.function("hello", "query") is hello
    with pytest.raises(WrongFunctionKind):
        app.function("hello", "mutation")
    with pytest.raises(FunctionNotFound, match="Did you mean 'notebook:hello'"):
        app.function("notebook:helo")


def test_on_log_sees_each_execution_until_stopped(app):
    entries = []
    stop = app.on_log(entries.append)

    @app.mutation
    def boom(ctx):
        print("about to fail")
        raise ValueError("nope")

    @app.query
    def ok(ctx):
        return 1

    ok()
    with pytest.raises(ValueError):
        boom()
    stop()
    ok()
    assert [(e["path"], e["kind"], e["status"]) for e in entries] == [
        ("notebook:ok", "query", "success"), ("notebook:boom", "mutation", "failure")]
    assert entries[1]["error"] == "ValueError: nope" and entries[1]["lines"] == ["[LOG] about to fail"]
    assert entries[0]["caller"] == "notebook" and entries[0]["duration_ms"] >= 0
    assert entries[1]["id"] == entries[0]["id"] + 1
    assert list(app.logs()["id"])[-3:-1] == [entries[0]["id"], entries[1]["id"]]


def test_a_failing_log_listener_does_not_fail_the_function(app, caplog):
    def broken(entry):
        raise RuntimeError("listener bug")

    app.on_log(broken)

    @app.query
    def ok(ctx):
        return 1

    assert ok() == 1
    assert "a log listener failed" in caplog.text


def test_log_listener_runs_on_the_thread_that_ran_the_function(app):
    threads = []
    app.on_log(lambda entry: threads.append(threading.current_thread()))

    @app.query
    def ok(ctx):
        return 1

    ok()
    worker = threading.Thread(target=ok)
    worker.start()
    worker.join()
    assert threads == [threading.main_thread(), worker]
