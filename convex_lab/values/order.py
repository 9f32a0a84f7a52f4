"""Convex's total order and equality of values (`compare_values`, `values_equal`). Both delegate to
the order-preserving byte encoding of `keys.py`, imported lazily: keys.py imports this package.
"""

from __future__ import annotations

from typing import Any

from .model import Int64


def _encode_value(v: Any) -> bytes:
    global _encode_value
    from ..keys import encode_value

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
