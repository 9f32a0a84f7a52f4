"""Data out and in: import_rows (DataFrame rules), app.sql (SELECT only, typed columns), .df()."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from convex_lab import App, Int64, define_schema, define_table, v
from convex_lab.errors import ConvexSystemError, DocumentTooLarge, InvalidArgument, SchemaValidationError
from convex_lab.runtime.context import DatabaseReader

from .conftest import check


def read_all(app, table):
    return app._db.run_query(lambda txn: DatabaseReader(txn).query(table).collect())[0]


def test_import_dataframe_rules(app):
    frame = pd.DataFrame({
        "name": ["a", None, "c"],
        "score": [1.5, float("nan"), 3.0],
        "count": pd.array([1, pd.NA, 3], dtype="Int64"),
        "plain_int": [1, 2, 3],
    })
    ids = app.import_rows("people", frame)
    assert len(ids) == 3
    docs = read_all(app, "people")
    assert [d["_id"] for d in docs] == ids
    assert "name" not in docs[1]  # None -> absent
    assert math.isnan(docs[1]["score"])  # a float NaN stays NaN
    assert "count" not in docs[1]  # pd.NA -> absent
    assert type(docs[0]["plain_int"]) is float  # no validator: ints follow the int rule -> Float64
    check(app)


def test_import_int_rule_follows_schema(app):
    app.set_schema(define_schema({"t": define_table({"n": v.int64(), "x": v.number()})}))
    app.import_rows("t", pd.DataFrame({"n": [1, 2], "x": [1, 2]}))
    docs = read_all(app, "t")
    assert type(docs[0]["n"]) is Int64 and type(docs[0]["x"]) is float


def test_import_refuses_datetime_columns_and_bad_rows(app):
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-01-01"]), "a": [1]})
    with pytest.raises(TypeError, match="'when'"):
        app.import_rows("t", frame)
    app.set_schema(define_schema({"typed": define_table({"a": v.string()})}))
    with pytest.raises(SchemaValidationError, match="row 1"):
        app.import_rows("typed", [{"a": "ok"}, {"a": 5}])
    assert "t" not in app._db.store.tables or not app._db.store.tables["t"].docs
    assert not app._db.store.tables["typed"].docs  # nothing half-written


def test_import_fast_path_matches_general_path(app):
    app.set_schema(define_schema({"m": define_table({"room": v.string(), "n": v.number(), "tag": v.optional(v.string())})
                                  .index("by_room", ["room"])}))
    frame = pd.DataFrame({"room": [f"r{i % 3}" for i in range(200)], "n": np.arange(200, dtype=float)})
    app.import_rows("m", frame)
    app.import_rows("m", [{"room": "r9", "n": 1.0, "tag": "x"}])  # general path into a non-empty table
    docs = read_all(app, "m")
    assert len(docs) == 201
    room = app._db.run_query(lambda txn: DatabaseReader(txn).query("m")
                             .with_index("by_room", lambda q: q.eq("room", "r1")).collect())[0]
    assert [d["n"] for d in room] == [float(i) for i in range(200) if i % 3 == 1]
    table = app._db.store.tables["m"]
    assert table.sizes[docs[0]["_id"]] == __import__("convex_lab.values", fromlist=["x"]).value_size(docs[0])
    check(app)


def test_sql_select_only_and_typed_columns(app):
    app.set_schema(define_schema({"messages": define_table({
        "room": v.string(), "n": v.number(), "big": v.int64(), "ok": v.boolean(), "raw": v.bytes(),
        "meta": v.any(),
    })}))

    @app.mutation
    def seed(ctx):
        ctx.db.insert("messages", {"room": "a", "n": 1.5, "big": 7, "ok": True, "raw": b"\x01", "meta": {"k": [1]}})
        ctx.db.insert("messages", {"room": "a", "n": 2.5, "big": 8, "ok": False, "raw": b"", "meta": None})
        ctx.db.insert("messages", {"room": "b", "n": 3.0, "big": 9, "ok": True, "raw": b"z", "meta": "s"})

    seed()
    frame = app.sql("select room, count(*) as c, sum(n) as total from messages group by 1 order by 1")
    assert frame["room"].tolist() == ["a", "b"]
    assert frame["c"].tolist() == [2, 1]
    assert frame["total"].tolist() == [4.0, 3.0]
    full = app.sql("select * from messages order by _creationTime")
    assert list(full.columns[:2]) == ["_id", "_creationTime"]
    types = dict(app.sql("select column_name, data_type from information_schema.columns "
                         "where table_name = 'messages'").values.tolist())
    assert types["big"] == "BIGINT" and types["n"] == "DOUBLE" and types["room"] == "VARCHAR"
    assert types["ok"] == "BOOLEAN" and types["raw"] == "BLOB" and types["meta"] == "JSON"
    for statement in ["delete from messages", "insert into messages values (1)", "drop table messages",
                      "select 1; drop table messages", "create table x (a int)"]:
        with pytest.raises(ValueError):
            app.sql(statement)


def test_sql_sees_every_acknowledged_commit(app):
    @app.mutation
    def add(ctx, i):
        return ctx.db.insert("t", {"i": i})

    @app.mutation
    def drop(ctx, id):
        ctx.db.delete(id)

    for i in range(50):
        last = add(i=float(i))
        assert app.sql("select count(*) as c from t")["c"][0] == i + 1
    drop(id=last)
    # No schema: the column is JSON (see docs/guide/data.md), so cast for numeric aggregation.
    assert app.sql("select max(i::DOUBLE) as m from t")["m"][0] == 48.0


def test_table_df(app):
    @app.mutation
    def add(ctx):
        ctx.db.insert("t", {"a": 1, "b": "x"})
        ctx.db.insert("t", {"a": 2})

    add()
    frame = app.table("t").df()
    assert list(frame.columns[:2]) == ["_id", "_creationTime"]
    assert len(frame) == 2 and len(app.table("t")) == 2


@pytest.mark.parametrize("frame_input", [True, False])
def test_import_progress_bar(memory_app, capsys, frame_input):
    rows = [{"a": float(i)} for i in range(20)]
    data = pd.DataFrame(rows) if frame_input else rows
    memory_app.import_rows("t", data, progress=True)
    err = capsys.readouterr().err
    assert "import t" in err and "20/20" in err
    assert len(memory_app.table("t")) == 20


# -- refused imports leave nothing behind ---------------------------------------------------------


@pytest.mark.parametrize("rows", [
    [{"_id": "x", "a": 1.0}],
    [{"a": 1.0}, {"_creationTime": 5.0, "a": 2.0}],
    pd.DataFrame({"_id": ["k1"], "a": [1.0]}),
    pd.DataFrame({"a": [1.0], "_creationTime": [3.0]}),
])
def test_import_refuses_system_fields(app, rows):
    app.import_rows("t", [{"a": 0.0}])
    with pytest.raises(InvalidArgument, match="system field|sets itself"):
        app.import_rows("t", rows)
    assert len(app.table("t")) == 1
    check(app)


def test_import_refuses_duplicate_dataframe_columns(app):
    frame = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.raises(ValueError, match="duplicate column names: 'a'"):
        app.import_rows("t", frame)
    assert "t" not in app._db.store.tables


@pytest.mark.parametrize("rows", [
    [{"a": "x" * (1 << 20)}],  # over 1 MiB
    [{"a": 1.0}, {"$b": 2.0}],  # a $ field name
    [{"a": 1.0}, {"a": "\ud800"}],  # a lone surrogate
])
def test_refused_import_creates_no_table(tmp_path, rows):
    path = tmp_path / "lab.duckdb"
    with App(path) as app:
        with pytest.raises((ValueError, TypeError, ConvexSystemError)):
            app.import_rows("fresh", rows)
        assert "fresh" not in app._db.store.tables
        check(app)

        @app.mutation
        def add(ctx):
            return ctx.db.insert("fresh", {"a": 1.0})

        add()  # the table is created for real now, and durably
    with App(path) as again:
        assert len(again.table("fresh")) == 1
        assert again.sql("select count(*) as c from fresh")["c"][0] == 1


def test_refused_import_into_existing_table_changes_nothing(app):
    app.import_rows("t", [{"a": float(i)} for i in range(3)])
    with pytest.raises(DocumentTooLarge, match="1,04[0-9,]+ bytes > 1,048,576 bytes"):
        app.import_rows("t", [{"a": 9.0}, {"a": "y" * (1 << 20)}])
    assert len(app.table("t")) == 3
    assert app.sql("select count(*) as c from t")["c"][0] == 3
    check(app)


def test_lone_surrogate_refused_and_sql_keeps_working(app):
    @app.mutation
    def add(ctx, s):
        return ctx.db.insert("t", {"s": s})

    with pytest.raises(ValueError, match="lone surrogate"):
        add(s="a\ud800")
    add(s="fine é")
    assert app.sql("select s from t")["s"].tolist() == ['"fine é"']  # a JSON column: no schema
    assert app.sql("select 1 as one")["one"][0] == 1


def test_a_table_view_shows_its_size_and_first_rows(app):
    assert repr(app.table("notes")) == "Table 'notes': does not exist yet (0 documents)"
    app.import_rows("notes", [{"n": float(i)} for i in range(12)])
    text = repr(app.table("notes"))
    assert text.startswith("Table 'notes': 12 documents (the first 10; .df() has them all)\n")
    assert "9.0" in text and "11.0" not in text and "_id" in text
    html = app.table("notes")._repr_html_()  # what a notebook cell shows
    assert "12 documents" in html and html.count("<td>9.0</td>") == 1 and "11.0" not in html
    app.import_rows("one", [{"n": 1.0}])
    assert repr(app.table("one")).startswith("Table 'one': 1 document\n")
