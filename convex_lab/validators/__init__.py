"""Convex validators (`v.string()`, `v.object({...})`, ...): the int rule, validation, JSON form.

`convert` turns a raw Python value into an internal value (applying the int rule) and validates it;
`check` validates a value that is already internal. Mismatches raise `ValidationMismatch` carrying
Convex's own detail text. One concept per module, imported here in dependency order: `base` (the
`Validator` class, `ValidationMismatch`, identifiers), `scalars` and `containers` (the validator
kinds), `build` (the `v` namespace, the JSON form read back), `helpers` (`args_validator`,
`match_document`, `scalar_column_type`). Every name is importable from `convex_lab.validators`
itself. Plain value conversion, equality and display live in `values/`; table schemas and index
rules live in `schema.py`.
"""

from __future__ import annotations

from .base import SYSTEM_FIELDS, Resolver, ValidationMismatch, Validator, identifier_error, is_identifier
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
from .containers import ArrayValidator, ObjectValidator, OptionalValidator, RecordValidator, UnionValidator
from .build import _V, v
from .helpers import args_validator, iter_validators, match_document, scalar_column_type

# Tracebacks name an exception by its module: keep the one users import it from.
ValidationMismatch.__module__ = __name__

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
