"""The read-set registry: which live queries a commit's write set touches.

A plain structure (no locking; the reactivity coordinator owns it). Each registered query has a
read set of index-key intervals. Intervals are bucketed per `(table, index)` by their first key
component when the whole interval lies within one value of it (an `eq` on the first field, a
`db.get`): a written key is then checked only against its own bucket and the few "wide" intervals
(ranges over the first field, full scans) of that index, never against every subscription.

`touched_by(writes)` is the whole question a commit asks: for each write, the document's old and
new key in every watched index of its table, looked up as above; the answer names, per touched
owner, the first write that touched it (`Touch`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Hashable, Iterable, NamedTuple

from ..keys import component_end
from .store import doc_tail

if TYPE_CHECKING:  # pragma: no cover
    from .transaction import Write

Interval = tuple[str, str, bytes, "bytes | None"]  # (table, index, lo inclusive, hi exclusive | None)


def _bucket_of(lo: bytes, hi: bytes | None) -> bytes | None:
    """The first component shared by every key in [lo, hi), or None if the interval spans several."""
    if not lo or hi is None:
        return None
    first = lo[: component_end(lo)]
    # Keys starting with `first` are exactly those in [first, first + FF) (keys.prefix_end).
    if hi.startswith(first) and hi != first:
        return first
    return None


class Touch(NamedTuple):
    """The write that touched an owner's read set: where it landed and what it did."""

    table: str
    index: str  # the index whose interval holds the document's old or new key
    doc_id: str
    change: str  # "insert" | "update" | "delete"


class _IndexIntervals:
    __slots__ = ("buckets", "wide")

    def __init__(self) -> None:
        self.buckets: dict[bytes, dict[Hashable, list[tuple[bytes, bytes | None]]]] = {}
        self.wide: dict[Hashable, list[tuple[bytes, bytes | None]]] = {}


class SubscriptionIndex:
    """Intervals by owner. `add(owner, intervals)`, `remove(owner)`, `touched(table, index, keys)`.

    Cost of `touched`: O(keys × (intervals in the key's bucket + wide intervals of that index)),
    independent of how many other subscriptions exist.
    """

    def __init__(self) -> None:
        self._indexes: dict[tuple[str, str], _IndexIntervals] = {}
        self._owned: dict[Hashable, list[tuple[tuple[str, str], bytes | None]]] = {}

    def __len__(self) -> int:
        return len(self._owned)

    def watched_tables(self) -> set[str]:
        return {table for table, _ in self._indexes}

    def watches(self, table: str, index: str) -> bool:
        return (table, index) in self._indexes

    def add(self, owner: Hashable, intervals: Iterable[Interval]) -> None:
        """Register (or replace) `owner`'s read set."""
        self.remove(owner)
        places: list[tuple[tuple[str, str], bytes | None]] = []
        for table, index, lo, hi in intervals:
            slot = self._indexes.get((table, index))
            if slot is None:
                slot = self._indexes[(table, index)] = _IndexIntervals()
            bucket = _bucket_of(lo, hi)
            target = slot.wide if bucket is None else slot.buckets.setdefault(bucket, {})
            target.setdefault(owner, []).append((lo, hi))
            places.append(((table, index), bucket))
        self._owned[owner] = places

    def remove(self, owner: Hashable) -> None:
        for key, bucket in self._owned.pop(owner, ()):
            slot = self._indexes.get(key)
            if slot is None:
                continue
            if bucket is None:
                slot.wide.pop(owner, None)
            else:
                owners = slot.buckets.get(bucket)
                if owners is not None:
                    owners.pop(owner, None)
                    if not owners:
                        del slot.buckets[bucket]
            if not slot.wide and not slot.buckets:
                del self._indexes[key]

    def touched(self, table: str, index: str, keys: Iterable[bytes]) -> set[Hashable]:
        """Owners with an interval of `(table, index)` containing any of `keys`."""
        slot = self._indexes.get((table, index))
        if slot is None:
            return set()
        hit: set[Hashable] = set()
        for key in keys:
            candidates = [slot.wide]
            if slot.buckets:
                owners = slot.buckets.get(key[: component_end(key)])
                if owners is not None:
                    candidates.append(owners)
            for owners in candidates:
                for owner, intervals in owners.items():
                    if owner in hit:
                        continue
                    for lo, hi in intervals:
                        if lo <= key and (hi is None or key < hi):
                            hit.add(owner)
                            break
        return hit

    def touched_by(self, writes: Iterable["Write"]) -> dict[Hashable, Touch]:
        """The owners a commit's writes touch, each with the first write (and index) that did.

        A write touches an owner when the document's old or new version has a key, in a watched
        index of its table, inside one of the owner's intervals. Cost per write: its table's
        watched indexes × `touched`; tables nobody watches cost one set lookup.
        """
        indexes = self._indexes
        if not indexes:
            return {}
        watched = {table for table, _ in indexes}
        touched: dict[Hashable, Touch] = {}
        for write in writes:
            table = write.table
            table_name = table.name
            if table_name not in watched:
                continue
            old, new = write.old, write.new
            tail_old = doc_tail(old) if old is not None else b""
            tail_new = doc_tail(new) if new is not None else b""
            for name, idx in table.indexes.items():
                if (table_name, name) not in indexes:
                    continue
                keys = []
                if old is not None:
                    keys.append(idx.key(old, tail_old))
                if new is not None:
                    keys.append(idx.key(new, tail_new))
                hit = self.touched(table_name, name, keys)
                if hit:
                    touch = Touch(table_name, name, write.id,
                                  "insert" if old is None else "delete" if new is None else "update")
                    for owner in hit:
                        if owner not in touched:
                            touched[owner] = touch
        return touched

    def _check(self) -> None:
        """Assert that the per-index structures and the per-owner record agree (for tests)."""
        counted: dict[Hashable, int] = {}
        for key, slot in self._indexes.items():
            assert slot.wide or slot.buckets, key
            for owner, intervals in slot.wide.items():
                counted[owner] = counted.get(owner, 0) + len(intervals)
                for lo, hi in intervals:
                    assert _bucket_of(lo, hi) is None
            for bucket, owners in slot.buckets.items():
                assert owners, bucket
                for owner, intervals in owners.items():
                    counted[owner] = counted.get(owner, 0) + len(intervals)
                    for lo, hi in intervals:
                        assert _bucket_of(lo, hi) == bucket
        assert counted == {owner: len(places) for owner, places in self._owned.items() if places}
