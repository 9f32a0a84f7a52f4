"""How Convex prints values: in messages (`display_value`, the backend's Rust `Display`), as the JS
client does (`stringify_value_for_error`), Convex's type names, and the float and size printers
behind them (serde_json, Rust and JavaScript layouts). Parsing and the JSON forms live in
`convert.py` and `json.py`.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Mapping
from typing import Any, Callable

import orjson

from .model import MAX_VALUE_NESTING, UNSET, Int64, _NoneType, _Unset


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
# Text helpers: messages must encode as UTF-8; bytes print as base64
# --------------------------------------------------------------------------------------------


def _escape_surrogates(s: str) -> str:
    """`s` with each lone surrogate written as `\\udxxx`, so that a message encodes as UTF-8."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _safe_text(s: str) -> str:
    return s if s.isascii() else _escape_surrogates(s)



def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


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
