"""Opening a database file: one writer per file (a newer App in the process takes it over, another
process gets a clear error), and only files that are convex_lab databases."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap

import duckdb
import pytest

from convex_lab import App, AppClosedError, DatabaseFileError
from convex_lab.notebook import live_view

from .conftest import check


def _define(app: App):
    @app.mutation
    def add(ctx, i):
        return ctx.db.insert("t", {"i": i})

    @app.query
    def count(ctx):
        return len(ctx.db.query("t").collect())

    return add, count


def test_reopening_in_the_same_process_takes_the_file_over(tmp_path):
    path = tmp_path / "lab.duckdb"
    old = App(path)
    add, count = _define(old)
    for i in range(300):
        add(i=float(i))
    seen = []
    sub = old.subscribe(count, {}, seen.append, on_error=seen.append)
    view = live_view(old, count)
    old.flush()

    new = App(str(path))  # re-running the cell that opens the app
    assert len(new.table("t")) == 300  # every acknowledged commit is there
    with pytest.raises(AppClosedError, match="a newer App.*opened the same file"):
        add(i=1.0)
    with pytest.raises(AppClosedError):
        old.sql("select 1")
    with pytest.raises(AppClosedError):
        old.import_rows("t", [{"i": 1.0}])
    assert isinstance(seen[-1], AppClosedError) and not sub.active
    assert view.kind == "error" and "AppClosedError" in view.error

    add2, _ = _define(new)
    for i in range(6):
        add2(i=float(i))
    new.close()  # the newer one closes first, then the old one: nothing is written twice
    old.close()
    with App(path) as again:
        assert len(again.table("t")) == 306
        assert again.sql("select count(*) as c from t")["c"][0] == 306
        check(again)


def test_the_same_file_by_another_name_is_the_same_file(tmp_path):
    path = tmp_path / "lab.duckdb"
    first = App(path)
    os.symlink(path, tmp_path / "alias.duckdb")
    second = App(tmp_path / "alias.duckdb")
    assert first._db.closed_reason is not None
    second.close()
    first.close()


def test_another_process_gets_a_clear_error_naming_it(tmp_path):
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from convex_lab import App
            app = App({str(path)!r})
            print("open", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(DatabaseFileError) as caught:
            App(path)
        message = str(caught.value)
        assert str(path) in message and f"PID {holder.pid}" in message
        assert "app.close()" in message
    finally:
        holder.communicate("\n", timeout=30)
    with App(path) as app:  # released once that process ends
        assert app._db.closed_reason is None


def test_an_sqlite_file_is_refused_without_touching_it(tmp_path):
    path = tmp_path / "data.sqlite"
    con = sqlite3.connect(path)
    con.execute("create table sales(a)")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(DatabaseFileError, match="is an SQLite database, not a convex_lab database"):
        App(path)
    assert path.read_bytes() == before


def test_someone_elses_duckdb_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "mine.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table sales(amount integer)")
    con.close()
    with pytest.raises(DatabaseFileError, match=r"did not create \(it has tables: main\.sales\)"):
        App(path)
    con = duckdb.connect(str(path))
    schemas = {row[0] for row in con.execute("select schema_name from information_schema.schemata").fetchall()}
    con.close()
    assert "_convex" not in schemas


def test_other_files_are_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database at all")
    with pytest.raises(DatabaseFileError, match="not a DuckDB file"):
        App(text)
    with pytest.raises(DatabaseFileError, match="is a directory"):
        App(tmp_path)


def test_an_empty_file_becomes_a_database(tmp_path):
    path = tmp_path / "empty.duckdb"
    path.write_bytes(b"")
    with App(path) as app:
        add, _ = _define(app)
        add(i=1.0)
    with App(path) as again:
        assert len(again.table("t")) == 1


def test_a_failed_open_leaves_the_file_free(tmp_path, monkeypatch):
    path = tmp_path / "lab.duckdb"
    App(path).close()
    from convex_lab.engine import persistence

    def broken_load(self):
        raise KeyboardInterrupt  # Ctrl-C while the file is read back

    monkeypatch.setattr(persistence.Persistence, "load", broken_load)
    with pytest.raises(KeyboardInterrupt):
        App(path)
    monkeypatch.undo()
    with App(path) as app:  # nothing of the interrupted open holds the file
        assert app._db.closed_reason is None


def test_a_closed_app_says_so(tmp_path):
    app = App(tmp_path / "lab.duckdb")
    add, count = _define(app)
    app.close()
    app.close()  # idempotent
    with pytest.raises(AppClosedError, match=r"app\.close\(\).*Open the file again"):
        add(i=1.0)
    with pytest.raises(AppClosedError):
        app.subscribe(count, {}, print)
    memory = App()
    memory.close()
    with pytest.raises(AppClosedError, match="in-memory data is gone"):
        memory.sql("select 1")


def test_open_databases_are_closed_at_interpreter_exit(tmp_path):
    """An App never closed is closed at exit: no background thread is left inside DuckDB while
    Python stops its threads (which aborts the process), and the file is left materialised."""
    path = tmp_path / "left_open.duckdb"
    script = textwrap.dedent(f"""
        import atexit
        state = {{}}
        # Registered first, so it runs last: after convex_lab's own exit handler.
        atexit.register(lambda: print("closed:", state["app"]._persistence._closed, flush=True))
        from convex_lab import App
        app = App({str(path)!r})

        @app.mutation
        def add(ctx, i):
            return ctx.db.insert("t", {{"i": i}})

        for i in range(500):
            add(i=float(i))
        memory = App()
        memory.import_rows("m", [{{"i": float(i)}} for i in range(20_000)], progress=False)
        state["app"] = app
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "closed: True" in done.stdout
    con = duckdb.connect(str(path))
    try:
        assert con.execute("select count(*) from _convex.documents").fetchall() == [(500,)]
    finally:
        con.close()


@pytest.mark.parametrize("materialized", [True, False])
def test_a_file_whose_tables_were_tampered_with_is_called_damaged(tmp_path, materialized):
    path = tmp_path / "lab.duckdb"
    with App(path) as app:
        add, _ = _define(app)
        add(i=1)
        app.import_rows("other", [{"a": 1}])
        if materialized:
            app.sql("SELECT 1")  # moves the commit from the log into the documents table
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM _convex.tables WHERE name = 't'")
    con.close()
    with pytest.raises(DatabaseFileError, match="The file is damaged"):
        App(path)
