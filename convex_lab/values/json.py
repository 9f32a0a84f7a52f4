"""The JSON forms of a value: Convex JSON (the wire form clients speak: `to_convex_json`,
`from_convex_json`), export JSON (snapshot export/import and DuckDB document bodies:
`to_export_json`, `dumps_export`, `from_export_json`, `loads_export`) and clean JSON (the lossy
`"json"` format of the HTTP API: `to_clean_json`). Formats are converted only here (and in the
validators' JSON form, which uses these).
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from typing import Any

import orjson

from .convert import _PathError, _conv_str, _conversion_error, convex_value
from .display import _b64, _format_float_rust_display, _safe_text, format_float_export, stringify_value_for_error
from .model import MAX_FIELD_NAME_LENGTH, MAX_INT64, MAX_VALUE_NESTING, MIN_INT64, Int64, _NoneType


# --------------------------------------------------------------------------------------------
# Convex JSON (wire)
# --------------------------------------------------------------------------------------------


_pack_d_le = struct.Struct("<d").pack
_unpack_d_le = struct.Struct("<d").unpack
_pack_q_le = struct.Struct("<q").pack
_unpack_q_le = struct.Struct("<q").unpack



def _unb64(s: str, what: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"Invalid base64 in {what}: {e}") from None


def _is_special_float(x: float) -> bool:
    return x != x or x in (math.inf, -math.inf) or (x == 0.0 and math.copysign(1.0, x) < 0.0)


def to_convex_json(v: Any) -> Any:
    """Internal value → Convex JSON (the wire form clients speak), as a JSON-able Python object.

    Int64 → `{"$integer": base64(8 bytes LE)}`; NaN/±inf/-0.0 → `{"$float": ...}`; bytes →
    `{"$bytes": base64}`; other floats are plain numbers.

    >>> to_convex_json([Int64(1), -0.0, b"\\x00"])
    [{'$integer': 'AQAAAAAAAAA='}, {'$float': 'AAAAAAAAAIA='}, {'$bytes': 'AA=='}]
    """
    t = type(v)
    if t is str or t is bool or v is None:
        return v
    if t is float:
        if v - v == 0.0 and (v != 0.0 or math.copysign(1.0, v) > 0.0):
            return v
        return {"$float": _b64(_pack_d_le(v))}
    if t is dict:
        return {k: to_convex_json(x) for k, x in v.items()}
    if t is list:
        return [to_convex_json(x) for x in v]
    if t is Int64:
        return {"$integer": _b64(_pack_q_le(v))}
    if t is bytes:
        return {"$bytes": _b64(v)}
    raise TypeError(f"{v!r} is not an internal Convex value")


def _check_field_name_server(k: str) -> None:
    # Rust's check_valid_field_name (sync_types/src/identifier.rs). Deliberate difference: the
    # empty name is allowed, as Convex documents for its current backend.
    if k.startswith("$"):
        raise ValueError(_safe_text(f"Field name {k} starts with '$', which is reserved."))
    if not (k.isascii() and k.isprintable()):
        c = next(ch for ch in k if not (" " <= ch <= "~"))
        raise ValueError(
            _safe_text(
                f"Field name {k} has invalid character '{c}': Field names can only contain "
                "non-control ASCII characters"
            )
        )
    if len(k) > MAX_FIELD_NAME_LENGTH:
        raise ValueError(f"Field name is too long ({len(k)} > maximum {MAX_FIELD_NAME_LENGTH})")


def from_convex_json(j: Any) -> Any:
    """Convex JSON → internal value, with the backend's decode rules and errors.

    Every JSON number is a Float64; `$integer`/`$float` payloads must be 8 bytes; a `$float` that
    is a normal finite number is refused; `$set`/`$map` are refused; other `$` keys are refused.
    A string with a lone surrogate (`json.loads` reads `"\\ud800"` as one) raises `ValueError`;
    nesting deeper than 64 raises as `convex_value` does, with the path.

    >>> from_convex_json({"a": 17, "b": {"$integer": "AQAAAAAAAAA="}})
    {'a': 17.0, 'b': Int64(1)}
    """
    try:
        return _from_convex_json(j, 1)
    except _PathError as e:
        raise _conversion_error(e, "", j) from None


def _from_convex_json(j: Any, level: int) -> Any:
    t = type(j)
    if t is str:
        return _conv_str(j)
    if t is bool or j is None:
        return j
    if t is float:
        return j
    if t is int:
        try:
            return float(j)
        except OverflowError:
            raise ValueError("Arbitrary precision JSON integers unsupported") from None
    if t is list:
        if level > MAX_VALUE_NESTING:
            raise _PathError("nesting", j)
        out = []
        for i, x in enumerate(j):
            try:
                out.append(_from_convex_json(x, level + 1))
            except _PathError as e:
                e.segs.append(f"[{i}]")
                e.chain.append(j)
                raise
        return out
    if t is dict:
        if len(j) == 1:
            ((key, payload),) = j.items()
            if key.startswith("$"):
                return _decode_special(key, payload)
        if level > MAX_VALUE_NESTING:
            raise _PathError("nesting", j)
        out = {}
        for k, x in j.items():
            _check_field_name_server(k)
            try:
                out[k] = _from_convex_json(x, level + 1)
            except _PathError as e:
                e.segs.append("." + k)
                e.chain.append(j)
                raise
        return out
    raise ValueError(f"Bad JSON value: {j!r}")


def _decode_special(key: str, payload: Any) -> Any:
    if key in ("$integer", "$float", "$bytes") and type(payload) is not str:
        # serde_json's text for `from_value::<String>` on a non-string.
        raise ValueError(f"invalid type: {_json_type_desc(payload)}, expected a string")
    if key == "$integer":
        data = _unb64(payload, "$integer")
        if len(data) != 8:
            raise ValueError("Int64 must be exactly eight bytes")
        return Int64(_unpack_q_le(data)[0])
    if key == "$float":
        data = _unb64(payload, "$float")
        if len(data) != 8:
            raise ValueError("Float64 must be exactly eight bytes")
        x = _unpack_d_le(data)[0]
        if not _is_special_float(x):
            raise ValueError(f"Float64 {_format_float_rust_display(x)} should be encoded as a number")
        return x
    if key == "$bytes":
        return _unb64(payload, "$bytes")
    if key == "$set":
        # npm `convex` jsonToConvex's text; the backend refuses these legacy types too.
        raise ValueError("Received a Set which is no longer supported as a Convex type.")
    if key == "$map":
        raise ValueError("Received a Map which is no longer supported as a Convex type.")
    _check_field_name_server(key)
    raise AssertionError("unreachable")  # pragma: no cover


def _json_type_desc(x: Any) -> str:
    t = type(x)
    if x is None:
        return "null"
    if t is bool:
        return f"boolean `{'true' if x else 'false'}`"
    if t is int:
        return f"integer `{x}`"
    if t is float:
        return f"floating point `{x}`"
    if t is list:
        return "sequence"
    if t is dict:
        return "map"
    return t.__name__



# --------------------------------------------------------------------------------------------
# Clean JSON (the HTTP API's `"json"` format: plain JSON, lossy)
# --------------------------------------------------------------------------------------------


def to_clean_json(v: Any) -> Any:
    """Internal value → clean JSON, the HTTP API's default `"json"` format (lossy, one way).

    Int64 → its decimal string; NaN/±inf → the strings `"NaN"`, `"Infinity"`, `"-Infinity"`;
    bytes → a base64 string; everything else as plain JSON (so a string and bytes, or an Int64
    and a string, can look the same). O(size).

    >>> to_clean_json({"n": Int64(33), "x": float("nan"), "b": b"\\x00", "f": 1.5})
    {'n': '33', 'x': 'NaN', 'b': 'AA==', 'f': 1.5}
    """
    t = type(v)
    if t is str or t is bool or v is None:
        return v
    if t is float:
        if v - v == 0.0:
            return v
        if v != v:
            return "NaN"
        return "Infinity" if v > 0 else "-Infinity"
    if t is dict:
        return {k: to_clean_json(x) for k, x in v.items()}
    if t is list:
        return [to_clean_json(x) for x in v]
    if t is Int64:
        return str(int(v))
    if t is bytes:
        return _b64(v)
    raise TypeError(f"{v!r} is not an internal Convex value")


# --------------------------------------------------------------------------------------------
# Export JSON (snapshot export/import, DuckDB document bodies)
# --------------------------------------------------------------------------------------------


_FLOAT_NAN = {"$float": _b64(_pack_d_le(math.nan))}
_FLOAT_INF = {"$float": _b64(_pack_d_le(math.inf))}
_FLOAT_NEG_INF = {"$float": _b64(_pack_d_le(-math.inf))}
_BIG_FLOAT = 1e16  # from here on serde writes an exponent (`1e16`) where orjson writes `1e+16`


def _export_float(x: float, fragments: bool) -> Any:
    if x - x == 0.0:  # finite
        if fragments and not (-_BIG_FLOAT < x < _BIG_FLOAT):
            return orjson.Fragment(format_float_export(x))
        return x
    if x != x:
        bits = _pack_d_le(x)
        return _FLOAT_NAN.copy() if bits == b"\x00" * 6 + b"\xf8\x7f" else {"$float": _b64(bits)}
    return (_FLOAT_INF if x > 0 else _FLOAT_NEG_INF).copy()


def _export(v: Any, fragments: bool) -> Any:
    t = type(v)
    if t is dict:
        out = {}
        for k, x in v.items():
            tx = type(x)
            if tx is str or tx is bool or x is None or tx is Int64:
                out[k] = x
            elif tx is float:
                out[k] = x if (x - x == 0.0 and -_BIG_FLOAT < x < _BIG_FLOAT) else _export_float(x, fragments)
            else:
                out[k] = _export(x, fragments)
        return out
    if t is list:
        return [
            x
            if (type(x) in _EXPORT_PLAIN or (type(x) is float and x - x == 0.0 and -_BIG_FLOAT < x < _BIG_FLOAT))
            else _export(x, fragments)
            for x in v
        ]
    if t is str or t is bool or v is None or t is Int64:
        return v
    if t is float:
        return _export_float(v, fragments)
    if t is bytes:
        return {"$bytes": _b64(v)}
    raise TypeError(f"{v!r} is not an internal Convex value")


_EXPORT_PLAIN = frozenset({str, bool, _NoneType, Int64})


def to_export_json(v: Any) -> Any:
    """Internal value → export JSON as a JSON-able Python object.

    Int64 → plain int; finite float → float; NaN/±inf → `{"$float": ...}`; bytes →
    `{"$bytes": ...}`. Use `dumps_export` for the exact text (float layout, key order).

    >>> to_export_json({"n": Int64(3), "x": float("inf"), "b": b""})
    {'n': 3, 'x': {'$float': 'AAAAAAAA8H8='}, 'b': {'$bytes': ''}}
    """
    out = _export(v, False)
    return _plain_ints(out)


def _plain_ints(j: Any) -> Any:
    t = type(j)
    if t is Int64:
        return int(j)
    if t is dict:
        return {k: (x if type(x) in _JSON_LEAVES else _plain_ints(x)) for k, x in j.items()}
    if t is list:
        return [x if type(x) in _JSON_LEAVES else _plain_ints(x) for x in j]
    return j


_JSON_LEAVES = frozenset({str, bool, _NoneType, float})

_DUMPS_OPTS = orjson.OPT_SORT_KEYS


def dumps_export(v: Any) -> str:
    """Internal value → one compact export-JSON text, byte for byte as Convex's export writes it.

    Keys sorted by UTF-8 bytes at every level, non-ASCII raw, `/` unescaped, finite floats as
    serde_json prints them (`36.0`, `-0.0`, `1e16`, `1e-7`), Int64 as bare integers. O(size).

    >>> dumps_export({"b": 1e16, "a": [Int64(1), 36.0, -0.0, float("nan")]})
    '{"a":[1,36.0,-0.0,{"$float":"AAAAAAAA+H8="}],"b":1e16}'
    """
    return orjson.dumps(_export(v, True), option=_DUMPS_OPTS).decode("utf-8")


def _from_export(j: Any, level: int) -> Any:
    t = type(j)
    if t is int:
        if MIN_INT64 <= j <= MAX_INT64:
            return Int64(j)
        return float(j)
    if t is dict:
        if j:
            first = next(iter(j))
            if first.startswith("$"):
                if len(j) == 1 and first in ("$float", "$bytes", "$integer"):
                    return _decode_special(first, j[first])
                raise ValueError(
                    _safe_text(f"Invalid special value in export JSON: {stringify_value_for_error(j)}")
                )
        if level > MAX_VALUE_NESTING:
            raise _PathError("nesting", j)
        out = {}
        for k, x in j.items():
            tx = type(x)
            if tx is str or tx is float or tx is bool or x is None:
                out[k] = x
            else:
                try:
                    out[k] = _from_export(x, level + 1)
                except _PathError as e:
                    e.segs.append("." + k)
                    e.chain.append(j)
                    raise
        return out
    if t is list:
        if level > MAX_VALUE_NESTING:
            raise _PathError("nesting", j)
        # As in `_conv_list`: copy, then replace the items that are not final. (A comprehension
        # using `level` would make it a closure cell, which costs more.)
        out = list(j)
        for i, x in enumerate(out):
            if type(x) not in _JSON_LEAVES:
                try:
                    out[i] = _from_export(x, level + 1)
                except _PathError as e:
                    e.segs.append(f"[{i}]")
                    e.chain.append(j)
                    raise
        return out
    if t is str or t is float or t is bool or j is None:
        return j
    raise ValueError(_safe_text(f"Bad export JSON value: {j!r}"))


def from_export_json(j: Any) -> Any:
    """Export JSON (as parsed by `json`/`orjson`) → internal value.

    A JSON integer that fits i64 becomes Int64, any other number Float64; `{"$float": ...}` and
    `{"$bytes": ...}` decode to their values.

    >>> from_export_json({"n": 3, "x": 3.0, "big": 2**64})
    {'n': Int64(3), 'x': 3.0, 'big': 1.8446744073709552e+19}

    A string with a lone surrogate (`json.loads` reads `"\\ud800"` as one) raises `ValueError`;
    nesting deeper than 64 raises as `convex_value` does, with the path.
    """
    try:
        v = _from_export(j, 1)
    except _PathError as e:
        raise _conversion_error(e, "", j) from None
    # Strings are checked by a second pass, which `loads_export` need not pay for.
    return convex_value(v)


def loads_export(s: str | bytes) -> Any:
    """One export-JSON text → internal value (inverse of `dumps_export`). O(size).

    >>> loads_export('{"a":[1,1.0,1e16,{"$bytes":"AA=="}]}')
    {'a': [Int64(1), 1.0, 1e+16, b'\\x00']}
    """
    try:
        j = orjson.loads(s)  # refuses lone surrogates itself, escaped or raw: strings are valid
    except orjson.JSONDecodeError as e:
        raise ValueError(f"Not valid JSON: {e}") from None
    try:
        return _from_export(j, 1)
    except _PathError as e:
        raise _conversion_error(e, "", j) from None
