"""values/: conversion, order, Convex JSON, export JSON, limits, display."""

from __future__ import annotations

import copy
import datetime
import json
import math
import pickle
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convex_lab.errors import DocumentTooLarge
from convex_lab.values import (
    MAX_SAFE_INT,
    UNSET,
    Int64,
    check_document,
    check_value_limits,
    compare_values,
    convex_value,
    copy_value,
    display_value,
    dumps_export,
    format_float_export,
    format_size,
    from_convex_json,
    from_export_json,
    loads_export,
    stringify_value_for_error,
    to_convex_json,
    to_export_json,
    type_name,
    value_size,
    values_equal,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TYPES_URL = "To learn about Convex's supported types, see https://docs.convex.dev/using/types."


def same(a, b) -> bool:
    """Structural identity of internal values, down to the Python type and the float bits."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return struct.pack("<d", a) == struct.pack("<d", b) or (a != a and b != b)
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


# ---------------------------------------------------------------------------- strategies

int64s = st.integers(-(2**63), 2**63 - 1).map(Int64)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, math.inf, -math.inf, math.nan, 1e16, 1e-7, 1.5e300, 5e-324, 2.0**53]
)
field_names = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=6).filter(
    lambda k: not k.startswith("$")
)
scalars = st.none() | st.booleans() | int64s | floats | st.text(max_size=8) | st.binary(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(field_names, inner, max_size=4),
    max_leaves=20,
)


# ---------------------------------------------------------------------------- UNSET / Int64


def test_unset_is_a_falsy_singleton_with_a_readable_repr():
    assert repr(UNSET) == "UNSET"
    assert not UNSET
    assert type(UNSET)() is UNSET
    assert copy.copy(UNSET) is UNSET and copy.deepcopy(UNSET) is UNSET
    assert pickle.loads(pickle.dumps(UNSET)) is UNSET


def test_int64_range_repr_and_arithmetic():
    assert repr(Int64(5)) == "Int64(5)"
    assert str(Int64(-5)) == "-5"
    assert Int64(2**63 - 1) == 2**63 - 1 and Int64(-(2**63)) == -(2**63)
    with pytest.raises(ValueError, match="outside allowed range for an int64"):
        Int64(2**63)
    with pytest.raises(ValueError):
        Int64(-(2**63) - 1)
    total = Int64(2) + Int64(3)
    assert total == 5 and type(total) is int
    assert type(Int64(7) * 2) is int
    assert type(Int64(np.int64(3))) is Int64
    assert pickle.loads(pickle.dumps(Int64(9))) == 9 and type(pickle.loads(pickle.dumps(Int64(9)))) is Int64
    with pytest.raises(ValueError):
        Int64(1.5)
    with pytest.raises(TypeError):
        Int64(None)
    assert MAX_SAFE_INT == 2**53


# ---------------------------------------------------------------------------- convex_value


def test_convex_value_scalars_and_the_int_rule():
    assert convex_value(None) is None
    assert convex_value(True) is True and convex_value(np.bool_(False)) is False
    assert same(convex_value(3), 3.0)
    assert same(convex_value(np.int32(-4)), -4.0)
    assert same(convex_value(2**53), float(2**53)) and same(convex_value(-(2**53)), -float(2**53))
    assert same(convex_value(np.float32(0.5)), 0.5) and same(convex_value(np.float64(1.25)), 1.25)
    assert type(convex_value(np.str_("hi"))) is str
    assert same(convex_value(Int64(7)), Int64(7))
    assert convex_value(bytearray(b"ab")) == b"ab" and type(convex_value(memoryview(b"cd"))) is bytes
    assert same(convex_value((1, (2.5, "x"))), [1.0, [2.5, "x"]])


def test_convex_value_big_int_uses_the_python_clients_text_naming_int64():
    with pytest.raises(ValueError) as e:
        convex_value({"n": 2**53 + 1})
    assert str(e.value) == (
        "Integer 9007199254740993 is outside the range of a Convex `Float64` (-2^53 to 2^53). "
        "Consider using an `Int64` (from convex_lab import Int64), which corresponds to a `BigInt` in "
        "JavaScript Convex functions."
    )
    with pytest.raises(ValueError, match="outside the range"):
        convex_value(np.int64(-(2**53) - 1))


def test_convex_value_bool_is_checked_before_int():
    out = convex_value([True, 1, np.bool_(True)])
    assert [type(x) for x in out] == [bool, float, bool]


def test_convex_value_drops_unset_fields_and_returns_fresh_structures():
    inner = {"b": [1.0, {"c": "x"}]}
    src = {"a": inner, "gone": UNSET, "t": (1.0,)}
    out = convex_value(src)
    assert out == {"a": {"b": [1.0, {"c": "x"}]}, "t": [1.0]}
    assert out["a"] is not inner and out["a"]["b"] is not inner["b"] and out["a"]["b"][1] is not inner["b"][1]
    out["a"]["b"].append(2.0)
    assert inner == {"b": [1.0, {"c": "x"}]}


def test_convex_value_unsupported_type_names_the_path_and_original_object():
    when = datetime.datetime(2024, 1, 2, 3, 4)
    with pytest.raises(TypeError) as e:
        convex_value({"a": 1, "when": when})
    assert str(e.value) == (
        f"{when!r} is not a supported Convex type (present at path .when in original object "
        f'{{"a":1,"when":{when!r}}}). {TYPES_URL}'
    )
    with pytest.raises(TypeError) as e:
        convex_value({"a": [{"b": 1}, {"b": {1, 2}}]})
    assert "(present at path .a[1].b in original object" in str(e.value)
    with pytest.raises(TypeError) as e:
        convex_value(object.__new__(object))
    assert str(e.value).endswith("is not a supported Convex type.")
    with pytest.raises(TypeError, match=r"present at path \.x"):
        convex_value({"x": np.array([1, 2])})
    with pytest.raises(TypeError, match=r"present at path \.args\.x"):
        convex_value({"x": {1}}, path=".args")


def test_convex_value_rejects_undefined_in_arrays_and_non_string_keys():
    with pytest.raises(TypeError) as e:
        convex_value({"l": [1, UNSET]})
    assert str(e.value).startswith("undefined is not a valid Convex value (present at path .l[1] in original object")
    with pytest.raises(TypeError) as e:
        convex_value({"d": {1: "x"}})
    assert str(e.value) == "Convex object keys must be strings, found 1 (present at path .d)"


# ---------------------------------------------------------------------------- invalid Unicode


def _utf8(text):
    """`text`, after checking that it encodes as UTF-8 (a message with a lone surrogate cannot)."""
    text.encode("utf-8")
    return text


@pytest.mark.parametrize(
    "raw, path, code",
    [
        ("\ud800", "", "D800"),
        ({"s": "\ud800"}, ".s", "D800"),
        ({"a": {"b": ["ok", "a\udfffb"]}}, ".a.b[1]", "DFFF"),
        (["é", ("x\udc00",)], "[1][0]", "DC00"),
        ({"n": np.str_("\udbff")}, ".n", "DBFF"),
        ({"line": "é\nx\ud800"}, ".line", "D800"),  # not printable: the encode check decides
    ],
)
def test_convex_value_refuses_strings_with_lone_surrogates(raw, path, code):
    with pytest.raises(ValueError) as e:
        convex_value(raw)
    message = _utf8(str(e.value))
    assert f"is not valid Unicode: it contains a lone surrogate (U+{code}). Convex strings must be" in message
    assert (f" (present at path {path}) " in message) == bool(path)
    assert e.value.path == path


def test_lone_surrogate_message_shows_the_string_escaped_and_the_path():
    with pytest.raises(ValueError) as e:
        convex_value({"s": "a\udfffb"}, path=".args")
    assert str(e.value) == (
        'String "a\\udfffb" (present at path .args.s) is not valid Unicode: it contains a lone '
        "surrogate (U+DFFF). Convex strings must be valid UTF-8."
    )
    with pytest.raises(ValueError) as e:
        convex_value("\ud800")
    assert str(e.value).startswith('String "\\ud800" is not valid Unicode')
    with pytest.raises(ValueError) as e:
        convex_value(["x" * 100_000 + "\ud800" + "y" * 100_000])
    assert len(str(e.value)) < 300 and '"…xxxx' in str(e.value) and 'yyyy…"' in str(e.value)


def test_valid_non_ascii_strings_still_convert():
    for s in ("héllo", "😀", "日本語", "tab\tand é", "\u2028", "\U0010ffff"):
        assert convex_value({"s": s}) == {"s": s} and convex_value([s]) == [s] and convex_value(s) == s


def test_lone_surrogates_are_refused_when_decoding_json():
    with pytest.raises(ValueError, match=r"present at path \.a\[0\]\) is not valid Unicode.*U\+D800"):
        from_convex_json(json.loads('{"a": ["\\ud800"]}'))  # json.loads lets it through
    with pytest.raises(ValueError, match=r"present at path \.s\) is not valid Unicode.*U\+DC00"):
        from_export_json(json.loads('{"s": "x\\udc00"}'))
    with pytest.raises(ValueError, match="surrogate"):
        loads_export('{"s": "\\ud800"}')  # orjson refuses these itself
    assert from_convex_json(json.loads('"\\ud83d\\ude00"')) == "😀"  # a pair is one code point
    with pytest.raises(ValueError) as e:
        from_convex_json(json.loads('{"\\ud800": 1}'))
    assert "Field name \\ud800 has invalid character '\\ud800'" in _utf8(str(e.value))


def test_a_lone_surrogate_in_a_field_name_gets_a_printable_error():
    # Field names are checked by the document and value limits (printable ASCII only).
    doc = convex_value({"a": {"\ud800": 1.0}})
    for check in (check_document, check_value_limits):
        with pytest.raises(ValueError) as e:
            check(doc)
        assert _utf8(str(e.value)) == (
            "Field name \\ud800 has invalid character '\\ud800': Field names can only contain "
            "non-control ASCII characters (present at path .a.\\ud800)"
        )
    with pytest.raises(ValueError) as e:
        check_document({"_x\ud800": 1.0})  # top-level names pass the same check first
    assert _utf8(str(e.value)).startswith("Field name _x\\ud800 has invalid character '\\ud800'")
    with pytest.raises(TypeError) as e:
        convex_value({"\ud800": {1, 2}})
    assert "(present at path .\\ud800 in original object {\"\\ud800\":{1, 2}})" in _utf8(str(e.value))


def test_messages_print_lone_surrogates_escaped():
    assert display_value({"\ud800": "x\udfff"}) == '{\\ud800: "x\\udfff"}'
    assert stringify_value_for_error({"\ud800": ["x\udfff"]}) == '{"\\ud800":["x\\udfff"]}'


# ---------------------------------------------------------------------------- nesting and cycles


def test_convex_value_stops_past_nesting_64_with_the_path():
    assert same(convex_value(_nest(64)), _nest(64))
    too_nested = "Value is too nested (nested 65 levels deep > maximum nesting 64)"
    with pytest.raises(DocumentTooLarge) as e:
        convex_value(_nest(65))
    assert str(e.value) == f"{too_nested} (present at path [0][0][0][0][0][0][0][0][0][0]…)"
    assert e.value.path == "[0]" * 64
    with pytest.raises(DocumentTooLarge) as e:
        convex_value({"a": {"b": _nest(5000)}}, path=".args")  # a RecursionError before
    assert str(e.value) == f"{too_nested} (present at path .args.a.b[0][0][0][0][0][0][0][0]…)"
    with pytest.raises(DocumentTooLarge, match="present at path .x"):
        convex_value({"x": _nest(3)}, level=63)  # `level`: where the value sits in a larger one


def test_convex_value_reports_a_value_that_contains_itself():
    a = []
    a.append(a)
    with pytest.raises(ValueError) as e:
        convex_value(a)
    assert str(e.value) == (
        "The value contains itself (a reference cycle at path [0]); Convex values must be trees (JSON-like)."
    )
    d = {"a": [None]}
    d["a"][0] = d
    with pytest.raises(ValueError, match=r"reference cycle at path \.a\[0\]\)"):
        convex_value(d)
    inner = {"x": 1.0}
    inner["self"] = inner
    with pytest.raises(ValueError, match=r"reference cycle at path \.k\[0\]\.self\)"):
        convex_value({"k": [inner]})
    t = ([],)
    t[0].append(t)
    with pytest.raises(ValueError, match=r"reference cycle at path \[0\]\[0\]\)"):
        convex_value(t)
    shared = [1.0]  # the same object twice, but not inside itself: a tree once copied
    out = convex_value({"a": shared, "b": [shared]})
    assert out == {"a": [1.0], "b": [[1.0]]} and out["a"] is not out["b"][0]


def test_error_messages_print_self_containing_deep_and_huge_values():
    a = []
    a.append(a)
    d = {}
    d["self"] = d
    when = datetime.datetime(2024, 1, 2)
    for shown in (display_value(a), stringify_value_for_error(a), display_value(_nest(5000)),
                  stringify_value_for_error(d)):
        assert "…" in shown and len(shown) < 1000
    with pytest.raises(TypeError) as e:  # the original object is printed, cut where it loops
        convex_value({"when": when, "loop": d})
    assert '"loop":{"self":{"self":' in str(e.value) and "…" in str(e.value)
    wide = [1.0] * 20_000
    assert display_value(wide).endswith(", 1.0, …]") and stringify_value_for_error(wide).endswith(",1,…]")
    assert display_value(_nest(64)) == "[" * 64 + "1.0" + "]" * 64  # a real value prints whole


@given(values)
def test_convex_value_is_identity_on_internal_values(v):
    assert same(convex_value(v), v)
    assert same(copy_value(v), v)


def test_copy_value_is_deep_and_shares_scalars():
    s = "a string"
    v = {"l": [{"s": s}], "b": b"x"}
    c = copy_value(v)
    assert c == v and c["l"] is not v["l"] and c["l"][0] is not v["l"][0]
    assert c["l"][0]["s"] is s


# ---------------------------------------------------------------------------- order


def test_total_order_across_types():
    chain = [UNSET, None, Int64(-5), Int64(10), -math.inf, -1.0, -0.0, 0.0, 2.0, math.inf, math.nan,
             False, True, "", "a", "b", b"", b"\x00", [], [None], {}, {"a": None}]
    for i, a in enumerate(chain):
        for j, b in enumerate(chain):
            assert compare_values(a, b) == (i > j) - (i < j), (a, b)


def test_equality_is_convex_equality():
    assert values_equal(math.nan, float("nan"))
    assert not values_equal(0.0, -0.0)
    assert not values_equal(Int64(1), 1.0)
    assert not values_equal(True, 1.0)
    assert values_equal({"a": [1.0, "x"]}, {"a": [1.0, "x"]})
    assert not values_equal([1.0], [1.0, 2.0])
    assert values_equal(UNSET, UNSET) and not values_equal(UNSET, None)
    assert compare_values("\uffff", "\U0001F600") == -1  # UTF-8 order, not UTF-16


@given(values, values)
def test_compare_and_equal_agree(a, b):
    c = compare_values(a, b)
    assert c in (-1, 0, 1)
    assert compare_values(b, a) == -c
    assert (c == 0) == values_equal(a, b)


# ---------------------------------------------------------------------------- Convex JSON


def test_convex_json_examples_from_the_reference():
    assert to_convex_json(Int64(1)) == {"$integer": "AQAAAAAAAAA="}
    assert to_convex_json(Int64(-1)) == {"$integer": "//////////8="}
    assert to_convex_json(math.nan) == {"$float": "AAAAAAAA+H8="}
    assert to_convex_json(math.inf) == {"$float": "AAAAAAAA8H8="}
    assert to_convex_json(-math.inf) == {"$float": "AAAAAAAA8P8="}
    assert to_convex_json(-0.0) == {"$float": "AAAAAAAAAIA="}
    assert to_convex_json(0.0) == 0.0 and to_convex_json(1e300) == 1e300
    assert to_convex_json({"b": b"\x01\x02", "l": [None, True, "s"]}) == {
        "b": {"$bytes": "AQI="},
        "l": [None, True, "s"],
    }


def test_convex_json_decoding_rules():
    assert same(from_convex_json(17), 17.0) and same(from_convex_json(17.0), 17.0)
    assert same(from_convex_json({"$integer": "AQAAAAAAAAA="}), Int64(1))
    assert same(from_convex_json({"$float": "AAAAAAAAAIA="}), -0.0)
    assert from_convex_json({"$bytes": ""}) == b""
    assert same(from_convex_json({"a": [1, {"$float": "AAAAAAAA+H8="}]}), {"a": [1.0, math.nan]})


@pytest.mark.parametrize(
    "j, message",
    [
        ({"$integer": "AQAAAAAAAA=="}, "Int64 must be exactly eight bytes"),
        ({"$float": "AAAAAAAA+A=="}, "Float64 must be exactly eight bytes"),
        ({"$float": "AAAAAAAA8D8="}, "Float64 1 should be encoded as a number"),
        ({"$integer": 5}, "invalid type: integer `5`, expected a string"),
        ({"$set": []}, "Received a Set which is no longer supported as a Convex type."),
        ({"$map": []}, "Received a Map which is no longer supported as a Convex type."),
        ({"$foo": 1}, "Field name $foo starts with '$', which is reserved."),
        ({"a": 1, "$b": 2}, "Field name $b starts with '$', which is reserved."),
        ({"é": 1}, "Field name é has invalid character 'é': Field names can only contain non-control ASCII characters"),
        ({"$bytes": "!!"}, "Invalid base64 in $bytes"),
    ],
)
def test_convex_json_decoding_errors(j, message):
    with pytest.raises(ValueError) as e:
        from_convex_json(j)
    assert str(e.value).startswith(message)


@given(values)
def test_convex_json_roundtrips(v):
    text = json.dumps(to_convex_json(v), allow_nan=False)  # no raw NaN/inf on the wire
    assert same(from_convex_json(json.loads(text)), v)


# ---------------------------------------------------------------------------- export JSON


@pytest.mark.parametrize(
    "x, text",
    [
        (36.0, "36.0"), (-0.0, "-0.0"), (0.0, "0.0"), (1e16, "1e16"), (-1e16, "-1e16"), (1e-7, "1e-7"),
        (1.5e300, "1.5e300"), (1000000000000000.0, "1000000000000000.0"), (0.30000000000000004, "0.30000000000000004"),
        (9007199254740992.0, "9007199254740992.0"), (1e-5, "0.00001"), (1e-6, "1e-6"), (1.2345e16, "1.2345e16"),
        (5e-324, "5e-324"), (-4.25, "-4.25"), (1753504219929.1677, "1753504219929.1677"),
    ],
)
def test_export_float_layout_is_serde_jsons(x, text):
    assert format_float_export(x) == text
    assert dumps_export(x) == text
    assert dumps_export([x]) == f"[{text}]"


def test_export_json_values():
    assert dumps_export(Int64(-(2**63))) == "-9223372036854775808"
    assert dumps_export([math.nan, math.inf, -math.inf]) == (
        '[{"$float":"AAAAAAAA+H8="},{"$float":"AAAAAAAA8H8="},{"$float":"AAAAAAAA8P8="}]'
    )
    assert dumps_export({"b": b"", "a": b"\x00\x01"}) == '{"a":{"$bytes":"AAE="},"b":{"$bytes":""}}'
    assert dumps_export({"s": "é/\n\t\"\\\x01🎉"}) == '{"s":"é/\\n\\t\\"\\\\\\u0001🎉"}'
    assert dumps_export({"alpha": 1.0, "_private": True, "Zed": None}) == '{"Zed":null,"_private":true,"alpha":1.0}'
    assert to_export_json({"i": Int64(5), "f": -0.0}) == {"i": 5, "f": -0.0}
    assert type(to_export_json(Int64(5))) is int


def test_export_json_decoding():
    v = loads_export('{"a":1,"b":1.0,"c":1e16,"d":-0.0,"e":9223372036854775808,"f":-9223372036854775809,"g":-0}')
    assert same(v, {"a": Int64(1), "b": 1.0, "c": 1e16, "d": -0.0, "e": 2.0**63, "f": -(2.0**63), "g": Int64(0)})
    assert same(from_export_json({"x": [3, 3.5, {"$float": "AAAAAAAA8P8="}]}), {"x": [Int64(3), 3.5, -math.inf]})
    with pytest.raises(ValueError):
        loads_export('{"$weird": 1}')
    with pytest.raises(ValueError):
        loads_export("{not json")


@given(values)
def test_export_json_roundtrips(v):
    text = dumps_export(v)
    assert same(loads_export(text), v)
    assert same(from_export_json(json.loads(json.dumps(to_export_json(v)))), v)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_export_float_text_reads_back_as_the_same_float(x):
    text = format_float_export(x)
    assert struct.pack("<d", float(text)) == struct.pack("<d", x)
    assert "." in text or "e" in text  # never reads as an integer
    assert "+" not in text and not re.search(r"e-?0", text)


def _tagged(j):
    """Decode the fixture description's tagged notation into an internal value."""
    if isinstance(j, list):
        return [_tagged(x) for x in j]
    if isinstance(j, dict):
        if set(j) == {"$int64"}:
            return Int64(int(j["$int64"]))
        if set(j) == {"$float"}:
            return float(j["$float"])
        if set(j) == {"$bytes_hex"}:
            return bytes.fromhex(j["$bytes_hex"])
        return {k: _tagged(x) for k, x in j.items()}
    return j


def test_fixture_documents_roundtrip_byte_for_byte():
    desc = json.loads((FIXTURES / "convex_export_sample.json").read_text())
    with zipfile.ZipFile(FIXTURES / "convex_export_sample.zip") as z:
        for table in ("users", "messages"):
            lines = z.read(f"{table}/documents.jsonl").decode("utf-8").splitlines()
            expected = [_tagged(d) for d in desc["tables"][table]["documents"]]
            assert len(lines) == len(expected) == desc["tables"][table]["documentCount"]
            for line, exp in zip(lines, expected):
                doc = loads_export(line)
                assert same(doc, exp)
                assert dumps_export(doc) == line
                assert check_document(doc, table) == value_size(doc)


# ---------------------------------------------------------------------------- sizes and limits


def test_value_size_formula():
    assert value_size(None) == 1 and value_size(True) == 1
    assert value_size(Int64(1)) == 9 and value_size(1.0) == 9
    assert value_size("abc") == 5 and value_size("é") == 4 and value_size(b"ab") == 4
    assert value_size([]) == 2 and value_size([1.0, "a"]) == 2 + 9 + 3
    assert value_size({}) == 2 and value_size({"ab": None}) == 2 + 2 + 1 + 1
    assert value_size({"a": {"b": [None]}}) == 2 + (1 + 1 + (2 + (1 + 1 + 3)))


def test_check_document_accepts_a_normal_document():
    doc = {"_id": "j57000820c20a1g7104gm2rc1m70ynr8", "_creationTime": 1.5, "name": "x",
           "nested": {"_ok": 1.0, "with space": None, "": True, "Zed": [b"x"]}}
    assert check_document(doc) == value_size(doc)


def test_check_document_top_level_field_names():
    with pytest.raises(ValueError) as e:
        check_document({"_secret": 1.0})
    assert str(e.value) == "Field '_secret' starts with an underscore, which is only allowed for system fields like '_id'"
    assert check_document({"_secret": 1.0}, table="_storage") > 0
    with pytest.raises(ValueError, match="Invalid first character '1' in 1abc: Identifiers must start"):
        check_document({"1abc": 1.0})
    with pytest.raises(ValueError, match="Identifier a-b has invalid character '-'"):
        check_document({"a-b": 1.0})
    with pytest.raises(ValueError, match=r"Identifier is too long \(65 > maximum 64\)"):
        check_document({"a" * 65: 1.0})


def test_check_document_nested_field_names():
    with pytest.raises(ValueError) as e:
        check_document({"a": {"$b": 1.0}})
    assert str(e.value) == "Field name $b starts with a '$', which is reserved. (present at path .a.$b)"
    assert e.value.path == ".a.$b"
    with pytest.raises(ValueError) as e:
        check_document({"a": [{"x\ty": 1.0}]})
    assert str(e.value).startswith(
        "Field name x\ty has invalid character '\t': Field names can only contain non-control ASCII characters"
    )
    with pytest.raises(ValueError, match="exceeds maximum field name length 1024"):
        check_document({"a": {"k" * 1025: 1.0}})
    with pytest.raises(ValueError, match="reserved"):
        check_document({"$top": 1.0})


def _nest(levels, leaf=1.0):
    v = leaf
    for _ in range(levels):
        v = [v]
    return v


def test_check_document_nesting():
    check_document({"deep": _nest(15)})  # document 1 + 15 arrays = 16
    with pytest.raises(DocumentTooLarge) as e:
        check_document({"deep": _nest(16)})
    assert str(e.value) == "Document is too nested (nested 17 levels deep > maximum nesting 16)"
    with pytest.raises(DocumentTooLarge) as e:
        check_document({"deep": _nest(64)})
    assert str(e.value) == "Value is too nested (nested 65 levels deep > maximum nesting 64)"


def test_check_document_lengths_and_size():
    with pytest.raises(DocumentTooLarge) as e:
        check_document({"list": [0.0] * 8193})
    assert str(e.value) == "Array length is too long (8193 > maximum length 8192) (present at path .list)"
    check_document({"list": [0.0] * 8192})
    with pytest.raises(DocumentTooLarge) as e:
        check_document({"o": {"w": {f"f{i}": 0.0 for i in range(1025)}}})
    assert str(e.value) == "Object has too many fields (1025 > maximum number 1024) (present at path .o.w)"
    with pytest.raises(DocumentTooLarge) as e:
        check_document({"big": "x" * 1_100_000})
    assert str(e.value) == "Value is too large (1.05 MiB > maximum size 1 MiB)"
    with pytest.raises(DocumentTooLarge) as e:  # both sizes print as "1 MiB": add the byte counts
        check_document({"big": "x" * (1 << 20)})
    assert str(e.value) == "Value is too large (1 MiB > maximum size 1 MiB: 1,048,584 bytes > 1,048,576 bytes)"
    check_document({"ok": "x" * 1_000_000})
    with pytest.raises(ValueError):
        check_document(["not", "an", "object"])


def test_check_value_limits():
    assert check_value_limits("abc") == 5
    check_value_limits(_nest(64))
    with pytest.raises(DocumentTooLarge, match=r"Value is too nested \(nested 65 levels deep > maximum nesting 64\)"):
        check_value_limits(_nest(65))
    with pytest.raises(DocumentTooLarge, match=r"Value is too large \(2\.01 KiB > maximum size 2 KiB\)"):
        check_value_limits({"s": "x" * 2050}, max_size=2048)
    with pytest.raises(DocumentTooLarge) as e:
        check_value_limits({"s": "x" * 2046}, max_size=2048)
    assert str(e.value) == "Value is too large (2 KiB > maximum size 2 KiB: 2,052 bytes > 2,048 bytes)"
    with pytest.raises(DocumentTooLarge, match="Array length is too long"):
        check_value_limits([[0.0] * 9000])
    with pytest.raises(ValueError, match="reserved"):
        check_value_limits({"$x": 1.0})


def test_format_size():
    assert format_size(512) == "512 B"
    assert format_size(1024) == "1 KiB"
    assert format_size(1 << 20) == "1 MiB"
    assert format_size(1 << 25) == "32 MiB"
    assert format_size(1_100_008) == "1.05 MiB"


# ---------------------------------------------------------------------------- display


def test_display_value_is_the_backends_display():
    assert display_value(None) == "null"
    assert display_value(Int64(5)) == "5"
    assert display_value(5.0) == "5.0"
    assert display_value(1e16) == "1e16" and display_value(1e-7) == "1e-7" and display_value(0.0001) == "0.0001"
    assert display_value(math.nan) == "NaN" and display_value(-math.inf) == "-inf" and display_value(-0.0) == "-0.0"
    assert display_value(True) == "true"
    assert display_value('a"b\\c\n\x01') == '"a\\"b\\\\c\\n\\u{1}"'
    assert display_value(b"\x00\x01") == 'b"AAE="'
    assert display_value([Int64(1), "x", []]) == '[1, "x", []]'
    assert display_value({"z": {}, "a": 1.5}) == "{a: 1.5, z: {}}"
    assert display_value(UNSET) == "undefined"


def test_stringify_value_for_error_is_json_stringify():
    assert stringify_value_for_error({"a": 1.0, "b": [Int64(2), "x", None, 1e21, 0.5]}) == (
        '{"a":1,"b":["2n","x",null,1e+21,0.5]}'
    )
    assert stringify_value_for_error(math.nan) == "null"
    assert stringify_value_for_error({"u": UNSET, "k": -0.0}) == '{"k":0}'


def test_type_name():
    assert [type_name(v) for v in ("s", 1.0, Int64(1), True, None, b"", [], {})] == [
        "string", "float64", "int64", "boolean", "null", "bytes", "array", "object",
    ]
