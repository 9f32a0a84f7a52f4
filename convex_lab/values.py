"""Convex values in Python: conversion, total order, JSON forms, limits and display.

Here: `UNSET`/`Int64`, Python → internal conversion (`convex_value`), Convex's total order
(delegating to the byte encoding in `keys.py`), Convex JSON (wire) and export JSON (snapshots and
DuckDB bodies), document/value limits, and how Convex prints values in messages. Ids live in
`ids.py`; validators in `validators.py`. The internal representation is described in
docs/architecture.md ("Value representation inside convex_lab").
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Mapping
from typing import Any, Callable

import orjson

from .errors import DocumentTooLarge

__all__ = [
    "UNSET",
    "Int64",
    "MAX_SAFE_INT",
    "MIN_INT64",
    "MAX_INT64",
    "MAX_DOCUMENT_SIZE",
    "MAX_DOCUMENT_NESTING",
    "MAX_VALUE_SIZE",
    "MAX_VALUE_NESTING",
    "MAX_ARRAY_LENGTH",
    "MAX_OBJECT_FIELDS",
    "MAX_FIELD_NAME_LENGTH",
    "MAX_IDENTIFIER_LENGTH",
    "convex_value",
    "compare_values",
    "values_equal",
    "to_convex_json",
    "from_convex_json",
    "to_export_json",
    "from_export_json",
    "dumps_export",
    "loads_export",
    "value_size",
    "check_document",
    "check_value_limits",
    "check_field_name",
    "check_identifier",
    "copy_value",
    "display_value",
    "stringify_value_for_error",
    "type_name",
    "format_float_export",
    "format_size",
]


# --------------------------------------------------------------------------------------------
# UNSET and Int64
# --------------------------------------------------------------------------------------------


class _Unset:
    """The type of `UNSET`, the "missing" marker (JavaScript `undefined`). Falsy; a singleton."""

    __slots__ = ()
    _instance: "_Unset | None" = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNSET"

    def __copy__(self) -> _Unset:
        return self

    def __deepcopy__(self, memo: Any) -> _Unset:
        return self


UNSET = _Unset()
"""The "missing" marker, Convex's `undefined`: a field set to `UNSET` is absent.

In `db.patch(id, {"field": UNSET})` it removes the field; in a document or argument dict the
field is simply left out; in `q.eq(q.field("f"), UNSET)` (and in index ranges) it matches
documents that lack the field, and it sorts before every other value. It is falsy, a singleton
(`x is UNSET`), and survives `copy`/`pickle` as itself.
"""

MIN_INT64 = -(2**63)
MAX_INT64 = 2**63 - 1
# Ints within ±2**53 convert exactly to Float64 (the Python client allows both ends).
MAX_SAFE_INT = 2**53


class Int64(int):
    """A Convex int64 (JavaScript `bigint`): an `int` subclass checked to the signed 64-bit range.

    Python ints are floats to Convex unless a `v.int64()` validator says otherwise (the int
    rule); `Int64(n)` makes an int64 explicitly, where there is no validator. Stored int64 values
    come back as `Int64`. Arithmetic returns plain `int`, so `Int64(2) + 1 == 3` is an `int`
    again. Note that Convex tells `Int64(1)` and `1.0` apart (`values_equal` is False), while
    Python's `==` does not.

    `Int64(value)` takes an int, a numpy integer, an integral float or a string of digits.

    Raises:
        ValueError: The value is outside `-2**63 .. 2**63-1`, or is a float with a fraction.
        TypeError: The value is not an integer (a bool, a list, ...).

    Examples:
        >>> Int64(5)
        Int64(5)
        >>> Int64(2**63)
        Traceback (most recent call last):
        ...
        ValueError: 9223372036854775808 is outside allowed range for an int64
    """

    __slots__ = ()

    def __new__(cls, value: Any = 0) -> Int64:
        if type(value) is not int:
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(f"{value!r} is not an integer")
            elif isinstance(value, bool) or not isinstance(value, (int, str)):
                # numpy integers and other __index__ types
                if hasattr(value, "__index__") and not isinstance(value, bool):
                    value = value.__index__()
                else:
                    raise TypeError(f"{value!r} is not an int")
            value = int(value)
        if not MIN_INT64 <= value <= MAX_INT64:
            # Same text as the official Python client's `ConvexInt64`.
            raise ValueError(f"{value} is outside allowed range for an int64")
        return int.__new__(cls, value)

    def __repr__(self) -> str:
        return f"Int64({int.__repr__(self)})"

    __str__ = int.__repr__


# --------------------------------------------------------------------------------------------
# Limits (Convex's documented value limits and field-name rules)
# --------------------------------------------------------------------------------------------

MAX_DOCUMENT_SIZE = 1 << 20  # 1 MiB, system fields included
MAX_DOCUMENT_NESTING = 16
MAX_VALUE_SIZE = 1 << 25  # 32 MiB: any value (args, results)
MAX_VALUE_NESTING = 64
MAX_ARRAY_LENGTH = 8192
MAX_OBJECT_FIELDS = 1024
MAX_FIELD_NAME_LENGTH = 1024
MAX_IDENTIFIER_LENGTH = 64

_TYPES_URL = "To learn about Convex's supported types, see https://docs.convex.dev/using/types."
_NoneType = type(None)

# Types that are immutable internal scalars: returned as is by conversion and copies.
_SCALARS = frozenset({str, float, bool, _NoneType, Int64, bytes})
# The same without str: conversion must still check that a string is valid Unicode.
_FINAL_SCALARS = frozenset({float, bool, _NoneType, Int64, bytes})


# --------------------------------------------------------------------------------------------
# Float formatting (three printers: serde_json/ryu, Rust `{:?}`, JavaScript `String(n)`)
# --------------------------------------------------------------------------------------------


def _digits_exp(x: float) -> tuple[str, int]:
    """Shortest round-trip digits of a finite x > 0: `(digits, k)` with x == int(digits) * 10**k."""
    r = repr(x)
    e = 0
    if "e" in r:
        r, es = r.split("e")
        e = int(es)
    if "." in r:
        ip, fp = r.split(".")
    else:
        ip, fp = r, ""
    d = (ip + fp).lstrip("0")
    k = e - len(fp)
    s = d.rstrip("0")
    return s, k + (len(d) - len(s))


def format_float_export(x: float) -> str:
    """A finite float as serde_json writes it (ryu layout): `36.0`, `-0.0`, `1e16`, `1e-7`.

    >>> [format_float_export(v) for v in (36.0, 1e16, 1.5e300, 1e-7, 0.00001)]
    ['36.0', '1e16', '1.5e300', '1e-7', '0.00001']
    """
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0.0 else "0.0"
    sign = "-" if x < 0.0 else ""
    d, k = _digits_exp(-x if x < 0.0 else x)
    n = len(d)
    kk = n + k
    if 0 <= k and kk <= 16:
        return f"{sign}{d}{'0' * k}.0"
    if 0 < kk <= 16:
        return f"{sign}{d[:kk]}.{d[kk:]}"
    if -5 < kk <= 0:
        return f"{sign}0.{'0' * -kk}{d}"
    if n == 1:
        return f"{sign}{d}e{kk - 1}"
    return f"{sign}{d[0]}.{d[1:]}e{kk - 1}"


def _format_float_rust_debug(x: float) -> str:
    # Rust's `{:?}` for f64 (how ConvexValue displays a Float64): decimal with at least one
    # fractional digit when 1e-4 <= |x| < 1e16, else shortest exponent form (`1e16`, `1.5e-7`).
    if x != x:
        return "NaN"
    if x == math.inf:
        return "inf"
    if x == -math.inf:
        return "-inf"
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0.0 else "0.0"
    sign = "-" if x < 0.0 else ""
    a = -x if x < 0.0 else x
    d, k = _digits_exp(a)
    n = len(d)
    kk = n + k
    if 1e-4 <= a < 1e16:
        if k >= 0:
            return f"{sign}{d}{'0' * k}.0"
        if kk > 0:
            return f"{sign}{d[:kk]}.{d[kk:]}"
        return f"{sign}0.{'0' * -kk}{d}"
    mant = d if n == 1 else f"{d[0]}.{d[1:]}"
    return f"{sign}{mant}e{kk - 1}"


def _format_float_rust_display(x: float) -> str:
    # Rust's `{}` for f64: plain decimal, never an exponent (`1`, `0.0000001`, `NaN`, `inf`).
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "inf" if x > 0 else "-inf"
    if x == 0.0:
        return "-0" if math.copysign(1.0, x) < 0.0 else "0"
    sign = "-" if x < 0.0 else ""
    d, k = _digits_exp(abs(x))
    kk = len(d) + k
    if k >= 0:
        return f"{sign}{d}{'0' * k}"
    if kk > 0:
        return f"{sign}{d[:kk]}.{d[kk:]}"
    return f"{sign}0.{'0' * -kk}{d}"


def _format_float_js(x: float) -> str:
    # JavaScript Number#toString: decimal for 1e-7 <= |x| < 1e21, else `1e+21` / `1.5e-7`.
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0.0:
        return "0"
    sign = "-" if x < 0.0 else ""
    a = abs(x)
    d, k = _digits_exp(a)
    n = len(d)
    kk = n + k
    if 1e-7 <= a < 1e21:
        if k >= 0:
            return f"{sign}{d}{'0' * k}"
        if kk > 0:
            return f"{sign}{d[:kk]}.{d[kk:]}"
        return f"{sign}0.{'0' * -kk}{d}"
    mant = d if n == 1 else f"{d[0]}.{d[1:]}"
    e = kk - 1
    return f"{sign}{mant}e{'+' if e >= 0 else '-'}{abs(e)}"


def format_size(n: int) -> str:
    """Bytes as Convex prints them (Rust `humansize`, binary units): `512 B`, `1.05 MiB`, `1 MiB`."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    unit = "B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024.0
        if value < 1024.0:
            break
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


# --------------------------------------------------------------------------------------------
# Python -> internal conversion
# --------------------------------------------------------------------------------------------


class _PathError(Exception):
    """Internal: raised deep inside a walk, collects path segments while unwinding.

    `chain` collects the containers passed on the way up (innermost first): the nesting error
    uses them to tell a reference cycle from a merely deep value. Only failures pay for it.
    """

    def __init__(self, kind: str, value: Any, message: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.value = value
        self.message = message
        self.segs: list[str] = []
        self.chain: list[Any] = []

    def path(self, prefix: str = "") -> str:
        return prefix + "".join(reversed(self.segs))


def _int_to_float(x: int) -> float:
    if -MAX_SAFE_INT <= x <= MAX_SAFE_INT:
        return float(x)
    # The official Python client's text, naming convex_lab's class (the client's is ConvexInt64).
    raise ValueError(
        f"Integer {x} is outside the range of a Convex `Float64` (-2^53 to 2^53). "
        "Consider using an `Int64` (from convex_lab import Int64), which corresponds to a `BigInt` "
        "in JavaScript Convex functions."
    )


def _conv_str(s: str) -> str:
    """`s` when it is valid Unicode, else `_PathError("string")`.

    A Python str may hold lone surrogates (U+D800–U+DFFF), which UTF-8 cannot encode. Checks run
    cheapest first: `isascii` is O(1) (CPython keeps the flag); `isprintable` scans without
    allocating and is False for any surrogate (category Cs); only strings failing both (for
    instance non-ASCII text with a newline) pay for the `encode`. The conversion loops inline the
    first two checks."""
    if not (s.isascii() or s.isprintable()):
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise _PathError("string", s) from None
    return s


def _conv_unset(x: Any) -> Any:
    raise _PathError("undefined", x)


def _conv_fallback(x: Any, level: int) -> Any:
    """Subclasses, numpy scalars and other duck types; anything else is unsupported."""
    t = type(x)
    mod = t.__module__
    if mod == "numpy":
        import numpy as np

        if isinstance(x, np.bool_):
            return bool(x)
        if isinstance(x, np.integer):
            return _int_to_float(int(x))
        if isinstance(x, np.floating):
            return float(x)
        if isinstance(x, np.str_):
            return _conv_str(str(x))
        if isinstance(x, np.bytes_):
            return bytes(x)
        raise _PathError("unsupported", x)
    if isinstance(x, Int64):
        return Int64(int(x))
    if isinstance(x, int):  # int subclasses (IntEnum, ...); bool is handled by type already
        return _int_to_float(int(x))
    if isinstance(x, float):
        return float(x)
    if isinstance(x, str):
        return _conv_str(str(x))
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    if isinstance(x, (list, tuple)):
        return _conv_list(x, level)
    if isinstance(x, (dict, Mapping)):
        return _conv_dict(x, level)
    raise _PathError("unsupported", x)


# Containers are copied in C first (`dict.copy`, `list(...)`), then the few values that are not
# final yet are replaced in place: cheaper than building the copy item by item. Final values are
# the immutable scalars and the strings passing `_conv_str`'s two cheap checks (inlined); other
# strings go through `_conv` to `_conv_str`. `level` is the nesting level of the container: past
# MAX_VALUE_NESTING the walk stops (a deep or self-containing value would otherwise hit Python's
# recursion limit; only then is a cycle looked for, in `_nesting_error`).


def _conv_dict(x: Any, level: int) -> dict:
    if level > MAX_VALUE_NESTING:
        raise _PathError("nesting", x)
    out = x.copy() if type(x) is dict else dict(x.items())
    gone = None
    for k, v in out.items():
        if type(k) is not str:
            return _conv_dict(_str_keys(out), level)
        tv = type(v)
        if tv in _FINAL_SCALARS or (tv is str and (v.isascii() or v.isprintable())):
            continue
        if v is UNSET:
            if gone is None:
                gone = []
            gone.append(k)
            continue
        try:
            out[k] = _conv_item(v, tv, level)  # replacing a value does not disturb the iteration
        except _PathError as e:
            e.segs.append("." + k)
            e.chain.append(x)
            raise
    if gone is not None:
        for k in gone:
            del out[k]
    return out


def _conv_item(v: Any, tv: type, level: int) -> Any:
    """One member (of type `tv`) of a container at `level`; common types skip `_conv`."""
    if tv is dict:
        return _conv_dict(v, level + 1)
    if tv is list:
        return _conv_list(v, level + 1)
    if tv is int:
        return _int_to_float(v)
    return _conv(v, level + 1)


def _str_keys(x: dict) -> dict:
    """`x` with str-subclass keys made plain `str`; `_PathError("key")` for any other key."""
    out = {}
    for k, v in x.items():
        if type(k) is not str:
            if not isinstance(k, str):
                raise _PathError("key", k)
            k = str(k)
        out[k] = v
    return out


def _conv_list(x: Any, level: int) -> list:
    if level > MAX_VALUE_NESTING:
        raise _PathError("nesting", x)
    out = list(x)
    for v in out:  # a list of final values only (the usual case) needs no index
        tv = type(v)
        if not (tv in _FINAL_SCALARS or (tv is str and (v.isascii() or v.isprintable()))):
            break
    else:
        return out
    for i, v in enumerate(out):
        tv = type(v)
        if tv in _FINAL_SCALARS or (tv is str and (v.isascii() or v.isprintable())):
            continue
        try:
            out[i] = _conv_item(v, tv, level)
        except _PathError as e:
            e.segs.append(f"[{i}]")
            e.chain.append(x)
            raise
    return out


def _conv(x: Any, level: int) -> Any:
    t = type(x)
    if t is dict:
        return _conv_dict(x, level)
    if t is list or t is tuple:
        return _conv_list(x, level)
    conv = _CONVERTERS.get(t)
    if conv is not None:
        return conv(x)
    return _conv_fallback(x, level)


_CONVERTERS: dict[type, Any] = {
    str: _conv_str,
    float: lambda x: x,
    bool: lambda x: x,
    _NoneType: lambda x: x,
    Int64: lambda x: x,
    bytes: lambda x: x,
    int: _int_to_float,
    bytearray: bytes,
    memoryview: bytes,
    _Unset: _conv_unset,
}


def convex_value(x: Any, path: str = "", level: int = 1) -> Any:
    """Convert a Python value into a Convex value, as where there is no validator (ints become floats).

    bool → bool; `Int64` stays Int64; int / numpy integer → float when |x| <= 2**53, else
    `ValueError`; float / numpy floating → float; str → str; bytes-like → bytes; list/tuple → list;
    dict (str keys) → dict. A dict value of `UNSET` means "absent" and is dropped. Anything else
    raises `TypeError` with Convex's text and the value's path. A string with a lone surrogate
    raises `ValueError`; nesting deeper than 64 raises `DocumentTooLarge`, or `ValueError` when the
    value contains itself. `level` is the nesting level `x` sits at when it is part of a larger
    value (validators converting field by field pass it). Always returns a fresh structure.
    Cost: O(size of x).

    Examples:
        >>> convex_value({"a": 1, "b": (True, b"x"), "c": UNSET})
        {'a': 1.0, 'b': [True, b'x']}
    """
    t = type(x)
    if t in _FINAL_SCALARS or (t is str and (x.isascii() or x.isprintable())):
        return x
    try:
        if t is dict:  # the common case, one call less
            return _conv_dict(x, level)
        return _conv(x, level)
    except _PathError as e:
        raise _conversion_error(e, path, x) from None


def _conversion_error(e: _PathError, prefix: str, original: Any) -> Exception:
    if e.kind == "nesting":
        return _nesting_error(e, prefix)
    p = e.path(prefix)
    if e.kind == "string":
        return _invalid_string_error(e.value, prefix, e.segs[::-1])
    if e.kind == "key":
        suffix = f" (present at path {p})" if p else ""
        # The Python client's text for a non-string key (it raises ValueError; we use TypeError).
        return TypeError(_safe_text(f"Convex object keys must be strings, found {e.value!r}{suffix}"))
    if e.kind == "undefined":
        ctx = f" (present at path {p} in original object {stringify_value_for_error(original)})" if p else ""
        return TypeError(_safe_text(f"undefined is not a valid Convex value{ctx}. {_TYPES_URL}"))
    # convexToJson's text (npm `convex` values/value.ts), with Python's repr as the value.
    if p:
        return TypeError(
            _safe_text(
                f"{e.value!r} is not a supported Convex type (present at path {p} in original object "
                f"{stringify_value_for_error(original)}). {_TYPES_URL}"
            )
        )
    return TypeError(f"{e.value!r} is not a supported Convex type.")


# Messages show at most this many path segments (a too-nested value has 64).
_MAX_PATH_SEGMENTS = 10


def _short_path(prefix: str, segs: list[str]) -> str:
    """`prefix` + root-first `segs`, cut after `_MAX_PATH_SEGMENTS` segments with `…`."""
    if len(segs) > _MAX_PATH_SEGMENTS:
        return _safe_text(prefix + "".join(segs[:_MAX_PATH_SEGMENTS]) + "…")
    return _safe_text(prefix + "".join(segs))


def _escape_surrogates(s: str) -> str:
    """`s` with each lone surrogate written as `\\udxxx`, so that a message encodes as UTF-8."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _safe_text(s: str) -> str:
    return s if s.isascii() else _escape_surrogates(s)


def _invalid_string_error(s: str, prefix: str, segs: list[str]) -> ValueError:
    """The error for a string with a lone surrogate. Besides `.path` it carries
    `.invalid_string`, the text without the location, which validators reuse."""
    import json
    import re

    i = re.search("[\ud800-\udfff]", s).start()  # type: ignore[union-attr]
    # A window around the culprit keeps the message short for long strings.
    lo = 0 if len(s) <= 60 else max(0, i - 20)
    hi = len(s) if len(s) <= 60 else i + 20
    shown = json.dumps(s[lo:hi], ensure_ascii=False)
    if lo > 0:
        shown = f'"…{shown[1:]}'
    if hi < len(s):
        shown = f"{shown[:-1]}…\""
    shown = _escape_surrogates(shown)
    why = (
        f"is not valid Unicode: it contains a lone surrogate (U+{ord(s[i]):04X}). "
        "Convex strings must be valid UTF-8."
    )
    at = f" (present at path {_short_path(prefix, segs)})" if prefix or segs else ""
    err = ValueError(f"String {shown}{at} {why}")
    err.path = prefix + "".join(segs)  # type: ignore[attr-defined]
    err.invalid_string = f"String {shown} {why}"  # type: ignore[attr-defined]
    return err


def _nesting_error(e: _PathError, prefix: str) -> Exception:
    """Nesting past MAX_VALUE_NESTING: a reference cycle when a container repeats on the path
    walked (`ValueError`), else Convex's too-nested error (`DocumentTooLarge`), with the path."""
    objs = e.chain[::-1] + [e.value]  # root first; the walk keeps them alive, so ids are stable
    segs = e.segs[::-1]
    seen: set[int] = set()
    for j, obj in enumerate(objs):
        if id(obj) in seen:
            err: Exception = ValueError(
                f"The value contains itself (a reference cycle at path {_short_path(prefix, segs[:j])}); "
                "Convex values must be trees (JSON-like)."
            )
            err.path = prefix + "".join(segs[:j])  # type: ignore[attr-defined]
            return err
        seen.add(id(obj))
    at = f" (present at path {_short_path(prefix, segs)})" if prefix or segs else ""
    err = DocumentTooLarge(f"{_too_nested_value()}{at}")
    err.path = prefix + "".join(segs)  # type: ignore[attr-defined]
    return err


def copy_value(v: Any) -> Any:
    """A fresh deep copy of an internal value (scalars shared: they are immutable). O(size).

    >>> d = {"a": [1.0]}; c = copy_value(d); c["a"].append(2.0); d
    {'a': [1.0]}
    """
    t = type(v)
    if t is dict:
        return {k: (x if type(x) in _SCALARS else copy_value(x)) for k, x in v.items()}
    if t is list:
        return [x if type(x) in _SCALARS else copy_value(x) for x in v]
    return v


# --------------------------------------------------------------------------------------------
# Total order (delegates to keys.encode_value; imported lazily: keys.py imports this module)
# --------------------------------------------------------------------------------------------


def _encode_value(v: Any) -> bytes:
    global _encode_value
    from .keys import encode_value

    _encode_value = encode_value
    return encode_value(v)


def compare_values(a: Any, b: Any) -> int:
    """-1, 0 or 1 by Convex's total order (missing < null < Int64 < Float64 < bool < string <
    bytes < array < object; strings by UTF-8; -0.0 < 0.0; NaN equal to itself).

    Examples:
        >>> compare_values(Int64(5), 1.0), compare_values(UNSET, None), compare_values("b", "a")
        (-1, -1, 1)
    """
    ta = type(a)
    if ta is type(b) and (ta is Int64 or ta is bool):
        return (a > b) - (a < b)
    ea = _encode_value(a)
    eb = _encode_value(b)
    return (ea > eb) - (ea < eb)


def values_equal(a: Any, b: Any) -> bool:
    """Convex equality: `1.0 != Int64(1)`, `-0.0 != 0.0`, `NaN == NaN`, `True != 1.0`.

    Live queries use it to decide whether a re-run's result changed.

    Examples:
        >>> values_equal(float("nan"), float("nan")), values_equal(0.0, -0.0), values_equal(Int64(1), 1.0)
        (True, False, False)
    """
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is str or ta is Int64 or ta is bool or ta is bytes or a is None:
        return a == b
    return _encode_value(a) == _encode_value(b)


# --------------------------------------------------------------------------------------------
# Convex JSON (wire)
# --------------------------------------------------------------------------------------------

_pack_d_le = struct.Struct("<d").pack
_unpack_d_le = struct.Struct("<d").unpack
_pack_q_le = struct.Struct("<q").pack
_unpack_q_le = struct.Struct("<q").unpack


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


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


# --------------------------------------------------------------------------------------------
# Sizes and limits
# --------------------------------------------------------------------------------------------


def value_size(v: Any) -> int:
    """Convex's size of a value (§2.3): null/bool 1; Int64/Float64 9; string/bytes UTF-8 length
    + 2; array 2 + Σ items; object 2 + Σ(len(name) + 1 + size(value)). O(size).

    >>> value_size({"a": "xy", "b": [1.0, None]})
    22
    """
    t = type(v)
    if t is str:
        return (len(v) if v.isascii() else len(v.encode("utf-8", "surrogatepass"))) + 2
    if t is float or t is Int64:
        return 9
    if t is dict:
        n = 2
        for k, x in v.items():
            tx = type(x)
            if tx is str:
                xs = (len(x) if x.isascii() else len(x.encode("utf-8", "surrogatepass"))) + 2
            elif tx is float or tx is Int64:
                xs = 9
            else:
                xs = value_size(x)
            n += (len(k) if k.isascii() else len(k.encode("utf-8", "surrogatepass"))) + 1 + xs
        return n
    if t is list:
        n = 2
        for x in v:
            tx = type(x)
            if tx is float or tx is Int64:
                n += 9
            elif tx is str:
                n += (len(x) if x.isascii() else len(x.encode("utf-8", "surrogatepass"))) + 2
            else:
                n += value_size(x)
        return n
    if t is bool or v is None:
        return 1
    if t is bytes:
        return len(v) + 2
    raise TypeError(f"{v!r} is not an internal Convex value")


def check_field_name(k: str) -> None:
    """Raise `ValueError` unless `k` is a valid (nested) object field name: not starting with
    `$`, only ASCII 0x20–0x7E, at most 1024 characters. Texts: npm `convex` validateObjectField."""
    # Names may hold lone surrogates: `_safe_text` escapes them so that messages encode as UTF-8.
    if len(k) > MAX_FIELD_NAME_LENGTH:
        raise ValueError(
            _safe_text(f"Field name {k} exceeds maximum field name length {MAX_FIELD_NAME_LENGTH}.")
        )
    if k.startswith("$"):
        raise ValueError(_safe_text(f"Field name {k} starts with a '$', which is reserved."))
    if not (k.isascii() and k.isprintable()):
        c = next(ch for ch in k if not (" " <= ch <= "~"))
        raise ValueError(
            _safe_text(
                f"Field name {k} has invalid character '{c}': Field names can only contain "
                "non-control ASCII characters"
            )
        )


def check_identifier(s: str) -> None:
    """Raise `ValueError` unless `s` is an identifier (`^[A-Za-z_][A-Za-z0-9_]*$`, <= 64, not all
    underscores). Texts: the backend's check_valid_identifier (sync_types/src/identifier.rs)."""
    if not s:
        raise ValueError("Identifier cannot be empty")
    c = s[0]
    if not (c == "_" or (c.isascii() and c.isalpha())):
        raise ValueError(
            f"Invalid first character '{c}' in {s}: Identifiers must start with an alphabetic "
            "character or underscore"
        )
    for c in s:
        if not (c == "_" or (c.isascii() and c.isalnum())):
            raise ValueError(
                f"Identifier {s} has invalid character '{c}': Identifiers can only contain "
                "alphanumeric characters or underscores"
            )
    if len(s) > MAX_IDENTIFIER_LENGTH:
        raise ValueError(f"Identifier is too long ({len(s)} > maximum {MAX_IDENTIFIER_LENGTH})")
    if s.strip("_") == "":
        raise ValueError(f"Identifier {s} cannot have exclusively underscores")


class _Walk:
    __slots__ = ("deepest", "cap")

    def __init__(self, cap: int) -> None:
        self.deepest = 0
        self.cap = cap


def _too_nested_value() -> DocumentTooLarge:
    # Values are built leaves-up in the backend, so the first failing level is always 65.
    return DocumentTooLarge(
        f"Value is too nested (nested {MAX_VALUE_NESTING + 1} levels deep > maximum nesting "
        f"{MAX_VALUE_NESTING})"
    )


def _too_large(size: int, limit: int) -> DocumentTooLarge:
    shown, max_shown = format_size(size), format_size(limit)
    if shown == max_shown:
        # `format_size` rounds: "1 MiB > maximum size 1 MiB" needs the exact counts to make sense.
        max_shown += f": {size:,} bytes > {limit:,} bytes"
    return DocumentTooLarge(f"Value is too large ({shown} > maximum size {max_shown})")


def _measure(v: Any, level: int, w: _Walk) -> int:
    """Size of container `v` at nesting `level`, checking lengths, field names and nesting."""
    if level > w.cap:
        raise _PathError("nesting", v)
    if level > w.deepest:
        w.deepest = level
    t = type(v)
    if t is dict:
        if len(v) > MAX_OBJECT_FIELDS:
            raise _PathError(
                "limit", v, f"Object has too many fields ({len(v)} > maximum number {MAX_OBJECT_FIELDS})"
            )
        n = 2
        for k, x in v.items():
            if not (k.isascii() and k.isprintable() and k[:1] != "$" and len(k) <= MAX_FIELD_NAME_LENGTH):
                try:
                    check_field_name(k)
                except ValueError as e:
                    err = _PathError("name", k, str(e))
                    err.segs.append("." + k)
                    raise err from None
            tx = type(x)
            if tx is str:
                xs = (len(x) if x.isascii() else len(x.encode("utf-8", "surrogatepass"))) + 2
            elif tx is float or tx is Int64:
                xs = 9
            elif tx is bool or x is None:
                xs = 1
            elif tx is bytes:
                xs = len(x) + 2
            else:
                try:
                    xs = _measure(x, level + 1, w)
                except _PathError as e:
                    e.segs.append("." + k)
                    raise
            n += len(k) + 1 + xs
        return n
    if t is list:
        if len(v) > MAX_ARRAY_LENGTH:
            raise _PathError(
                "limit", v, f"Array length is too long ({len(v)} > maximum length {MAX_ARRAY_LENGTH})"
            )
        n = 2
        for i, x in enumerate(v):
            tx = type(x)
            if tx is float or tx is Int64:
                n += 9
            elif tx is str:
                n += (len(x) if x.isascii() else len(x.encode("utf-8", "surrogatepass"))) + 2
            elif tx is bool or x is None:
                n += 1
            elif tx is bytes:
                n += len(x) + 2
            else:
                try:
                    n += _measure(x, level + 1, w)
                except _PathError as e:
                    e.segs.append(f"[{i}]")
                    raise
        return n
    if t is str or t is float or t is Int64 or t is bool or t is bytes or v is None:
        return value_size(v)
    raise _PathError("type", v)


def _walk_error(e: _PathError) -> Exception:
    p = e.path()
    at = _safe_text(f" (present at path {p})") if p else ""  # field names may hold surrogates
    if e.kind == "nesting":
        err: Exception = _too_nested_value()
    elif e.kind == "limit":
        err = DocumentTooLarge(e.message + at)
    elif e.kind == "name":
        err = ValueError(e.message + at)
    else:
        err = TypeError(f"{e.value!r} is not an internal Convex value{at}")
    err.path = p  # type: ignore[attr-defined]
    return err


def check_value_limits(v: Any, max_size: int = MAX_VALUE_SIZE, max_nesting: int = MAX_VALUE_NESTING) -> int:
    """Check a function argument/result value against Convex's generic limits; return its size.

    Nesting <= 64, arrays <= 8192 items, objects <= 1024 fields, field names valid, size <= 32 MiB
    (or `max_size`). Raises `DocumentTooLarge` (limits) or `ValueError` (field names). O(size).

    >>> check_value_limits({"a": [1.0]})
    15
    """
    t = type(v)
    if t is not dict and t is not list:
        size = value_size(v)
    else:
        w = _Walk(max_nesting)
        try:
            size = _measure(v, 1, w)
        except _PathError as e:
            raise _walk_error(e) from None
    if size > max_size:
        raise _too_large(size, max_size)
    return size


_SYSTEM_FIELDS = frozenset({"_id", "_creationTime"})
_VALID_TOP_LEVEL: set[str] = set()  # top-level field names already checked (a cache)


def check_document(doc: Any, table: str | None = None) -> int:
    """Check a whole document (system fields included) against Convex's limits; return its size.

    In order: nested field names (no `$` prefix, ASCII 0x20–0x7E, <= 1024), array length <= 8192,
    object fields <= 1024, nesting <= 64 (value) then <= 16 (document), top-level field names
    (identifiers; `_` only for `_id`/`_creationTime`, except in system tables, i.e. `table` starting
    with `_`), size <= 1 MiB. Raises `DocumentTooLarge` for size/depth/length, `ValueError` for
    field names; nested errors name the value path. O(size).

    >>> check_document({"name": "x", "tags": ["a"]})
    20
    >>> check_document({"_secret": 1.0})
    Traceback (most recent call last):
    ...
    ValueError: Field '_secret' starts with an underscore, which is only allowed for system fields like '_id'
    """
    if type(doc) is not dict:
        raise ValueError(f"A document must be an object, got {type_name(doc)}: {display_value(doc)}")
    w = _Walk(MAX_VALUE_NESTING)
    try:
        size = _measure(doc, 1, w)
    except _PathError as e:
        raise _walk_error(e) from None
    if w.deepest > MAX_DOCUMENT_NESTING:
        raise DocumentTooLarge(
            f"Document is too nested (nested {w.deepest} levels deep > maximum nesting "
            f"{MAX_DOCUMENT_NESTING})"
        )
    system_table = table is not None and table.startswith("_")
    for k in doc:
        if k in _SYSTEM_FIELDS or k in _VALID_TOP_LEVEL:
            continue
        if k.startswith("_"):
            if system_table:
                continue
            # The backend's DocumentValidationError::SystemField text.
            raise ValueError(f"Field '{k}' starts with an underscore, which is only allowed for system fields like '_id'")
        check_identifier(k)
        if len(_VALID_TOP_LEVEL) < 100_000:  # names seen valid; bounded so it cannot grow forever
            _VALID_TOP_LEVEL.add(k)
    if size > MAX_DOCUMENT_SIZE:
        raise _too_large(size, MAX_DOCUMENT_SIZE)
    return size


# --------------------------------------------------------------------------------------------
# Display
# --------------------------------------------------------------------------------------------

_TYPE_NAMES = {
    str: "string",
    float: "float64",
    Int64: "int64",
    bool: "boolean",
    _NoneType: "null",
    bytes: "bytes",
    list: "array",
    dict: "object",
    _Unset: "undefined",
}


def type_name(v: Any) -> str:
    """Convex's name for the type of an internal value: "string", "float64", "int64", "boolean",
    "null", "bytes", "array", "object" ("undefined" for UNSET)."""
    name = _TYPE_NAMES.get(type(v))
    if name is not None:
        return name
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    return type(v).__name__


def _rust_debug_str(s: str) -> str:
    out = []
    for c in s:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c == "\0":
            out.append("\\0")
        elif c < " " or c == "\x7f":
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


# Messages print whole values. So that one containing itself, one nested thousands deep, or one
# sharing sub-values so much that it unfolds hugely still prints (and quickly), the printers stop
# below this many levels (a Convex value has at most 64) and after this many items in all, with `…`.
_DISPLAY_MAX_LEVELS = MAX_VALUE_NESTING
_DISPLAY_MAX_ITEMS = 10_000


def display_value(v: Any) -> str:
    """A value as the backend prints it in messages (Rust `Display` of ConvexValue).

    null → `null`; Int64 → `5`; Float64 → Rust `{:?}` (`5.0`, `1e16`, `NaN`, `inf`); boolean →
    `true`; string → quoted with Rust escapes (`"a\\"b"`); bytes → `b"<base64>"`; array →
    `[1.0, "x"]`; object → `{a: 1.0, b: "x"}` (fields sorted, names unquoted); UNSET →
    `undefined`. Used in validator and document messages ("Value: ...").

    Containers past 64 levels or 10,000 items print as `[…]`/`{…}`/`…`; lone surrogates as
    `\\ud800`, so the text always encodes as UTF-8.

    >>> display_value({"b": [Int64(1), 2.0], "a": "x"})
    '{a: "x", b: [1, 2.0]}'
    """
    return _safe_text(_display(v, 1, [_DISPLAY_MAX_ITEMS]))


def _within_budget(items: Any, budget: list[int], render: Callable[[Any], str]) -> list[str]:
    """`render(item)` for each item while `budget[0]` (items left to show, shared by the whole
    value) lasts; then "…". Keeps messages about huge values short."""
    parts = []
    for item in items:
        if budget[0] <= 0:
            parts.append("…")
            break
        budget[0] -= 1
        parts.append(render(item))
    return parts


def _display(v: Any, level: int, budget: list[int]) -> str:
    t = type(v)
    if t is str:
        return _rust_debug_str(v)
    if t is float:
        return _format_float_rust_debug(v)
    if t is Int64:
        return int.__repr__(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    if t is dict:
        if level > _DISPLAY_MAX_LEVELS:
            return "{…}"
        parts = _within_budget(sorted(v), budget, lambda k: f"{k}: {_display(v[k], level + 1, budget)}")
        return "{" + ", ".join(parts) + "}"
    if t is list or t is tuple:
        if level > _DISPLAY_MAX_LEVELS:
            return "[…]"
        return "[" + ", ".join(_within_budget(v, budget, lambda x: _display(x, level + 1, budget))) + "]"
    if t is bytes:
        return f'b"{_b64(v)}"'
    if v is UNSET:
        return "undefined"
    if isinstance(v, int):
        return int.__repr__(int(v))
    return repr(v)


def stringify_value_for_error(v: Any) -> str:
    """A value as the JS side prints it (npm `convex` stringifyValueForError: `JSON.stringify`
    with bigints as `"5n"` and undefined as `"undefined"`). Used for `ConvexError` messages and the
    "original object" part of conversion errors; tolerant of non-Convex Python objects (their repr).
    Cut as `display_value` is (64 levels, 10,000 items), so any object prints, even one that
    contains itself; lone surrogates print as `\\ud800`, as JSON.stringify writes them.

    >>> stringify_value_for_error({"code": 42.0, "n": Int64(5), "ok": True})
    '{"code":42,"n":"5n","ok":true}'
    """
    return _safe_text(_stringify(v, 1, [_DISPLAY_MAX_ITEMS]))


def _json_str(s: str) -> str:
    try:
        return orjson.dumps(s).decode("utf-8")
    except orjson.JSONEncodeError:  # lone surrogates: the caller escapes them
        import json

        return json.dumps(s, ensure_ascii=False)


def _stringify(v: Any, level: int, budget: list[int]) -> str:
    t = type(v)
    if t is str or isinstance(v, str):
        return _json_str(str(v))
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is Int64:
        return f'"{int(v)}n"'
    if t is float or isinstance(v, float):
        x = float(v)
        return _format_float_js(x) if x - x == 0.0 else "null"
    if t is int:
        return str(v)
    if v is UNSET:
        return '"undefined"'
    if t is dict or isinstance(v, Mapping):
        if level > _DISPLAY_MAX_LEVELS:
            return "{…}"
        items = [(k, x) for k, x in v.items() if x is not UNSET]
        parts = _within_budget(items, budget, lambda kx: f"{_json_str(str(kx[0]))}:{_stringify(kx[1], level + 1, budget)}")
        return "{" + ",".join(parts) + "}"
    if t is list or t is tuple:
        if level > _DISPLAY_MAX_LEVELS:
            return "[…]"
        parts = _within_budget(v, budget, lambda x: "null" if x is UNSET else _stringify(x, level + 1, budget))
        return "[" + ",".join(parts) + "]"
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "{}"  # JSON.stringify(ArrayBuffer)
    return repr(v)
