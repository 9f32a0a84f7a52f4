"""Records kept with commits: small opaque texts a caller stores in the same commit as a
mutation's writes, found again by (kind, key), on reopen too.

What they mean is the caller's (the runtime keeps a mutation's result under its client's
session and request id, so a client re-sending the mutation after a reconnect or a server restart
gets the first result instead of a second run). The engine guarantees only what a commit does:
a record and the writes it was stored with are applied, made durable and undone together.

Each kind keeps its newest `MAX_RECORDS_PER_KIND` records, in commit order: the commit that stores
one more drops the oldest in the same step (`evictions`, planned before the group is made
durable, so the file and memory always hold the same records).
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import islice
from typing import Iterable, NamedTuple

MAX_RECORDS_PER_KIND = 10_000


class Record(NamedTuple):
    """A stored record: the timestamp of the commit that stored it, and its text."""

    ts: int
    body: str


class Records:
    """The records of one database, per kind in commit order (oldest first).

    Written only at a commit point (`apply`, inside its DEFERRED section) or on reopen (`restore`);
    read by anyone (`get`: one dict lookup, safe under the GIL while a commit applies).
    """

    def __init__(self, limit: int = MAX_RECORDS_PER_KIND) -> None:
        self.limit = limit  # per kind
        self._kinds: dict[str, OrderedDict[str, Record]] = {}

    def get(self, kind: str, key: str) -> Record | None:
        entries = self._kinds.get(kind)
        return None if entries is None else entries.get(key)

    def count(self, kind: str) -> int:
        entries = self._kinds.get(kind)
        return 0 if entries is None else len(entries)

    def evictions(self, puts: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (kind, key) records that storing `puts` (in order) drops to stay within the limit:
        the oldest of each kind. Changes nothing; `apply` drops exactly these."""
        new: dict[str, dict[str, None]] = {}
        for kind, key in puts:
            new.setdefault(kind, {})[key] = None
        dropped: list[tuple[str, str]] = []
        for kind, keys in new.items():
            entries = self._kinds.get(kind, {})
            kept_old = len(entries) - sum(1 for key in keys if key in entries)  # a key stored again moves
            over = kept_old + len(keys) - self.limit
            if over <= 0:
                continue
            old = (key for key in entries if key not in keys)
            dropped += [(kind, key) for key in islice(old, min(over, kept_old))]
            over -= min(over, kept_old)
            dropped += [(kind, key) for key in islice(keys, over)]  # more new ones than the limit
        return dropped

    def apply(self, ts: int, puts: Iterable[tuple[str, str, str]], dropped: Iterable[tuple[str, str]]) -> None:
        """Enter one commit's records, then drop the ones `evictions` planned for its group.
        Call inside the commit point's DEFERRED section."""
        kinds = self._kinds
        for kind, key, body in puts:
            entries = kinds.get(kind)
            if entries is None:
                entries = kinds[kind] = OrderedDict()
            entries.pop(key, None)
            entries[key] = Record(ts, body)
        for kind, key in dropped:
            entries = kinds.get(kind)
            if entries is not None:
                entries.pop(key, None)

    def restore(self, rows: Iterable[tuple[str, str, int, str]]) -> None:
        """Rebuild from a database file's `(kind, key, ts, body)` rows, in commit order."""
        for kind, key, ts, body in rows:
            self._kinds.setdefault(kind, OrderedDict())[key] = Record(ts, body)

    def rows(self) -> list[tuple[str, str, int, str]]:
        """Every record as `(kind, key, ts, body)`, each kind oldest first (for tests and checks)."""
        return [(kind, key, record.ts, record.body) for kind, entries in self._kinds.items()
                for key, record in entries.items()]

    def _check(self) -> None:
        for kind, entries in self._kinds.items():
            assert len(entries) <= self.limit, (kind, len(entries))
            stamps = [record.ts for record in entries.values()]
            assert stamps == sorted(stamps), kind

    def __repr__(self) -> str:
        return f"<Records {', '.join(f'{kind}: {len(e)}' for kind, e in self._kinds.items()) or 'none'}>"
