"""keys.py: bytes order of the encoding == Convex's total order (documented in docs/guide/values.md)."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convex_lab.keys import encode_key, encode_value, prefix_end, successor
from convex_lab.values import UNSET, Int64, _Unset

# ---------------------------------------------------------------------------- reference order
# Written directly from the spec, independently of keys.py.

_RANK = {_Unset: 0, type(None): 1, Int64: 2, float: 3, bool: 4, str: 5, bytes: 6, list: 7, dict: 8}


def _cmp(a, b) -> int:
    return (a > b) - (a < b)


def _float_key(x: float):
    # IEEE total order: -NaN < -inf < ... < -0.0 < +0.0 < ... < +inf < +NaN.
    neg = math.copysign(1.0, x) < 0
    if x != x:
        return (-1,) if neg else (1,)
    return (0, x, 0 if neg else 1)


def ref_cmp(a, b) -> int:
    ra, rb = _RANK[type(a)], _RANK[type(b)]
    if ra != rb:
        return _cmp(ra, rb)
    t = type(a)
    if t is _Unset or a is None:
        return 0
    if t is Int64 or t is bool:
        return _cmp(int(a), int(b))
    if t is float:
        return _cmp(_float_key(a), _float_key(b))
    if t is str:
        return _cmp(a.encode("utf-8"), b.encode("utf-8"))
    if t is bytes:
        return _cmp(a, b)
    if t is list:
        for x, y in zip(a, b):
            c = ref_cmp(x, y)
            if c:
                return c
        return _cmp(len(a), len(b))
    # object: the sequence name1, value1, name2, value2, ... in sorted name order, then length
    ia = sorted(a.items(), key=lambda kv: kv[0].encode("utf-8"))
    ib = sorted(b.items(), key=lambda kv: kv[0].encode("utf-8"))
    for (ka, va), (kb, vb) in zip(ia, ib):
        c = _cmp(ka.encode("utf-8"), kb.encode("utf-8")) or ref_cmp(va, vb)
        if c:
            return c
    return _cmp(len(ia), len(ib))


def enc_cmp(a, b) -> int:
    return _cmp(encode_value(a), encode_value(b))


# ---------------------------------------------------------------------------- strategies

nans = st.builds(
    lambda sign, payload: struct.unpack(">d", struct.pack(">Q", (sign << 63) | (0x7FF << 52) | payload))[0],
    st.integers(0, 1),
    st.integers(1, 2**52 - 1),
)
floats = st.floats() | nans | st.sampled_from([0.0, -0.0, math.inf, -math.inf, 5e-324, -5e-324])
int64s = st.integers(-(2**63), 2**63 - 1).map(Int64)
small_text = st.text(st.sampled_from(["\x00", "\x01", "a", "b", "\xff", "é", "\uffff", "\U0001F600"]), max_size=4)
texts = small_text | st.text(max_size=6)
blobs = st.binary(max_size=4) | st.sampled_from([b"", b"\x00", b"\x00\xff", b"\xff", b"\x00\x00"])
scalars = st.none() | st.booleans() | int64s | floats | texts | blobs
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(small_text | st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)
components = values | st.just(UNSET)


# ---------------------------------------------------------------------------- properties


@settings(max_examples=400)
@given(components, components)
def test_encoding_order_is_convex_order(a, b):
    assert enc_cmp(a, b) == ref_cmp(a, b)


@settings(max_examples=300)
@given(st.lists(components, min_size=1, max_size=3), st.lists(components, min_size=1, max_size=3))
def test_key_order_is_lexicographic_over_components(ka, kb):
    expected = 0
    for x, y in zip(ka, kb):
        expected = ref_cmp(x, y)
        if expected:
            break
    else:
        expected = _cmp(len(ka), len(kb))
    assert _cmp(encode_key(ka), encode_key(kb)) == expected


@settings(max_examples=400)
@given(values, st.lists(components, max_size=2), values, st.lists(components, max_size=2), st.lists(components, max_size=2))
def test_prefix_range_holds_exactly_the_equal_components(x, prefix, y, rest, rest2):
    """prefix+enc(x) <= K < prefix+enc(x)+FF exactly when K's component at that place equals x."""
    p = encode_key(prefix)
    lo = p + encode_value(x)
    hi = prefix_end(lo)
    for comp, tail in ((y, rest), (x, rest2)):
        key = p + encode_value(comp) + encode_key(tail)
        inside = lo <= key < hi
        assert inside == (ref_cmp(comp, x) == 0)


@given(values, values)
def test_equal_encodings_iff_equal_values(a, b):
    assert (encode_value(a) == encode_value(b)) == (ref_cmp(a, b) == 0)


# ---------------------------------------------------------------------------- examples


def test_type_order_chain():
    chain = [UNSET, None, Int64(-(2**63)), Int64(0), Int64(2**63 - 1), -math.inf, 0.0, math.inf,
             False, True, "", b"", [], {}]
    encoded = [encode_value(v) for v in chain]
    assert encoded == sorted(encoded) and len(set(encoded)) == len(encoded)


def test_floats():
    neg_nan = -math.nan if math.copysign(1.0, -math.nan) < 0 else struct.unpack(">d", b"\xff\xf8" + b"\x00" * 6)[0]
    order = [neg_nan, -math.inf, -1e300, -1.0, -5e-324, -0.0, 0.0, 5e-324, 1.0, 1e300, math.inf, math.nan]
    encoded = [encode_value(v) for v in order]
    assert encoded == sorted(encoded) and len(set(encoded)) == len(encoded)
    other_nan = struct.unpack(">d", struct.pack(">Q", 0x7FF0000000000001))[0]
    assert encode_value(other_nan) == encode_value(math.nan)  # canonical payload
    assert encode_value(Int64(1)) < encode_value(-math.inf)  # every int64 below every float64


def test_strings_and_bytes():
    assert encode_value("\uffff") < encode_value("\U0001F600")  # UTF-8, not UTF-16
    assert encode_value("a") < encode_value("a\x00") < encode_value("a\x00\x00") < encode_value("a\x01") < encode_value("b")
    assert encode_value(b"a") < encode_value(b"a\x00") < encode_value(b"a\xff")
    assert encode_key(["a", "z"]) < encode_key(["a\x00", "a"])
    assert encode_value("lone \ud800") > encode_value("lone ")  # never crashes


def test_arrays_and_objects():
    assert encode_value([]) < encode_value([None]) < encode_value([None, None]) < encode_value([False])
    assert encode_value({}) < encode_value({"a": None}) < encode_value({"a": None, "b": None}) < encode_value({"b": None})
    assert encode_value({"b": 1.0, "a": 2.0}) == encode_value({"a": 2.0, "b": 1.0})
    assert encode_value({"a": 2.0}) > encode_value({"a": 1.0, "z": 5.0})


def test_successor_and_prefix_end():
    k = encode_key(["x", 1.0])
    assert successor(k) == k + b"\x00" and k < successor(k) < encode_key(["x", 1.0, None])
    assert prefix_end(k) == k + b"\xff"
    lo, hi = encode_value("x"), prefix_end(encode_value("x"))
    assert lo <= encode_key(["x", {"deep": [1.0]}]) < hi
    assert not lo <= encode_key(["x\x00"]) < hi
    assert not lo <= encode_key(["xa"]) < hi


def test_rejects_non_internal_values():
    with pytest.raises(TypeError):
        encode_value(1)  # a bare int never appears inside the engine
    with pytest.raises(TypeError):
        encode_value([object()])


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=64, max_size=200))
def test_encode_column_matches_encode_value_for_floats(xs):
    from convex_lab.keys import encode_column

    assert encode_column(xs) == [encode_value(x) for x in xs]


def test_encode_column_mixed_and_strings():
    from convex_lab.keys import encode_column

    mixed = ["a", 1.0, None, "b\x00"] * 20
    assert encode_column(mixed) == [encode_value(x) for x in mixed]
    strings = ["x", "", "a\x00b"] * 30
    assert encode_column(strings) == [encode_value(x) for x in strings]


@given(st.lists(st.one_of(
    st.none(), st.booleans(), st.floats(), st.text(), st.binary(), st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.lists(st.text(max_size=3), max_size=3), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=3)),
    min_size=1, max_size=4))
def test_component_end_splits_keys_into_their_components(parts):
    from convex_lab.keys import component_end

    encoded = [encode_value(p) for p in parts]
    key = b"".join(encoded)
    pos = 0
    for piece in encoded:
        end = component_end(key, pos)
        assert key[pos:end] == piece
        pos = end
    assert pos == len(key)


@given(st.lists(st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=False), st.text(), st.binary(),
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.lists(st.text(max_size=3), max_size=3), st.dictionaries(st.text(max_size=3), st.booleans(), max_size=3)),
    max_size=4))
def test_decode_key_inverts_encoding(parts):
    from convex_lab.keys import decode_key

    key = encode_key(parts)
    values, end = decode_key(key)
    assert end == "" and encode_key(values) == key
    assert decode_key(prefix_end(key))[1] == "top"
    assert decode_key(successor(key)) == (values, "+")
