"""Schemas: `define_schema` / `define_table`, database, search and vector index definitions with
Convex's rules and error texts, the JSON a Convex schema push carries, and checking documents
against a table's validator.

Validators live in `validators/`. Applying a schema (re-checking stored documents, backfilling
and dropping indexes) is the engine's job.
"""

from __future__ import annotations

import hashlib
import json
import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Optional

from . import values as _values
from .errors import SchemaDefinitionError, SchemaValidationError
from .validators import (
    AnyValidator,
    ArrayValidator,
    Float64Validator,
    ObjectValidator,
    OptionalValidator,
    SYSTEM_FIELDS,
    Resolver,
    UnionValidator,
    ValidationMismatch,
    Validator,
    is_identifier,
    match_document,
)

__all__ = [
    "define_schema",
    "define_table",
    "SchemaDefinition",
    "TableDefinition",
    "SearchIndexDefinition",
    "VectorIndexDefinition",
    "MAX_INDEXES_PER_TABLE",
    "MAX_INDEX_FIELDS",
    "MAX_FILTER_FIELDS",
]

MAX_INDEXES_PER_TABLE = 64  # database + search + vector indexes together
MAX_INDEX_FIELDS = 16  # including the `_creationTime` appended to every index
MAX_FILTER_FIELDS = 16  # per search or vector index
MIN_VECTOR_DIMENSIONS = 2
MAX_VECTOR_DIMENSIONS = 4096
RESERVED_INDEX_NAMES = ("by_id", "by_creation_time")

_SCHEMA_DOCS = "To learn more, see the schema documentation at https://docs.convex.dev/database/schemas."


def _error(short_code: str, message: str) -> SchemaDefinitionError:
    """A `SchemaDefinitionError` whose `.short_code` is Convex's error code for the rule."""
    err = SchemaDefinitionError(message)
    err.short_code = short_code  # type: ignore[attr-defined]
    return err


# --------------------------------------------------------------------------------------------
# Index definitions


@dataclass(frozen=True)
class SearchIndexDefinition:
    """A text search index: one `search_field` and up to 16 `filter_fields` (field paths)."""

    search_field: str
    filter_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class VectorIndexDefinition:
    """A vector index over `vector_field` (arrays of `dimensions` floats), with `filter_fields`."""

    vector_field: str
    dimensions: int
    filter_fields: tuple[str, ...] = ()


def _field_path(index_name: str, path: Any) -> str:
    """Parse a field path as Convex does (dots separate identifiers; outer dots are trimmed)."""
    if not isinstance(path, str):
        raise TypeError(f'In index "{index_name}": field paths must be strings, got {path!r}')
    trimmed = path.strip(".")
    parts = trimmed.split(".")
    if not trimmed or not all(is_identifier(p) for p in parts):
        raise _error("InvalidIndexField", f'In index "{index_name}": Invalid index field: "{path}"')
    return trimmed


def _check_index_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"Index names must be strings, got {name!r}")
    if not is_identifier(name):
        raise _error(
            "InvalidIndexName",
            f'Invalid index name: "{name}". Identifiers must be 64 characters or less, start with a '
            "letter, and only contain letters, digits, underscores.",
        )
    return name


def _field_list(what: str, fields: Any) -> list:
    if isinstance(fields, (str, bytes)) or not isinstance(fields, Iterable):
        raise TypeError(f"{what} must be a list of field paths, got {fields!r}")
    return list(fields)


def _filter_fields(index_name: str, fields: Any) -> tuple[str, ...]:
    out = _filter_fields_unchecked(index_name, fields)
    if len(out) > MAX_FILTER_FIELDS:
        raise _error(
            "IndexTooManyFilterFields",
            f"Search indexes may have up to {MAX_FILTER_FIELDS} filter fields.",
        )
    return tuple(out)


def _reject_staged(config: Mapping) -> None:
    if config.get("staged"):
        # convex_lab: staged indexes (never backfilled until enabled) are not modelled.
        raise _error("StagedIndexesUnsupported", "convex_lab does not support staged indexes (`staged: true`).")


# --------------------------------------------------------------------------------------------
# Tables


def _document_validator(doc: Any) -> Optional[Validator]:
    """The table's document validator: a `v.object`, a `v.union` of them, or None (any)."""
    if isinstance(doc, Mapping) and not isinstance(doc, Validator):
        doc = ObjectValidator(doc)
    if not isinstance(doc, Validator):
        raise TypeError(
            "Invalid validator: please make sure that the parameter of `define_table` is valid "
            "(a dict of validators, v.object(...), a v.union(...) of objects, or v.any(); see "
            "https://docs.convex.dev/database/schemas)"
        )
    if isinstance(doc, OptionalValidator):
        doc = doc.inner
    if isinstance(doc, AnyValidator):
        return None
    if isinstance(doc, ObjectValidator):
        return _without_system_fields(doc)
    if isinstance(doc, UnionValidator) and all(isinstance(m, ObjectValidator) for m in doc.members):
        return UnionValidator(*[_without_system_fields(m) for m in doc.members])
    raise _error(
        "InvalidTopLevelTypeInSchemaError",
        "The document validator in a schema must be an object, a union of objects, or `v.any()`. "
        f"Found {doc!r}. {_SCHEMA_DOCS}",
    )


def _without_system_fields(obj: ObjectValidator) -> ObjectValidator:
    """The validator without `_id`/`_creationTime` (a table's validator may describe them; Convex
    drops them). Any other top-level field starting with `_` could never be stored: refused."""
    for name in obj.fields:
        if name.startswith("_") and name not in SYSTEM_FIELDS:
            raise _error(
                "InvalidFieldName",
                f"Field '{name}' starts with an underscore, which is only allowed for system fields "
                "like '_id'. Top-level fields of a table may not start with `_`.",
            )
    if any(name in SYSTEM_FIELDS for name in obj.fields):
        return ObjectValidator({k: fv for k, fv in obj.fields.items() if k not in SYSTEM_FIELDS})
    return obj


class TableDefinition:
    """One table of a schema, built by `define_table(...)` and chained index calls.

    Responsibilities: hold the document validator and the index definitions; check each index
    as it is declared (rules that need the table's name run in `define_schema`).

    Attributes:
        document_validator (Validator | None): The documents' validator (`None` for `v.any()`).

    Examples:
        >>> t = define_table({"room": v.string()}).index("by_room", ["room"])
        >>> t.indexes
        {'by_room': ('room',)}
    """

    def __init__(self, document: Any) -> None:
        self.document_validator: Optional[Validator] = _document_validator(document)
        self._db: list[tuple[str, tuple[str, ...]]] = []
        self._search: list[tuple[str, SearchIndexDefinition]] = []
        self._vector: list[tuple[str, VectorIndexDefinition]] = []

    # -- declaring indexes -------------------------------------------------------------------

    def index(self, name: str, fields: Any) -> TableDefinition:
        """Declare a database index, for `with_index` queries.

        The index orders documents by `fields`, then `_creationTime`. It is built (and kept up
        to date) when the schema is installed with `app.set_schema`.

        Args:
            name: The index's name: an identifier, not starting with `_`, not `by_id` or
                `by_creation_time`, unique in the table.
            fields: The indexed field paths, in order (`["room", "author.name"]`), or Convex's
                form `{"fields": [...]}`. Up to 15; not `_id` or `_creationTime`.

        Returns:
            The table definition, so calls chain.

        Raises:
            SchemaDefinitionError: The name or a field breaks Convex's rules (`.short_code`
                names the rule).
            TypeError: `fields` is not a list of strings.
        """
        _check_index_name(name)
        if isinstance(fields, Mapping):
            _reject_staged(fields)
            if "fields" not in fields:
                raise TypeError('index() takes a list of field paths or {"fields": [...]}')
            fields = fields["fields"]
        paths = [_field_path(name, f) for f in _field_list("index fields", fields)]
        if len(paths) > MAX_INDEX_FIELDS:
            raise _error(
                "IndexTooManyFields",
                f'In index "{name}": Indexes may have up to {MAX_INDEX_FIELDS} fields.',
            )
        if "_id" in paths:
            raise _error(
                "IndexFieldsContainId",
                f'In index "{name}": `_id` is not a valid index field. To load documents by ID, '
                "use `db.get(id)`.",
            )
        seen: set[str] = set()
        for p in paths:
            if p in seen:
                raise _error(
                    "FieldsNotUniqueWithinIndex",
                    f'In index "{name}": Duplicate field "{p}". Index fields must be unique within '
                    "an index.",
                )
            seen.add(p)
        if "_creationTime" in paths:
            raise _error(
                "IndexFieldsContainCreationTime",
                "`_creationTime` is automatically added to the end of each index. It should not be "
                "added explicitly in the index definition. See https://docs.convex.dev/using/indexes "
                "for more details.",
            )
        if any(part.startswith("_") for p in paths for part in p.split(".")):
            raise _error(
                "IndexFieldNameReserved",
                "Reserved fields (starting with `_`) are not allowed in indexes.",
            )
        if len(paths) + 1 > MAX_INDEX_FIELDS:
            raise _error("IndexTooManyFields", f"Indexes may have up to {MAX_INDEX_FIELDS} fields.")
        self._db.append((name, tuple(paths)))
        return self

    def search_index(
        self,
        name: str,
        config: Optional[Mapping] = None,
        *,
        search_field: Optional[str] = None,
        filter_fields: Iterable[str] = (),
    ) -> TableDefinition:
        """Declare a text search index (kept in the schema; search queries are not available yet).

        `search_index("s", search_field="body", filter_fields=["room"])`, or Convex's form
        `search_index("s", {"searchField": "body", "filterFields": ["room"]})`.

        Args:
            name: The index's name.
            config: Convex's dict form, instead of the keyword arguments.
            search_field: The text field to search.
            filter_fields: Up to 16 fields usable as equality filters.

        Returns:
            The table definition, so calls chain.

        Raises:
            SchemaDefinitionError: The declaration breaks Convex's rules.
            TypeError: `search_field` is missing.
        """
        _check_index_name(name)
        if config is not None:
            if not isinstance(config, Mapping):
                raise TypeError("search_index() config must be a dict like {'searchField': 'body'}")
            _reject_staged(config)
            search_field = config.get("searchField", config.get("search_field", search_field))
            filter_fields = config.get("filterFields", config.get("filter_fields", filter_fields)) or ()
        if search_field is None:
            raise TypeError("search_index() needs search_field=")
        sf = _field_path(name, search_field)
        ff = _filter_fields(name, filter_fields)
        self._search.append((name, SearchIndexDefinition(sf, ff)))
        return self

    def vector_index(
        self,
        name: str,
        config: Optional[Mapping] = None,
        *,
        vector_field: Optional[str] = None,
        dimensions: Optional[int] = None,
        filter_fields: Iterable[str] = (),
    ) -> TableDefinition:
        """Declare a vector index (kept in the schema; vector search is not available yet).

        `vector_index("v", vector_field="embedding", dimensions=1536, filter_fields=["kind"])`,
        or Convex's form `vector_index("v", {"vectorField": ..., "dimensions": ...,
        "filterFields": [...]})`.

        Args:
            name: The index's name.
            config: Convex's dict form, instead of the keyword arguments.
            vector_field: The field holding the vectors (arrays of float64).
            dimensions: The vectors' length, 2 to 4096.
            filter_fields: Up to 16 fields usable as filters.

        Returns:
            The table definition, so calls chain.

        Raises:
            SchemaDefinitionError: The declaration breaks Convex's rules.
            TypeError: `vector_field` is missing, or `dimensions` is not an integer.
        """
        _check_index_name(name)
        if config is not None:
            if not isinstance(config, Mapping):
                raise TypeError("vector_index() config must be a dict like {'vectorField': 'v', 'dimensions': 2}")
            _reject_staged(config)
            vector_field = config.get("vectorField", config.get("vector_field", vector_field))
            dimensions = config.get("dimensions", config.get("dimension", dimensions))
            filter_fields = config.get("filterFields", config.get("filter_fields", filter_fields)) or ()
        if vector_field is None:
            raise TypeError("vector_index() needs vector_field=")
        vf = _field_path(name, vector_field)
        ff = _filter_fields_unchecked(name, filter_fields)
        if dimensions is None:
            raise _error("InvalidVectorIndex", "Missing dimensions field")
        if (
            isinstance(dimensions, bool)
            or not isinstance(dimensions, numbers.Real)
            or float(dimensions) != int(dimensions)
        ):
            raise TypeError(f"dimensions must be an integer, got {dimensions!r}")
        dims = int(dimensions)
        if not MIN_VECTOR_DIMENSIONS <= dims <= MAX_VECTOR_DIMENSIONS:
            raise _error(
                "InvalidVectorDimensionError",
                f"Dimensions {dims} must be between {MIN_VECTOR_DIMENSIONS} and {MAX_VECTOR_DIMENSIONS}.",
            )
        if len(ff) > MAX_FILTER_FIELDS:  # Convex's text says "Search indexes" here too
            raise _error(
                "IndexTooManyFilterFields",
                f"Search indexes may have up to {MAX_FILTER_FIELDS} filter fields.",
            )
        self._vector.append((name, VectorIndexDefinition(vf, dims, ff)))
        return self

    # Convex's camelCase spellings, taking its dict form.
    def searchIndex(self, name: str, config: Mapping) -> TableDefinition:  # noqa: N802
        """Convex's spelling of `search_index`, taking its dict form."""
        return self.search_index(name, config)

    def vectorIndex(self, name: str, config: Mapping) -> TableDefinition:  # noqa: N802
        """Convex's spelling of `vector_index`, taking its dict form."""
        return self.vector_index(name, config)

    # -- reading -----------------------------------------------------------------------------

    @property
    def indexes(self) -> dict[str, tuple[str, ...]]:
        """Database indexes: name -> declared field paths (without `_creationTime`, `_id`)."""
        return dict(self._db)

    @property
    def search_indexes(self) -> dict[str, SearchIndexDefinition]:
        """Search indexes: name -> `SearchIndexDefinition`."""
        return dict(self._search)

    @property
    def vector_indexes(self) -> dict[str, VectorIndexDefinition]:
        """Vector indexes: name -> `VectorIndexDefinition`."""
        return dict(self._vector)

    def to_json(self, table_name: str) -> dict:
        """This table as it appears in Convex's pushed schema JSON."""
        doc = self.document_validator
        return {
            "tableName": table_name,
            "indexes": [{"indexDescriptor": n, "fields": list(f)} for n, f in self._db],
            "stagedDbIndexes": [],
            "searchIndexes": [
                {"indexDescriptor": n, "searchField": s.search_field, "filterFields": list(s.filter_fields)}
                for n, s in self._search
            ],
            "stagedSearchIndexes": [],
            "vectorIndexes": [
                {
                    "indexDescriptor": n,
                    "vectorField": x.vector_field,
                    "dimensions": x.dimensions,
                    "filterFields": list(x.filter_fields),
                }
                for n, x in self._vector
            ],
            "stagedVectorIndexes": [],
            "documentType": doc.to_json() if doc is not None else {"type": "any"},
        }

    def __repr__(self) -> str:
        doc = self.document_validator
        out = f"define_table({doc!r})" if doc is not None else "define_table(v.any())"
        for n, f in self._db:
            out += f".index({n!r}, {list(f)!r})"
        for n, s in self._search:
            out += f".search_index({n!r}, search_field={s.search_field!r}, filter_fields={list(s.filter_fields)!r})"
        for n, x in self._vector:
            out += (
                f".vector_index({n!r}, vector_field={x.vector_field!r}, dimensions={x.dimensions}, "
                f"filter_fields={list(x.filter_fields)!r})"
            )
        return out

    # -- rules that need the table's name ----------------------------------------------------

    def _validate(self, table_name: str) -> None:
        """Convex's table-level rules, in the order the backend checks them."""
        if not isinstance(table_name, str) or not is_identifier(table_name):
            raise _error(
                "InvalidTableName",
                f'Invalid table name: "{table_name}". Identifiers must start with a letter and can '
                "only contain letters, digits, and underscores.",
            )
        if table_name.startswith("_"):
            raise _error("TableNameReserved", f"{table_name} is a reserved table name.")
        total = len(self._db) + len(self._search) + len(self._vector)
        if total > MAX_INDEXES_PER_TABLE:
            raise _error(
                "TooManyIndexes",
                f'Table "{table_name}" cannot have more than {MAX_INDEXES_PER_TABLE} indexes.',
            )
        for name, fields in self._db:
            if not fields:
                raise _error(
                    "EmptyIndex",
                    f'In table "{table_name}" index "{name}" must have at least one field.',
                )
        _unique(
            dict(self._db),
            lambda f: f,
            lambda a, b: _error(
                "IndexNotUnique",
                f'In table "{table_name}" index "{a}" and index "{b}" have the same fields. Indexes '
                "must be unique within a table.",
            ),
        )
        _unique(
            dict(self._search),
            lambda s: (s.search_field, frozenset(s.filter_fields)),
            lambda a, b: _error(
                "SearchIndexFieldNotUnique",
                f'In table "{table_name}" search index "{a}" and search index "{b}" have the same '
                "`searchField`. Search index fields must be unique within a table. You should "
                "combine the\n             indexes with the same `searchField` into one index "
                "containing all `filterField`s and then use different subsets of the "
                "`filterField`s at query time.",
            ),
        )
        _unique(
            dict(self._vector),
            lambda x: (x.vector_field, x.dimensions),
            lambda a, b: _error(
                "VectorIndexFieldNotUnique",
                f'In table "{table_name}" vector index "{a}" and vector index "{b}" have the same '
                "`vectorField`. Vector index fields must be unique within a table. You should "
                "combine the\n             indexes with the same `vectorField` into one index "
                "containing all `filterField`s and then use different subsets of the "
                "`filterField`s at query time.",
            ),
        )
        seen: set[str] = set()
        for name in [n for n, _ in self._db] + [n for n, _ in self._search] + [n for n, _ in self._vector]:
            if name in RESERVED_INDEX_NAMES or name.startswith("_"):
                raise _error(
                    "IndexNameReserved",
                    f'In table "{table_name}" cannot name an index "{name}" because the name is '
                    'reserved. Indexes may not start with an underscore or be named "by_id" or '
                    '"by_creation_time".',
                )
            if name in seen:
                raise _error(
                    "IndexNamesNotUnique",
                    f'Table "{table_name}" has two or more definitions of index "{name}".',
                )
            seen.add(name)

    def _check_references(self, table_name: str) -> None:
        """With schema validation: every indexed field must be one the validator can contain,
        and vector fields must be able to hold an array of float64."""
        doc = self.document_validator
        if doc is None:
            return
        for index_name, path in self._referenced_fields():
            if not _can_contain_field(doc, path):
                raise _error(
                    "SchemaDefinitionError",
                    f'In table "{table_name}" the index "{index_name}" is invalid because it '
                    f'references the field "{path}" that does not exist.',
                )
        for index_name, x in sorted(self._vector, key=_by_name):
            if not _overlaps_array_float64(doc, x.vector_field.split(".")):
                raise _error(
                    "SchemaDefinitionError",
                    f'In table "{table_name}" the vector index "{index_name}" is invalid because it '
                    f'references the field "{x.vector_field}" that is neither an array of float64 or '
                    "optional array of float64.",
                )

    def _referenced_fields(self) -> Iterator[tuple[str, str]]:
        # Convex's order: database index fields, search fields, search filter fields, vector fields
        # (each group by index name). Vector filter fields are not checked by Convex.
        for name, fields in sorted(self._db, key=_by_name):
            for f in fields:
                yield name, f
        search = sorted(self._search, key=_by_name)
        for name, s in search:
            yield name, s.search_field
        for name, s in search:
            for f in sorted(s.filter_fields):
                yield name, f
        for name, x in sorted(self._vector, key=_by_name):
            yield name, x.vector_field


def _filter_fields_unchecked(index_name: str, fields: Any) -> tuple[str, ...]:
    out: list[str] = []
    for f in _field_list("filter_fields", fields):
        p = _field_path(index_name, f)
        if p not in out:  # Convex keeps them as a set
            out.append(p)
    return tuple(out)


def _by_name(pair: tuple) -> str:
    return pair[0]


def _unique(indexes: dict, key: Any, error: Any) -> None:
    # Convex walks the indexes by name and reports the later name first.
    seen: dict = {}
    for name in sorted(indexes):
        k = key(indexes[name])
        if k in seen:
            raise error(name, seen[k])
        seen[k] = name


def _unwrap(x: Validator) -> Validator:
    return x.inner if isinstance(x, OptionalValidator) else x


def _can_contain_field(doc: Validator, path: str) -> bool:
    parts = path.split(".")
    if len(parts) == 1 and parts[0].startswith("_"):
        return True  # system fields are always there
    return _can_contain(doc, parts)


def _can_contain(x: Validator, parts: list[str]) -> bool:
    if not parts:
        return True
    x = _unwrap(x)
    if isinstance(x, AnyValidator):
        return True
    if isinstance(x, UnionValidator):
        return any(_can_contain(m, parts) for m in x.members)
    if isinstance(x, ObjectValidator):
        fv = x.fields.get(parts[0])
        return fv is not None and _can_contain(fv, parts[1:])
    return False


def _overlaps_array_float64(x: Validator, parts: list[str]) -> bool:
    x = _unwrap(x)
    if not parts:
        return _is_vector_validator(x)
    if isinstance(x, AnyValidator):
        return True
    if isinstance(x, UnionValidator):
        return any(_overlaps_array_float64(m, parts) for m in x.members)
    if isinstance(x, ObjectValidator):
        fv = x.fields.get(parts[0])
        return True if fv is None else _overlaps_array_float64(fv, parts[1:])
    return False


def _is_vector_validator(x: Validator) -> bool:
    x = _unwrap(x)
    if isinstance(x, ArrayValidator):
        return isinstance(x.element, (Float64Validator, AnyValidator))
    if isinstance(x, AnyValidator):
        return True
    if isinstance(x, UnionValidator):
        return any(_is_vector_validator(m) for m in x.members)
    return False


def define_table(document: Any) -> TableDefinition:
    """Define a table for `define_schema`; chain `.index(...)`, `.search_index(...)`, `.vector_index(...)`.

    Args:
        document: The documents' shape: a dict of field validators (`{"body": v.string()}`), a
            `v.object(...)`, a `v.union` of objects, or `v.any()` (no checking). `_id` and
            `_creationTime` are implied (declaring them changes nothing); other top-level
            fields may not start with `_`.

    Returns:
        A `TableDefinition`.

    Raises:
        TypeError: `document` is not one of these.
        SchemaDefinitionError: `document` is a validator of another kind (`v.string()`, ...),
            or a top-level field name starts with `_`.

    Examples:
        >>> define_table({"body": v.string()}).index("by_body", ["body"]).indexes
        {'by_body': ('body',)}
    """
    return TableDefinition(document)


# --------------------------------------------------------------------------------------------
# Schemas


class SchemaDefinition:
    """A whole schema, as `define_schema` returns it; install it with `app.set_schema`.

    Responsibilities: the tables and whether documents are validated; Convex's pushed JSON and
    a fingerprint of it; validating and converting documents for the engine.

    Attributes:
        tables (dict[str, TableDefinition]): The tables by name.
        schema_validation (bool): Whether documents are checked against their validators.
    """

    def __init__(self, tables: dict[str, TableDefinition], schema_validation: bool = True) -> None:
        self.tables = tables
        self.schema_validation = bool(schema_validation)

    def to_json(self) -> dict:
        """Convex's schema JSON: `{"tables": [...], "schemaValidation": bool}`."""
        return {
            "tables": [t.to_json(name) for name, t in self.tables.items()],
            "schemaValidation": self.schema_validation,
        }

    @classmethod
    def from_json(cls, j: Any) -> SchemaDefinition:
        """Rebuild a schema from `to_json()` output (a dict or its JSON text); checks the rules
        again. A missing `schemaValidation` means False, as in Convex."""
        if isinstance(j, (str, bytes)):
            j = json.loads(j)
        tables: dict[str, TableDefinition] = {}
        for tj in j.get("tables", []):
            for staged in ("stagedDbIndexes", "stagedSearchIndexes", "stagedVectorIndexes"):
                if tj.get(staged):
                    raise _error("StagedIndexesUnsupported", "convex_lab does not support staged indexes (`staged: true`).")
            doc_json = tj.get("documentType")
            doc = Validator.from_json(doc_json) if doc_json is not None else AnyValidator()
            t = TableDefinition(doc)
            for ij in tj.get("indexes", []):
                t.index(ij["indexDescriptor"], ij["fields"])
            for sj in tj.get("searchIndexes") or []:
                t.search_index(sj["indexDescriptor"], sj)
            for vj in tj.get("vectorIndexes") or []:
                t.vector_index(vj["indexDescriptor"], vj)
            tables[tj["tableName"]] = t
        return define_schema(tables, schema_validation=bool(j.get("schemaValidation", False)))

    def fingerprint(self) -> str:
        """A stable hash of the schema (table and index order ignored): equal fingerprints mean
        nothing to re-check or re-index."""
        canon = self.to_json()
        canon["tables"] = sorted(canon["tables"], key=lambda t: t["tableName"])
        for t in canon["tables"]:
            for k in ("indexes", "searchIndexes", "vectorIndexes"):
                t[k] = sorted(t[k], key=lambda i: i["indexDescriptor"])
        text = json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def table_validator(self, table_name: str) -> Optional[Validator]:
        """The document validator of a table (None: not in the schema, or `v.any()`)."""
        t = self.tables.get(table_name)
        return t.document_validator if t is not None else None

    def validate_document(
        self, table_name: str, doc: dict, resolver: Optional[Resolver] = None
    ) -> None:
        """Check a document (system fields allowed) against its table's validator; raises
        `ValidationMismatch`. No-op when schema validation is off or the table is not in the
        schema. The caller wraps the message (`Document with ID ... does not match the schema`)."""
        if not self.schema_validation:
            return None
        t = self.tables.get(table_name)
        if t is None or t.document_validator is None:
            return None
        match_document(t.document_validator, doc, resolver)
        return None

    def convert_document(
        self, table_name: str, raw_doc: Any, resolver: Optional[Resolver] = None
    ) -> Any:
        """Python document -> internal document, ints following the table's validator (the int
        rule), whether or not schema validation is on. Never raises `ValidationMismatch`; pair it
        with `validate_document`. Tables outside the schema use `values.convex_value`."""
        t = self.tables.get(table_name)
        doc_v = t.document_validator if t is not None else None
        if doc_v is None or not doc_v.has_int64 or not isinstance(raw_doc, Mapping):
            return _values.convex_value(raw_doc)
        system = {k: raw_doc[k] for k in ("_id", "_creationTime") if k in raw_doc}
        if system:
            raw_doc = {k: x for k, x in raw_doc.items() if k not in system}
        out = doc_v.coerce(raw_doc, "", resolver)
        if system:
            out.update(_values.convex_value(system))
        return out

    def conform(self, table_name: str, raw_doc: Any, resolver: Optional[Resolver] = None,
                failure: Optional[str] = None) -> Any:
        """`convert_document` then `validate_document`: the document as the table stores it.

        Raises:
            SchemaValidationError: `<failure> because it does not match the schema: <detail>`,
                where `failure` defaults to `Failed to insert or update a document in table "t"`.
        """
        doc = self.convert_document(table_name, raw_doc, resolver)
        try:
            self.validate_document(table_name, doc, resolver)
        except ValidationMismatch as exc:
            if failure is None:
                failure = f'Failed to insert or update a document in table "{table_name}"'
            raise SchemaValidationError(f"{failure} because it does not match the schema: {exc.message}") from None
        return doc

    def __repr__(self) -> str:
        inner = ", ".join(f"{name!r}: {t!r}" for name, t in self.tables.items())
        return f"define_schema({{{inner}}}, schema_validation={self.schema_validation})"


def define_schema(
    tables: Mapping[str, TableDefinition],
    schema_validation: bool = True,
    strict_table_name_types: bool = True,
) -> SchemaDefinition:
    """Define the schema: the tables, their documents' validators and their indexes.

    Install it with `app.set_schema(schema)`. Tables not named in the schema stay allowed and
    unchecked. The int rule follows the schema: a Python int written to a `v.int64()` field
    is stored as an `Int64`, elsewhere as a float.

    Args:
        tables: Table names mapped to `define_table(...)` definitions.
        schema_validation: Whether documents are checked against their table's validator
            (on every write, and when the schema is installed). With `False`, the validators
            only decide the int rule and the indexes still apply.
        strict_table_name_types: Accepted for parity with Convex (it only affects TypeScript).

    Returns:
        A `SchemaDefinition`.

    Raises:
        SchemaDefinitionError: A table or index breaks Convex's rules (with Convex's text).
        TypeError: `tables` is not a dict of `define_table(...)` definitions.

    Examples:
        >>> s = define_schema({"users": define_table({"name": v.string()})})
        >>> s.to_json()["tables"][0]["tableName"]
        'users'
    """
    if not isinstance(tables, Mapping):
        raise TypeError("define_schema() takes a dict of table name -> define_table(...)")
    out: dict[str, TableDefinition] = {}
    for name, t in tables.items():
        if not isinstance(t, TableDefinition):
            raise TypeError(
                f'Table "{name}" must be defined with define_table(...), got {type(t).__name__}'
            )
        t._validate(name)
        out[name] = t
    if schema_validation:
        for name in sorted(out):
            out[name]._check_references(name)
    return SchemaDefinition(out, schema_validation)

