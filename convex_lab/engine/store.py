"""Committed state: per table a dict of documents and one sorted structure per index.

The store is a plain structure with no locking and no notion of transactions: the coordinator
(`engine/database.py`) owns the commit lock, and `engine/transaction.py` is the only writer. Each
multi-step change is made whole under Ctrl-C: the writer holds a `DEFERRED` section around `put`,
`remove` and table changes, and bulk builds happen aside and are swapped in.
Index keys are order-preserving bytes (`keys.py`), so every index is one `SortedDict` of
`key -> document` and a range read is a byte interval.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from sortedcontainers import SortedDict

from ..interrupts import DEFERRED
from ..keys import encode_column, encode_value
from ..values import UNSET, value_size

BY_ID = "by_id"
BY_CREATION_TIME = "by_creation_time"

# Types whose values are immutable, so a document made only of them can be copied shallowly.
_SCALAR_TYPES = frozenset({type(None), bool, float, int, str, bytes})


def field_getter(path: str) -> Callable[[dict], Any]:
    """A function reading a dotted field path from a document; missing gives UNSET."""
    parts = path.split(".")
    if len(parts) == 1:
        name = parts[0]
        return lambda doc: doc.get(name, UNSET)

    def get(doc: dict) -> Any:
        value: Any = doc
        for part in parts:
            if type(value) is not dict:
                return UNSET
            value = value.get(part, UNSET)
            if value is UNSET:
                return UNSET
        return value

    return get


class Index:
    """One database index: declared fields plus the implicit `_creationTime`, `_id` suffix.

    Responsibilities: compute a document's key, and hold `key -> document` in key order.
    """

    __slots__ = ("name", "table", "fields", "full_fields", "_getters", "entries")

    def __init__(self, table: str, name: str, fields: tuple[str, ...]) -> None:
        self.table = table
        self.name = name
        self.fields = tuple(fields)
        if name == BY_ID:
            self.full_fields: tuple[str, ...] = ("_id",)
        elif name == BY_CREATION_TIME:
            self.full_fields = ("_creationTime", "_id")
        else:
            self.full_fields = self.fields + ("_creationTime", "_id")
        self._getters = tuple(field_getter(f) for f in self.fields)
        self.entries: SortedDict = SortedDict()

    def key(self, doc: dict, tail: bytes) -> bytes:
        """The index key of `doc`; `tail` is the shared `_creationTime`/`_id` suffix. O(fields)."""
        if self.name == BY_ID:
            return tail[9:]  # the creation time is a float: one tag byte and 8 bytes
        getters = self._getters
        if not getters:
            return tail
        if len(getters) == 1:
            return encode_value(getters[0](doc)) + tail
        return b"".join([encode_value(g(doc)) for g in getters]) + tail


def doc_tail(doc: dict) -> bytes:
    """The `_creationTime`, `_id` suffix shared by every index key of `doc`."""
    return encode_value(doc["_creationTime"]) + encode_value(doc["_id"])


def doc_tails(docs: list[dict]) -> list[bytes]:
    """`doc_tail` of many documents, with the creation times encoded in one numpy pass."""
    times = encode_column([doc["_creationTime"] for doc in docs])
    # Ids are base32 text: never a NUL byte to escape, so the string encoding is inlined.
    return [t + b"\x10" + doc["_id"].encode() + b"\x00" for t, doc in zip(times, docs)]


def is_flat(doc: dict) -> bool:
    """True when every field value is immutable, so `dict(doc)` is a full copy."""
    scalars = _SCALAR_TYPES
    for value in doc.values():
        if type(value) not in scalars and not isinstance(value, int):
            return False
    return True


class Table:
    """A table's committed documents and indexes.

    Responsibilities: documents by id, their sizes (for read limits; filled lazily after a bulk
    load, see `size_of`), whether each is flat (for fast copies), and the indexes. Writes come only
    from `Transaction` through `put`/`remove`.
    """

    __slots__ = ("name", "number", "docs", "sizes", "nested", "indexes", "index_list", "by_id", "by_creation_time", "fields_seen")

    def __init__(self, name: str, number: int) -> None:
        self.name = name
        self.number = number
        self.docs: dict[str, dict] = {}
        self.sizes: dict[str, int] = {}
        self.nested: set[str] = set()  # ids of documents that hold lists or dicts
        self.by_id = Index(name, BY_ID, ())
        # `by_id` is built on first use (`index_entries`): point reads use `docs`, and ordered scans
        # of ids are rare, so most tables never pay for it (one sorted insert per write saved).
        self.by_id.entries = None
        self.by_creation_time = Index(name, BY_CREATION_TIME, ())
        self.indexes: dict[str, Index] = {BY_ID: self.by_id, BY_CREATION_TIME: self.by_creation_time}
        self.index_list: list[Index] = [self.by_creation_time]  # the indexes writes maintain
        self.fields_seen: dict[str, None] = {}  # top-level field names, insertion ordered (for SQL)

    # -- index management -------------------------------------------------------------------
    def set_user_indexes(self, definitions: dict[str, tuple[str, ...]]) -> None:
        """Make the user indexes exactly `definitions`, backfilling new ones. O(n log n) per new index."""
        kept = {BY_ID: self.by_id, BY_CREATION_TIME: self.by_creation_time}
        for name, fields in definitions.items():
            old = self.indexes.get(name)
            if old is not None and old.fields == tuple(fields):
                kept[name] = old
                continue
            index = Index(self.name, name, tuple(fields))
            self._backfill(index)
            kept[name] = index
        with DEFERRED:
            self.indexes = kept
            self.index_list = [index for index in kept.values() if index.entries is not None]

    def index_entries(self, index: Index) -> SortedDict:
        """The sorted entries of `index`, building a lazily-built index on first use. O(n log n) once."""
        if index.entries is None:
            built = Index(self.name, index.name, index.fields)
            self._backfill(built)  # aside: a Ctrl-C here leaves the table as it was
            with DEFERRED:
                index.entries = built.entries
                self.index_list.append(index)
        return index.entries

    def _backfill(self, index: Index, tails: list[bytes] | None = None, docs: list[dict] | None = None) -> None:
        """Rebuild `index` from every document (or `docs`), column by column. O(n log n)."""
        if docs is None:
            docs = list(self.docs.values())
        if tails is None:
            tails = doc_tails(docs)
        if index.name == BY_ID:
            keys = [tail[9:] for tail in tails]
        elif index.name == BY_CREATION_TIME:
            keys = tails
        else:
            columns = [encode_column([get(doc) for doc in docs]) for get in index._getters]
            if len(columns) == 1:
                keys = [a + t for a, t in zip(columns[0], tails)]
            elif len(columns) == 2:
                keys = [a + b + t for a, b, t in zip(columns[0], columns[1], tails)]
            else:
                keys = [b"".join(parts) for parts in zip(*columns, tails)]
        index.entries = SortedDict(zip(keys, docs))

    # -- writes (called by Transaction only) --------------------------------------------------
    def put(self, doc: dict, size: int, old: dict | None) -> None:
        """Store `doc` (a new or replacing version), updating every index. O(indexes · log n)."""
        doc_id = doc["_id"]
        tail = doc_tail(doc)
        if old is None:
            for index in self.index_list:
                index.entries[index.key(doc, tail)] = doc
        else:
            for index in self.index_list:
                new_key = index.key(doc, tail)
                old_key = index.key(old, tail)
                if old_key != new_key:
                    del index.entries[old_key]
                index.entries[new_key] = doc
        self.docs[doc_id] = doc
        self.sizes[doc_id] = size
        if is_flat(doc):
            self.nested.discard(doc_id)
        else:
            self.nested.add(doc_id)
        seen = self.fields_seen
        for field in doc:
            if field not in seen:
                seen[field] = None

    def remove(self, doc: dict) -> None:
        """Remove the committed version `doc` from the table and every index."""
        doc_id = doc["_id"]
        tail = doc_tail(doc)
        for index in self.index_list:
            del index.entries[index.key(doc, tail)]
        del self.docs[doc_id]
        self.sizes.pop(doc_id, None)
        self.nested.discard(doc_id)

    def size_of(self, doc_id: str) -> int:
        """The Convex size of a stored document (computed on first use after a bulk load)."""
        size = self.sizes.get(doc_id)
        if size is None:
            size = self.sizes[doc_id] = value_size(self.docs[doc_id])
        return size

    def define_indexes(self, definitions: dict[str, tuple[str, ...]]) -> None:
        """Declare the user indexes of an empty table (no backfill needed)."""
        assert not self.docs
        self.set_user_indexes(definitions)

    def bulk_load(self, docs: list[dict], sizes: list[int] | None = None, all_flat: bool = False) -> None:
        """Fill an empty table with many documents at once, building each index by one sort.
        O(n log n). `sizes` may be omitted (reopen): sizes are then computed on first read.
        `all_flat` says the caller knows every document holds only scalars."""
        self.install_bulk(self.build_bulk(docs, sizes, all_flat))

    def build_bulk(self, docs: list[dict], sizes: list[int] | None = None, all_flat: bool = False) -> tuple:
        """The structures an empty table holding `docs` would have, built aside so the table is
        untouched (and a Ctrl-C harmless) until `install_bulk`. O(n log n)."""
        docs_by_id = {doc["_id"]: doc for doc in docs}
        nested = set() if all_flat else {doc["_id"] for doc in docs if not is_flat(doc)}
        fields_seen = dict(self.fields_seen)
        seen: set[str] = set()
        for doc in docs:
            if len(doc) != len(seen) or not seen.issuperset(doc):
                seen.update(doc)
        for name in seen:
            fields_seen.setdefault(name, None)
        size_map = dict(zip(docs_by_id, sizes)) if sizes is not None else {}
        tails = doc_tails(docs)
        entries = []
        for index in self.index_list:
            built = Index(self.name, index.name, index.fields)
            self._backfill(built, tails, docs)
            entries.append((index, built.entries))
        return docs_by_id, size_map, nested, fields_seen, entries

    def install_bulk(self, built: tuple) -> tuple:
        """Swap in what `build_bulk` made; returns what `restore_bulk` needs to undo it. O(indexes).
        The caller holds a DEFERRED section: the swap is several assignments."""
        assert not self.docs, "install_bulk fills an empty table"
        docs_by_id, size_map, nested, fields_seen, entries = built
        saved = (self.docs, self.sizes, self.nested, self.fields_seen,
                 [(index, index.entries) for index, _ in entries])
        self.docs, self.sizes, self.nested, self.fields_seen = docs_by_id, size_map, nested, fields_seen
        for index, sorted_entries in entries:
            index.entries = sorted_entries
        return saved

    def restore_bulk(self, saved: tuple) -> None:
        """Undo `install_bulk` (the table is empty again, with its earlier indexes)."""
        self.docs, self.sizes, self.nested, self.fields_seen, entries = saved
        for index, sorted_entries in entries:
            index.entries = sorted_entries
        # An index built lazily since (by_id) indexes documents that are gone: drop it again.
        for index in list(self.index_list):
            if index.entries is not None and len(index.entries) != len(self.docs):
                index.entries = None
                self.index_list.remove(index)

    # -- invariants ---------------------------------------------------------------------------
    def _check(self) -> None:
        """Assert every structural invariant (for tests)."""
        n = len(self.docs)
        assert set(self.sizes) <= set(self.docs)
        for doc_id, size in self.sizes.items():
            assert size == value_size(self.docs[doc_id]), doc_id
        assert self.nested <= set(self.docs)
        assert all(index.entries is not None for index in self.index_list)
        assert all(index in self.index_list for index in self.indexes.values() if index.entries is not None)
        for index in self.index_list:
            assert len(index.entries) == n, (index.name, len(index.entries), n)
            index.entries._check()
            for key, doc in index.entries.items():
                assert self.docs[doc["_id"]] is doc
                assert index.key(doc, doc_tail(doc)) == key
        for doc_id, doc in self.docs.items():
            assert doc["_id"] == doc_id
            assert (doc_id in self.nested) == (not is_flat(doc))


class Store:
    """All committed tables, by name and by table number (numbers come from the catalog)."""

    __slots__ = ("tables", "by_number")

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.by_number: dict[int, Table] = {}

    def create_table(self, name: str, number: int) -> Table:
        table = Table(name, number)
        self.tables[name] = table
        self.by_number[number] = table
        return table

    def drop_table(self, name: str) -> None:
        table = self.tables.pop(name)
        del self.by_number[table.number]

    def restore_indexes(self, saved: dict[str, tuple]) -> None:
        """Put back the indexes `saved` as `{name: (table.indexes, table.index_list)}` (undoing a
        schema change)."""
        for name, (indexes, _) in saved.items():
            table = self.tables.get(name)
            if table is not None:
                table.indexes = indexes
                # Recomputed rather than restored: a lazily-built index may have been built since.
                table.index_list = [index for index in indexes.values() if index.entries is not None]

    def iter_documents(self) -> Iterator[tuple[Table, dict]]:
        for table in self.tables.values():
            for doc in table.docs.values():
                yield table, doc

    def _check(self) -> None:
        for name, table in self.tables.items():
            assert table.name == name
            assert self.by_number[table.number] is table
            table._check()
        assert len(self.by_number) == len(self.tables)
