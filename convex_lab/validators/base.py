"""What every validator shares: the `Validator` base class (convert, coerce, check, JSON and
equality), `ValidationMismatch` and the internal failure signal that builds Convex's messages, and
Convex's identifier rule. The validator kinds live in `scalars.py` and `containers.py`.
"""

from __future__ import annotations

import numbers
import re
from typing import Any, Callable, Mapping, Optional

from .. import values as _values
from ..values import Int64

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
# The base class


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
        from .build import _from_json  # build.py imports this module

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
