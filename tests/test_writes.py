"""Document writes: insert/get/patch/replace/delete, system fields, errors, atomicity."""

from __future__ import annotations

import threading

import pytest

from convex_lab import UNSET, ConvexError, Int64, define_schema, define_table, v
from convex_lab.errors import InvalidArgument, NonexistentDocument, ReadOnlyTable, SchemaValidationError
from convex_lab.ids import decode_id, FIRST_USER_TABLE_NUMBER

from .conftest import check


def test_insert_get_roundtrip_and_system_fields(app):
    @app.mutation
    def add(ctx, body):
        return ctx.db.insert("notes", {"body": body, "n": 3, "big": Int64(5), "raw": b"\x00\x01"})

    @app.query
    def get(ctx, id):
        return ctx.db.get(id)

    doc_id = add(body="hi")
    number, _ = decode_id(doc_id)
    assert number == FIRST_USER_TABLE_NUMBER
    doc = get(id=doc_id)
    assert doc["_id"] == doc_id
    assert isinstance(doc["_creationTime"], float)
    assert doc["body"] == "hi"
    assert doc["n"] == 3.0 and type(doc["n"]) is float  # int rule: no validator -> Float64
    assert type(doc["big"]) is Int64 and doc["big"] == 5
    assert doc["raw"] == b"\x00\x01"
    check(app)


def test_returned_documents_are_fresh_copies(app):
    @app.mutation
    def add(ctx):
        return ctx.db.insert("t", {"tags": ["a"], "meta": {"k": 1}})

    @app.query
    def mutate_and_reread(ctx, id):
        first = ctx.db.get(id)
        first["tags"].append("evil")
        first["meta"]["k"] = 99
        first["x"] = 1
        return ctx.db.get(id)

    doc_id = add()
    again = mutate_and_reread(id=doc_id)
    assert again["tags"] == ["a"] and again["meta"] == {"k": 1.0} and "x" not in again


def test_creation_times_unique_and_increasing(app):
    @app.mutation
    def many(ctx, n):
        return [ctx.db.insert("t", {"i": i}) for i in range(int(n))]

    ids1 = many(n=50)
    ids2 = many(n=50)

    @app.query
    def times(ctx):
        return [d["_creationTime"] for d in ctx.db.query("t").collect()]

    ts = times()
    assert len(ts) == 100
    assert all(a < b for a, b in zip(ts, ts[1:]))
    assert len(set(ids1 + ids2)) == 100


def test_patch_merges_unset_removes_none_stores_null(app):
    @app.mutation
    def add(ctx):
        return ctx.db.insert("t", {"a": 1, "b": 2, "nested": {"x": 1, "y": 2}})

    @app.mutation
    def change(ctx, id):
        ctx.db.patch(id, {"a": UNSET, "b": None, "c": "new", "nested": {"x": 5}})
        return ctx.db.get(id)

    doc_id = add()
    doc = change(id=doc_id)
    assert "a" not in doc
    assert doc["b"] is None
    assert doc["c"] == "new"
    assert doc["nested"] == {"x": 5.0}  # nested objects are replaced, not merged
    check(app)


def test_replace_and_delete(app):
    @app.mutation
    def add(ctx):
        return ctx.db.insert("t", {"a": 1})

    @app.mutation
    def swap(ctx, id):
        before = ctx.db.get(id)
        ctx.db.replace(id, {"z": "only", "_id": id, "_creationTime": before["_creationTime"]})
        return ctx.db.get(id)

    @app.mutation
    def remove(ctx, id):
        ctx.db.delete(id)
        return ctx.db.get(id)

    doc_id = add()
    doc = swap(id=doc_id)
    assert set(doc) == {"_id", "_creationTime", "z"}
    assert remove(id=doc_id) is None
    check(app)


@pytest.mark.parametrize("op, verb", [("patch", "Update"), ("replace", "Replace"), ("delete", "Delete")])
def test_writes_on_deleted_documents_fail(app, op, verb):
    @app.mutation
    def add(ctx):
        doc_id = ctx.db.insert("t", {"a": 1})
        ctx.db.delete(doc_id)
        return doc_id

    @app.mutation
    def write(ctx, id):
        if op == "delete":
            ctx.db.delete(id)
        else:
            getattr(ctx.db, op)(id, {"a": 2})

    doc_id = add()
    with pytest.raises(NonexistentDocument) as info:
        write(id=doc_id)
    assert str(info.value) == f"{verb} on nonexistent document ID {doc_id}"


def test_system_fields_cannot_change(app):
    @app.mutation
    def add(ctx):
        return ctx.db.insert("t", {"a": 1})

    @app.mutation
    def bad(ctx, id):
        ctx.db.patch(id, {"_creationTime": 5.0})

    doc_id = add()
    with pytest.raises(InvalidArgument, match="_creationTime"):
        bad(id=doc_id)

    @app.mutation
    def bad_insert(ctx):
        ctx.db.insert("t", {"_id": "x"})

    with pytest.raises(InvalidArgument, match="_id"):
        bad_insert()


def test_underscore_fields_and_system_tables(app):
    @app.mutation
    def underscore(ctx):
        ctx.db.insert("t", {"_secret": 1})

    with pytest.raises(ValueError, match="underscore"):
        underscore()

    @app.mutation
    def system(ctx):
        ctx.db.insert("_storage", {"a": 1})

    with pytest.raises(ReadOnlyTable, match=r"System tables \(prefixed with `_`\) are read-only."):
        system()


def test_get_with_invalid_and_foreign_ids(app):
    @app.mutation
    def add(ctx):
        return ctx.db.insert("users", {"a": 1}), ctx.db.insert("other", {"b": 1})

    @app.query
    def get(ctx, id):
        return ctx.db.get(id)

    @app.query
    def get_in(ctx, table, id):
        return ctx.db.get(table, id)

    user_id, other_id = add()
    with pytest.raises(InvalidArgument):
        get(id="not-an-id")
    assert get(id=other_id)["b"] == 1.0
    with pytest.raises(InvalidArgument):
        get_in(table="users", id=other_id)
    assert get_in(table="users", id=user_id)["a"] == 1.0


def test_normalize_id(app):
    @app.mutation
    def add(ctx):
        return ctx.db.insert("users", {"a": 1}), ctx.db.insert("other", {"b": 1})

    @app.query
    def norm(ctx, table, s):
        return ctx.db.normalize_id(table, s)

    user_id, other_id = add()
    assert norm(table="users", s=user_id) == user_id
    assert norm(table="users", s=other_id) is None
    assert norm(table="users", s="garbage") is None
    assert norm(table="missing", s=user_id) is None


def test_failing_mutation_writes_nothing(app):
    @app.mutation
    def add(ctx):
        return ctx.db.insert("t", {"a": 1})

    @app.mutation
    def half(ctx, id):
        ctx.db.insert("t", {"a": 2})
        ctx.db.patch(id, {"a": 100})
        ctx.db.insert("brand_new_table", {"x": 1})
        raise ConvexError({"reason": "nope"})

    @app.query
    def everything(ctx):
        return ctx.db.query("t").collect(), ctx.db.query("brand_new_table").collect()

    doc_id = add()
    with pytest.raises(ConvexError) as info:
        half(id=doc_id)
    assert info.value.data == {"reason": "nope"}
    docs, new_table = everything()
    assert [d["a"] for d in docs] == [1.0]
    assert new_table == []
    assert "brand_new_table" not in app._db.store.tables
    check(app)


def test_read_your_own_writes_in_queries(app):
    @app.mutation
    def run(ctx):
        first = ctx.db.insert("t", {"room": "a", "n": 1})
        ctx.db.insert("t", {"room": "a", "n": 2})
        ctx.db.patch(first, {"n": 10})
        seen = [d["n"] for d in ctx.db.query("t").collect()]
        ctx.db.delete(first)
        after = [d["n"] for d in ctx.db.query("t").collect()]
        return seen, after

    assert run() == [[10.0, 2.0], [2.0]]  # tuples come back as lists


def test_writes_during_iteration_are_safe(app):
    @app.mutation
    def run(ctx):
        for i in range(200):
            ctx.db.insert("t", {"i": i})
        seen = 0
        for doc in ctx.db.query("t"):
            ctx.db.patch(doc["_id"], {"i": doc["i"] + 1000})
            seen += 1
        return seen

    assert run() == 200
    check(app)


def test_schema_validates_writes_with_path(app):
    app.set_schema(define_schema({
        "users": define_table({"name": v.string(), "age": v.optional(v.int64())}),
    }))

    @app.mutation
    def add(ctx, doc):
        return ctx.db.insert("users", doc)

    @app.mutation
    def add_literal(ctx):
        return ctx.db.insert("users", {"name": "ann", "age": 3})

    @app.query
    def get(ctx, id):
        return ctx.db.get(id)

    doc_id = add_literal()
    assert type(get(id=doc_id)["age"]) is Int64  # int rule: v.int64 position -> Int64
    # Without an args validator, client args follow Convex: 3 arrives as Float64, which v.int64 refuses.
    with pytest.raises(SchemaValidationError, match=r"\.age"):
        add(doc={"name": "ann", "age": 3})
    with pytest.raises(SchemaValidationError, match=r"\.name"):
        add(doc={"name": 5})
    with pytest.raises(SchemaValidationError, match="extra"):
        add(doc={"name": "x", "zzz": 1})
    check(app)


def test_unsupported_python_values_raise_type_error_with_path(app):
    import datetime

    @app.mutation
    def add(ctx, when):
        return ctx.db.insert("t", {"when": when})

    with pytest.raises(TypeError, match="not a supported Convex type"):
        app._runtime.call("notebook:add", {"when": datetime.datetime.now()})


def test_big_ints_without_validator_raise_value_error(app):
    @app.mutation
    def add(ctx, n):
        return ctx.db.insert("t", {"n": n})

    with pytest.raises(ValueError):
        add(n=2**60)


def test_concurrent_read_modify_write_loses_nothing(app):
    @app.mutation
    def init(ctx):
        return ctx.db.insert("counters", {"n": 0})

    @app.mutation
    def bump(ctx, id):
        doc = ctx.db.get(id)
        ctx.db.patch(id, {"n": doc["n"] + 1})

    @app.query
    def read(ctx, id):
        return ctx.db.get(id)["n"]

    counter = init()
    threads_n, per_thread = 4, 50
    errors = []

    def worker():
        try:
            for _ in range(per_thread):
                bump(id=counter)
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert read(id=counter) == threads_n * per_thread


def test_document_limits(app):
    @app.mutation
    def add(ctx, doc):
        return ctx.db.insert("t", doc)

    from convex_lab.errors import DocumentTooLarge

    with pytest.raises(DocumentTooLarge):
        add(doc={"blob": "x" * (1024 * 1024 + 10)})
    deep: dict = {"leaf": 1}
    for _ in range(20):
        deep = {"d": deep}
    with pytest.raises(DocumentTooLarge):
        add(doc={"deep": deep})
    with pytest.raises(DocumentTooLarge):
        add(doc={"arr": list(range(9000))})
