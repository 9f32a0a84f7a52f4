"""Schemas: define_table / define_schema, every index rule with Convex's text, JSON, documents."""

from __future__ import annotations

import json

import pytest

from convex_lab import ids
from convex_lab.errors import SchemaDefinitionError
from convex_lab.schema import (
    SchemaDefinition,
    SearchIndexDefinition,
    TableDefinition,
    VectorIndexDefinition,
    define_schema,
    define_table,
)
from convex_lab.validators import ValidationMismatch, v
from convex_lab.values import Int64

USERS = 10001


def uid(table=USERS, seed=0):
    return ids.encode_id(table, bytes((seed + i) % 256 for i in range(16)))


def schema_error(fn, code=None):
    with pytest.raises(SchemaDefinitionError) as e:
        fn()
    if code is not None:
        assert e.value.short_code == code
    return str(e.value)


# --------------------------------------------------------------------------------------------
# Tables and index declarations


def test_define_table_forms():
    assert define_table({"a": v.string()}).document_validator == v.object({"a": v.string()})
    assert define_table(v.object({"a": v.string()})).document_validator == v.object({"a": v.string()})
    u = v.union(v.object({"k": v.literal("a")}), v.object({"k": v.literal("b")}))
    assert define_table(u).document_validator == u
    assert define_table(v.any()).document_validator is None
    assert define_table({}).document_validator == v.object({})


def test_define_table_drops_system_fields_from_validator():
    t = define_table({"_id": v.id("t"), "_creationTime": v.number(), "a": v.string()})
    assert t.document_validator == v.object({"a": v.string()})
    u = define_table(v.union(v.object({"_id": v.string(), "a": v.string()}), v.object({"b": v.null()})))
    assert u.document_validator == v.union(v.object({"a": v.string()}), v.object({"b": v.null()}))


def test_define_table_rejects_non_object_validators():
    msg = schema_error(lambda: define_table(v.string()), "InvalidTopLevelTypeInSchemaError")
    assert msg == (
        "The document validator in a schema must be an object, a union of objects, or `v.any()`. "
        "Found v.string(). To learn more, see the schema documentation at "
        "https://docs.convex.dev/database/schemas."
    )
    schema_error(lambda: define_table(v.union(v.object({}), v.string())), "InvalidTopLevelTypeInSchemaError")
    schema_error(lambda: define_table(v.array(v.string())), "InvalidTopLevelTypeInSchemaError")
    with pytest.raises(TypeError):
        define_table("users")


def test_index_declarations():
    t = (
        define_table({"a": v.string(), "b": v.object({"c": v.number()}), "body": v.string(), "e": v.array(v.number())})
        .index("by_a", ["a"])
        .index("by_a_c", {"fields": ["a", "b.c"]})
        .index("by_c", ("b.c",))
        .search_index("search_body", search_field="body", filter_fields=["a"])
        .searchIndex("search_body2", {"searchField": "body", "filterFields": ["a", "b.c"]})
        .vector_index("by_e", vector_field="e", dimensions=3, filter_fields=["a"])
        .vectorIndex("by_e2", {"vectorField": "e", "dimensions": 4})
    )
    assert t.indexes == {"by_a": ("a",), "by_a_c": ("a", "b.c"), "by_c": ("b.c",)}
    assert t.search_indexes == {
        "search_body": SearchIndexDefinition("body", ("a",)),
        "search_body2": SearchIndexDefinition("body", ("a", "b.c")),
    }
    assert t.vector_indexes == {
        "by_e": VectorIndexDefinition("e", 3, ("a",)),
        "by_e2": VectorIndexDefinition("e", 4, ()),
    }
    assert isinstance(t, TableDefinition)
    define_schema({"t": t})


def test_index_paths_are_normalised_and_checked():
    assert define_table(v.any()).index("i", [".a.b."]).indexes == {"i": ("a.b",)}
    msg = schema_error(lambda: define_table(v.any()).index("i", ["a-b"]), "InvalidIndexField")
    assert msg == 'In index "i": Invalid index field: "a-b"'
    schema_error(lambda: define_table(v.any()).index("i", ["a..b"]), "InvalidIndexField")
    schema_error(lambda: define_table(v.any()).index("i", [""]), "InvalidIndexField")
    schema_error(lambda: define_table(v.any()).search_index("s", search_field="1a"), "InvalidIndexField")
    schema_error(lambda: define_table(v.any()).vector_index("x", vector_field="v", dimensions=2, filter_fields=["$"]), "InvalidIndexField")
    with pytest.raises(TypeError):
        define_table(v.any()).index("i", "a")
    with pytest.raises(TypeError):
        define_table(v.any()).index("i", [1])


def test_invalid_index_name():
    msg = schema_error(lambda: define_table(v.any()).index("by-a", ["a"]), "InvalidIndexName")
    assert msg == (
        'Invalid index name: "by-a". Identifiers must be 64 characters or less, start with a letter, '
        "and only contain letters, digits, underscores."
    )
    schema_error(lambda: define_table(v.any()).index("x" * 65, ["a"]), "InvalidIndexName")
    schema_error(lambda: define_table(v.any()).search_index("1s", search_field="a"), "InvalidIndexName")
    schema_error(lambda: define_table(v.any()).vector_index("__", vector_field="a", dimensions=2), "InvalidIndexName")
    define_table(v.any()).index("x" * 64, ["a"])


@pytest.mark.parametrize("name", ["by_id", "by_creation_time", "_mine"])
def test_reserved_index_names(name):
    msg = schema_error(lambda: define_schema({"t": define_table(v.any()).index(name, ["a"])}), "IndexNameReserved")
    assert msg == (
        f'In table "t" cannot name an index "{name}" because the name is reserved. Indexes may not '
        'start with an underscore or be named "by_id" or "by_creation_time".'
    )
    schema_error(lambda: define_schema({"t": define_table(v.any()).search_index(name, search_field="a")}), "IndexNameReserved")


def test_empty_index():
    msg = schema_error(lambda: define_schema({"t": define_table(v.any()).index("i", [])}), "EmptyIndex")
    assert msg == 'In table "t" index "i" must have at least one field.'


def test_duplicate_field_in_index():
    msg = schema_error(lambda: define_table(v.any()).index("i", ["a", "b", "a"]), "FieldsNotUniqueWithinIndex")
    assert msg == 'In index "i": Duplicate field "a". Index fields must be unique within an index.'


def test_id_in_index():
    msg = schema_error(lambda: define_table(v.any()).index("i", ["a", "_id"]), "IndexFieldsContainId")
    assert msg == 'In index "i": `_id` is not a valid index field. To load documents by ID, use `db.get(id)`.'


def test_creation_time_in_index():
    msg = schema_error(lambda: define_table(v.any()).index("i", ["a", "_creationTime"]), "IndexFieldsContainCreationTime")
    assert msg == (
        "`_creationTime` is automatically added to the end of each index. It should not be added "
        "explicitly in the index definition. See https://docs.convex.dev/using/indexes for more details."
    )


@pytest.mark.parametrize("field", ["_other", "a._b"])
def test_system_fields_in_index(field):
    msg = schema_error(lambda: define_table(v.any()).index("i", [field]), "IndexFieldNameReserved")
    assert msg == "Reserved fields (starting with `_`) are not allowed in indexes."


def test_index_field_count():
    fields = [f"f{i}" for i in range(16)]
    define_table(v.any()).index("ok", fields[:15])
    msg = schema_error(lambda: define_table(v.any()).index("i", fields), "IndexTooManyFields")
    assert msg == "Indexes may have up to 16 fields."
    msg = schema_error(lambda: define_table(v.any()).index("i", fields + ["f16"]), "IndexTooManyFields")
    assert msg == 'In index "i": Indexes may have up to 16 fields.'


def test_identical_field_lists():
    t = define_table(v.any()).index("by_b", ["x", "y"]).index("by_a", ["x", "y"])
    msg = schema_error(lambda: define_schema({"t": t}), "IndexNotUnique")
    assert msg == (
        'In table "t" index "by_b" and index "by_a" have the same fields. Indexes must be unique within a table.'
    )
    define_schema({"t": define_table(v.any()).index("a", ["x", "y"]).index("b", ["y", "x"]).index("c", ["x"])})


def test_duplicate_index_names():
    t = define_table(v.any()).index("i", ["a"]).search_index("i", search_field="b")
    msg = schema_error(lambda: define_schema({"t": t}), "IndexNamesNotUnique")
    assert msg == 'Table "t" has two or more definitions of index "i".'
    t2 = define_table(v.any()).index("i", ["a"]).index("i", ["b"])
    schema_error(lambda: define_schema({"t": t2}), "IndexNamesNotUnique")


def test_too_many_indexes():
    t = define_table(v.any())
    for i in range(60):
        t.index(f"i{i}", [f"f{i}"])
    for i in range(4):
        t.search_index(f"s{i}", search_field=f"s{i}")
    define_schema({"t": t})
    t.vector_index("v0", vector_field="e", dimensions=8)
    msg = schema_error(lambda: define_schema({"t": t}), "TooManyIndexes")
    assert msg == 'Table "t" cannot have more than 64 indexes.'


def test_filter_field_limits():
    fields = [f"f{i}" for i in range(17)]
    define_table(v.any()).search_index("s", search_field="a", filter_fields=fields[:16])
    define_table(v.any()).search_index("s", search_field="a", filter_fields=fields[:16] + ["f0"])  # a set
    msg = schema_error(lambda: define_table(v.any()).search_index("s", search_field="a", filter_fields=fields), "IndexTooManyFilterFields")
    assert msg == "Search indexes may have up to 16 filter fields."
    msg = schema_error(
        lambda: define_table(v.any()).vector_index("x", vector_field="e", dimensions=2, filter_fields=fields),
        "IndexTooManyFilterFields",
    )
    assert msg == "Search indexes may have up to 16 filter fields."


@pytest.mark.parametrize("dims, ok", [(1, False), (2, True), (4096, True), (4097, False), (0, False), (1536.0, True)])
def test_vector_dimensions(dims, ok):
    make = lambda: define_table(v.any()).vector_index("x", vector_field="e", dimensions=dims)  # noqa: E731
    if ok:
        assert make().vector_indexes["x"].dimensions == int(dims)
    else:
        msg = schema_error(make, "InvalidVectorDimensionError")
        assert msg == f"Dimensions {dims} must be between 2 and 4096."


def test_vector_dimensions_types():
    with pytest.raises(TypeError):
        define_table(v.any()).vector_index("x", vector_field="e", dimensions=2.5)
    with pytest.raises(TypeError):
        define_table(v.any()).vector_index("x", vector_field="e", dimensions="3")
    schema_error(lambda: define_table(v.any()).vectorIndex("x", {"vectorField": "e"}))
    with pytest.raises(TypeError):
        define_table(v.any()).search_index("s")


def test_search_and_vector_uniqueness():
    t = define_table(v.any()).search_index("b", search_field="body", filter_fields=["x"]).search_index(
        "a", search_field="body", filter_fields=["x"]
    )
    msg = schema_error(lambda: define_schema({"t": t}), "SearchIndexFieldNotUnique")
    assert msg == (
        'In table "t" search index "b" and search index "a" have the same `searchField`. Search index '
        "fields must be unique within a table. You should combine the\n             indexes with the same "
        "`searchField` into one index containing all `filterField`s and then use different subsets of "
        "the `filterField`s at query time."
    )
    # Same search field with different filter sets is allowed (Convex compares the pair).
    define_schema({"t": define_table(v.any()).search_index("a", search_field="body").search_index("b", search_field="body", filter_fields=["x"])})
    tv = define_table(v.any()).vector_index("a", vector_field="e", dimensions=3).vector_index("b", vector_field="e", dimensions=3, filter_fields=["k"])
    msg = schema_error(lambda: define_schema({"t": tv}), "VectorIndexFieldNotUnique")
    assert msg.startswith('In table "t" vector index "b" and vector index "a" have the same `vectorField`.')
    define_schema({"t": define_table(v.any()).vector_index("a", vector_field="e", dimensions=3).vector_index("b", vector_field="e", dimensions=4)})


def test_staged_indexes_are_refused():
    schema_error(lambda: define_table(v.any()).index("i", {"fields": ["a"], "staged": True}))
    schema_error(lambda: define_table(v.any()).searchIndex("s", {"searchField": "a", "staged": True}))


# --------------------------------------------------------------------------------------------
# Table names and references to fields


@pytest.mark.parametrize("name", ["my-table", "1table", "", "x" * 65, "___"])
def test_invalid_table_names(name):
    msg = schema_error(lambda: define_schema({name: define_table(v.any())}), "InvalidTableName")
    assert msg == (
        f'Invalid table name: "{name}". Identifiers must start with a letter and can only contain '
        "letters, digits, and underscores."
    )


def test_reserved_table_name():
    msg = schema_error(lambda: define_schema({"_users": define_table(v.any())}), "TableNameReserved")
    assert msg == "_users is a reserved table name."


@pytest.mark.parametrize("document", [
    {"_secret": v.string()},
    v.object({"a": v.string(), "_secret": v.string()}),
    v.union(v.object({"a": v.string()}), v.object({"_secret": v.string()})),
])
def test_top_level_fields_may_not_start_with_an_underscore(document):
    msg = schema_error(lambda: define_schema({"t": define_table(document)}), "InvalidFieldName")
    assert msg.startswith("Field '_secret' starts with an underscore, which is only allowed for system fields")


def test_system_fields_in_a_table_validator_are_dropped():
    table = define_table({"_id": v.id("t"), "_creationTime": v.number(), "a": v.string()})
    assert list(table.document_validator.fields) == ["a"]


def test_each_bad_name_is_refused_naming_it(app):
    """Tables, indexes and top-level fields: identifiers, no leading `_` (the schema is unchanged)."""
    bad = [
        (lambda: {"bad-table": define_table({"a": v.string()})}, '"bad-table"'),
        (lambda: {"_hidden": define_table({"a": v.string()})}, "_hidden"),
        (lambda: {"t": define_table({"_secret": v.string()})}, "'_secret'"),
        (lambda: {"t": define_table({"a": v.string()}).index("bad-index", ["a"])}, '"bad-index"'),
    ]
    for tables, culprit in bad:
        with pytest.raises(SchemaDefinitionError) as raised:
            app.set_schema(define_schema(tables()))
        assert culprit in str(raised.value)
    assert app.schema is None


def test_define_schema_arguments():
    with pytest.raises(TypeError):
        define_schema({"t": {"a": v.string()}})
    with pytest.raises(TypeError):
        define_schema([("t", define_table(v.any()))])


def test_indexed_fields_must_exist_with_schema_validation():
    t = define_table({"a": v.string(), "o": v.optional(v.object({"c": v.string()}))})
    msg = schema_error(lambda: define_schema({"t": define_table({"a": v.string()}).index("i", ["b"])}), "SchemaDefinitionError")
    assert msg == 'In table "t" the index "i" is invalid because it references the field "b" that does not exist.'
    define_schema({"t": t.index("ok", ["a", "o.c"])})
    schema_error(lambda: define_schema({"t": define_table({"o": v.object({})}).index("i", ["o.x"])}))
    schema_error(lambda: define_schema({"t": define_table({"a": v.string()}).index("i", ["a.x"])}))
    msg = schema_error(lambda: define_schema({"t": define_table({"body": v.string()}).search_index("s", search_field="text")}))
    assert msg == 'In table "t" the index "s" is invalid because it references the field "text" that does not exist.'
    msg = schema_error(
        lambda: define_schema({"t": define_table({"body": v.string()}).search_index("s", search_field="body", filter_fields=["room"])})
    )
    assert '"room" that does not exist' in msg
    msg = schema_error(lambda: define_schema({"t": define_table({"a": v.string()}).vector_index("x", vector_field="e", dimensions=2)}))
    assert msg == 'In table "t" the index "x" is invalid because it references the field "e" that does not exist.'
    # Without schema validation, or for v.any() / a union member that has it, nothing is refused.
    define_schema({"t": define_table({"a": v.string()}).index("i", ["b"])}, schema_validation=False)
    define_schema({"t": define_table(v.any()).index("i", ["b"]).search_index("s", search_field="x")})
    define_schema({"t": define_table(v.union(v.object({"a": v.string()}), v.object({"b": v.string()}))).index("i", ["b"])})
    define_schema({"t": define_table({"a": v.any()}).index("i", ["a.deep.er"])})
    # System fields are always there (filter fields may use them).
    define_schema({"t": define_table({"body": v.string()}).search_index("s", search_field="body", filter_fields=["_creationTime"])})


def test_vector_field_must_hold_float64_arrays():
    ok = [
        v.array(v.float64()),
        v.optional(v.array(v.number())),
        v.union(v.array(v.float64()), v.null()),
        v.array(v.any()),
        v.any(),
    ]
    for fv in ok:
        define_schema({"t": define_table({"e": fv}).vector_index("x", vector_field="e", dimensions=2)})
    for fv in [v.array(v.int64()), v.string(), v.array(v.string())]:
        msg = schema_error(lambda: define_schema({"t": define_table({"e": fv}).vector_index("x", vector_field="e", dimensions=2)}))
        assert msg == (
            'In table "t" the vector index "x" is invalid because it references the field "e" that is '
            "neither an array of float64 or optional array of float64."
        )
    define_schema({"t": define_table({"e": v.string()}).vector_index("x", vector_field="e", dimensions=2)}, schema_validation=False)


# --------------------------------------------------------------------------------------------
# JSON and fingerprint


def _schema():
    return define_schema(
        {
            "users": define_table(
                {
                    "name": v.string(),
                    "role": v.union(v.literal("admin"), v.literal("user")),
                    "n": v.optional(v.int64()),
                }
            ).index("by_name", ["name"]),
            "messages": define_table({"author": v.id("users"), "body": v.string(), "room": v.string(), "e": v.array(v.number())})
            .index("by_room", ["room"])
            .search_index("search_body", search_field="body", filter_fields=["room"])
            .vector_index("by_e", vector_field="e", dimensions=3, filter_fields=["room"]),
            "free": define_table(v.any()),
        }
    )


def test_to_json_shape():
    j = _schema().to_json()
    assert j["schemaValidation"] is True
    assert [t["tableName"] for t in j["tables"]] == ["users", "messages", "free"]
    m = j["tables"][1]
    assert m == {
        "tableName": "messages",
        "indexes": [{"indexDescriptor": "by_room", "fields": ["room"]}],
        "stagedDbIndexes": [],
        "searchIndexes": [{"indexDescriptor": "search_body", "searchField": "body", "filterFields": ["room"]}],
        "stagedSearchIndexes": [],
        "vectorIndexes": [{"indexDescriptor": "by_e", "vectorField": "e", "dimensions": 3, "filterFields": ["room"]}],
        "stagedVectorIndexes": [],
        "documentType": v.object({"author": v.id("users"), "body": v.string(), "room": v.string(), "e": v.array(v.number())}).to_json(),
    }
    assert j["tables"][2]["documentType"] == {"type": "any"}
    json.dumps(j)  # plain JSON


def test_json_round_trip():
    s = _schema()
    back = SchemaDefinition.from_json(s.to_json())
    assert back.to_json() == s.to_json()
    assert back.fingerprint() == s.fingerprint()
    assert SchemaDefinition.from_json(json.dumps(s.to_json())).to_json() == s.to_json()
    assert back.tables["messages"].vector_indexes["by_e"] == VectorIndexDefinition("e", 3, ("room",))
    off = define_schema({"t": define_table(v.any())}, schema_validation=False)
    assert SchemaDefinition.from_json(off.to_json()).schema_validation is False
    j = off.to_json()
    del j["schemaValidation"]
    assert SchemaDefinition.from_json(j).schema_validation is False  # Convex's default for old JSON
    legacy = {"tables": [{"tableName": "t", "indexes": [], "vectorIndexes": [{"indexDescriptor": "x", "vectorField": "e", "dimension": 4, "filterFields": []}]}]}
    assert SchemaDefinition.from_json(legacy).tables["t"].vector_indexes["x"].dimensions == 4
    with pytest.raises(SchemaDefinitionError):
        SchemaDefinition.from_json({"tables": [{"tableName": "t", "indexes": [{"indexDescriptor": "by_id", "fields": ["a"]}]}]})


def test_fingerprint():
    a = _schema()
    assert a.fingerprint() == _schema().fingerprint()
    assert isinstance(a.fingerprint(), str) and len(a.fingerprint()) == 64
    reordered = define_schema({k: a.tables[k] for k in reversed(list(a.tables))})
    assert reordered.fingerprint() == a.fingerprint()
    changed = define_schema({**a.tables, "users": define_table({"name": v.string()}).index("by_name", ["name"])})
    assert changed.fingerprint() != a.fingerprint()
    more = define_schema({**a.tables, "extra": define_table(v.any())})
    assert more.fingerprint() != a.fingerprint()
    off = define_schema(a.tables, schema_validation=False)
    assert off.fingerprint() != a.fingerprint()
    idx = define_schema({"t": define_table(v.any()).index("a", ["x"])}).fingerprint()
    assert idx != define_schema({"t": define_table(v.any()).index("a", ["y"])}).fingerprint()


def test_repr():
    t = define_table({"a": v.string()}).index("by_a", ["a"])
    assert repr(t) == "define_table(v.object({a: v.string()})).index('by_a', ['a'])"
    assert "schema_validation=True" in repr(define_schema({"t": t}))


# --------------------------------------------------------------------------------------------
# Documents


def test_validate_document():
    s = _schema()
    doc = {"_id": uid(), "_creationTime": 1.0, "name": "x", "role": "user"}
    assert s.validate_document("users", doc) is None
    assert s.validate_document("unknown", {"whatever": 1.0}) is None
    assert s.validate_document("free", {"whatever": 1.0}) is None
    with pytest.raises(ValidationMismatch) as e:
        s.validate_document("users", {**doc, "role": "boss"})
    assert e.value.message == (
        'Value does not match validator.\nPath: .role\nValue: "boss"\n'
        'Validator: v.union(v.literal("admin"), v.literal("user"))'
    )
    with pytest.raises(ValidationMismatch) as e:
        s.validate_document("users", {**doc, "n": 1.0})
    assert e.value.message == "Value does not match validator.\nPath: .n\nValue: 1.0\nValidator: v.int64()"
    with pytest.raises(ValidationMismatch) as e:
        s.validate_document("users", {"_id": uid(), "name": "x"})
    assert e.value.message.startswith("Object is missing the required field `role`.")
    off = define_schema(s.tables, schema_validation=False)
    assert off.validate_document("users", {"nonsense": True}) is None


def test_validate_document_checks_id_tables_with_resolver():
    s = _schema()
    names = {10001: "users", 10002: "messages"}
    msg_doc = {"author": uid(10002), "body": "b", "room": "r", "e": [1.0, 2.0, 3.0]}
    s.validate_document("messages", msg_doc)  # syntax only
    with pytest.raises(ValidationMismatch) as e:
        s.validate_document("messages", msg_doc, names.get)
    assert e.value.message.startswith(f'Found ID "{uid(10002)}" from table `messages`')
    s.validate_document("messages", {**msg_doc, "author": uid(10001)}, names.get)


def test_validate_union_document():
    s = define_schema({"t": define_table(v.union(v.object({"k": v.literal("a")}), v.object({"k": v.literal("b"), "x": v.number()})))})
    s.validate_document("t", {"_id": uid(), "k": "a"})
    s.validate_document("t", {"k": "b", "x": 1.0})
    with pytest.raises(ValidationMismatch) as e:
        s.validate_document("t", {"_id": uid(), "_creationTime": 2.0, "k": "c"})
    assert e.value.message == (
        'Value does not match validator.\n\nValue: {k: "c"}\n'
        'Validator: v.union(v.object({k: v.literal("a")}), v.object({k: v.literal("b"), x: v.float64()}))'
    )


def test_convert_document_applies_the_int_rule():
    s = _schema()
    out = s.convert_document("users", {"name": "x", "role": "user", "n": 5})
    assert out == {"name": "x", "role": "user", "n": 5} and type(out["n"]) is Int64
    # Not in the schema, v.any() table, or no int64 anywhere: the no-validator rule.
    assert type(s.convert_document("nowhere", {"n": 5})["n"]) is float
    assert type(s.convert_document("free", {"n": 5})["n"]) is float
    assert type(s.convert_document("messages", {"e": [1, 2, 3]})["e"][0]) is float
    # System fields pass through; a mismatching document is converted, not refused.
    i = uid()
    out = s.convert_document("users", {"_id": i, "_creationTime": 3, "n": 1, "extra": 2})
    assert out == {"_id": i, "_creationTime": 3.0, "n": Int64(1), "extra": 2.0}
    assert type(out["_creationTime"]) is float and type(out["extra"]) is float
    # Even with validation off, the validator decides what an int is.
    off = define_schema(s.tables, schema_validation=False)
    assert type(off.convert_document("users", {"n": 7})["n"]) is Int64
    with pytest.raises(ValueError):
        s.convert_document("nowhere", {"n": 2**60})
    assert s.convert_document("users", {"n": 2**60})["n"] == Int64(2**60)


def test_convert_document_union_table():
    s = define_schema({"t": define_table(v.union(v.object({"k": v.literal("a"), "n": v.int64()}), v.object({"k": v.literal("b"), "n": v.number()})))})
    assert type(s.convert_document("t", {"k": "a", "n": 1})["n"]) is Int64
    assert type(s.convert_document("t", {"k": "b", "n": 1})["n"]) is float
    assert type(s.convert_document("t", {"_id": uid(), "k": "a", "n": 1})["n"]) is Int64


def test_table_validator_accessor():
    s = _schema()
    assert s.table_validator("users") == s.tables["users"].document_validator
    assert s.table_validator("free") is None and s.table_validator("nope") is None
