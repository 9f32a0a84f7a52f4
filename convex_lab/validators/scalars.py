"""The validators of single values: `v.string()`, `v.float64()`, `v.int64()`, `v.boolean()`,
`v.null()`, `v.bytes()`, `v.any()`, `v.id(table)` and `v.literal(x)`. Objects, arrays, records,
unions and optional fields live in `containers.py`.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any, Optional

from .. import ids as _ids
from .. import values as _values
from ..values import Int64
from .base import Resolver, Validator, _display, _Fail, _is_plain_int, _no_match


class _Scalar(Validator):
    __slots__ = ()


class StringValidator(_Scalar):
    """`v.string()`."""

    __slots__ = ()
    kind = "string"
    _TYPES = frozenset({str})

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        if not isinstance(value, str):
            raise _no_match(value, self)


class Float64Validator(_Scalar):
    """`v.float64()` (also `v.number()`)."""

    __slots__ = ()
    kind = "number"
    _TYPES = frozenset({float})

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        if not isinstance(value, float):
            raise _no_match(value, self)

    def _accepts_float64(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "v.float64()"  # Convex prints v.number() and v.float64() alike


class Int64Validator(_Scalar):
    """`v.int64()` (also `v.bigint()`)."""

    __slots__ = ()
    kind = "bigint"
    _TYPES = frozenset({Int64})

    def __init__(self) -> None:
        super().__init__()
        self._has_int64 = True

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        if not isinstance(value, Int64):
            raise _no_match(value, self)

    def _coerce(self, raw: Any, path: str, resolver: Optional[Resolver], level: int) -> Any:
        if _is_plain_int(raw):
            return Int64(int(raw))
        return _values.convex_value(raw, path, level)

    def _accepts_int64(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "v.int64()"


class BooleanValidator(_Scalar):
    """`v.boolean()`."""

    __slots__ = ()
    kind = "boolean"
    _TYPES = frozenset({bool})

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        if value is not True and value is not False:
            raise _no_match(value, self)


class NullValidator(_Scalar):
    """`v.null()`."""

    __slots__ = ()
    kind = "null"
    _TYPES = frozenset({type(None)})

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        if value is not None:
            raise _no_match(value, self)


class BytesValidator(_Scalar):
    """`v.bytes()`."""

    __slots__ = ()
    kind = "bytes"
    _TYPES = frozenset({bytes})

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        if not isinstance(value, bytes):
            raise _no_match(value, self)


class AnyValidator(Validator):
    """`v.any()`."""

    __slots__ = ()
    kind = "any"

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        return None

    def _accepts_float64(self) -> bool:
        return True  # the int rule: under v.any() an int is stored as Float64

    def _accepts_int64(self) -> bool:
        return True


class IdValidator(Validator):
    """`v.id("t")`: a string that decodes as a Convex id whose table is `t` (existence of the
    document is not checked). Without a resolver only the id syntax is checked."""

    __slots__ = ("table_name",)
    kind = "id"
    _TYPES = frozenset({str})

    def __init__(self, table_name: str) -> None:
        super().__init__()
        if not isinstance(table_name, str):
            raise TypeError("v.id(tableName) requires a string")
        self.table_name = table_name

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        if not isinstance(value, str):
            raise _no_match(value, self)
        try:
            table_number = _ids.decode_id(value)[0]
        except (ValueError, TypeError):
            raise _no_match(value, self) from None
        if resolver is None:
            return
        found = resolver(table_number)
        if found is None:
            raise _no_match(value, self)
        if found != self.table_name:
            table = self.table_name
            if found.startswith("_"):
                raise _Fail(
                    lambda ctx: f'Found ID "{value}" from a system table, which does not match the '
                    f'table name in validator `v.id("{table}")`.{ctx}'
                )
            raise _Fail(
                lambda ctx: f'Found ID "{value}" from table `{found}`, which does not match the table '
                f'name in validator `v.id("{table}")`.{ctx}'
            )

    def to_json(self) -> dict:
        return {"type": "id", "tableName": self.table_name}

    def _key(self) -> tuple:
        return ("id", self.table_name)

    def __repr__(self) -> str:
        return f'v.id("{self.table_name}")'


class LiteralValidator(Validator):
    """`v.literal(x)` for a str, float (a Python int becomes a float), bool or `Int64`."""

    __slots__ = ("value",)
    kind = "literal"

    def __init__(self, value: Any) -> None:
        super().__init__()
        if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
            value = bool(value)
        elif isinstance(value, Int64):
            pass
        elif isinstance(value, str):
            value = _values.convex_value(str(value))  # refuses a string that is not valid Unicode
        elif isinstance(value, numbers.Real):
            value = _values.convex_value(value)  # ints -> float under the no-validator rule
            if not isinstance(value, float):  # pragma: no cover - defensive
                raise TypeError("v.literal(value) must be a string, number, or boolean")
            if not math.isfinite(value):
                raise ValueError("Infinite or NaN values are not supported in literal validators.")
        else:
            raise TypeError("v.literal(value) must be a string, number, or boolean")
        self.value = value
        self._has_int64 = isinstance(value, Int64)

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        lit = self.value
        if isinstance(lit, bool):
            ok = value is lit
        elif isinstance(lit, Int64):
            ok = isinstance(value, Int64) and int(value) == int(lit)
        elif isinstance(lit, str):
            ok = isinstance(value, str) and value == lit
        else:
            ok = (
                isinstance(value, float)
                and value == lit
                and math.copysign(1.0, value) == math.copysign(1.0, lit)
            )
        if not ok:
            shown = self._display_literal()
            raise _Fail(
                lambda ctx: f"`{_display(value)}` does not match literal validator "
                f"`v.literal({shown})`.{ctx}"
            )

    def _coerce(self, raw: Any, path: str, resolver: Optional[Resolver], level: int) -> Any:
        if isinstance(self.value, Int64) and _is_plain_int(raw):
            return Int64(int(raw))
        return _values.convex_value(raw, path, level)

    def _accepts_int64(self) -> bool:
        return isinstance(self.value, Int64)

    def _types(self) -> Optional[frozenset]:
        return frozenset({type(self.value)})

    def _accepts_float64(self) -> bool:
        return isinstance(self.value, float)

    def _display_literal(self) -> str:
        lit = self.value
        if isinstance(lit, bool):
            return "true" if lit else "false"
        if isinstance(lit, Int64):
            return "<bigint>"  # Convex prints Int64 literals this way
        if isinstance(lit, str):
            return json.dumps(lit, ensure_ascii=False)
        return _values.format_float_export(lit)  # serde_json's layout

    def to_json(self) -> dict:
        return {"type": "literal", "value": _values.to_convex_json(self.value)}

    def _key(self) -> tuple:
        lit = self.value
        if isinstance(lit, bool):
            return ("literal", "bool", lit)
        if isinstance(lit, Int64):
            return ("literal", "int64", int(lit))
        if isinstance(lit, str):
            return ("literal", "str", lit)
        return ("literal", "float", lit, math.copysign(1.0, lit))

    def __repr__(self) -> str:
        return f"v.literal({self._display_literal()})"


def _literal_key(x: Any) -> Any:
    """A hashable key under which two values are equal exactly when Convex says so (for the
    literal types: str, bool, Int64, finite float; -0.0 differs from 0.0)."""
    t = type(x)
    if t is str:
        return ("s", x)
    if t is bool:
        return ("b", x)
    if t is Int64:
        return ("i", int(x))
    if t is float:
        return ("f", x, math.copysign(1.0, x))
    return None
