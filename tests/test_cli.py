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
