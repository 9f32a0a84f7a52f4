"""Subprocess helper for tests/test_persistence.py: commits forever, one by one, until killed.

Usage: python persistence_writer.py PATH. Before each commit it prints `intent K OP ID`, after the
commit is acknowledged `ack K TS` (stdout flushed each time). Commit K inserts a document with
`k = K`; every 5th commit updates an earlier document, every 7th deletes one. Every 50 commits it
materialises `_convex.documents`, so a kill can land before, during or after that too.
"""

from __future__ import annotations

import sys
import time

from convex_lab import ids as idlib
from convex_lab.engine.database import Commit
from convex_lab.engine.persistence import Persistence
from convex_lab.engine.store import Table
from convex_lab.engine.transaction import Write
from convex_lab.values import Int64


def main(path: str) -> None:
    persistence = Persistence(path)
    table = Table("items", 10001)
    live: dict[str, dict] = {}
    first = True
    k = 0
    while True:
        k += 1
        now = time.time() * 1000.0 + k
        if k % 7 == 0 and live:
            doc_id = sorted(live)[k % len(live)]
            old = live.pop(doc_id)
            write, op = Write(table, doc_id, old, None), "delete"
        elif k % 5 == 0 and live:
            doc_id = sorted(live)[k % len(live)]
            old = live[doc_id]
            new = dict(old, k=Int64(k), updated=True)
            live[doc_id] = new
            write, op = Write(table, doc_id, old, new), "update"
        else:
            doc_id = idlib.new_id(table.number, now)
            new = {"_id": doc_id, "_creationTime": now, "k": Int64(k), "x": k / 3, "blob": bytes([k % 256])}
            live[doc_id] = new
            write, op = Write(table, doc_id, None, new), "insert"
        print(f"intent {k} {op} {doc_id}", flush=True)
        ts = time.time_ns()
        persistence.write_commits([Commit(ts, [write], [table] if first else [], None)])
        first = False
        print(f"ack {k} {ts}", flush=True)
        if k % 50 == 0:
            persistence.materialize()


if __name__ == "__main__":
    main(sys.argv[1])
