"""Building validators: the `v` namespace (`v.string()`, `v.object({...})`, ...) and Convex's JSON
form read back (`Validator.from_json`). The validator classes live in `scalars.py` and
`containers.py`.
"""

from __future__ import annotations

from typing import Any, Mapping

from .. import values as _values
from .base import Validator
from .containers import ArrayValidator, ObjectValidator, OptionalValidator, RecordValidator, UnionValidator
from .scalars import (
    AnyValidator,
    BooleanValidator,
    BytesValidator,
    Float64Validator,
    IdValidator,
    Int64Validator,
    LiteralValidator,
    NullValidator,
    StringValidator,
)


# --------------------------------------------------------------------------------------------
# From Convex's JSON form (each class writes its own: `to_json`)


def _from_json(j: Mapping[str, Any]) -> Validator:
    if not isinstance(j, Mapping) or "type" not in j:
        raise ValueError(f"Not a Convex validator JSON: {j!r}")
    t = j["type"]
    if t == "string":
        return StringValidator()
    if t == "number":
        return Float64Validator()
    if t == "bigint":
        return Int64Validator()
    if t == "boolean":
        return BooleanValidator()
    if t == "null":
        return NullValidator()
    if t == "bytes":
        return BytesValidator()
    if t in ("any", "map", "set"):  # Convex reads legacy map/set validators as any
        return AnyValidator()
    if t == "id":
        return IdValidator(j["tableName"])
    if t == "literal":
        return LiteralValidator(_values.from_convex_json(j["value"]))
    if t == "array":
        return ArrayValidator(_from_json(j["value"]))
    if t == "record":
        vals = j["values"]
        if isinstance(vals, Mapping) and "fieldType" in vals:
            inner = _from_json(vals["fieldType"])
            if vals.get("optional"):
                raise ValueError("Records cannot have optional values")
        else:
            inner = _from_json(vals)
        return RecordValidator(_from_json(j["keys"]), inner)
    if t == "object":
        fields = {}
        for name, ft in j["value"].items():
            inner = _from_json(ft["fieldType"])
            fields[name] = OptionalValidator(inner) if ft.get("optional") else inner
        return ObjectValidator(fields)
    if t == "union":
        return UnionValidator(*[_from_json(m) for m in j["value"]])
    raise ValueError(f"Unknown validator type {t!r} in validator JSON")


# --------------------------------------------------------------------------------------------
# The `v` namespace


class _V:
    """The type of `v`. Each builder returns a new validator:"""

    __slots__ = ()

    def string(self) -> StringValidator:
        """`v.string()`: a `str`."""
        return StringValidator()

    def number(self) -> Float64Validator:
        """`v.number()`: a float64, the same as `v.float64()`."""
        return Float64Validator()

    def float64(self) -> Float64Validator:
        """`v.float64()`: a `float` (NaN and infinities included). A Python int is accepted and
        stored as a float; beyond `±2**53` it is refused, since a float cannot hold it exactly."""
        return Float64Validator()

    def int64(self) -> Int64Validator:
        """`v.int64()`: an `Int64`. A Python (or numpy) int is accepted and becomes an `Int64`;
        outside the signed 64-bit range it raises `ValueError`. A float is refused, even 5.0."""
        return Int64Validator()

    def bigint(self) -> Int64Validator:
        """`v.bigint()`: the same as `v.int64()` (JavaScript's name for the type)."""
        return Int64Validator()

    def boolean(self) -> BooleanValidator:
        """`v.boolean()`: `True` or `False`."""
        return BooleanValidator()

    def null(self) -> NullValidator:
        """`v.null()`: `None`."""
        return NullValidator()

    def bytes(self) -> BytesValidator:
        """`v.bytes()`: binary data (`bytes`; a `bytearray` or `memoryview` is converted)."""
        return BytesValidator()

    def any(self) -> AnyValidator:
        """`v.any()`: any Convex value (a Python int becomes a float, as without a validator)."""
        return AnyValidator()

    def id(self, table_name: str) -> IdValidator:
        """`v.id("messages")`: a document id of table `table_name` (the document need not exist).

        Raises:
            TypeError: `table_name` is not a string.
        """
        return IdValidator(table_name)

    def literal(self, value: Any) -> LiteralValidator:
        """`v.literal(value)`: exactly `value`, a `str`, `bool`, number or `Int64`.

        A Python int literal means the float (`v.literal(3)` matches `3.0`, and `3`); use
        `v.literal(Int64(3))` for the int64.

        Raises:
            TypeError: `value` is of another type.
            ValueError: `value` is NaN or infinite.
        """
        return LiteralValidator(value)

    def array(self, element: Validator) -> ArrayValidator:
        """`v.array(element)`: a list (a tuple is converted) whose every item matches `element`.

        Raises:
            TypeError: `element` is not a validator, or is `v.optional(...)`.
        """
        if element is None:
            raise TypeError("A validator is undefined in v.array().")
        return ArrayValidator(element)

    def object(self, fields: Mapping[str, Validator]) -> ObjectValidator:
        """`v.object({"name": v.string(), "age": v.optional(v.float64())})`: a dict with exactly
        these fields (extra fields are refused); fields wrapped in `v.optional` may be missing.

        Raises:
            TypeError: `fields` is not a dict of field name -> validator.
            ValueError: A field name is not an identifier.
        """
        return ObjectValidator(fields)

    def record(self, keys: Validator, values: Validator) -> RecordValidator:
        """`v.record(v.string(), v.float64())`: a dict with any keys matching `keys` (a string-like
        validator: `v.string()`, `v.id(t)`, string literals, or a union of them) and values
        matching `values`.

        Raises:
            TypeError: `keys` or `values` is not a validator, or is `v.optional(...)`.
            ValueError: `keys` does not validate strings.
        """
        return RecordValidator(keys, values)

    def union(self, *members: Validator) -> UnionValidator:
        """`v.union(a, b, ...)`: a value matching at least one member.

        A Python int becomes an `Int64` when the union accepts int64 and not float64, a float
        otherwise.

        Raises:
            TypeError: A member is not a validator, or is `v.optional(...)`.
        """
        return UnionValidator(*members)

    def optional(self, inner: Validator) -> OptionalValidator:
        """`v.optional(inner)`: as a field of `v.object`, the field may be missing; when present
        it must match `inner`.

        Raises:
            TypeError: `inner` is not a validator.
        """
        return OptionalValidator(inner)

    def nullable(self, inner: Validator) -> UnionValidator:
        """`v.nullable(inner)`: `inner` or `None`; the same as `v.union(inner, v.null())`."""
        return UnionValidator(inner, NullValidator())

    def __repr__(self) -> str:
        return "v"


v = _V()
"""The validator builders, as Convex's `v`: `v.string()`, `v.object({...})`, `v.optional(...)`, ...

Validators describe Convex values: a function's arguments (`args=`) and return value
(`returns=`), and a table's documents (`define_table`). They also decide the int rule: a Python
int becomes an `Int64` where the validator expects int64 (`v.int64()`), and a float everywhere
else (and where there is no validator).
"""
