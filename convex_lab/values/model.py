"""The Convex value model in Python: `UNSET` (missing), `Int64`, and Convex's limits on values.

Inside convex_lab a value is made of a few plain Python types (docs/architecture.md, "Value
representation inside convex_lab"). Converting Python values into them lives in `convert.py`;
checking values against the limits defined here, in `limits.py`.
"""

from __future__ import annotations

from typing import Any


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

_NoneType = type(None)

# Types that are immutable internal scalars: returned as is by conversion and copies.
_SCALARS = frozenset({str, float, bool, _NoneType, Int64, bytes})
# The same without str: conversion must still check that a string is valid Unicode.
_FINAL_SCALARS = frozenset({float, bool, _NoneType, Int64, bytes})
