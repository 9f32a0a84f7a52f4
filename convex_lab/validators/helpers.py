"""What the rest of convex_lab asks of validators: a function's `args=` as one `v.object`
(`args_validator`), a stored document checked against its table's validator (`match_document`),
the SQL column type a validator gives (`scalar_column_type`), and a walk over nested validators.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from ..values import Int64
from .base import Resolver, ValidationMismatch, Validator, _Fail, _no_match
from .containers import ArrayValidator, ObjectValidator, OptionalValidator, RecordValidator, UnionValidator, _strip_system
from .scalars import LiteralValidator


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
