"""The validators that hold other validators: `v.optional(x)`, `v.array(x)`, `v.object({...})`,
`v.record(keys, values)` and `v.union(...)`. Single-value validators live in `scalars.py`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from .. import values as _values
from ..values import Int64
from .base import (
    _FINAL,
    _MISSING,
    SYSTEM_FIELDS,
    Resolver,
    Validator,
    _display,
    _Fail,
    _is_plain_int,
    _no_match,
    _utf8_safe,
    identifier_error,
    is_identifier,
)
from .scalars import IdValidator, LiteralValidator, StringValidator, _literal_key


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
