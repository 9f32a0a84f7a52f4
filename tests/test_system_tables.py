"""System tables (`_storage`, `_scheduled_functions`): written by the engine through the one commit
path, readable by functions through `ctx.db.system`, never writable by user code."""

from __future__ import annotations

import pytest

from convex_lab import App, define_schema, define_table, v
from convex_lab.engine.catalog import SYSTEM_TABLES, Catalog
from convex_lab.errors import InvalidArgument, ReadOnlyTable, SchemaValidationError
from convex_lab.ids import FIRST_USER_TABLE_NUMBER, SYSTEM_TABLE_NUMBERS, decode_id

from .conftest import check

FILE = {"sha256": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=", "size": 5.0, "contentType": "text/plain"}


def engine_insert(app: App, table: str, fields: dict) -> str:
    """What a service (storage, scheduler) does: a system write in its own commit."""
    return app._db.run_mutation(lambda txn: txn.insert(table, fields, system=True))[0]


def test_catalog_numbers_prefixes_and_clocks():
    catalog = Catalog()
    assert catalog.number_of("_storage") == SYSTEM_TABLE_NUMBERS["_storage"]
    assert catalog.name_of(SYSTEM_TABLE_NUMBERS["_scheduled_functions"]) == "_scheduled_functions"
    assert catalog.number_for("a") == FIRST_USER_TABLE_NUMBER
    assert catalog.number_for("b") == FIRST_USER_TABLE_NUMBER + 1
    assert catalog.number_for("a") == FIRST_USER_TABLE_NUMBER  # a name keeps its number
    assert catalog.number_of("never") is None
    ts = catalog.next_commit_ts()
    assert catalog.next_commit_ts() > ts
    first = catalog.next_creation_time(5.0)
    assert catalog.next_creation_time(5.0) > first == 5.0
    saved = catalog.clocks()
    catalog.next_commit_ts()
    catalog.restore_clocks(saved)
    assert catalog.clocks() == saved
    catalog._check()


def test_engine_writes_a_system_table_and_functions_read_it(app):
    @app.query
    def files(ctx):
        return ctx.db.system.query("_storage").collect()

    @app.query
    def one(ctx, id):
        return ctx.db.system.get(id)

    storage_id = engine_insert(app, "_storage", FILE)
    assert decode_id(storage_id)[0] == SYSTEM_TABLE_NUMBERS["_storage"]
    assert storage_id.startswith("kg2")  # as Convex's storage ids do
    [doc] = files()
    assert doc["_id"] == storage_id and doc["sha256"] == FILE["sha256"] and doc["size"] == 5.0
    assert one(id=storage_id)["contentType"] == "text/plain"
    check(app)


def test_user_code_cannot_write_system_tables(app):
    storage_id = engine_insert(app, "_storage", FILE)

    @app.mutation
    def tamper(ctx, how):
        if how == "insert":
            ctx.db.insert("_scheduled_functions", {"name": "x"})
        elif how == "patch":
            ctx.db.patch(storage_id, {"size": 1})
        elif how == "replace":
            ctx.db.replace(storage_id, {"size": 1})
        else:
            ctx.db.delete(storage_id)

    for how in ("insert", "patch", "replace", "delete"):
        with pytest.raises(ReadOnlyTable, match="read-only"):
            tamper(how=how)

    @app.query
    def size(ctx):
        return ctx.db.system.get(storage_id)["size"]

    assert size() == 5.0
    check(app)


def test_system_writes_are_checked_against_the_system_schema(app):
    with pytest.raises(SchemaValidationError, match=r'system table "_storage"(.|\n)*Path: .size'):
        engine_insert(app, "_storage", {"sha256": "x", "size": "big"})
    with pytest.raises(InvalidArgument, match='"notes" is not a system table'):
        engine_insert(app, "notes", {"a": 1.0})
    with pytest.raises(InvalidArgument, match='"_nope" is not a system table'):
        engine_insert(app, "_nope", {"a": 1.0})
    assert app.tables(system=True) == {}  # nothing half-written, no table created
    check(app)


def test_system_write_rolls_back_with_its_mutation(app):
    def job(txn):
        txn.insert("_scheduled_functions", {
            "name": "messages.js:send", "args": [{}], "scheduledTime": 1.0, "state": {"kind": "pending"},
        }, system=True)
        raise RuntimeError("the mutation fails after scheduling")

    with pytest.raises(RuntimeError):
        app._db.run_mutation(job)

    @app.query
    def jobs(ctx):
        return ctx.db.system.query("_scheduled_functions").collect()

    assert jobs() == []
    check(app)


def test_engine_patches_and_deletes_system_documents(app):
    job_id = engine_insert(app, "_scheduled_functions", {
        "name": "messages.js:send", "args": [{}], "scheduledTime": 1.0, "state": {"kind": "pending"},
    })
    app._db.run_mutation(lambda txn: txn.patch(job_id, {"state": {"kind": "success"}, "completedTime": 2.0},
                                               system=True))

    @app.query
    def job(ctx):
        return ctx.db.system.get(job_id)

    assert job()["state"] == {"kind": "success"} and job()["completedTime"] == 2.0
    with pytest.raises(SchemaValidationError):
        app._db.run_mutation(lambda txn: txn.patch(job_id, {"state": {"kind": "done"}}, system=True))
    app._db.run_mutation(lambda txn: txn.delete(job_id, system=True))
    assert job() is None
    check(app)


def test_live_query_over_a_system_table_follows_engine_writes(app):
    @app.query
    def count(ctx):
        return len(ctx.db.system.query("_storage").collect())

    seen = []
    app.subscribe(count, {}, seen.append)
    engine_insert(app, "_storage", FILE)
    app.flush()
    assert seen == [0, 1]


def test_normalize_id_knows_its_own_kind_of_table(app):
    storage_id = engine_insert(app, "_storage", FILE)

    @app.mutation
    def add(ctx):
        return ctx.db.insert("notes", {"a": 1.0})

    note_id = add()

    @app.query
    def normalize(ctx):
        return [ctx.db.normalize_id("_storage", storage_id), ctx.db.system.normalize_id("_storage", storage_id),
                ctx.db.normalize_id("notes", note_id), ctx.db.system.normalize_id("notes", note_id)]

    assert normalize() == [None, storage_id, note_id, None]


def test_v_id_of_a_system_table_before_it_has_documents(app):
    app.set_schema(define_schema({"avatars": define_table({"file": v.id("_storage")})}))
    storage_id = engine_insert(app, "_storage", FILE)

    @app.mutation
    def add(ctx, file):
        return ctx.db.insert("avatars", {"file": file})

    add(file=storage_id)
    job_id = engine_insert(app, "_scheduled_functions", {
        "name": "a.js:b", "args": [{}], "scheduledTime": 1.0, "state": {"kind": "pending"}})
    with pytest.raises(SchemaValidationError, match="_storage"):
        add(file=job_id)


def test_system_tables_survive_reopening_and_stay_out_of_sql(tmp_path):
    path = tmp_path / "lab.duckdb"
    with App(path) as app:
        storage_id = engine_insert(app, "_storage", FILE)
    with App(path) as app:
        @app.query
        def one(ctx, id):
            return ctx.db.system.get(id)

        assert one(id=storage_id)["sha256"] == FILE["sha256"]
        assert app.tables() == {} and app.tables(system=True) == {"_storage": 1}
        with pytest.raises(Exception, match="_storage does not exist"):
            app.sql("SELECT * FROM _storage")
        check(app)


def test_every_system_table_has_convex_number():
    assert {name: table.number for name, table in SYSTEM_TABLES.items()} == SYSTEM_TABLE_NUMBERS


def test_only_system_tables_are_read_through_db_system(app):
    @app.query
    def read(ctx, table):
        return ctx.db.system.query(table).collect()

    with pytest.raises(InvalidArgument, match='"_nope" is not a system table. The system tables are _scheduled_functions, _storage.'):
        read(table="_nope")
    with pytest.raises(ValueError, match="reads system tables"):
        read(table="notes")
    assert read(table="_scheduled_functions") == []
