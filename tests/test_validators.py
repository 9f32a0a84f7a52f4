"""Validators: every `v.*` type, the int rule, Convex's mismatch texts and paths, JSON, repr."""

from __future__ import annotations

import datetime
import math
import time

import numpy as np
import pytest

from convex_lab import ids
from convex_lab.errors import ArgumentValidationError, DocumentTooLarge
from convex_lab.validators import (
    ObjectValidator,
    ValidationMismatch,
    Validator,
    args_validator,
    match_document,
    scalar_column_type,
    v,
)
from convex_lab.values import UNSET, Int64, convex_value

USERS = 10001
MESSAGES = 10002
TABLES = {USERS: "users", MESSAGES: "messages", 31: "_storage"}


def resolver(n):
    return TABLES.get(n)


def uid(table=USERS, seed=0):
    return ids.encode_id(table, bytes((seed + i) % 256 for i in range(16)))


def mismatch(validator, raw, path="", res=None):
    with pytest.raises(ValidationMismatch) as e:
        validator.convert(raw, path, res)
    return e.value.message


def check_msg(validator, value, path="", res=None):
    with pytest.raises(ValidationMismatch) as e:
        validator.check(value, path, res)
    return e.value.message


def same(a, b):
    """Exact equality including types (Int64 vs float vs bool)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(sorted(a)) == list(sorted(b))
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


# --------------------------------------------------------------------------------------------
# Every validator type: accepts and rejects


@pytest.mark.parametrize(
    "validator, good, bad",
    [
        (v.string(), ["", "héllo", np.str_("x")], [1.0, None, b"x", True, ["x"]]),
        (v.number(), [1.5, 0.0, -0.0, math.inf, math.nan, 3, np.float32(1.5)], ["1", Int64(1), True, None]),
        (v.float64(), [1.5, 7], [Int64(7), False]),
        (v.int64(), [Int64(5), 5, np.int64(5), -(2**63)], [5.0, True, "5", None]),
        (v.bigint(), [Int64(5), 5], [5.5]),
        (v.boolean(), [True, False, np.bool_(True)], [0, 1, 1.0, None, "true"]),
        (v.null(), [None], [0.0, False, ""]),
        (v.bytes(), [b"", b"ab", bytearray(b"x"), memoryview(b"y")], ["ab", [1.0]]),
        (v.any(), [None, 1, "x", [1, {"a": b""}], {"k": Int64(1)}], []),
        (v.array(v.string()), [[], ["a", "b"], ("a",)], [["a", 1.0], "ab", {"0": "a"}]),
        (v.object({"a": v.string()}), [{"a": "x"}], [{"a": 1.0}, {}, {"a": "x", "b": "y"}, ["a"]]),
        (v.record(v.string(), v.number()), [{}, {"a": 1.0, "b": 2}], [{"a": "x"}, [1.0], None]),
        (v.union(v.string(), v.null()), ["x", None], [1.0, False]),
        (v.optional(v.string()), ["x"], [1.0]),
        (v.literal("a"), ["a"], ["b", 1.0]),
        (v.literal(2), [2, 2.0], [Int64(2), "2", 2.5]),
        (v.literal(True), [True], [False, 1.0]),
        (v.literal(Int64(7)), [Int64(7), 7], [7.0, Int64(8)]),
    ],
)
def test_every_validator_accepts_and_rejects(validator, good, bad):
    for raw in good:
        value = validator.convert(raw)
        validator.check(value)
        assert validator.is_valid(value)
    for raw in bad:
        with pytest.raises(ValidationMismatch):
            validator.convert(raw)


def test_id_validator_syntax_and_tables():
    i = uid()
    assert v.id("users").convert(i) == i
    v.id("users").check(i, resolver=resolver)
    with pytest.raises(ValidationMismatch):
        v.id("users").convert("not-an-id")
    with pytest.raises(ValidationMismatch):
        v.id("users").convert(5)
    # Without a resolver only the syntax is checked.
    v.id("messages").check(i)
    with pytest.raises(ValidationMismatch):
        v.id("messages").check(i, resolver=resolver)


def test_any_stores_ints_as_float_and_keeps_int64():
    same(v.any().convert({"a": 1, "b": [2], "c": Int64(3)}), {"a": 1.0, "b": [2.0], "c": Int64(3)})


def test_convert_returns_fresh_structures():
    raw = {"a": ["x"]}
    out = v.object({"a": v.array(v.string())}).convert(raw)
    assert out == raw and out is not raw and out["a"] is not raw["a"]
    raw2 = {"n": [1]}
    out2 = v.object({"n": v.array(v.int64())}).convert(raw2)
    assert out2["n"] is not raw2["n"]


def test_unset_fields_are_missing():
    o = v.object({"a": v.optional(v.int64()), "b": v.string()})
    same(o.convert({"a": UNSET, "b": "x"}), {"b": "x"})
    same(v.object({"b": v.optional(v.string())}).convert({"b": UNSET}), {})


# --------------------------------------------------------------------------------------------
# The int rule


@pytest.mark.parametrize(
    "validator, raw, expected",
    [
        (v.int64(), 5, Int64(5)),
        (v.int64(), np.int32(-3), Int64(-3)),
        (v.int64(), 2**60, Int64(2**60)),
        (v.optional(v.int64()), 5, Int64(5)),
        (v.array(v.int64()), [1, 2], [Int64(1), Int64(2)]),
        (v.object({"n": v.int64()}), {"n": 1}, {"n": Int64(1)}),
        (v.object({"n": v.optional(v.int64())}), {"n": 1}, {"n": Int64(1)}),
        (v.record(v.string(), v.int64()), {"a": 1, "b": 2}, {"a": Int64(1), "b": Int64(2)}),
        (v.union(v.int64(), v.string()), 1, Int64(1)),
        (v.union(v.string(), v.int64(), v.null()), 1, Int64(1)),
        (v.union(v.literal(Int64(1)), v.literal(Int64(2))), 2, Int64(2)),
        (v.literal(Int64(7)), 7, Int64(7)),
        (v.array(v.object({"xs": v.array(v.int64())})), [{"xs": [1]}], [{"xs": [Int64(1)]}]),
        # Float64 positions: ints become floats.
        (v.number(), 5, 5.0),
        (v.any(), 5, 5.0),
        (v.union(v.int64(), v.number()), 5, 5.0),
        (v.union(v.number(), v.int64()), 5, 5.0),
        (v.union(v.int64(), v.any()), 5, 5.0),
        (v.union(v.literal(Int64(1)), v.literal(1.0)), 1, 1.0),
        (v.object({"n": v.int64(), "f": v.number()}), {"n": 1, "f": 1}, {"n": Int64(1), "f": 1.0}),
        (v.object({"n": v.int64()}), {"n": Int64(3)}, {"n": Int64(3)}),
        # Fields outside the validator follow the no-validator rule (and then fail as extra).
    ],
)
def test_int_rule(validator, raw, expected):
    same(validator.convert(raw), expected)


def test_int_rule_unions_of_objects_pick_the_member_that_matches():
    u = v.union(
        v.object({"kind": v.literal("a"), "n": v.int64()}),
        v.object({"kind": v.literal("b"), "n": v.number()}),
    )
    same(u.convert({"kind": "a", "n": 1}), {"kind": "a", "n": Int64(1)})
    same(u.convert({"kind": "b", "n": 1}), {"kind": "b", "n": 1.0})
    arr = v.union(v.array(v.int64()), v.array(v.string()))
    same(arr.convert([1, 2]), [Int64(1), Int64(2)])
    same(arr.convert(["a"]), ["a"])
    msg = mismatch(u, {"kind": "c", "n": 1})
    assert msg.startswith("Value does not match validator.\n\nValue: {kind: \"c\", n: 1.0}\nValidator: v.union(")


def test_int_rule_int_outside_ranges():
    with pytest.raises(ValueError, match="outside the range of a Convex `Float64`"):
        v.number().convert(2**53 + 1)
    with pytest.raises(ValueError):
        v.object({"f": v.number()}).convert({"f": -(2**60)})
    with pytest.raises(ValueError, match="outside allowed range for an int64"):
        v.int64().convert(2**63)
    # A union whose float member can't take it falls to the int64 member.
    same(v.union(v.object({"n": v.number()}), v.object({"n": v.int64()})).convert({"n": 2**60}), {"n": Int64(2**60)})


def test_int_rule_never_applies_to_bool():
    assert "Value: true" in mismatch(v.int64(), True)
    assert "Value: false" in mismatch(v.number(), False)
    assert v.union(v.int64(), v.boolean()).convert(True) is True


def test_int64_value_where_float_expected_is_a_mismatch():
    assert mismatch(v.number(), Int64(5)) == "Value does not match validator.\n\nValue: 5\nValidator: v.float64()"


def test_fast_path_matches_convex_value():
    o = v.object({"a": v.array(v.union(v.number(), v.string())), "b": v.any()})
    raw = {"a": [1, "x", (2.5,)[0]], "b": {"c": (1, 2)}}
    same(o.convert(raw), convex_value(raw))
    assert not o.has_int64 and v.object({"x": v.array(v.int64())}).has_int64


def test_unsupported_types_raise_type_error_with_path():
    with pytest.raises(TypeError, match=r"not a supported Convex type \(present at path \.when"):
        v.object({"when": v.any()}).convert({"when": datetime.datetime(2024, 1, 1)})
    with pytest.raises(TypeError, match=r"present at path \.a\.b"):
        v.object({"a": v.object({"b": v.int64()})}).convert({"a": {"b": {1, 2}}})
    with pytest.raises(TypeError):
        v.array(v.int64()).convert(np.array([1, 2]))
    with pytest.raises(TypeError):
        v.int64().convert(object())


def test_coerce_applies_the_rule_without_validating():
    o = v.object({"n": v.int64()})
    same(o.coerce({"n": 1, "extra": 2}), {"n": Int64(1), "extra": 2.0})
    same(v.string().coerce(5), 5.0)


# --------------------------------------------------------------------------------------------
# Values that are not Convex values: lone surrogates, nesting past 64, reference cycles

_LONE = "is not valid Unicode: it contains a lone surrogate (U+D800). Convex strings must be valid UTF-8."


@pytest.mark.parametrize(
    "validator, raw, path",
    [
        (v.string(), "\ud800", ""),
        (v.id("users"), "\ud800", ""),
        (v.literal("x"), "\ud800", ""),
        (v.any(), {"a": ["\ud800"]}, ".a[0]"),
        (v.array(v.string()), ["ok", "\ud800"], "[1]"),
        (v.object({"a": v.object({"b": v.string()})}), {"a": {"b": "\ud800"}}, ".a.b"),
        (v.record(v.string(), v.string()), {"k": "\ud800"}, ".k"),
        (v.union(v.null(), v.array(v.string())), ["\ud800"], "[0]"),
        # Validators with an int64 inside convert field by field (the int rule).
        (v.object({"n": v.int64(), "s": v.optional(v.string())}), {"n": 1, "s": "\ud800"}, ".s"),
        (v.array(v.union(v.int64(), v.string())), [1, "\ud800"], "[1]"),
        (v.record(v.string(), v.union(v.int64(), v.string())), {"k": "\ud800"}, ".k"),
        (v.union(v.int64(), v.literal("x")), "\ud800", ""),
    ],
)
def test_lone_surrogates_are_a_mismatch_naming_the_path(validator, raw, path):
    message = mismatch(validator, raw)
    message.encode("utf-8")  # the message itself is valid UTF-8
    expected = f'String "\\ud800" {_LONE}'
    assert message == (f"{expected}\nPath: {path}" if path else expected)
    assert mismatch(validator, raw, ".args").endswith(f"\nPath: .args{path}")
    with pytest.raises(ValueError, match="lone surrogate"):
        validator.coerce(raw)  # the conversion alone raises values' plain error


def test_lone_surrogate_literal_is_refused_and_valid_text_passes():
    with pytest.raises(ValueError, match=r"lone surrogate \(U\+DFFF\)"):
        v.literal("a\udfff")
    assert v.object({"s": v.string(), "n": v.int64()}).convert({"s": "héllo 😀\n", "n": 1}) == {
        "s": "héllo 😀\n",
        "n": Int64(1),
    }


def test_lone_surrogate_in_a_field_name_gives_a_printable_message():
    message = mismatch(v.object({"a": v.string()}), {"a": "x", "\ud800": 1.0})
    message.encode("utf-8")
    assert message.startswith("Object contains extra field `\\ud800` that is not in the validator.")
    with pytest.raises(ValueError) as e:
        v.object({"\ud800": v.string()})
    assert "Invalid field name `\\ud800`" in str(e.value).encode("utf-8").decode("utf-8")


def _nest(levels, leaf=1):
    out = leaf
    for _ in range(levels):
        out = [out]
    return out


@pytest.mark.parametrize(
    "validator, wrap, top",
    [
        (v.any(), lambda x: x, 0),
        (v.array(v.any()), lambda x: x, 0),
        (v.array(v.array(v.int64())), lambda x: x, 0),  # converted by the validators themselves
        (v.object({"n": v.int64(), "rest": v.any()}), lambda x: {"n": 1, "rest": x}, 1),
        (v.record(v.string(), v.array(v.int64())), lambda x: {"k": x}, 1),
    ],
)
def test_nesting_past_64_raises_convex_error_with_the_path(validator, wrap, top):
    validator.coerce(wrap(_nest(63 - top, leaf=[])))  # 64 levels in all: converts
    for levels in (65 - top, 5000):
        with pytest.raises(DocumentTooLarge) as e:
            validator.convert(wrap(_nest(levels - 1, leaf=[])), ".args")
        too_nested = "Value is too nested (nested 65 levels deep > maximum nesting 64)"
        assert str(e.value).startswith(f"{too_nested} (present at path .args")
        assert str(e.value).endswith("[0][0]…)")


def test_a_value_containing_itself_is_reported_as_a_cycle():
    a = []
    a.append(a)
    d = {"x": 1}
    d["self"] = d
    cycle = "The value contains itself (a reference cycle at path {}); Convex values must be trees (JSON-like)."
    for validator, raw, path in [
        (v.any(), a, "[0]"),
        (v.array(v.any()), a, "[0]"),
        (v.any(), d, ".self"),
        (v.object({"n": v.int64(), "rest": v.any()}), {"n": 1, "rest": d}, ".rest.self"),
        (v.array(v.union(v.int64(), v.array(v.any()))), [a], "[0][0]"),
    ]:
        with pytest.raises(ValueError) as e:
            validator.convert(raw)
        assert str(e.value) == cycle.format(path)


# --------------------------------------------------------------------------------------------
# Messages and paths (Convex's ValidationError texts)


def test_no_match_message_with_path():
    assert mismatch(v.object({"a": v.string()}), {"a": 5}) == (
        "Value does not match validator.\nPath: .a\nValue: 5.0\nValidator: v.string()"
    )


def test_no_match_message_without_path_has_empty_line():
    assert mismatch(v.string(), 5) == "Value does not match validator.\n\nValue: 5.0\nValidator: v.string()"


def test_nested_paths():
    o = v.object({"a": v.object({"b": v.array(v.int64())})})
    assert mismatch(o, {"a": {"b": [1, 2, "x"]}}).split("\n")[1] == "Path: .a.b[2]"
    assert check_msg(o, {"a": {"b": [Int64(1), 2.0]}}).split("\n")[1] == "Path: .a.b[1]"


def test_path_prefix_argument():
    msg = mismatch(v.object({"b": v.string()}), {"b": 1}, ".args")
    assert msg.split("\n")[1] == "Path: .args.b"
    assert check_msg(v.string(), 1.0, "[3]").split("\n")[1] == "Path: [3]"


def test_missing_field_message():
    o = v.object({"x": v.string(), "y": v.optional(v.number())})
    assert mismatch(o, {"y": 1}) == (
        "Object is missing the required field `x`. Consider wrapping the field validator in "
        "`v.optional(...)` if this is expected.\n\nObject: {y: 1.0}\n"
        "Validator: v.object({x: v.string(), y: v.optional(v.float64())})"
    )


def test_missing_field_nested_has_path():
    o = v.object({"inner": v.object({"x": v.string()})})
    assert mismatch(o, {"inner": {}}) == (
        "Object is missing the required field `x`. Consider wrapping the field validator in "
        "`v.optional(...)` if this is expected.\nPath: .inner\nObject: {}\nValidator: v.object({x: v.string()})"
    )


def test_extra_field_message():
    o = v.object({"a": v.string()})
    assert mismatch(o, {"a": "x", "z": 1, "y": True}) == (
        "Object contains extra field `y` that is not in the validator.\n\n"
        'Object: {a: "x", y: true, z: 1.0}\nValidator: v.object({a: v.string()})'
    )


def test_errors_follow_field_name_order():
    o = v.object({"b": v.string(), "a": v.string(), "c": v.string()})
    # `a` (missing) is reported before the bad `b` and the extra `d`.
    assert mismatch(o, {"b": 1, "c": "x", "d": 1}).startswith("Object is missing the required field `a`")
    assert mismatch(o, {"a": "x", "b": 1, "d": 1}).split("\n")[1] == "Path: .b"
    assert mismatch(o, {"a": "x", "b": "x", "c": "x", "d": 1}).startswith("Object contains extra field `d`")


def test_literal_message():
    assert mismatch(v.object({"role": v.literal("admin")}), {"role": "x"}) == (
        '`"x"` does not match literal validator `v.literal("admin")`.Path: .role'
    )
    assert mismatch(v.literal(1.5), 2) == "`2.0` does not match literal validator `v.literal(1.5)`."
    assert mismatch(v.literal(Int64(2)), 3) == "`3` does not match literal validator `v.literal(<bigint>)`."
    assert mismatch(v.literal(False), True) == "`true` does not match literal validator `v.literal(false)`."


def test_literal_float_equality_is_convex_equality():
    with pytest.raises(ValidationMismatch):
        v.literal(0.0).check(-0.0)
    v.literal(-0.0).check(-0.0)


def test_id_messages():
    i = uid()
    assert check_msg(v.object({"u": v.id("messages")}), {"u": i}, res=resolver) == (
        f'Found ID "{i}" from table `users`, which does not match the table name in validator '
        '`v.id("messages")`.Path: .u'
    )
    s = uid(31)
    assert check_msg(v.id("users"), s, res=resolver) == (
        f'Found ID "{s}" from a system table, which does not match the table name in validator '
        '`v.id("users")`.'
    )
    assert check_msg(v.id("users"), "abc") == 'Value does not match validator.\n\nValue: "abc"\nValidator: v.id("users")'
    # An id of a table the resolver does not know: no match.
    assert check_msg(v.id("users"), uid(12345), res=resolver).startswith("Value does not match validator.")


def test_union_messages():
    u = v.union(v.string(), v.null())
    assert mismatch(u, 5) == "Value does not match validator.\n\nValue: 5.0\nValidator: v.union(v.string(), v.null())"
    # A one-member union reports its member's error.
    one = v.union(v.object({"a": v.string()}))
    assert mismatch(one, {}).startswith("Object is missing the required field `a`")


def test_record_paths():
    r = v.object({"r": v.record(v.id("users"), v.int64())})
    assert check_msg(r, {"r": {"bad": Int64(1)}}).split("\n")[1] == "Path: .r.keys()"
    assert check_msg(r, {"r": {uid(): 1.0}}).split("\n")[1] == "Path: .r.values()"
    nested = v.record(v.string(), v.object({"x": v.string()}))
    assert check_msg(nested, {"k": {"x": 1.0}}).split("\n")[1] == "Path: .values().x"
    # The first failure in key order is reported.
    assert "Value: 1.0" in check_msg(v.record(v.string(), v.string()), {"b": 2.0, "a": 1.0})


def test_exception_str_is_message():
    try:
        v.string().convert(1)
    except ValidationMismatch as e:
        assert str(e) == e.message


# --------------------------------------------------------------------------------------------
# JSON, repr, equality


JSON_CASES = [
    (v.string(), {"type": "string"}, "v.string()"),
    (v.number(), {"type": "number"}, "v.float64()"),
    (v.float64(), {"type": "number"}, "v.float64()"),
    (v.int64(), {"type": "bigint"}, "v.int64()"),
    (v.bigint(), {"type": "bigint"}, "v.int64()"),
    (v.boolean(), {"type": "boolean"}, "v.boolean()"),
    (v.null(), {"type": "null"}, "v.null()"),
    (v.bytes(), {"type": "bytes"}, "v.bytes()"),
    (v.any(), {"type": "any"}, "v.any()"),
    (v.id("users"), {"type": "id", "tableName": "users"}, 'v.id("users")'),
    (v.literal("a\"b"), {"type": "literal", "value": 'a"b'}, 'v.literal("a\\"b")'),
    (v.literal(3), {"type": "literal", "value": 3.0}, "v.literal(3.0)"),
    (v.literal(1e16), {"type": "literal", "value": 1e16}, "v.literal(1e16)"),
    (v.literal(True), {"type": "literal", "value": True}, "v.literal(true)"),
    (v.literal(Int64(1)), {"type": "literal", "value": {"$integer": "AQAAAAAAAAA="}}, "v.literal(<bigint>)"),
    (v.array(v.string()), {"type": "array", "value": {"type": "string"}}, "v.array(v.string())"),
    (
        v.object({"b": v.optional(v.int64()), "a": v.string()}),
        {
            "type": "object",
            "value": {
                "b": {"fieldType": {"type": "bigint"}, "optional": True},
                "a": {"fieldType": {"type": "string"}, "optional": False},
            },
        },
        "v.object({a: v.string(), b: v.optional(v.int64())})",
    ),
    (v.object({}), {"type": "object", "value": {}}, "v.object({})"),
    (
        v.record(v.string(), v.number()),
        {"type": "record", "keys": {"type": "string"}, "values": {"fieldType": {"type": "number"}, "optional": False}},
        "v.record(v.string(), v.float64())",
    ),
    (
        v.union(v.literal("a"), v.null()),
        {"type": "union", "value": [{"type": "literal", "value": "a"}, {"type": "null"}]},
        'v.union(v.literal("a"), v.null())',
    ),
    (v.optional(v.string()), {"type": "string"}, "v.optional(v.string())"),
]


@pytest.mark.parametrize("validator, j, text", JSON_CASES)
def test_json_and_repr(validator, j, text):
    assert validator.to_json() == j
    assert repr(validator) == text
    back = Validator.from_json(j)
    assert back.to_json() == j
    if not validator.is_optional:
        assert back == validator


def test_from_json_legacy_and_lenient_forms():
    assert Validator.from_json({"type": "map", "keys": {"type": "string"}, "values": {"type": "string"}}) == v.any()
    assert Validator.from_json({"type": "set", "value": {"type": "string"}}) == v.any()
    assert Validator.from_json({"type": "record", "keys": {"type": "string"}, "values": {"type": "number"}}) == v.record(
        v.string(), v.number()
    )
    with pytest.raises(ValueError):
        Validator.from_json({"type": "mystery"})
    with pytest.raises(ValueError, match="Records cannot have optional values"):
        Validator.from_json(
            {"type": "record", "keys": {"type": "string"}, "values": {"fieldType": {"type": "number"}, "optional": True}}
        )


def test_structural_equality_and_hash():
    a = v.object({"x": v.string(), "y": v.optional(v.array(v.int64()))})
    b = v.object({"y": v.optional(v.array(v.int64())), "x": v.string()})
    assert a == b and hash(a) == hash(b)
    assert a != v.object({"x": v.string(), "y": v.array(v.int64())})
    assert v.number() == v.float64() and v.int64() == v.bigint()
    assert v.union(v.string(), v.null()) != v.union(v.null(), v.string())
    assert v.literal(1) == v.literal(1.0) != v.literal(Int64(1))
    assert v.literal(0.0) != v.literal(-0.0)
    assert v.id("a") != v.id("b")
    assert len({v.string(), v.string(), v.number()}) == 2


def test_is_optional_and_fields():
    o = v.object({"a": v.optional(v.string()), "b": v.number()})
    assert o.fields["a"].is_optional and not o.fields["b"].is_optional
    assert list(o.fields) == ["a", "b"]
    assert v.optional(v.optional(v.string())) == v.optional(v.string())
    assert not v.string().is_optional


def test_object_helpers():
    o = v.object({"a": v.string(), "b": v.number()})
    assert o.extend({"c": v.null()}).fields.keys() == {"a", "b", "c"}
    assert list(o.pick("a").fields) == ["a"]
    assert list(o.omit("a").fields) == ["b"]
    assert all(fv.is_optional for fv in o.partial().fields.values())
    assert v.nullable(v.string()) == v.union(v.string(), v.null())


def test_construction_errors():
    with pytest.raises(TypeError, match="v.id"):
        v.id(5)
    with pytest.raises(TypeError):
        v.literal([1])
    with pytest.raises(TypeError):
        v.literal(None)
    with pytest.raises(ValueError, match="Infinite or NaN"):
        v.literal(math.nan)
    with pytest.raises(TypeError):
        v.object({"a": "string"})
    with pytest.raises(TypeError):
        v.object({"a": None})
    with pytest.raises(ValueError, match="invalid character"):
        v.object({"a-b": v.string()})
    with pytest.raises(TypeError):
        v.array(None)
    with pytest.raises(TypeError, match="only object fields can be optional"):
        v.array(v.optional(v.string()))
    with pytest.raises(TypeError, match="only object fields can be optional"):
        v.union(v.optional(v.string()), v.null())
    with pytest.raises(TypeError):
        v.union(v.string(), 5)
    with pytest.raises(TypeError, match="optional values"):
        v.record(v.string(), v.optional(v.number()))
    with pytest.raises(ValueError, match="Records can only have string keys"):
        v.record(v.number(), v.number())
    with pytest.raises(ValueError, match="Records can only have string keys"):
        v.record(v.any(), v.number())
    v.record(v.union(v.id("users"), v.string()), v.number())  # fine
    v.record(v.union(v.literal("a"), v.string()), v.number())  # fine: a string subtype
    with pytest.raises(ValueError, match="Records can only have string keys"):
        v.record(v.union(v.literal("a"), v.literal(1.0)), v.number())


def test_record_keys_may_be_a_union_of_string_literals(memory_app):
    keys = v.union(v.literal("foo"), v.literal("bar"))

    @memory_app.query(args={"arg": v.record(keys, v.number())})
    def echo(ctx, arg):
        return arg

    assert echo(arg={"foo": 0.0, "bar": 1.0}) == {"foo": 0.0, "bar": 1.0}
    assert echo(arg={"bar": 2.0}) == {"bar": 2.0}  # a key may be absent
    with pytest.raises(ArgumentValidationError) as raised:
        echo(arg={"foo": 0.0, "qux": 1.0})
    assert "Path: .arg.keys()" in str(raised.value)
    assert "Value: \"qux\"" in str(raised.value)
    assert v.record(keys, v.number()).to_json()["keys"] == {
        "type": "union", "value": [{"type": "literal", "value": "foo"}, {"type": "literal", "value": "bar"}]}


# --------------------------------------------------------------------------------------------
# Helpers


@pytest.mark.parametrize(
    "validator, sql",
    [
        (v.int64(), "BIGINT"),
        (v.number(), "DOUBLE"),
        (v.float64(), "DOUBLE"),
        (v.string(), "VARCHAR"),
        (v.id("users"), "VARCHAR"),
        (v.bytes(), "BLOB"),
        (v.boolean(), "BOOLEAN"),
        (v.optional(v.int64()), "BIGINT"),
        (v.literal("a"), "VARCHAR"),
        (v.literal(1.5), "DOUBLE"),
        (v.literal(Int64(1)), "BIGINT"),
        (v.literal(True), "BOOLEAN"),
        (v.union(v.literal("a"), v.literal("b")), "VARCHAR"),
        (v.union(v.string(), v.id("users"), v.literal("x")), "VARCHAR"),
        (v.union(v.literal(True), v.boolean()), "BOOLEAN"),
        (v.optional(v.union(v.int64(), v.literal(Int64(3)))), "BIGINT"),
        (v.union(v.string(), v.null()), None),
        (v.union(v.int64(), v.number()), None),
        (v.null(), None),
        (v.any(), None),
        (v.array(v.int64()), None),
        (v.object({"a": v.string()}), None),
        (v.record(v.string(), v.string()), None),
        (v.union(), None),
        (None, None),
    ],
)
def test_scalar_column_type(validator, sql):
    assert scalar_column_type(validator) == sql


def test_args_validator():
    o = args_validator({"a": v.string()})
    assert isinstance(o, ObjectValidator) and o == v.object({"a": v.string()})
    obj = v.object({"b": v.int64()})
    assert args_validator(obj) is obj
    assert args_validator(None) is None
    assert args_validator({}) == v.object({})
    with pytest.raises(TypeError):
        args_validator(v.string())
    with pytest.raises(TypeError):
        args_validator(["a"])
    same(args_validator({"n": v.int64()}).convert({"n": 3}), {"n": Int64(3)})


def test_match_document_ignores_system_fields():
    o = v.object({"a": v.string()})
    doc = {"_id": uid(), "_creationTime": 1.0, "a": "x"}
    match_document(o, doc)
    with pytest.raises(ValidationMismatch) as e:
        match_document(o, {**doc, "b": 1.0})
    assert e.value.message == (
        "Object contains extra field `b` that is not in the validator.\n\n"
        'Object: {a: "x", b: 1.0}\nValidator: v.object({a: v.string()})'
    )
    with pytest.raises(ValidationMismatch) as e:
        match_document(o, {"_id": uid(), "_creationTime": 1.0})
    assert "\nObject: {}\n" in e.value.message
    u = v.union(v.object({"a": v.string()}), v.object({"b": v.number()}))
    match_document(u, {**doc})
    match_document(u, {"_id": uid(), "b": 1.0})
    with pytest.raises(ValidationMismatch) as e:
        match_document(u, {"_id": uid(), "c": 1.0})
    assert e.value.message == (
        "Value does not match validator.\n\nValue: {c: 1.0}\n"
        "Validator: v.union(v.object({a: v.string()}), v.object({b: v.float64()}))"
    )
    match_document(v.any(), {"_id": "x", "anything": [1.0]})


def test_check_is_fast_enough():
    o = v.object(
        {
            "name": v.string(),
            "n": v.int64(),
            "score": v.optional(v.number()),
            "role": v.union(v.literal("admin"), v.literal("user")),
            "tags": v.array(v.string()),
            "author": v.id("users"),
        }
    )
    author = uid()
    docs = [
        {"_id": author, "_creationTime": float(i), "name": "x", "n": Int64(i), "role": "user", "tags": ["a"], "author": author}
        for i in range(100_000)
    ]
    start = time.perf_counter()
    for d in docs:
        match_document(o, d, resolver)
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0, elapsed


# --------------------------------------------------------------------------------------------
# Property: values generated from a validator pass it, survive convert unchanged, and the
# validator survives its JSON form.

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_int64s = st.integers(-(2**63), 2**63 - 1).map(Int64)

_leaf = st.one_of(
    st.sampled_from([v.string(), v.number(), v.int64(), v.boolean(), v.null(), v.bytes(), v.any()]),
    st.one_of(st.text(max_size=5), _finite, st.booleans(), _int64s).map(v.literal),
)


def _extend(children):
    return st.one_of(
        children.map(v.array),
        st.dictionaries(_names, st.tuples(children, st.booleans()), max_size=4).map(
            lambda d: v.object({k: (v.optional(x) if opt else x) for k, (x, opt) in d.items()})
        ),
        st.lists(children, min_size=1, max_size=3).map(lambda ms: v.union(*ms)),
        children.map(lambda x: v.record(v.string(), x)),
    )


_validators = st.recursive(_leaf, _extend, max_leaves=8)


def _value_for(draw, x):
    if x.is_optional:
        x = x.inner
    kind = x.kind
    if kind == "string":
        return draw(st.text(max_size=5))
    if kind == "number":
        return draw(_finite)
    if kind == "bigint":
        return draw(_int64s)
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "null":
        return None
    if kind == "bytes":
        return draw(st.binary(max_size=4))
    if kind == "any":
        return draw(st.one_of(st.none(), _finite, st.text(max_size=3), _int64s))
    if kind == "literal":
        return x.value
    if kind == "array":
        return [_value_for(draw, x.element) for _ in range(draw(st.integers(0, 3)))]
    if kind == "object":
        out = {}
        for k, fv in x.fields.items():
            if fv.is_optional and draw(st.booleans()):
                continue
            out[k] = _value_for(draw, fv)
        return out
    if kind == "record":
        return {k: _value_for(draw, x.values) for k in draw(st.lists(_names, max_size=3, unique=True))}
    if kind == "union":
        return _value_for(draw, draw(st.sampled_from(x.members)))
    raise AssertionError(kind)


@st.composite
def _validator_and_value(draw):
    x = draw(_validators)
    return x, _value_for(draw, x)


@settings(max_examples=300, deadline=None)
@given(_validator_and_value())
def test_property_generated_values_pass(pair):
    x, value = pair
    x.check(value)
    same(x.convert(value), value)
    assert Validator.from_json(x.to_json()) == x
    assert Validator.from_json(x.to_json()).to_json() == x.to_json()
    assert repr(Validator.from_json(x.to_json())) == repr(x)
