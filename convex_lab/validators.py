"""Convex validators (`v.string()`, `v.object({...})`, ...): the int rule, validation, JSON form.

`convert` turns a raw Python value into an internal value (applying the int rule) and validates it;
`check` validates a value that is already internal. Mismatches raise `ValidationMismatch` carrying
Convex's own detail text. Plain value conversion, equality and display live in `values.py`; table
schemas and index rules live in `schema.py`.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from typing import Any, Callable, Iterable, Mapping, Optional

from . import ids as _ids
from . import values as _values
from .values import Int64

__all__ = [
    "v",
    "Validator",
    "ValidationMismatch",
    "StringValidator",
    "Float64Validator",
    "Int64Validator",
    "BooleanValidator",
    "NullValidator",
    "BytesValidator",
    "AnyValidator",
    "IdValidator",
    "LiteralValidator",
    "ArrayValidator",
    "ObjectValidator",
    "RecordValidator",
    "UnionValidator",
    "OptionalValidator",
    "args_validator",
    "scalar_column_type",
    "match_document",
    "is_identifier",
    "identifier_error",
]

#: `table_name_of(table_number) -> name | None`, supplied by the engine to check `v.id` tables.
Resolver = Callable[[int], Optional[str]]


class ValidationMismatch(Exception):
    """A value does not match a validator. `.message` is Convex's detail text, for example::

        Value does not match validator.
        Path: .a
        Value: 5.0
        Validator: v.string()

    Callers wrap it in the error for their context (`ArgumentValidationError`, schema errors, ...).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------------
# Internal failure signal. Paths are collected while unwinding (as Convex does), so a successful
# check never builds a path string.


class _Fail(Exception):
    __slots__ = ("build", "rpath")

    def __init__(self, build: Callable[[str], str]) -> None:
        self.build = build  # context text ("" or "Path: .a[0]") -> full message
        self.rpath: list[str] = []

    def message(self, prefix: str) -> str:
        path = prefix + "".join(reversed(self.rpath))
        return _utf8_safe(self.build(f"Path: {path}" if path else ""))


def _utf8_safe(text: str) -> str:
    """`text` with lone surrogates written as `\\udxxx`: conversion refuses them in strings, but
    a field name may still hold one until the document checks refuse it, and messages must
    encode as UTF-8."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _invalid_string(exc: ValueError) -> ValidationMismatch:
    """The mismatch for a string with a lone surrogate, from `values`' conversion error (it
    carries the text without the location, and the path)."""
    path = exc.path  # type: ignore[attr-defined]
    detail = exc.invalid_string  # type: ignore[attr-defined]
    return ValidationMismatch(f"{detail}\nPath: {path}" if path else detail)


def _no_match(value: Any, validator: "Validator") -> _Fail:
    return _Fail(
        lambda ctx: f"Value does not match validator.\n{ctx}\nValue: {_display(value)}\nValidator: {validator!r}"
    )


def _display(value: Any) -> str:
    return _values.display_value(value)


_MISSING = object()

# Python values that `values.convex_value` returns as they are (ASCII strings too, checked apart).
_FINAL = frozenset({float, bool, type(None), Int64, bytes})

# Top-level fields that Convex removes from a document before checking it against its table's
# validator (and from a table's validator when it is defined).
SYSTEM_FIELDS = ("_id", "_creationTime")

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def is_identifier(s: Any) -> bool:
    """Convex's identifier rule (table, index and top-level field names): ASCII letters, digits and
    `_`, not starting with a digit, not only underscores, at most 64 characters."""
    return (
        isinstance(s, str)
        and len(s) <= 64
        and _IDENT_RE.match(s) is not None
        and s.strip("_") != ""
    )


def identifier_error(s: str) -> str:
    """Convex's text for why `s` is not an identifier (sync_types/identifier.rs)."""
    if s == "":
        return "Identifier cannot be empty"
    c = s[0]
    if not (c.isascii() and (c.isalpha() or c == "_")):
        return _utf8_safe(
            f"Invalid first character {c!r} in {s}: Identifiers must start with an alphabetic "
            "character or underscore"
        )
    for c in s[1:]:
        if not (c.isascii() and (c.isalnum() or c == "_")):
            return _utf8_safe(
                f"Identifier {s} has invalid character {c!r}: Identifiers can only contain "
                "alphanumeric characters or underscores"
            )
    if len(s) > 64:
        return f"Identifier is too long ({len(s)} > maximum 64)"
    return f"Identifier {s} cannot have exclusively underscores"


def _is_plain_int(x: Any) -> bool:
    """A Python/numpy integer that the int rule applies to (not bool, not already Int64)."""
    t = type(x)
    if t is int:
        return True
    if t is bool or isinstance(x, Int64) or isinstance(x, bool):
        return False
    return isinstance(x, numbers.Integral)


# --------------------------------------------------------------------------------------------
# Validators


class Validator:
    """Base class of every `v.*` validator.

    Validators compare equal when they describe the same values (`v.number() == v.float64()`),
    are hashable, and print as the `v.*` expression that builds them.

    In the methods below, `path` is the position of the value inside a larger one (`.a.b[0]`);
    it prefixes the `Path:` line of messages. `resolver(table_number) -> name | None` lets
    `v.id` check the table of an id; without it only the id's syntax is checked.

    Examples:
        >>> v.object({"n": v.int64()}).convert({"n": 5})
        {'n': Int64(5)}
    """

    __slots__ = ("_has_int64",)
    kind = "?"
    is_optional = False

    def __init__(self) -> None:
        self._has_int64 = False

    # -- conversion and checking -------------------------------------------------------------

    def convert(self, raw: Any, path: str = "", resolver: Optional[Resolver] = None) -> Any:
        """Convert a Python value to a Convex value under this validator's int rule, and check it.

        Args:
            raw: The Python value.
            path: Where `raw` sits inside a larger value, for messages.
            resolver: Maps a table number to its name, so `v.id` can check an id's table.

        Returns:
            The Convex value (ints as `Int64` or float, tuples as lists, ...), a fresh copy.

        Raises:
            ValidationMismatch: The value does not match (Convex's message: path, value,
                validator).
            TypeError: The value is not a Convex value.
            ValueError: The value cannot be converted (an int out of range, ...).
            DocumentTooLarge: The value is nested too deeply.
        """
        try:
            if self._has_int64:
                value = self._coerce(raw, path, resolver, 1)
            else:
                value = _values.convex_value(raw, path)
        except ValueError as e:
            # A string that is not valid Unicode is a mismatch, reported in the validator's style.
            if not hasattr(e, "invalid_string"):
                raise
            raise _invalid_string(e) from None
        try:
            self._check(value, resolver)
        except _Fail as f:
            raise ValidationMismatch(f.message(path)) from None
        return value

    def coerce(self, raw: Any, path: str = "", resolver: Optional[Resolver] = None) -> Any:
        """Convert like `convert`, without checking the result against the validator.

        Never raises `ValidationMismatch`; the other errors of `convert` remain.
        """
        if self._has_int64:
            return self._coerce(raw, path, resolver, 1)
        return _values.convex_value(raw, path)

    def check(self, value: Any, path: str = "", resolver: Optional[Resolver] = None) -> None:
        """Check a value that is already a Convex value (ints as `Int64` or float).

        Raises:
            ValidationMismatch: The value does not match.
        """
        try:
            self._check(value, resolver)
        except _Fail as f:
            raise ValidationMismatch(f.message(path)) from None

    def is_valid(self, value: Any, resolver: Optional[Resolver] = None) -> bool:
        """True when `value` (already a Convex value) passes `check`."""
        try:
            self._check(value, resolver)
        except _Fail:
            return False
        return True

    def _coerce(self, raw: Any, path: str, resolver: Optional[Resolver], level: int) -> Any:
        """`raw` converted under this validator's int rule; `level` is the nesting level `raw` sits
        at (as in `values.convex_value`, which enforces the nesting limit)."""
        return _values.convex_value(raw, path, level)

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- int rule facts ----------------------------------------------------------------------

    def _accepts_int64(self) -> bool:
        return False

    def _accepts_float64(self) -> bool:
        return False

    _TYPES: Optional[frozenset] = None

    def _types(self) -> Optional[frozenset]:
        """The Python types of internal values this validator may accept (None: any)."""
        return self._TYPES

    @property
    def has_int64(self) -> bool:
        """Whether any position inside this validator turns Python ints into Int64."""
        return self._has_int64

    # -- forms -------------------------------------------------------------------------------

    def to_json(self) -> dict:
        """The validator as Convex's JSON form (`{"type": "string"}`, ...)."""
        return {"type": self.kind}

    @staticmethod
    def from_json(j: Mapping[str, Any]) -> Validator:
        """Parse Convex's validator JSON (`{"type": "string"}`, ...)."""
        return _from_json(j)

    def _key(self) -> tuple:
        return (self.kind,)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Validator):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"v.{self.kind}()"


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


def _require_validator(x: Any, what: str) -> Validator:
    if not isinstance(x, Validator):
        raise TypeError(f"{what} must be a validator (v.string(), v.object({{...}}), ...), got {x!r}")
    return x


def _required_member(x: Any, what: str) -> Validator:
    x = _require_validator(x, what)
    if isinstance(x, OptionalValidator):
        # convex_lab: Convex's TypeScript types refuse this; at run time the `optional` would be
        # silently dropped, so refuse it here with a hint instead.
        raise TypeError(f"{what} cannot be v.optional(...): only object fields can be optional")
    return x


class OptionalValidator(Validator):
    """`v.optional(x)`: inside `v.object`, the field may be missing. Anywhere else it behaves as
    `x` (as in Convex, where optionality is a property of an object field)."""

    __slots__ = ("inner",)
    kind = "optional"
    is_optional = True

    def __init__(self, inner: Validator) -> None:
        super().__init__()
        inner = _require_validator(inner, "The argument of v.optional()")
        while isinstance(inner, OptionalValidator):
            inner = inner.inner
        self.inner = inner
        self._has_int64 = inner._has_int64

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        self.inner._check(value, resolver)

    def _coerce(self, raw: Any, path: str, resolver: Optional[Resolver], level: int) -> Any:
        return self.inner._coerce(raw, path, resolver, level)

    def _accepts_int64(self) -> bool:
        return self.inner._accepts_int64()

    def _accepts_float64(self) -> bool:
        return self.inner._accepts_float64()

    def _types(self) -> Optional[frozenset]:
        return self.inner._types()

    def to_json(self) -> dict:
        return self.inner.to_json()

    def _key(self) -> tuple:
        return ("optional", self.inner._key())

    def __repr__(self) -> str:
        return f"v.optional({self.inner!r})"


class ArrayValidator(Validator):
    """`v.array(element)`; `.element` is the items' validator."""

    __slots__ = ("element",)
    kind = "array"
    _TYPES = frozenset({list})

    def __init__(self, element: Validator) -> None:
        super().__init__()
        self.element = _required_member(element, "The element of v.array()")
        self._has_int64 = self.element._has_int64

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        if not isinstance(value, list):
            raise _no_match(value, self)
        check = self.element._check
        i = 0
        try:
            for i, item in enumerate(value):
                check(item, resolver)
        except _Fail as f:
            f.rpath.append(f"[{i}]")
            raise

    def _coerce(self, raw: Any, path: str, resolver: Optional[Resolver], level: int) -> Any:
        if isinstance(raw, (list, tuple)) and level <= _values.MAX_VALUE_NESTING:
            el = self.element
            return [el._coerce(item, f"{path}[{i}]", resolver, level + 1) for i, item in enumerate(raw)]
        return _values.convex_value(raw, path, level)

    def to_json(self) -> dict:
        return {"type": "array", "value": self.element.to_json()}

    def _key(self) -> tuple:
        return ("array", self.element._key())

    def __repr__(self) -> str:
        return f"v.array({self.element!r})"


class ObjectValidator(Validator):
    """`v.object({...})`. `.fields` maps each field name to its validator (optional fields as
    `v.optional(...)`), in the order given. Checks run in field-name order, as in Convex: each
    declared field (its value, or missing-and-required), then extra fields."""

    __slots__ = ("fields", "_sorted", "_checks", "_undeclared_system")
    kind = "object"
    _TYPES = frozenset({dict})

    def __init__(self, fields: Mapping[str, Validator]) -> None:
        super().__init__()
        if isinstance(fields, ObjectValidator):
            fields = fields.fields
        if not isinstance(fields, Mapping):
            raise TypeError("v.object() takes a dict of field name -> validator")
        out: dict[str, Validator] = {}
        for name, fv in fields.items():
            if not isinstance(name, str):
                raise TypeError(f"v.object() field names must be strings, got {name!r}")
            if fv is None:
                raise TypeError(f'A validator is undefined for field "{name}" in v.object().')
            if not isinstance(fv, Validator):
                raise TypeError("v.object() entries must be validators")
            if not is_identifier(name):
                raise ValueError(
                    _utf8_safe(f"Invalid field name `{name}` in v.object(): {identifier_error(name)}")
                )
            out[name] = fv
        self.fields = out
        self._sorted = sorted(out)
        self._checks = tuple(
            (name, out[name]._check, out[name].is_optional) for name in self._sorted
        )
        self._has_int64 = any(fv._has_int64 for fv in out.values())
        self._undeclared_system = tuple(s for s in SYSTEM_FIELDS if s not in out)

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        if not isinstance(value, dict):
            raise _no_match(value, self)
        present = 0
        for name, check, optional in self._checks:
            item = value.get(name, _MISSING)
            if item is not _MISSING:
                present += 1
                try:
                    check(item, resolver)
                except _Fail as f:
                    f.rpath.append("." + name)
                    raise
            elif not optional:
                raise self._missing(value, name)
        if present != len(value):
            raise self._extra(value, min(k for k in value if k not in self.fields))

    def _check_document(self, doc: dict, resolver: Optional[Resolver]) -> None:
        """Check a stored document: top-level system fields are ignored, as in Convex."""
        present = 0
        for name, check, optional in self._checks:
            item = doc.get(name, _MISSING)
            if item is not _MISSING:
                present += 1
                try:
                    check(item, resolver)
                except _Fail as f:
                    f.rpath.append("." + name)
                    raise
            elif not optional:
                raise self._missing(_strip_system(doc), name)
        n = len(doc)
        for s in self._undeclared_system:
            if s in doc:
                n -= 1
        if present != n:
            stripped = _strip_system(doc)
            raise self._extra(stripped, min(k for k in stripped if k not in self.fields))

    def _missing(self, obj: dict, name: str) -> _Fail:
        return _Fail(
            lambda ctx: f"Object is missing the required field `{name}`. Consider wrapping the field "
            f"validator in `v.optional(...)` if this is expected.\n{ctx}\nObject: {_display(obj)}\n"
            f"Validator: {self!r}"
        )

    def _extra(self, obj: dict, name: str) -> _Fail:
        return _Fail(
            lambda ctx: f"Object contains extra field `{name}` that is not in the validator.\n{ctx}\n"
            f"Object: {_display(obj)}\nValidator: {self!r}"
        )

    def _coerce(self, raw: Any, path: str, resolver: Optional[Resolver], level: int) -> Any:
        if not isinstance(raw, Mapping) or level > _values.MAX_VALUE_NESTING:
            return _values.convex_value(raw, path, level)  # raises Convex's error if too deep
        out = {}
        fields = self.fields
        for k, item in raw.items():
            if item is _values.UNSET:
                continue  # an UNSET field is a missing field (JS `undefined` in an object)
            if not isinstance(k, str):
                return _values.convex_value(raw, path, level)  # raises Convex's TypeError
            fv = fields.get(k)
            if fv is not None and fv._has_int64:
                out[k] = fv._coerce(item, f"{path}.{k}", resolver, level + 1)
            elif type(item) in _FINAL or (type(item) is str and item.isascii()):
                out[k] = item  # converts to itself: skip the call and the path string
            else:
                out[k] = _values.convex_value(item, f"{path}.{k}", level + 1)
        return out

    def to_json(self) -> dict:
        return {
            "type": "object",
            "value": {
                name: {"fieldType": fv.to_json(), "optional": fv.is_optional}
                for name, fv in self.fields.items()
            },
        }

    def _key(self) -> tuple:
        return ("object", tuple((name, self.fields[name]._key()) for name in self._sorted))

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}: {self.fields[name]!r}" for name in self._sorted)
        return f"v.object({{{inner}}})"

    # Convenience builders, as on Convex's VObject.
    def extend(self, fields: Mapping[str, Validator]) -> ObjectValidator:
        """A new `v.object` with these fields added (or replaced)."""
        return ObjectValidator({**self.fields, **dict(fields)})

    def pick(self, *names: str) -> ObjectValidator:
        """A new `v.object` with only the named fields."""
        return ObjectValidator({k: fv for k, fv in self.fields.items() if k in names})

    def omit(self, *names: str) -> ObjectValidator:
        """A new `v.object` without the named fields."""
        return ObjectValidator({k: fv for k, fv in self.fields.items() if k not in names})

    def partial(self) -> ObjectValidator:
        """A new `v.object` whose every field is optional."""
        return ObjectValidator({k: OptionalValidator(fv) for k, fv in self.fields.items()})


def _strip_system(doc: dict) -> dict:
    return {k: val for k, val in doc.items() if k not in SYSTEM_FIELDS}


def _is_string_subtype(x: Validator) -> bool:
    if isinstance(x, (StringValidator, IdValidator)):
        return True
    if isinstance(x, LiteralValidator):
        return isinstance(x.value, str)
    if isinstance(x, UnionValidator):
        return all(_is_string_subtype(m) for m in x.members)
    return False


class RecordValidator(Validator):
    """`v.record(keys, values)`: an object whose every key matches `keys` (a string-like validator:
    `v.string()`, `v.id(t)`, a string literal, or a union of them; with a union of literals, each
    key must be one of them, and keys may be absent) and every value matches `values`."""

    __slots__ = ("keys", "values")
    kind = "record"
    _TYPES = frozenset({dict})

    def __init__(self, keys: Validator, values: Validator) -> None:
        super().__init__()
        if keys is None:
            raise TypeError('A validator is undefined for field "key" in v.record().')
        if values is None:
            raise TypeError('A validator is undefined for field "value" in v.record().')
        if not isinstance(keys, Validator) or not isinstance(values, Validator):
            raise TypeError("Key and value of v.record() must be validators")
        if keys.is_optional:
            raise TypeError("Record validator cannot have optional keys")
        if values.is_optional:
            raise TypeError("Record validator cannot have optional values")
        # Convex rejects these when the validator is pushed (InvalidRecordType).
        if not _is_string_subtype(keys):
            raise ValueError(
                "Records can only have string keys. Your validator contains a record with key "
                f"typed as `{keys!r}`, which is not a subtype of `v.string()`"
            )
        self.keys = keys
        self.values = values
        self._has_int64 = values._has_int64

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        if not isinstance(value, dict):
            raise _no_match(value, self)
        try:
            self._check_items(value, resolver)
        except _Fail:
            # Report the first failure in key order, as Convex (whose objects are sorted) does.
            self._check_items({k: value[k] for k in sorted(value)}, resolver)
            raise  # pragma: no cover - the sorted pass raises

    def _check_items(self, value: dict, resolver: Optional[Resolver]) -> None:
        kcheck = self.keys._check
        vcheck = self.values._check
        for k, item in value.items():
            try:
                kcheck(k, resolver)
            except _Fail as f:
                f.rpath.append(".keys()")
                raise
            try:
                vcheck(item, resolver)
            except _Fail as f:
                f.rpath.append(".values()")
                raise

    def _coerce(self, raw: Any, path: str, resolver: Optional[Resolver], level: int) -> Any:
        if not isinstance(raw, Mapping) or level > _values.MAX_VALUE_NESTING:
            return _values.convex_value(raw, path, level)  # raises Convex's error if too deep
        out = {}
        vals = self.values
        for k, item in raw.items():
            if item is _values.UNSET:
                continue
            if not isinstance(k, str):
                return _values.convex_value(raw, path, level)
            out[k] = vals._coerce(item, f"{path}.{k}", resolver, level + 1)
        return out

    def to_json(self) -> dict:
        return {
            "type": "record",
            "keys": self.keys.to_json(),
            "values": {"fieldType": self.values.to_json(), "optional": False},
        }

    def _key(self) -> tuple:
        return ("record", self.keys._key(), self.values._key())

    def __repr__(self) -> str:
        return f"v.record({self.keys!r}, {self.values!r})"


class UnionValidator(Validator):
    """`v.union(a, b, ...)`: the value matches at least one member. A Python int becomes Int64
    when the union accepts Int64 and not Float64 (its only numeric members are `v.int64()` or
    Int64 literals); containers are converted with the first member that accepts them."""

    __slots__ = ("members", "_int_to_int64", "_literals", "_others")
    kind = "union"

    def __init__(self, *members: Validator) -> None:
        super().__init__()
        if len(members) == 1 and isinstance(members[0], (list, tuple)):
            members = tuple(members[0])
        checked = []
        for i, m in enumerate(members):
            if m is None:
                raise TypeError(f'A validator is undefined for field "member at index {i}" in v.union().')
            checked.append(_required_member(m, "Every member of v.union()"))
        self.members = tuple(checked)
        self._has_int64 = any(m._has_int64 for m in self.members)
        self._int_to_int64 = self._accepts_int64() and not self._accepts_float64()
        # Fast check: literal members as a set of keys, the others filtered by Python type first
        # (a failing member costs an exception, so skip the ones that cannot match).
        self._literals = frozenset(
            _literal_key(m.value) for m in self.members if isinstance(m, LiteralValidator)
        )
        self._others = tuple(
            (m._check, m._types()) for m in self.members if not isinstance(m, LiteralValidator)
        )

    def _check(self, value: Any, resolver: Optional[Resolver]) -> None:
        members = self.members
        if len(members) == 1:
            members[0]._check(value, resolver)
            return
        if self._literals and _literal_key(value) in self._literals:
            return
        t = type(value)
        for check, types in self._others:
            if types is None or t in types:
                try:
                    check(value, resolver)
                    return
                except _Fail:
                    pass
        raise _no_match(value, self)

    def _types(self) -> Optional[frozenset]:
        out: set = set()
        for m in self.members:
            t = m._types()
            if t is None:
                return None
            out |= t
        return frozenset(out)

    def _coerce(self, raw: Any, path: str, resolver: Optional[Resolver], level: int) -> Any:
        members = self.members
        if len(members) == 1:
            return members[0]._coerce(raw, path, resolver, level)
        if _is_plain_int(raw):
            if self._int_to_int64:
                return Int64(int(raw))
            return _values.convex_value(raw, path, level)
        if not isinstance(raw, (list, tuple, Mapping)):
            return _values.convex_value(raw, path, level)
        first_error: Optional[Exception] = None
        want = dict if isinstance(raw, Mapping) else list
        for m in members:
            types = m._types()
            if types is not None and want not in types:
                continue
            try:
                if m._has_int64:
                    value = m._coerce(raw, path, resolver, level)
                else:
                    value = _values.convex_value(raw, path, level)
                m._check(value, resolver)
                return value
            except _Fail:
                continue
            except ValueError as e:  # e.g. an int too large for a Float64 member
                first_error = first_error or e
        if first_error is not None:
            raise first_error
        return _values.convex_value(raw, path, level)  # matches no member: check reports it

    def _accepts_int64(self) -> bool:
        return any(m._accepts_int64() for m in self.members)

    def _accepts_float64(self) -> bool:
        return any(m._accepts_float64() for m in self.members)

    def to_json(self) -> dict:
        return {"type": "union", "value": [m.to_json() for m in self.members]}

    def _key(self) -> tuple:
        return ("union", tuple(m._key() for m in self.members))

    def __repr__(self) -> str:
        return "v.union(" + ", ".join(repr(m) for m in self.members) + ")"


# --------------------------------------------------------------------------------------------
# JSON


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


# --------------------------------------------------------------------------------------------
# Helpers for other modules


def args_validator(args: Any) -> Optional[ObjectValidator]:
    """Normalise a function's `args=` (a dict of validators or a `v.object`) into a `v.object`.
    `None` (no validator: any arguments) stays `None`."""
    if args is None:
        return None
    if isinstance(args, ObjectValidator):
        return args
    if isinstance(args, Mapping):
        return ObjectValidator(args)
    raise TypeError(
        "args must be a dict of validators (args={'x': v.string()}) or v.object({...}), "
        f"got {args!r}"
    )


def match_document(validator: Validator, doc: dict, resolver: Optional[Resolver] = None) -> None:
    """Check a stored document against its table's validator (a `v.object`, a `v.union` of
    them, or `v.any()`), ignoring the top-level `_id` and `_creationTime` as Convex does.
    Raises `ValidationMismatch`."""
    try:
        if isinstance(validator, ObjectValidator):
            if isinstance(doc, dict):
                validator._check_document(doc, resolver)
            else:
                validator._check(doc, resolver)
        elif isinstance(validator, UnionValidator):
            members = validator.members
            if len(members) == 1:
                match_document(members[0], doc, resolver)
                return
            for m in members:
                try:
                    if isinstance(m, ObjectValidator) and isinstance(doc, dict):
                        m._check_document(doc, resolver)
                    else:
                        m._check(doc, resolver)
                    return
                except _Fail:
                    pass
            raise _no_match(_strip_system(doc) if isinstance(doc, dict) else doc, validator)
        else:
            validator._check(doc, resolver)
    except _Fail as f:
        raise ValidationMismatch(f.message("")) from None


_SCALAR_SQL = {
    "string": "VARCHAR",
    "id": "VARCHAR",
    "number": "DOUBLE",
    "bigint": "BIGINT",
    "boolean": "BOOLEAN",
    "bytes": "BLOB",
}


def scalar_column_type(validator: Optional[Validator]) -> Optional[str]:
    """The one SQL scalar type a validator gives (`BIGINT`, `DOUBLE`, `VARCHAR`, `BLOB`,
    `BOOLEAN`), or None when it allows anything else (null, containers, mixed types, any).
    Optional unwraps; literals count as their type; a union counts when all members agree.

    >>> scalar_column_type(v.optional(v.union(v.literal("a"), v.string())))
    'VARCHAR'
    """
    if validator is None:
        return None
    if isinstance(validator, OptionalValidator):
        return scalar_column_type(validator.inner)
    if isinstance(validator, LiteralValidator):
        lit = validator.value
        if isinstance(lit, bool):
            return "BOOLEAN"
        if isinstance(lit, Int64):
            return "BIGINT"
        if isinstance(lit, str):
            return "VARCHAR"
        return "DOUBLE"
    if isinstance(validator, UnionValidator):
        kinds = {scalar_column_type(m) for m in validator.members}
        if len(kinds) == 1:
            return kinds.pop()
        return None
    return _SCALAR_SQL.get(validator.kind)


def iter_validators(validator: Validator) -> Iterable[Validator]:
    """Every validator nested in `validator`, itself first (depth first)."""
    yield validator
    if isinstance(validator, OptionalValidator):
        yield from iter_validators(validator.inner)
    elif isinstance(validator, ArrayValidator):
        yield from iter_validators(validator.element)
    elif isinstance(validator, ObjectValidator):
        for fv in validator.fields.values():
            yield from iter_validators(fv)
    elif isinstance(validator, RecordValidator):
        yield from iter_validators(validator.keys)
        yield from iter_validators(validator.values)
    elif isinstance(validator, UnionValidator):
        for m in validator.members:
            yield from iter_validators(m)
