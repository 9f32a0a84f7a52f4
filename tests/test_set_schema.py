"""`app.set_schema` against existing data: refusal, index backfill and drop, cheap re-runs."""

from __future__ import annotations

import pytest

from convex_lab import App, Int64, define_schema, define_table, v
from convex_lab.errors import IndexNotFoundError, SchemaValidationError
from convex_lab.runtime.context import DatabaseReader

from .conftest import check


def query(app, body):
    return app._db.run_query(lambda txn: body(DatabaseReader(txn)))[0]


def seed(app, n=20):
    @app.mutation
    def add(ctx, docs):
        return [ctx.db.insert("users", d) for d in docs]

    return add(docs=[{"name": f"u{i}", "age": float(i % 7)} for i in range(n)])


def test_schema_that_data_breaks_is_refused(app):
    ids = seed(app)

    @app.mutation
    def odd(ctx):
        return ctx.db.insert("users", {"name": 5})

    bad_id = odd()
    with pytest.raises(SchemaValidationError) as info:
        app.set_schema(define_schema({"users": define_table({"name": v.string(), "age": v.optional(v.number())})}))
    message = str(info.value)
    assert f'Document with ID "{bad_id}" in table "users" does not match the schema' in message
    assert ".name" in message
    assert app.schema is None  # nothing changed
    assert len(ids) == 20
    check(app)


def test_schema_creates_tables_and_backfills_indexes(app):
    seed(app)
    app.set_schema(define_schema({
        "users": define_table({"name": v.string(), "age": v.number()}).index("by_age", ["age"]),
        "empty": define_table({"x": v.string()}).index("by_x", ["x"]),
    }))
    assert "empty" in app._db.store.tables
    docs = query(app, lambda db: db.query("users").with_index("by_age", lambda q: q.eq("age", 3.0)).collect())
    assert sorted(d["name"] for d in docs) == ["u10", "u17", "u3"]
    assert query(app, lambda db: db.query("empty").with_index("by_x").collect()) == []
    check(app)

    # A changed schema drops removed indexes and adds new ones in one commit.
    commits = []
    app._db.listeners.append(commits.append)
    app.set_schema(define_schema({
        "users": define_table({"name": v.string(), "age": v.number()}).index("by_name", ["name"]),
    }))
    assert len(commits) == 1
    with pytest.raises(IndexNotFoundError):
        query(app, lambda db: db.query("users").with_index("by_age").collect())
    first = query(app, lambda db: db.query("users").with_index("by_name").first())
    assert first["name"] == "u0"
    check(app)


def test_unchanged_schema_rerun_is_free_and_commits_nothing(memory_app):
    schema = define_schema({"users": define_table({"name": v.string(), "age": v.number()}).index("by_age", ["age"])})
    memory_app.set_schema(schema)
    commits = []
    memory_app._db.listeners.append(commits.append)
    again = define_schema({"users": define_table({"name": v.string(), "age": v.number()}).index("by_age", ["age"])})
    memory_app.set_schema(again)
    assert commits == []


@pytest.mark.slow
def test_unchanged_schema_over_100k_documents_is_cheap_to_rerun():
    # Not a timing assertion: it checks that an unchanged schema is recognised (no commit, no
    # re-validation); bench/engine.py reports the figure.
    app = App()
    try:
        app.import_rows("users", [{"name": f"u{i}", "age": float(i)} for i in range(100_000)])
        schema = lambda: define_schema({"users": define_table({"name": v.string(), "age": v.number()}).index("by_age", ["age"])})  # noqa: E731
        app.set_schema(schema())
        calls = []
        original = app._db.check_data_against
        app._db.check_data_against = lambda s: calls.append(s) or original(s)
        app.set_schema(schema())
        assert calls == []
    finally:
        app.close()


def test_schema_validation_false_keeps_indexes_but_skips_checks(app):
    app.set_schema(define_schema({"t": define_table({"a": v.int64()}).index("by_a", ["a"])}, schema_validation=False))

    @app.mutation
    def add(ctx):
        ctx.db.insert("t", {"a": 3})  # int rule still follows the validator: Int64
        ctx.db.insert("t", {"a": "not an int", "extra": True})

    add()
    docs = query(app, lambda db: db.query("t").with_index("by_a").collect())
    assert type(docs[0]["a"]) is Int64 and docs[1]["a"] == "not an int"


def test_tables_outside_the_schema_accept_anything(app):
    app.set_schema(define_schema({"typed": define_table({"a": v.string()})}))

    @app.mutation
    def add(ctx):
        return ctx.db.insert("loose", {"anything": [1, {"goes": True}]})

    assert add()


def test_search_and_vector_index_definitions_are_kept(app):
    schema = define_schema({
        "messages": define_table({"body": v.string(), "room": v.string(), "embedding": v.array(v.float64())})
        .search_index("search_body", search_field="body", filter_fields=["room"])
        .vector_index("by_embedding", vector_field="embedding", dimensions=4, filter_fields=["room"]),
    })
    app.set_schema(schema)
    definition = app.schema.tables["messages"]
    assert "search_body" in definition.search_indexes
    assert "by_embedding" in definition.vector_indexes
    tables = {t["tableName"]: t for t in app.schema.to_json()["tables"]}
    assert tables["messages"]["searchIndexes"][0]["searchField"] == "body"


def test_removing_the_schema_is_persisted(tmp_path):
    schema = define_schema({"users": define_table({"name": v.string(), "age": v.number()}).index("by_name", ["name"])})
    path = tmp_path / "lab.duckdb"
    app = App(path)
    app.set_schema(schema)
    seed(app, 3)
    app.set_schema(None)
    assert app.schema is None
    app.close()
    reopened = App(path)
    assert reopened.schema is None
    assert len(reopened._db.store.tables["users"].docs) == 3
    reopened.close()

    memory = App()  # the in-memory mirror records the removal too
    memory.set_schema(schema)
    memory._persistence.materialize()
    assert memory._persistence.get_meta("schema") is not None
    memory.set_schema(None)
    memory._persistence.materialize()
    assert memory._persistence.get_meta("schema") is None
    memory.close()
