"""One run of a query or mutation against the store: reads, writes, read set, limits.

Mutations run serially under the commit lock (see `database.py`), so a transaction writes straight
into the store and keeps an undo log: reads see the transaction's own writes for free, a failure
rolls back exactly, and `savepoint`/`rollback_to` give `ctx.run_mutation` its sub-transactions.
Nothing outside the lock can observe a transaction in flight. The read set is recorded as index-key
intervals (`ReadSet`) for reactivity.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .. import ids as idlib
from ..errors import (
    InvalidArgument,
    NonexistentDocument,
    ReadOnlyTable,
    SchemaValidationError,
    TooManyBytesRead,
    TooManyDocumentsRead,
    TooManyReads,
    TooManyWrites,
)
from ..interrupts import DEFERRED
from ..keys import encode_value, successor
from ..validators import ValidationMismatch
from ..values import MAX_DOCUMENT_SIZE, UNSET, check_document, convex_value, copy_value, values_equal
from .catalog import SYSTEM_TABLES, Catalog
from .store import BY_ID, Store, Table

# Convex's per-transaction limits (reference §5.9).
MAX_ROWS_READ = 32_000
MAX_BYTES_READ = 16 * 1024 * 1024
MAX_INDEX_RANGES = 4_096
MAX_DOCS_WRITTEN = 16_000
MAX_BYTES_WRITTEN = 16 * 1024 * 1024

# Convex's advice appended to its read-limit errors.
OVER_LIMIT_HELP = (
    "Consider using smaller limits in your queries, paginating your queries, or using indexed "
    "queries with a selective index range expressions."
)

HIDDEN_TABLE_NUMBERS = frozenset(t.number for t in SYSTEM_TABLES.values() if t.hidden)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Sizes of the system fields: `_id` (name 3 + 1, a 32-character id + 2) and `_creationTime`
# (name 13 + 1, a float 9).
_SYSTEM_FIELDS_SIZE = (3 + 1 + 34) + (13 + 1 + 9)


def creation_times(after: float, n: int) -> list[float]:
    """The `n` representable floats just above `after` (> 0): for positive doubles, adding 1 to
    the bit pattern gives the next float up, so this is `math.nextafter` applied n times. O(n)."""
    base = np.array([after], dtype=np.float64).view(np.uint64)
    return (np.arange(1, n + 1, dtype=np.uint64) + base).view(np.float64).tolist()


class Limits:
    """The limit values one transaction enforces (`None` means unlimited)."""

    __slots__ = ("rows_read", "bytes_read", "index_ranges", "docs_written", "bytes_written")

    def __init__(self, enabled: bool = True) -> None:
        big = 1 << 62
        self.rows_read = MAX_ROWS_READ if enabled else big
        self.bytes_read = MAX_BYTES_READ if enabled else big
        self.index_ranges = MAX_INDEX_RANGES if enabled else big
        self.docs_written = MAX_DOCS_WRITTEN if enabled else big
        self.bytes_written = MAX_BYTES_WRITTEN if enabled else big


UNLIMITED = Limits(False)


class ReadSet:
    """The index-key intervals a run read. Point reads (`db.get`) are kept as ids and turned into
    `by_id` intervals only when asked, which keeps `get` cheap.

    `ranges` holds `(table, index, lo, hi)`: `lo` inclusive, `hi` exclusive or `None` (unbounded).
    """

    __slots__ = ("ranges", "points")

    def __init__(self) -> None:
        self.ranges: list[tuple[str, str, bytes, bytes | None]] = []
        self.points: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.ranges) + len(self.points)

    def intervals(self) -> list[tuple[str, str, bytes, bytes | None]]:
        out = list(self.ranges)
        for table, doc_id in self.points:
            key = encode_value(doc_id)
            out.append((table, BY_ID, key, successor(key)))
        return out


class Write:
    """One document changed by a commit: its version before and after (either may be None)."""

    __slots__ = ("table", "id", "old", "new")

    def __init__(self, table: Table, doc_id: str, old: dict | None, new: dict | None) -> None:
        self.table = table
        self.id = doc_id
        self.old = old
        self.new = new

    def __repr__(self) -> str:
        kind = "insert" if self.old is None else "delete" if self.new is None else "update"
        return f"Write({kind} {self.table.name} {self.id})"


def _refuse_table(name: str, system: bool) -> None:
    """A user write to a system table, or an engine write meant for a system table that is not."""
    if not system:
        raise ReadOnlyTable("System tables (prefixed with `_`) are read-only.")
    raise InvalidArgument(f'"{name}" is not a system table.')


def unchanged(new: dict | None, old: dict | None) -> bool:
    """Whether two versions of a document are exactly equal as Convex values (`1.0` is not
    `Int64(1)`, `-0.0` is not `0.0`). Python's `==` rules out most changes cheaply first."""
    return new is not None and old is not None and new == old and values_equal(new, old)


class Transaction:
    """A single query or mutation execution.

    Responsibilities: serve reads from the store (recording the read set and read limits), apply
    writes in place with an undo log (validating against the schema and value limits), and hand the
    coordinator the write set at commit. Not thread-safe: the coordinator's lock guards it.
    """

    def __init__(self, store: Store, catalog: Catalog, *, writable: bool, now_ms: float, limits: Limits) -> None:
        self.store = store
        self.catalog = catalog
        self.writable = writable
        self.now_ms = now_ms
        self.limits = limits
        self.reads = ReadSet()
        self.rows_read = 0
        self.bytes_read = 0
        self.docs_written = 0
        self.bytes_written = 0
        self.paginated = False
        self.pagination_end_cursor: str | None = None  # the journal this run produces
        self.journal_end_cursor: str | None = None  # the journal of the previous run (live queries)
        # undo entries: (table, previous version or None, previous size, new version or None),
        # ("table", name) for a table this transaction created, ("schema", saved) for a schema
        # change, ("bulk", table, docs, saved) for `insert_many`, or ("record",) for `put_record`.
        # Each entry is appended in the same DEFERRED section as the change it undoes, so Ctrl-C
        # never separates the two.
        self.undo: list[tuple] = []
        self.bulk: list[tuple[Table, list[dict]]] = []  # insert_many batches (not in `touched`)
        self.touched: dict[str, tuple[Table, dict | None]] = {}  # id -> (table, version at start)
        self.schema_changed = False
        self.new_tables: list[Table] = []
        self.records: list[tuple[str, str, str]] = []  # (kind, key, body) to store with the commit
        # Files staged for `_storage` rows this transaction writes (engine/blobs.py), released
        # through `Database.settle_listeners` once it committed or rolled back.
        self.staged_files: list = []
        # The scheduled action's job this mutation runs for (runtime/scheduler.py `running_job`):
        # what it schedules after that job was canceled is created canceled.
        self.scheduled_by: str | None = None

    # -- reads ------------------------------------------------------------------------------
    def record_range(self, table: str, index: str, lo: bytes, hi: bytes | None) -> None:
        reads = self.reads
        reads.ranges.append((table, index, lo, hi))
        if len(reads.ranges) + len(reads.points) > self.limits.index_ranges:
            raise TooManyReads(
                f"Too many reads in a single function execution (limit: {self.limits.index_ranges}). {OVER_LIMIT_HELP}"
            )

    def count_read(self, table: Table, doc_id: str) -> None:
        self.rows_read += 1
        self.bytes_read += table.size_of(doc_id)
        limits = self.limits
        if self.rows_read > limits.rows_read:
            raise TooManyDocumentsRead(
                f"Too many documents read in a single function execution (limit: {limits.rows_read}). {OVER_LIMIT_HELP}"
            )
        if self.bytes_read > limits.bytes_read:
            raise TooManyBytesRead(
                f"Too many bytes read in a single function execution (limit: {limits.bytes_read} bytes). {OVER_LIMIT_HELP}"
            )

    def copy_out(self, table: Table, doc: dict) -> dict:
        """A fresh copy of a stored document for user code. O(fields) for flat documents."""
        if doc["_id"] in table.nested:
            return copy_value(doc)
        return dict(doc)

    def get(self, doc_id: Any, table_name: str | None = None) -> dict | None:
        """`db.get(id)`: the document or None. Records a point read on `by_id`. O(1)."""
        table = self.store.by_number.get(self.catalog.prefixes.get(doc_id[:4])) if type(doc_id) is str else None
        doc = table.docs.get(doc_id) if table is not None else None
        if doc is None:
            # Validate the id fully; a well-formed id of an unknown table or a missing document is None.
            table = self.store.by_number.get(self._decode(doc_id))
            if table is None:
                return None
            doc = table.docs.get(doc_id)
        if table_name is not None and table_name != table.name:
            self._wrong_table(doc_id, table_name)
        if table.number in HIDDEN_TABLE_NUMBERS:  # functions never see these documents
            return None
        reads = self.reads
        reads.points.append((table.name, doc_id))
        if len(reads.ranges) + len(reads.points) > self.limits.index_ranges:
            reads.points.pop()
            self.record_range(table.name, BY_ID, b"", b"")  # raises the limit error
        if doc is None:
            return None
        self.count_read(table, doc_id)
        return self.copy_out(table, doc)

    @staticmethod
    def _wrong_table(doc_id: str, table_name: str) -> None:
        raise InvalidArgument(f'Invalid argument `id` for `db.get`: the id "{doc_id}" is not an id of table "{table_name}".')

    def _decode(self, doc_id: Any) -> int:
        if type(doc_id) is not str:
            raise InvalidArgument(f"Invalid argument `id`: expected an Id string, got {type(doc_id).__name__}.")
        try:
            number, _ = idlib.decode_id(doc_id)
        except ValueError:
            raise InvalidArgument(f'Invalid argument `id` for `db.get`: Unable to decode ID: "{doc_id}"') from None
        return number

    def normalize_id(self, table_name: str, id_string: Any, *, system: bool = False) -> str | None:
        """`db.normalizeId` (`db.system.normalizeId` with `system=True`): the canonical id if it
        is an id of `table_name`, else None. Each form knows only its own kind of table."""
        if type(id_string) is not str or type(table_name) is not str or table_name.startswith("_") != system:
            return None
        number = self.catalog.number_of(table_name)
        if number is None:
            return None
        try:
            decoded_number, _ = idlib.decode_id(id_string)
        except ValueError:
            return None
        return id_string if decoded_number == number else None

    # -- writes -----------------------------------------------------------------------------
    def _require_writable(self, what: str) -> None:
        if not self.writable:
            raise InvalidArgument(f"Cannot {what} in a query: queries are read-only. Use a mutation to write.")

    def _writable_table(self, table_name: Any, create: bool, system: bool = False) -> Table:
        if type(table_name) is not str:
            raise InvalidArgument(f"Table name must be a string, got {type(table_name).__name__}.")
        if table_name.startswith("_") != system:
            _refuse_table(table_name, system)
        table = self.store.tables.get(table_name)
        if table is None:
            if not create:
                raise InvalidArgument(f'Table "{table_name}" does not exist.')
            if system:
                if self.catalog.system_table(table_name) is None:
                    _refuse_table(table_name, system)
            elif not _IDENTIFIER.match(table_name) or len(table_name) > 64:
                raise InvalidArgument(
                    f'Invalid table name: "{table_name}". Table names must be valid identifiers '
                    "(letters, digits and underscores, not starting with a digit, at most 64 characters)."
                )
            table = self.create_table(table_name)
        return table

    def create_table(self, name: str) -> Table:
        """Create table `name` as part of this transaction (dropped again on rollback)."""
        number = self.catalog.number_for(name)
        indexes = self.catalog.table_indexes(name)  # a system table's own indexes, or the schema's
        with DEFERRED:
            table = self.store.create_table(name, number)
            if indexes:
                table.define_indexes(indexes)
            self.undo.append(("table", name))
            self.new_tables.append(table)
        return table

    def _existing(self, doc_id: Any, verb: str, system: bool = False) -> tuple[Table, dict]:
        table = self.store.by_number.get(self.catalog.prefixes.get(doc_id[:4])) if type(doc_id) is str else None
        doc = table.docs.get(doc_id) if table is not None else None
        if doc is None:
            table = self.store.by_number.get(self._decode(doc_id))
            doc = table.docs.get(doc_id) if table is not None else None
        if table is not None and table.name.startswith("_") != system:
            _refuse_table(table.name, system)
        if doc is None:
            raise NonexistentDocument(f"{verb} on nonexistent document ID {doc_id}")
        return table, doc  # type: ignore[return-value]

    def _convert(self, table: Table, raw: Any) -> dict:
        """Raw user fields -> internal document fields, with the int rule and schema validation
        (a system table's documents are checked against its fixed validator)."""
        if type(raw) is not dict:
            raise InvalidArgument(f"A document must be an object (a dict), got {type(raw).__name__}.")
        schema = self.catalog.schema
        if schema is not None and table.name in schema.tables:
            return schema.conform(table.name, raw, self.catalog.name_of)
        if table.name.startswith("_"):
            try:
                return self.catalog.system_table(table.name).validator.convert(raw, "", self.catalog.name_of)
            except ValidationMismatch as exc:
                raise SchemaValidationError(
                    f'Failed to write a document in the system table "{table.name}" because it does not match '
                    f"its schema: {exc.message}"
                ) from None
        return convex_value(raw)

    def _account_write(self, size: int, count: int = 1) -> None:
        self.docs_written += count
        self.bytes_written += size
        limits = self.limits
        if self.docs_written > limits.docs_written:
            raise TooManyWrites(
                f"Too many documents written in a single function execution (limit: {limits.docs_written})."
            )
        if self.bytes_written > limits.bytes_written:
            raise TooManyWrites(
                f"Too many bytes written in a single function execution (limit: {limits.bytes_written} bytes)."
            )

    def _store(self, table: Table, doc_id: str, new: dict | None, old: dict | None) -> None:
        if doc_id not in self.touched:
            self.touched[doc_id] = (table, old)
        old_size = table.size_of(doc_id) if old is not None else 0
        if new is None:
            with DEFERRED:
                table.remove(old)  # type: ignore[arg-type]
                self.undo.append((table, old, old_size, None))
            return
        size = check_document(new, table.name)  # checks limits and returns the size
        self._account_write(size)
        with DEFERRED:
            table.put(new, size, old)
            self.undo.append((table, old, old_size, new))

    def insert(self, table_name: str, value: Any, *, system: bool = False) -> str:
        """`db.insert`: validate, assign `_id` and `_creationTime`, write. Returns the new id.

        `system=True` writes a system table instead (the engine's services do; user code never
        can: `ctx.db` does not pass it, and user tables are refused then)."""
        self._require_writable("insert")
        table = self._writable_table(table_name, create=True, system=system)
        if type(value) is dict:
            for field in ("_id", "_creationTime"):
                if field in value:
                    raise InvalidArgument(
                        f"Provided document contains the system field `{field}`, which Convex sets itself; remove it from the document."
                    )
        fields = self._convert(table, value)
        creation_time = self.catalog.next_creation_time(self.now_ms)
        doc_id = idlib.new_id(table.number, creation_time)
        doc = {"_id": doc_id, "_creationTime": creation_time}
        doc.update(fields)
        self._store(table, doc_id, doc, None)
        return doc_id

    def _check_system_fields(self, value: dict, current: dict) -> dict:
        """Patch/replace may carry `_id`/`_creationTime` only with their current values."""
        for system in ("_id", "_creationTime"):
            if system in value:
                given = value[system]
                if given is UNSET or not values_equal(convex_value(given), current[system]):
                    raise InvalidArgument(
                        f"Provided `{system}` field value {given!r} does not match the document's existing value {current[system]!r}; system fields cannot be changed."
                    )
        return {k: val for k, val in value.items() if k not in ("_id", "_creationTime")}

    def patch(self, doc_id: str, value: Any, *, system: bool = False) -> None:
        """`db.patch`: shallow merge; `UNSET` removes a field. Raises on a nonexistent document."""
        self._require_writable("patch")
        table, old = self._existing(doc_id, "Update", system)
        if type(value) is not dict:
            raise InvalidArgument(f"The value passed to `db.patch` must be an object, got {type(value).__name__}.")
        value = self._check_system_fields(value, old)
        merged: dict = {k: val for k, val in old.items() if k != "_id" and k != "_creationTime"}
        for k, val in value.items():
            if val is UNSET:
                merged.pop(k, None)
            else:
                merged[k] = val
        fields = self._convert(table, merged)
        new = {"_id": old["_id"], "_creationTime": old["_creationTime"]}
        new.update(fields)
        if not unchanged(new, old):  # Convex: a patch that changes nothing is no write at all
            self._store(table, doc_id, new, old)

    def replace(self, doc_id: str, value: Any, *, system: bool = False) -> None:
        """`db.replace`: replace every non-system field. Raises on a nonexistent document."""
        self._require_writable("replace")
        table, old = self._existing(doc_id, "Replace", system)
        if type(value) is not dict:
            raise InvalidArgument(f"The value passed to `db.replace` must be an object, got {type(value).__name__}.")
        value = self._check_system_fields(value, old)
        fields = self._convert(table, value)
        new = {"_id": old["_id"], "_creationTime": old["_creationTime"]}
        new.update(fields)
        if not unchanged(new, old):  # as for patch: no write, no commit, no live query re-run
            self._store(table, doc_id, new, old)

    def delete(self, doc_id: str, *, system: bool = False) -> None:
        """`db.delete`. Raises on a nonexistent document."""
        self._require_writable("delete")
        table, old = self._existing(doc_id, "Delete", system)
        self._store(table, doc_id, None, old)

    def insert_many(self, table_name: str, fields: Any, sizes: list[int] | None = None,
                    all_flat: bool = False) -> list[str]:
        """Insert many converted, validated documents (`import_rows`): one batch, not one write
        per document. `fields` is a list of field dicts or a column-wise `Columns`; `sizes` (the
        fields' Convex sizes, when the caller measured them column-wise) skips per-document
        checks. Returns the new ids. O(n log n) into an empty table, O(n log table) otherwise.
        """
        self._require_writable("insert")
        table = self._writable_table(table_name, create=True)
        count = len(fields)
        if not count:
            return []
        catalog = self.catalog
        times = creation_times(max(self.now_ms, catalog.last_creation_time), count)
        new_ids = idlib.new_ids(table.number, times[0], count)
        columns = getattr(fields, "lists", None)
        if columns is not None:
            names = ("_id", "_creationTime", *fields.names)
            docs = [dict(zip(names, row)) for row in zip(new_ids, times, *columns)]
        else:
            docs = [{"_id": doc_id, "_creationTime": t, **f} for doc_id, t, f in zip(new_ids, times, fields)]
        if sizes is None or len(new_ids[0]) != 32:
            doc_sizes = [check_document(doc, table.name) for doc in docs]
        else:
            doc_sizes = [size + _SYSTEM_FIELDS_SIZE for size in sizes]
            largest = max(doc_sizes)
            if largest > MAX_DOCUMENT_SIZE:
                check_document(docs[doc_sizes.index(largest)], table.name)  # raises Convex's error
        self._account_write(sum(doc_sizes), count)
        if not table.docs:
            # Built aside (interruptible), installed in one DEFERRED step with its undo entry.
            built = table.build_bulk(docs, doc_sizes, all_flat)
            with DEFERRED:
                saved = table.install_bulk(built)
                self.undo.append(("bulk", table, docs, saved))
        else:
            self.undo.append(("bulk", table, docs, None))  # rollback removes the ones that are in
            for doc, size in zip(docs, doc_sizes):
                with DEFERRED:  # each put whole
                    table.put(doc, size, None)
        catalog.last_creation_time = max(catalog.last_creation_time, times[-1])
        self.bulk.append((table, docs))
        return new_ids

    # -- sub-transactions and the end ----------------------------------------------------------
    def savepoint(self) -> int:
        return len(self.undo)

    def rollback_to(self, savepoint: int) -> None:
        """Undo every write made after `savepoint`, newest first. Not interruptible (a Ctrl-C
        waits until the store is whole again)."""
        undo = self.undo
        with DEFERRED:
            while len(undo) > savepoint:
                entry = undo[-1]
                kind = entry[0]
                if kind == "schema":
                    old_schema, old_indexes = entry[1]
                    self.catalog.schema = old_schema
                    self.store.restore_indexes(old_indexes)
                elif kind == "table":
                    self.store.drop_table(entry[1])
                    self.new_tables = [t for t in self.new_tables if t.name != entry[1]]
                elif kind == "record":
                    self.records.pop()
                elif kind == "bulk":
                    _, table, docs, saved = entry
                    if saved is not None:
                        table.restore_bulk(saved)
                    else:
                        for doc in reversed(docs):
                            if table.docs.get(doc["_id"]) is doc:
                                table.remove(doc)
                    self.bulk = [batch for batch in self.bulk if batch[1] is not docs]
                else:
                    table, old, old_size, new = entry
                    if new is not None:
                        table.remove(new)
                    if old is not None:
                        table.put(old, old_size, None)
                undo.pop()

    def rollback(self) -> None:
        self.rollback_to(0)

    def put_record(self, kind: str, key: str, body: str) -> None:
        """Store the text `body` under (kind, key) in this transaction's commit (engine/records.py):
        durable with its writes, or undone with them. A transaction that stores a record commits
        even if it wrote no document."""
        if not self.writable:
            raise RuntimeError("records are stored by mutations, not queries")
        with DEFERRED:
            self.records.append((kind, key, body))
            self.undo.append(("record",))

    def write_set(self) -> list[Write]:
        """The documents this transaction changed one by one, each with its version before and
        after (`insert_many` batches are in `bulk`)."""
        out = []
        for doc_id, (table, before) in self.touched.items():
            after = table.docs.get(doc_id) if table.name in self.store.tables else None
            if after is not before and not unchanged(after, before):  # changed back: no write
                out.append(Write(table, doc_id, before, after))
        return out
