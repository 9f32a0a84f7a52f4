"""File-backed apps: reopen restores everything, acknowledged commits survive SIGKILL, group
commit, and a failed durable write applies nothing."""

from __future__ import annotations

import _thread
import logging
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import duckdb
import pytest

from convex_lab import App, AppClosedError, Int64, InterruptedAfterCommit, define_schema, define_table, interrupts, v
from convex_lab.errors import DurabilityError
from convex_lab.runtime.context import DatabaseReader

from .conftest import check


def read_all(app, table):
    return app._db.run_query(lambda txn: DatabaseReader(txn).query(table).collect())[0]


def test_reopen_restores_data_schema_and_table_numbers(tmp_path):
    path = tmp_path / "lab.duckdb"
    schema = define_schema({
        "users": define_table({"name": v.string(), "n": v.optional(v.int64())}).index("by_name", ["name"]),
        "later": define_table({"x": v.string()}),
    })
    with App(path) as app:
        app.set_schema(schema)

        @app.mutation
        def seed(ctx):
            a = ctx.db.insert("users", {"name": "ann", "n": 1})
            b = ctx.db.insert("users", {"name": "bob"})
            ctx.db.insert("misc", {"f": 1.5, "nan": math.nan, "neg": -0.0, "raw": b"\x00\xff",
                                   "nested": {"list": [Int64(7), None, True]}})
            ctx.db.patch(a, {"name": "anne"})
            ctx.db.delete(b)
            return a

        kept = seed()
        before_users = read_all(app, "users")
        before_misc = read_all(app, "misc")
        numbers = {name: t.number for name, t in app._db.store.tables.items()}

    with App(path) as again:
        assert read_all(again, "users") == before_users
        misc = read_all(again, "misc")[0]
        assert misc["_id"] == before_misc[0]["_id"] and misc["f"] == 1.5
        assert math.isnan(misc["nan"]) and math.copysign(1, misc["neg"]) == -1
        assert misc["raw"] == b"\x00\xff"
        assert type(misc["nested"]["list"][0]) is Int64
        assert {name: t.number for name, t in again._db.store.tables.items()} == numbers
        assert again.schema is not None and again.schema.fingerprint() == schema.fingerprint()
        docs = again._db.run_query(lambda txn: DatabaseReader(txn).query("users")
                                   .with_index("by_name", lambda q: q.eq("name", "anne")).collect())[0]
        assert [d["_id"] for d in docs] == [kept]
        check(again)

        # New ids keep increasing creation times after reopen.
        @again.mutation
        def add(ctx):
            return ctx.db.insert("users", {"name": "cid"})

        new_id = add()
        created = {d["_id"]: d["_creationTime"] for d in read_all(again, "users")}
        assert created[new_id] > created[kept]


WRITER = textwrap.dedent("""
    import sys
    from convex_lab import App
    app = App(sys.argv[1])

    @app.mutation
    def add(ctx, i):
        return ctx.db.insert("acks", {"i": i})

    i = 0
    while True:
        add(i=float(i))
        print(i, flush=True)
        i += 1
""")


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_commit(tmp_path):
    path = tmp_path / "crash.duckdb"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True)
    acknowledged = []
    try:
        for line in proc.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) >= 300:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(acknowledged) >= 300
    with App(path) as app:
        stored = {int(d["i"]) for d in read_all(app, "acks")}
        assert set(acknowledged) <= stored
        check(app)


def test_group_commit_writes_waiting_mutations_together(tmp_path):
    path = tmp_path / "group.duckdb"
    with App(path) as app:
        @app.mutation
        def add(ctx, i):
            return ctx.db.insert("t", {"i": i})

        add(i=-1.0)  # create the table first
        calls = []
        real = app._persistence.prepare_commits

        def counting(commits):
            calls.append(len(commits))
            return real(commits)

        app._persistence.prepare_commits = counting
        barrier = threading.Barrier(4)

        def worker(k):
            barrier.wait()
            for j in range(25):
                add(i=float(k * 100 + j))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(calls) == 100
        assert len(calls) <= 100
    with App(path) as again:
        assert len(read_all(again, "t")) == 101


def test_failed_durable_write_applies_nothing(tmp_path):
    with App(tmp_path / "fail.duckdb") as app:
        @app.mutation
        def add(ctx, i):
            return ctx.db.insert("t", {"i": i})

        add(i=1.0)
        real = app._persistence._execute_commit

        def broken(con, sql, params):
            raise OSError("disk full")  # the statement that would make the group durable fails

        app._persistence._execute_commit = broken
        with pytest.raises(DurabilityError, match="disk full"):
            add(i=2.0)
        assert [d["i"] for d in read_all(app, "t")] == [1.0]
        check(app)
        app._persistence._execute_commit = real
        add(i=3.0)
        assert [d["i"] for d in read_all(app, "t")] == [1.0, 3.0]


# -- a COMMIT that raised: the file is asked before anyone is told ----------------------------------


def _commit_then_raise(persistence):
    real = persistence._execute_commit

    def flaky(con, sql, params):
        real(con, sql, params)  # the group reaches the file...
        raise duckdb.IOException("IO Error: connection reset while committing")  # ...but the call fails

    return flaky


def test_commit_that_raised_but_reached_the_file_stands(tmp_path, caplog):
    path = tmp_path / "flaky.duckdb"
    with App(path) as app:
        @app.mutation
        def add(ctx, i):
            return ctx.db.insert("t", {"i": i})

        add(i=1.0)
        seen = []
        app.subscribe(_all_t(app), {}, seen.append)
        app._persistence._execute_commit = _commit_then_raise(app._persistence)
        new_id = add(i=2.0)  # no DurabilityError: the commit is in the file
        app.flush()
        assert [d["i"] for d in read_all(app, "t")] == [1.0, 2.0]
        assert [d["_id"] for d in seen[-1]][-1] == new_id
        assert "the commit is in the file; it stands" in caplog.text
        check(app)
    with App(path) as again:
        assert [d["i"] for d in read_all(again, "t")] == [1.0, 2.0]


def _all_t(app):
    @app.query
    def all_t(ctx):
        return ctx.db.query("t").collect()

    return all_t


def test_commit_that_cannot_be_confirmed_closes_the_app(tmp_path):
    path = tmp_path / "lost.duckdb"
    app = App(path)

    @app.mutation
    def add(ctx, i):
        return ctx.db.insert("t", {"i": i})

    add(i=1.0)
    persistence = app._persistence
    persistence._execute_commit = _commit_then_raise(persistence)

    def unreadable(con, batch):
        raise duckdb.FatalException("FATAL Error: database has been invalidated")

    persistence._group_in_file = unreadable
    with pytest.raises(DurabilityError, match="could not be confirmed.*may or may not have been saved"):
        add(i=2.0)
    with pytest.raises(AppClosedError, match="could not be read back"):
        add(i=3.0)
    with pytest.raises(AppClosedError):
        app.sql("select 1")
    app.close()
    with App(path) as again:  # the file holds exactly what was saved: here, both commits
        assert [d["i"] for d in read_all(again, "t")] == [1.0, 2.0]


# -- Ctrl-C (KeyboardInterrupt in the main thread) ---------------------------------------------------


@pytest.fixture(params=["memory", "file"])
def kind_app(request, tmp_path):
    app = App() if request.param == "memory" else App(tmp_path / "ctrl_c.duckdb")
    yield app
    app.close()


def test_ctrl_c_in_a_mutation_applies_nothing(kind_app):
    app = kind_app

    @app.mutation
    def slow(ctx):
        for i in range(50):
            ctx.db.insert("t", {"i": float(i)})
        _thread.interrupt_main()  # Ctrl-C lands while the handler still runs
        for _ in range(1_000_000):
            pass
        return "unreachable"

    @app.mutation
    def add(ctx):
        return ctx.db.insert("t", {"i": -1.0})

    with pytest.raises(KeyboardInterrupt) as caught:
        slow()
    assert not isinstance(caught.value, InterruptedAfterCommit)
    assert "t" not in app._db.store.tables  # the table it created is gone too
    add()  # direct calls still work: no "inside a Convex function" flag left behind
    assert [d["i"] for d in read_all(app, "t")] == [-1.0]
    assert app.sql("select count(*) as c from t")["c"][0] == 1
    check(app)
    interrupts._check()


def test_ctrl_c_during_the_commit_waits_and_says_it_committed(kind_app):
    app = kind_app
    seen = []

    @app.query
    def count(ctx):
        return len(ctx.db.query("t").collect())

    @app.mutation(args={"n": v.int64()})
    def add(ctx, n):
        for i in range(n):
            ctx.db.insert("t", {"i": float(i)})
        return n

    add(n=1)
    sub = app.subscribe(count, {}, seen.append)
    # A listener runs inside the commit point: a Ctrl-C sent from there can only be delivered
    # once the commit is durable and every listener has run.
    app._db.listeners.insert(0, lambda commit: _thread.interrupt_main())
    with pytest.raises(InterruptedAfterCommit) as caught:
        add(n=30)
    assert isinstance(caught.value, KeyboardInterrupt)
    assert caught.value.result == 30 and caught.value.ts > 0
    assert "notebook:add had already committed" in str(caught.value)
    del app._db.listeners[0]
    app.flush()
    assert sub.result == 31 and seen[-1] == 31  # the live query got the commit
    assert app.sql("select count(*) as c from t")["c"][0] == 31
    check(app)
    interrupts._check()


def test_ctrl_c_while_queued_behind_another_thread_withdraws_the_mutation(tmp_path):
    with App(tmp_path / "queue.duckdb") as app:
        entered, release = threading.Event(), threading.Event()

        @app.mutation
        def hold(ctx):
            ctx.db.insert("t", {"who": "hold"})
            entered.set()
            release.wait(10)

        @app.mutation
        def mine(ctx):
            return ctx.db.insert("t", {"who": "mine"})

        holder = threading.Thread(target=hold)
        holder.start()
        entered.wait(10)

        def interrupt_then_release():
            while not app._db._queue:  # until the main thread's job is queued behind `hold`
                time.sleep(0.001)
            # A real SIGINT to the main thread, as Ctrl-C sends: it interrupts the lock wait.
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            while app._db._queue:  # until it has withdrawn it
                time.sleep(0.001)
            release.set()

        threading.Thread(target=interrupt_then_release).start()
        with pytest.raises(KeyboardInterrupt) as caught:
            mine()
        assert not isinstance(caught.value, InterruptedAfterCommit)
        holder.join(10)
        app.flush()
        assert not app._db._queue
        # The next unrelated mutation must not commit the withdrawn one.
        hold_again = threading.Thread(target=hold)
        release.set()
        hold_again.start()
        hold_again.join(10)
        assert sorted(d["who"] for d in read_all(app, "t")) == ["hold", "hold"]
        check(app)


def test_ctrl_c_while_leading_a_group_hands_other_callers_jobs_back(tmp_path):
    """The main thread leads a group holding another thread's job; Ctrl-C while it runs that job's
    handler abandons the group: its own mutation fails with nothing applied, and the other job goes
    back to the queue, for its own thread to run and commit."""
    with App(tmp_path / "group.duckdb") as app:
        db = app._db
        main = threading.main_thread()

        def theirs(txn):
            txn.insert("t", {"who": "theirs", "on_main": threading.current_thread() is main})
            if threading.current_thread() is main:
                _thread.interrupt_main()  # Ctrl-C while the main thread runs their handler
                for _ in range(1_000_000):
                    pass
            return "theirs done"

        def mine(txn):
            txn.insert("t", {"who": "mine"})
            return "mine done"

        results = {}
        with db.lock:  # hold the commit lock so their job queues up
            other = threading.Thread(target=lambda: results.setdefault("theirs", db.run_mutation(theirs)[0]))
            other.start()
            while not db._queue:
                time.sleep(0.001)
            with pytest.raises(KeyboardInterrupt) as caught:
                db.run_mutation(mine)  # takes the queue (theirs, mine) and leads the group
            assert not isinstance(caught.value, InterruptedAfterCommit)
            assert [job.state for job in db._queue] == ["queued"]  # theirs, handed back
            assert "t" not in db.store.tables  # nothing of the group was applied
        other.join(10)
        assert results["theirs"] == "theirs done"
        docs = read_all(app, "t")
        assert [(d["who"], d["on_main"]) for d in docs] == [("theirs", False)]
        check(app)
        interrupts._check()


def test_a_failure_of_the_background_writer_is_reported_once_and_retried(memory_app, caplog):
    """The SQL mirror is fed by a background thread; when that fails the user is told (a warning,
    once per distinct error), and the next tick or `app.sql()` tries again."""
    app = memory_app
    persistence = app._persistence
    real_materialize = persistence.materialize
    failures = []

    def failing_materialize():
        failures.append(1)
        raise OSError("disk full (simulated)")

    persistence.materialize = failing_materialize
    caplog.set_level(logging.WARNING, logger="convex_lab")

    @app.mutation
    def add(ctx):
        return ctx.db.insert("t", {"n": 1.0})

    add()
    deadline = time.monotonic() + 30
    while len(failures) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    warnings = [r.getMessage() for r in caplog.records if "in the background failed" in r.getMessage()]
    assert len(failures) >= 3 and len(warnings) == 1, (failures, warnings)
    assert "OSError: disk full (simulated)" in warnings[0] and "commits are safe" in warnings[0]
    persistence.materialize = real_materialize
    assert app.sql("select count(*) as c from t")["c"][0] == 1
