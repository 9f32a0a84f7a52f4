"""engine/persistence.py: durable commit log, materialised documents, reopen, SQL surface, crashes.

Real DuckDB files in tmp_path; Commit/Write/Table objects built by hand (no App), so these tests pin
the persistence contract the coordinator relies on.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from convex_lab import define_schema, define_table, ids as idlib, v
from convex_lab.engine import persistence as persistence_module
from convex_lab.engine.database import Commit
from convex_lab.engine.persistence import Persistence, TableInfo, check_select
from convex_lab.engine.store import Table
from convex_lab.engine.transaction import Write
from convex_lab.values import Int64, dumps_export, values_equal

HERE = Path(__file__).parent
_clock = [1_700_000_000_000.0]
_ts = [1_000]


def make_doc(table: Table, **fields) -> dict:
    _clock[0] += 1.0
    doc = {"_id": idlib.new_id(table.number, _clock[0]), "_creationTime": _clock[0]}
    doc.update(fields)
    return doc


def commit(*writes: Write, new_tables=(), schema=None) -> Commit:
    _ts[0] += 1
    return Commit(_ts[0], list(writes), list(new_tables), schema)


def insert(table: Table, doc: dict) -> Write:
    return Write(table, doc["_id"], None, doc)


def same(a, b) -> bool:
    """Convex equality, and the same Python types (Int64 stays Int64, floats stay floats)."""
    return values_equal(a, b) and dumps_export(a) == dumps_export(b)


def by_id(docs: list[dict]) -> dict[str, dict]:
    return {doc["_id"]: doc for doc in docs}


@pytest.fixture
def path(tmp_path) -> str:
    return str(tmp_path / "lab.duckdb")


@pytest.fixture
def opened(path):
    made: list[Persistence] = []

    def open_() -> Persistence:
        p = Persistence(path)
        made.append(p)
        return p

    yield open_
    for p in made:
        p.close()


# -- round trips -------------------------------------------------------------------------------


def test_fresh_file_and_memory_load_nothing(opened):
    assert opened().load() is None
    memory = Persistence(None)
    try:
        assert memory.load() is None
    finally:
        memory.close()


def test_round_trip_values_updates_and_deletes(opened):
    p = opened()
    t = Table("things", 10001)
    u = Table("other", 10002)
    docs = [
        make_doc(t, i=Int64(-(2**63)), big=Int64(2**63 - 1), f=36.0, neg=-0.0, tiny=1e-7, huge=1e300),
        make_doc(t, nan=math.nan, inf=math.inf, ninf=-math.inf, b=b"\x00\xff", empty=b""),
        make_doc(t, nested={"a": [Int64(1), 1.0, None, True, "é/\"", {"deep": [b"x"]}]}, s="日本"),
        make_doc(u, plain="x"),
    ]
    p.write_commits([commit(insert(t, docs[0]), insert(t, docs[1]), new_tables=[t])])
    p.write_commits([commit(insert(t, docs[2]), insert(u, docs[3]), new_tables=[u])])
    updated = dict(docs[0], f=Int64(5), added=[1.5])
    p.write_commits([commit(Write(t, docs[0]["_id"], docs[0], updated))])
    p.write_commits([commit(Write(t, docs[1]["_id"], docs[1], None))])
    last_ts = _ts[0]
    p.close()

    loaded = opened().load()
    assert loaded.tables == {"things": 10001, "other": 10002}
    things = by_id(loaded.documents["things"])
    assert set(things) == {docs[0]["_id"], docs[2]["_id"]}
    assert same(things[docs[0]["_id"]], updated)
    assert type(things[docs[0]["_id"]]["f"]) is Int64
    assert type(things[docs[0]["_id"]]["i"]) is Int64 and things[docs[0]["_id"]]["i"] == -(2**63)
    assert math.copysign(1.0, things[docs[0]["_id"]]["neg"]) == -1.0
    assert same(things[docs[2]["_id"]], docs[2])
    assert same(loaded.documents["other"], [docs[3]])
    assert loaded.last_ts == last_ts
    assert loaded.last_creation_time == max(d["_creationTime"] for d in docs)
    assert loaded.schema_json is None


def test_nan_bytes_and_infinities_survive_reopen(opened):
    p = opened()
    t = Table("t", 10001)
    doc = make_doc(t, nan=math.nan, inf=math.inf, ninf=-math.inf, b=b"\x01\x02")
    p.write_commits([commit(insert(t, doc), new_tables=[t])])
    p.close()
    (back,) = opened().load().documents["t"]
    assert math.isnan(back["nan"]) and back["inf"] == math.inf and back["ninf"] == -math.inf
    assert back["b"] == b"\x01\x02" and type(back["b"]) is bytes


def test_log_keeps_history_and_documents_hold_current_state(opened):
    p = opened()
    t = Table("t", 10001)
    doc = make_doc(t, n=Int64(1))
    p.write_commits([commit(insert(t, doc), new_tables=[t])])
    newer = dict(doc, n=Int64(2))
    p.write_commits([commit(Write(t, doc["_id"], doc, newer))])
    p.materialize()
    con = p._con
    log = con.execute("SELECT ts, table_number, id, body FROM _convex.log ORDER BY ts").fetchall()
    assert [row[3] for row in log] == [dumps_export(doc), dumps_export(newer)]
    assert con.execute("SELECT table_number, id, creation_time, body FROM _convex.documents").fetchall() == [
        (10001, doc["_id"], doc["_creationTime"], dumps_export(newer))
    ]
    assert p.get_meta("materialized_ts") == str(log[-1][0])
    p.write_commits([commit(Write(t, doc["_id"], newer, None))])
    p.materialize()
    assert con.execute("SELECT count(*) FROM _convex.documents").fetchall() == [(0,)]
    assert con.execute("SELECT count(*), count(body) FROM _convex.log").fetchall() == [(3, 2)]


def test_reopen_replays_the_unmaterialised_log_tail(opened):
    p = opened()
    t = Table("t", 10001)
    a, b = make_doc(t, n=Int64(1)), make_doc(t, n=Int64(2))
    p.write_commits([commit(insert(t, a), insert(t, b), new_tables=[t])])
    p.materialize()
    a2 = dict(a, n=Int64(10))
    c = make_doc(t, n=Int64(3))
    p.write_commits([commit(Write(t, a["_id"], a, a2), Write(t, b["_id"], b, None), insert(t, c))])
    # Without materialisation the file's documents lag; load() still sees the current state.
    assert len(p._pending) == 3
    loaded = p.load()
    current = by_id(loaded.documents["t"])
    assert set(current) == {a["_id"], c["_id"]} and same(current[a["_id"]], a2)
    assert loaded.last_creation_time == c["_creationTime"]
    # A new Persistence on the same file reads the tail as its first pending batch.
    p._pending = []  # as if the process had died before materialising
    p.close()
    with duckdb.connect(p.path) as con:
        con.execute("UPDATE _convex.meta SET value = '0' WHERE key = 'materialized_ts'")
        con.execute("DELETE FROM _convex.documents")
    q = opened()
    assert len(q._pending) == 5
    assert by_id(q.load().documents["t"]).keys() == {a["_id"], c["_id"]}
    q.materialize()
    assert q._con.execute("SELECT count(*) FROM _convex.documents").fetchall() == [(2,)]


def test_schema_json_tables_and_meta_persist(opened):
    p = opened()
    schema = define_schema({"users": define_table({"name": v.string(), "age": v.int64()}).index("by_name", ["name"])})
    users = Table("users", 10001)
    p.write_commits([commit(new_tables=[users], schema=schema)])
    p.save_meta("admin_key", "secret")
    assert p.get_meta("admin_key") == "secret"
    assert p.get_meta("missing") is None
    p.close()
    q = opened()
    loaded = q.load()
    assert loaded.schema_json == schema.to_json()
    assert loaded.tables == {"users": 10001} and loaded.documents == {"users": []}
    assert loaded.meta["admin_key"] == "secret" and q.get_meta("admin_key") == "secret"
    assert loaded.last_ts == _ts[0]  # a commit without document writes still records its ts


def test_meta_alone_makes_a_file_loadable(opened):
    p = opened()
    p.save_meta("env:FOO", "bar")
    p.close()
    loaded = opened().load()
    assert loaded is not None and loaded.meta["env:FOO"] == "bar" and loaded.tables == {}


# -- the commit path -----------------------------------------------------------------------------


def test_single_commit_is_one_statement(opened):
    p = opened()
    t = Table("t", 10001)
    p.write_commits([commit(new_tables=[t])])
    statements: list[str] = []

    class Spy:
        def __init__(self, con):
            self.con = con

        def execute(self, sql, *args):
            statements.append(sql)
            return self.con.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.con, name)

    p._con = Spy(p._con)
    p.write_commits([commit(insert(t, make_doc(t, a=1.0)))])
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO _convex.log VALUES (?,?,?,?)")
    statements.clear()
    p.write_commits([commit(insert(t, make_doc(t))), commit(insert(t, make_doc(t)), insert(t, make_doc(t)))])
    assert len(statements) == 1 and statements[0].count("(?,?,?,?)") == 3


def test_group_writes_small_and_large(opened):
    p = opened()
    t = Table("t", 10001)
    many = [make_doc(t, i=Int64(i)) for i in range(persistence_module.VALUES_MAX_ROWS * 3 + 5)]
    group = [commit(insert(t, many[0]), new_tables=[t]), commit(*[insert(t, d) for d in many[1:10]])]
    p.write_commits(group)
    p.write_commits([commit(*[insert(t, d) for d in many[10:]])])  # the Arrow path
    assert p._con.execute("SELECT count(DISTINCT ts), count(*) FROM _convex.log").fetchall() == [(3, len(many))]
    p.close()
    loaded = opened().load()
    assert sorted(d["i"] for d in loaded.documents["t"]) == list(range(len(many)))


def test_failed_group_leaves_nothing(opened):
    p = opened()
    t = Table("t", 10001)
    good = make_doc(t, ok=True)
    p.write_commits([commit(insert(t, good), new_tables=[t])])
    bad_table = Table("bad", 2**40)  # does not fit _convex.tables.number (INTEGER): fails mid-transaction
    lost = make_doc(t, ok=False)
    with pytest.raises(duckdb.Error):
        p.write_commits([commit(insert(t, lost)), commit(new_tables=[bad_table])])
    assert p._con.execute("SELECT id FROM _convex.log").fetchall() == [(good["_id"],)]
    assert [row for row in p._pending if row[2] == lost["_id"]] == []
    after = make_doc(t, ok=True)
    p.write_commits([commit(insert(t, after))])  # the connection is usable again
    p.close()
    loaded = opened().load()
    assert set(by_id(loaded.documents["t"])) == {good["_id"], after["_id"]}
    assert "bad" not in loaded.tables


def test_closed_persistence_refuses_writes(opened):
    p = opened()
    t = Table("t", 10001)
    p.close()
    with pytest.raises(RuntimeError, match="closed"):
        p.write_commits([commit(insert(t, make_doc(t)), new_tables=[t])])
    with pytest.raises(RuntimeError, match="closed"):
        p.sql("select 1", {})


def test_write_commits_is_file_only():
    memory = Persistence(None)
    try:
        with pytest.raises(RuntimeError, match="mirror"):
            memory.write_commits([])
    finally:
        memory.close()


# -- bulk ------------------------------------------------------------------------------------------


def test_bulk_commit_round_trip_with_pending_commits(opened):
    p = opened()
    t = Table("t", 10001)
    first = make_doc(t, n=Int64(-1))
    p.write_commits([commit(insert(t, first), new_tables=[t])])  # pending, not yet materialised
    u = Table("bulk", 10002)
    docs = [make_doc(u, n=Int64(i), x=i / 2, name=f"r{i}") for i in range(2_000)]
    _ts[0] += 1
    p.write_commits([Commit(_ts[0], [], [u], None, bulk=[(u, docs)])])
    assert p._pending == []
    assert p.get_meta("materialized_ts") == str(_ts[0])
    assert p._con.execute("SELECT count(*) FROM _convex.documents").fetchall() == [(2_001,)]
    assert p._con.execute("SELECT count(*) FROM _convex.log WHERE ts = ?", [_ts[0]]).fetchall() == [(2_000,)]
    p.close()
    loaded = opened().load()
    assert loaded.tables == {"t": 10001, "bulk": 10002}
    assert same(sorted(loaded.documents["bulk"], key=lambda d: d["n"]), docs)
    assert same(loaded.documents["t"], [first])
    assert loaded.last_ts == _ts[0]


def test_bulk_commit_in_memory_feeds_the_mirror():
    memory = Persistence(None)
    try:
        t = Table("t", 10001)
        docs = [make_doc(t, n=Int64(i)) for i in range(100)]
        _ts[0] += 1
        memory.mirror([Commit(_ts[0], [], [t], None, bulk=[(t, docs)])])
        info = TableInfo("t", 10001, ["n"], {"n": "BIGINT"})
        assert memory.sql("select sum(n) as s from t", {"t": info})["s"][0] == sum(range(100))
    finally:
        memory.close()


# -- SQL surface -----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "delete from t", "insert into t values (1)", "update t set a = 1", "drop view t",
    "create table x (a int)", "attach 'other.duckdb'", "copy (select 1) to 'x.csv'", "pragma version",
    "set threads = 1", "select 1; drop view t", "select 1; select 2", "", "   ;", "call pragma_version()",
    "checkpoint", "explain select 1", "selec 1",
])
def test_sql_refuses_anything_but_one_select(query):
    with pytest.raises(ValueError):
        check_select(query)


@pytest.mark.parametrize("query", ["select 1", "with a as (select 1 as x) select * from a", "from range(3)", "select 1;"])
def test_sql_accepts_selects(query):
    check_select(query)


def _typed_fixture(p: Persistence, memory: bool) -> tuple[dict, list[dict]]:
    t = Table("my table", 10001)
    docs = [
        make_doc(t, s="a", n=1.5, i=Int64(7), b=b"\x01\x02", ok=True, any={"k": [Int64(1)]}, odd="x"),
        make_doc(t, s="b", n=math.nan, i=Int64(-8), b=b"", ok=False, any="text"),
        make_doc(t, s="c", n=math.inf, i=Int64(2**62), ok=True, any=None),
        make_doc(t, s="d", n=-math.inf),
    ]
    commits = [commit(*[insert(t, d) for d in docs], new_tables=[t])]
    if memory:
        p.mirror(commits)
    else:
        p.write_commits(commits)
    info = TableInfo("my table", 10001, ["s", "n", "i", "b", "ok", "any", "odd"],
                     {"s": "VARCHAR", "n": "DOUBLE", "i": "BIGINT", "b": "BLOB", "ok": "BOOLEAN", "any": None, "odd": None})
    return {"my table": info}, docs


@pytest.mark.parametrize("memory", [False, True], ids=["file", "memory"])
def test_sql_typed_columns(path, memory):
    p = Persistence(None if memory else path)
    try:
        tables, docs = _typed_fixture(p, memory)
        frame = p.sql('select * from "my table" order by _creationTime', tables)
        assert list(frame.columns) == ["_id", "_creationTime", "s", "n", "i", "b", "ok", "any", "odd"]
        types = dict(p.sql("select column_name, data_type from information_schema.columns "
                           "where table_name = 'my table'", tables).values.tolist())
        assert types == {"_id": "VARCHAR", "_creationTime": "DOUBLE", "s": "VARCHAR", "n": "DOUBLE", "i": "BIGINT",
                         "b": "BLOB", "ok": "BOOLEAN", "any": "JSON", "odd": "JSON"}
        assert frame["_id"].tolist() == [d["_id"] for d in docs]
        assert frame["_creationTime"].tolist() == [d["_creationTime"] for d in docs]
        assert frame["s"].tolist() == ["a", "b", "c", "d"]
        n = frame["n"].tolist()
        assert n[0] == 1.5 and math.isnan(n[1]) and n[2] == math.inf and n[3] == -math.inf
        assert p.sql('select i from "my table" order by _creationTime', tables)["i"].tolist()[:3] == [7, -8, 2**62]
        assert [None if pd.isna(x) else bytes(x) for x in frame["b"].tolist()] == [b"\x01\x02", b"", None, None]
        assert frame["ok"].tolist()[:3] == [True, False, True]
        assert frame["any"].tolist()[:2] == ['{"k":[1]}', '"text"']
        assert p.sql('select sum(i) as s from "my table"', tables)["s"][0] == 7 - 8 + 2**62
        assert p.sql('select count(*) as c from "my table" where ok', tables)["c"][0] == 2
        with pytest.raises(ValueError, match="SELECT"):
            p.sql('delete from "my table"', tables)
        df = p.table_df(tables["my table"])
        assert df["_id"].tolist() == [d["_id"] for d in docs]
    finally:
        p.close()


def test_views_are_recreated_only_when_changed(opened):
    p = opened()
    t = Table("t", 10001)
    p.write_commits([commit(insert(t, make_doc(t, a=1.0)), new_tables=[t])])
    info = TableInfo("t", 10001, ["a"], {"a": None})
    p.sql("select * from t", {"t": info})
    made = dict(p._views)
    executed: list[str] = []
    real_execute = p._con.execute

    class Spy:
        def execute(self, sql, *args):
            executed.append(sql)
            return real_execute(sql, *args)

        def __getattr__(self, name):
            return getattr(real_con, name)

    real_con = p._con
    p._con = Spy()
    p.sql("select * from t", {"t": info})
    p._con = real_con
    assert p._views == made and not any("VIEW" in sql for sql in executed)
    wider = TableInfo("t", 10001, ["a", "b"], {"a": "DOUBLE", "b": None})
    p.write_commits([commit(insert(t, make_doc(t, a=2.0, b="x")))])
    frame = p.sql("select a, b from t order by a", {"t": wider})
    assert frame["a"].tolist() == [1.0, 2.0] and pd.isna(frame["b"][0]) and frame["b"][1] == '"x"'
    assert p._views["t"] != made["t"]
    p.sql("select 1", {})  # a table no longer listed loses its view
    assert p._views == {}
    with pytest.raises(duckdb.Error):
        p.sql("select * from t", {})


def test_field_names_needing_quotes(opened):
    p = opened()
    t = Table('we"ird', 10001)
    doc = make_doc(t, **{"a.b": 1.0, "c/d": "x", "e~f": True, "it's": Int64(3), "sp ace": [1.0]})
    p.write_commits([commit(insert(t, doc), new_tables=[t])])
    fields = ["a.b", "c/d", "e~f", "it's", "sp ace"]
    info = TableInfo('we"ird', 10001, fields, {"a.b": "DOUBLE", "c/d": "VARCHAR", "e~f": "BOOLEAN", "it's": "BIGINT", "sp ace": None})
    frame = p.sql('select * from "we""ird"', {'we"ird': info})
    assert frame.iloc[0].tolist()[2:] == [1.0, "x", True, 3, "[1.0]"]


def test_sql_on_other_threads_sees_every_commit(opened):
    p = opened()
    t = Table("t", 10001)
    p.write_commits([commit(new_tables=[t])])
    info = {"t": TableInfo("t", 10001, ["n"], {"n": "BIGINT"})}
    results: list[list[int]] = [[], [], []]
    errors: list[BaseException] = []

    def reader(seen: list[int]) -> None:
        try:
            for _ in range(20):
                seen.append(int(p.sql("select count(*) as c from t", info)["c"][0]))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(seen,)) for seen in results]
    for thread in threads:
        thread.start()
    for i in range(100):
        p.write_commits([commit(insert(t, make_doc(t, n=Int64(i))))])
    for thread in threads:
        thread.join()
    assert not errors
    assert all(seen == sorted(seen) and len(seen) == 20 for seen in results)  # never goes back
    assert p.sql("select count(*) as c, sum(n) as s from t", info).values.tolist() == [[100, sum(range(100))]]


# -- in-memory mirror ------------------------------------------------------------------------------


def test_mirror_sees_every_commit_after_sql():
    memory = Persistence(None)
    try:
        t = Table("t", 10001)
        info = {"t": TableInfo("t", 10001, ["n"], {"n": "BIGINT"})}
        docs = []
        for i in range(30):
            doc = make_doc(t, n=Int64(i))
            docs.append(doc)
            memory.mirror([commit(insert(t, doc), new_tables=[t] if i == 0 else [])])
            assert memory.sql("select count(*) as c from t", info)["c"][0] == i + 1
        memory.mirror([commit(Write(t, docs[0]["_id"], docs[0], dict(docs[0], n=Int64(100))),
                              Write(t, docs[1]["_id"], docs[1], None))])
        frame = memory.sql("select n from t order by _creationTime", info)
        assert frame["n"].tolist() == [100] + list(range(2, 30))
        assert memory.sql("select count(*) as c from _convex.log", {})["c"][0] == 32
    finally:
        memory.close()


def test_mirror_flushes_in_the_background(monkeypatch):
    monkeypatch.setattr(persistence_module, "MIRROR_INTERVAL", 0.02)
    memory = Persistence(None)
    try:
        t = Table("t", 10001)
        memory.mirror([commit(insert(t, make_doc(t)), new_tables=[t])])
        deadline = time.monotonic() + 10
        while memory._queue and time.monotonic() < deadline:
            time.sleep(0.01)
        assert memory._queue == []
        with memory._lock:
            assert memory._con.execute("SELECT count(*) FROM _convex.documents").fetchall() == [(1,)]
    finally:
        memory.close()


def test_mirror_makes_no_duckdb_call(monkeypatch):
    memory = Persistence(None)
    try:
        class Refuse:
            def __getattr__(self, name):
                raise AssertionError(f"DuckDB used on the commit path: {name}")

        real = memory._con
        memory._con = Refuse()
        t = Table("t", 10001)
        memory.mirror([commit(insert(t, make_doc(t)), new_tables=[t])])
        assert len(memory._queue) == 1
        memory._con = real
    finally:
        memory.close()


def test_file_materialises_in_the_background_when_idle(opened, monkeypatch):
    monkeypatch.setattr(persistence_module, "FILE_IDLE", 0.05)
    monkeypatch.setattr(persistence_module, "FILE_TICK", 0.02)
    p = opened()
    t = Table("t", 10001)
    p.write_commits([commit(insert(t, make_doc(t)), new_tables=[t])])
    deadline = time.monotonic() + 10
    while p._pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert p._pending == []
    with p._lock:
        assert p._con.execute("SELECT count(*) FROM _convex.documents").fetchall() == [(1,)]


# -- crash safety ----------------------------------------------------------------------------------


def _expected_state(lines: list[str]) -> tuple[dict[str, int], dict[str, int] | None]:
    """The state after every acknowledged commit, and after the one in flight (if any)."""
    state: dict[str, int] = {}
    acked: set[int] = set()
    intents: list[tuple[int, str, str]] = []
    for line in lines:
        parts = line.split()
        if parts[0] == "intent":
            intents.append((int(parts[1]), parts[2], parts[3]))
        elif parts[0] == "ack":
            acked.add(int(parts[1]))
    in_flight = None
    for k, op, doc_id in intents:
        if k not in acked:
            in_flight = (k, op, doc_id)
            break
        _apply(state, k, op, doc_id)
    maybe = None
    if in_flight is not None:
        maybe = dict(state)
        _apply(maybe, *in_flight)
    return state, maybe


def _apply(state: dict[str, int], k: int, op: str, doc_id: str) -> None:
    if op == "delete":
        del state[doc_id]
    else:
        state[doc_id] = k


@pytest.mark.parametrize("acks", [40, 230])
def test_sigkill_loses_no_acknowledged_commit(tmp_path, acks):
    path = str(tmp_path / "crash.duckdb")
    proc = subprocess.Popen([sys.executable, str(HERE / "persistence_writer.py"), path],
                            stdout=subprocess.PIPE, text=True, cwd=str(HERE.parent))
    lines: list[str] = []
    try:
        count = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("ack"):
                count += 1
                if count >= acks:
                    break
        os.kill(proc.pid, signal.SIGKILL)
        lines += proc.stdout.read().splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    acked, maybe = _expected_state(lines)
    assert sum(line.startswith("ack") for line in lines) >= acks
    p = Persistence(path)
    try:
        loaded = p.load()
        found = {doc["_id"]: int(doc["k"]) for doc in loaded.documents["items"]}
        assert found == acked or (maybe is not None and found == maybe)
        for doc in loaded.documents["items"]:
            assert type(doc["k"]) is Int64 and doc["blob"] == bytes([int(doc["k"]) % 256]) or doc.get("updated")
        p.materialize()
        info = {"items": TableInfo("items", 10001, ["k"], {"k": "BIGINT"})}
        assert p.sql("select count(*) as c from items", info)["c"][0] == len(found)
    finally:
        p.close()


# -- scale -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_million_documents_bulk_and_reopen(path):
    t = Table("items", 10001)
    n = 1_000_000
    base = 1_700_000_000_000.0
    doc_ids = idlib.new_ids(10001, base, n)
    docs = [{"_id": doc_ids[i], "_creationTime": base + i * 0.001, "name": f"item{i}", "n": Int64(i)} for i in range(n)]
    p = Persistence(path)
    p.write_commits([Commit(5_000, [], [t], None, bulk=[(t, docs)])])
    p.close()
    del docs
    q = Persistence(path)
    try:
        loaded = q.load()
        items = loaded.documents["items"]
        assert len(items) == n
        assert sum(d["n"] for d in items) == n * (n - 1) // 2
        assert loaded.last_ts == 5_000
        info = {"items": TableInfo("items", 10001, ["name", "n"], {"name": "VARCHAR", "n": "BIGINT"})}
        assert q.sql("select count(*) as c, max(n) as m from items", info).values.tolist() == [[n, n - 1]]
    finally:
        q.close()


def test_string_array_fast_path_matches_pyarrow():
    from convex_lab.engine.persistence import _string_array

    for items in (["a", "", "abc" * 50], ["é", "ascii", ""], [], ["\x00x"]):
        array = _string_array(items)
        assert array.to_pylist() == items
        assert str(array.type) == "string"
