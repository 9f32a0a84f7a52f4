"""Python → internal conversion (`convex_value`, the no-validator int rule), its error messages
(path, reference cycles, too-nested values, lone surrogates), and `copy_value`. Validators apply
their own int rule on top of it (`validators/`); the JSON forms decode through `json.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import DocumentTooLarge
from .display import _escape_surrogates, _safe_text, stringify_value_for_error
from .model import (
    MAX_SAFE_INT,
    MAX_VALUE_NESTING,
    UNSET,
    Int64,
    _FINAL_SCALARS,
    _NoneType,
    _SCALARS,
    _Unset,
)

_TYPES_URL = "To learn about Convex's supported types, see https://docs.convex.dev/using/types."


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


def _too_nested_value() -> DocumentTooLarge:
    # Values are built leaves-up in the backend, so the first failing level is always 65.
    return DocumentTooLarge(
        f"Value is too nested (nested {MAX_VALUE_NESTING + 1} levels deep > maximum nesting "
        f"{MAX_VALUE_NESTING})"
    )


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
