"""Convex's size and shape limits: `value_size`, `check_document` (a whole document, field names
included), `check_value_limits` (function arguments and results), and the field-name and
identifier rules. The limits themselves are constants of `model.py`.
"""

from __future__ import annotations

from typing import Any

from ..errors import DocumentTooLarge
from .convert import _PathError, _too_nested_value
from .display import _safe_text, display_value, format_size, type_name
from .model import (
    MAX_ARRAY_LENGTH,
    MAX_DOCUMENT_NESTING,
    MAX_DOCUMENT_SIZE,
    MAX_FIELD_NAME_LENGTH,
    MAX_IDENTIFIER_LENGTH,
    MAX_OBJECT_FIELDS,
    MAX_VALUE_NESTING,
    MAX_VALUE_SIZE,
    Int64,
)


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
