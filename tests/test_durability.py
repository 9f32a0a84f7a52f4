"""File-backed apps: reopen restores everything, acknowledged commits survive SIGKILL, group
commit, and a failed durable write applies nothing."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from convex_lab import App, Int64, define_schema, define_table, v
from convex_lab.errors import DurabilityError
from convex_lab.runtime.functions import DatabaseReader

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
