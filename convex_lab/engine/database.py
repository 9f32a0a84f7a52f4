"""The coordinator: the commit lock, commit timestamps, group commit, durability, listeners.

Responsibilities:
- Run every query and mutation under one lock (`self.lock`) for its whole run, so mutations are
  serializable without OCC and queries never see a transaction in flight (a narrower lock is not
  enough under the GIL; docs/architecture.md, "Threads", describes who runs what).
- Commit: assign the next timestamp, make the commit durable (file-backed apps) before anyone is
  told, then call the commit listeners in commit order. If the durable write fails, the whole group
  is rolled back and every caller in it gets the error.
- Group commit: mutation callers queue jobs; whoever holds the lock runs every queued job and writes
  them in one DuckDB transaction.
The store knows nothing of this; `Transaction` is the only thing that writes to it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from typing import Any, Callable

from .. import ids as idlib
from ..errors import (
    AppClosedError,
    DurabilityError,
    InterruptedAfterCommit,
    SchemaValidationError,
    interrupted_write,
)
from ..interrupts import DEFERRED, armed
from .store import Store, Table
from .transaction import UNLIMITED, Limits, Transaction, Write

DEFAULT_LIMITS = Limits(True)
_NO_LOCK = contextlib.nullcontext()
log = logging.getLogger("convex_lab")


class _SchemaRemoved:
    """`Commit.schema` of a commit that removed the schema (`set_schema(None)`)."""

    def to_json(self) -> None:
        return None

    def __repr__(self) -> str:
        return "SCHEMA_REMOVED"


SCHEMA_REMOVED = _SchemaRemoved()


class Commit:
    """One committed transaction: its timestamp (ns) and what it changed.

    `changes` are the documents written one by one; `bulk` holds `insert_many` batches as
    `(table, documents)`, kept as they are so a million-document import need not build a million
    `Write` objects unless a listener asks for `writes` (all of them, built on first use).
    """

    __slots__ = ("ts", "changes", "bulk", "_writes", "new_tables", "schema")

    def __init__(self, ts: int, changes: list[Write], new_tables: list[Table], schema: Any,
                 bulk: list[tuple[Table, list[dict]]] | None = None) -> None:
        self.ts = ts
        self.changes = changes
        self.bulk = bulk or []
        self._writes: list[Write] | None = None if self.bulk else changes
        self.new_tables = new_tables
        # The new SchemaDefinition when this commit changed it, SCHEMA_REMOVED when it removed it,
        # else None.
        self.schema = schema

    @property
    def writes(self) -> list[Write]:
        if self._writes is None:
            writes = list(self.changes)
            for table, docs in self.bulk:
                writes += [Write(table, doc["_id"], None, doc) for doc in docs]
            self._writes = writes
        return self._writes

    @property
    def size(self) -> int:
        """How many documents it wrote. O(batches)."""
        return len(self.changes) + sum(len(docs) for _, docs in self.bulk)

    def __repr__(self) -> str:
        return f"Commit(ts={self.ts}, writes={self.size})"


class _Job:
    """One caller's mutation waiting for, or taking part in, a group commit.

    `state`: "queued" (in `Database._queue`), "taken" (in a leader's group, not started),
    "started" (its handler ran or runs), or "cancelled" (its caller was interrupted before it
    started; the leader skips it). Changes of `state` happen under `Database._queue_lock`.
    """

    __slots__ = ("fn", "limits", "now_ms", "result", "error", "txn", "commit", "done", "state", "owner", "record")

    def __init__(self, fn: Callable[[Transaction], Any], limits: Limits, now_ms: float | None) -> None:
        self.fn = fn
        self.limits = limits
        self.now_ms = now_ms
        self.result: Any = None
        self.error: BaseException | None = None
        self.txn: Transaction | None = None
        self.commit: Commit | None = None  # set once the commit is durable (and kept only then)
        self.done = False
        self.state = "queued"
        self.owner = threading.get_ident()
        self.record: list | None = None  # the caller's: filled with [result, ts] at the commit point

    def reset(self) -> None:
        """Back to "queued", as if it had never run (its group was abandoned and rolled back)."""
        self.result = self.error = self.txn = self.commit = None
        self.state = "queued"


class Database:
    """The engine as callers see it: `run_query`, `run_mutation`, `set_schema`, listeners."""

    def __init__(self, persistence: Any = None, limits: bool = True) -> None:
        self.store = Store(idlib.FIRST_USER_TABLE_NUMBER)
        # The commit lock. Held for a whole query or mutation run; re-entrant so that engine-level
        # helpers (schema changes, imports) can nest. Contention is the point: it serialises.
        self.lock = threading.RLock()
        self.schema: Any = None
        self.limits = DEFAULT_LIMITS if limits else UNLIMITED
        self.last_creation_time = 0.0
        self.last_ts = 0
        self.persistence = persistence
        self.listeners: list[Callable[[Commit], None]] = []
        self._prefix_tables: dict[str, Table] = {}
        self._queue: deque[_Job] = deque()
        self._queue_lock = threading.Lock()
        self.known_numbers: dict[str, int] = {}  # every table name ever given a number
        self.closed_reason: str | None = None  # why the database refuses work, once closed

    # -- lifecycle --------------------------------------------------------------------------
    def close(self, reason: str) -> None:
        """Refuse every later query and mutation with `AppClosedError(reason)`. Takes the lock,
        so a run in progress finishes first."""
        with self.lock:
            if self.closed_reason is None:
                self.closed_reason = reason

    def check_open(self) -> None:
        if self.closed_reason is not None:
            raise AppClosedError(self.closed_reason)

    # -- tables -----------------------------------------------------------------------------
    def create_table(self, name: str, number: int | None = None) -> Table:
        if number is None:
            number = self.known_numbers.get(name)
        if number is None:
            number = max(self.store.next_table_number, max(self.known_numbers.values(), default=0) + 1)
        with DEFERRED:
            table = self.store.create_table(name, number)
            self.known_numbers[name] = number
            for prefix in _id_prefixes(number):
                self._prefix_tables[prefix] = table
        return table

    def drop_created_table(self, name: str) -> None:
        with DEFERRED:
            table = self.store.tables[name]
            self.store.drop_table(name)
            for prefix in _id_prefixes(table.number):
                self._prefix_tables.pop(prefix, None)

    def table_for_id(self, doc_id: str) -> Table | None:
        """The table an id string probably belongs to, from its first 4 characters. O(1).

        No validation: a hit must still be confirmed (a document found under that exact id, or a
        full `ids.decode_id`); a miss means "decode to find out".
        """
        return self._prefix_tables.get(doc_id[:4])

    def table_name_of(self, number: int) -> str | None:
        table = self.store.by_number.get(number)
        if table is not None:
            return table.name
        for name, n in self.known_numbers.items():
            if n == number:
                return name
        return None

    def table_number_if_known(self, name: str) -> int | None:
        return self.known_numbers.get(name)

    def schema_index_fields(self, table: str, index: str) -> tuple[str, ...] | None:
        if self.schema is None or table not in self.schema.tables:
            return None
        fields = self.schema.tables[table].indexes.get(index)
        return tuple(fields) if fields is not None else None

    # -- running ----------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() * 1000.0

    def run_query(self, fn: Callable[[Transaction], Any], *, limits: Limits | None = None,
                  now_ms: float | None = None) -> tuple[Any, Transaction]:
        """Run `fn(txn)` read-only at the newest commit. Acquires the commit lock."""
        with self.lock:
            self.check_open()
            txn = Transaction(self, writable=False, now_ms=self.now() if now_ms is None else now_ms,
                              limits=limits or self.limits)
            return fn(txn), txn

    def run_mutation(self, fn: Callable[[Transaction], Any], *, limits: Limits | None = None,
                     now_ms: float | None = None, record: list | None = None) -> tuple[Any, Transaction, Commit | None]:
        """Run `fn(txn)` as a mutation and commit it; returns (result, txn, commit or None).

        Acquires the commit lock. Raises whatever `fn` raised (nothing written), or
        `DurabilityError` if the commit could not be made durable (nothing applied). Returns only
        after the commit is durable and every commit listener has run.

        Ctrl-C (KeyboardInterrupt, main thread) is all or nothing too: before the commit point it
        rolls the mutation back and is raised as is; once the commit is durable it waits until the
        listeners have run and is raised as `InterruptedAfterCommit`, which carries the result.
        `record`, if given, is filled with `[result, commit ts]` in the same step that makes the
        commit durable, so a caller interrupted anywhere after that still knows it committed.
        """
        self.check_open()
        job = _Job(fn, limits or self.limits, now_ms)
        job.record = record
        try:  # everything up to the return: a Ctrl-C anywhere in it is settled by `_interrupted`
            with armed():
                if self.persistence is None:
                    with self.lock:
                        self.check_open()
                        job.state = "taken"
                        self._run_group([job])
                else:
                    with self._queue_lock:
                        self._queue.append(job)
                    with self.lock:
                        if not job.done:
                            group = self._take_queue()
                            if self.closed_reason is not None:
                                self._refuse(group)
                            else:
                                self._run_group(group)
                if job.error is not None:
                    raise job.error
                return job.result, job.txn, job.commit  # type: ignore[return-value]
        except BaseException as exc:  # noqa: BLE001 - the job's error, or Ctrl-C while waiting, leading or after the commit
            self._interrupted(job, exc)
            raise  # pragma: no cover - _interrupted always raises

    def _take_queue(self) -> list[_Job]:
        with self._queue_lock:
            group = list(self._queue)
            self._queue.clear()
            for job in group:
                job.state = "taken"
        return group

    def _refuse(self, jobs: list[_Job]) -> None:
        for job in jobs:
            job.error = AppClosedError(self.closed_reason or "closed")
            job.done = True

    def _interrupted(self, job: _Job, exc: BaseException) -> None:
        """`exc` (normally KeyboardInterrupt) reached `run_mutation`: settle what became of `job`
        and raise. Nothing applied → `exc` itself; committed → `InterruptedAfterCommit`."""
        with DEFERRED:
            if not job.done:
                with self._queue_lock:
                    if job in self._queue:  # never taken: withdraw it
                        self._queue.remove(job)
                        raise exc
                    if job.state == "taken":  # in a group that has not reached it: skip it
                        job.state = "cancelled"
                        raise exc
                # Started in another thread's group: its outcome is decided there. Wait for it.
                with self.lock:
                    if not job.done:  # that group was abandoned and handed the job back
                        with self._queue_lock:
                            if job in self._queue:
                                self._queue.remove(job)
                        raise exc
            if job.commit is not None and isinstance(exc, KeyboardInterrupt):
                raise InterruptedAfterCommit(job.result, job.commit.ts) from None
            raise exc

    def _run_group(self, jobs: list[_Job]) -> None:
        """Run each job as its own transaction, make the group's commits durable at once, then
        tell the listeners. Called with the lock held.

        Handlers run interruptibly: an error fails only its job (rolled back); a KeyboardInterrupt
        (or other BaseException) on this thread before the commit point abandons the whole group —
        every job rolled back, other callers' jobs handed back to the queue for their own threads —
        and propagates. From the commit point on, the group is finished under `DEFERRED`.
        """
        ts_before, ct_before = self.last_ts, self.last_creation_time
        ran: list[_Job] = []
        commits: list[Commit] = []
        committers: list[_Job] = []  # the job of each commit
        persistence = self.persistence
        past_commit_point = False
        me = threading.get_ident()
        try:
            for job in jobs:
                # Another thread may cancel its own job meanwhile; this thread's needs no lock.
                with _NO_LOCK if job.owner == me else self._queue_lock:
                    cancelled = job.state == "cancelled"
                    job.state = "cancelled" if cancelled else "started"
                if cancelled:
                    job.done = True
                    continue
                txn = Transaction(self, writable=True, now_ms=self.now() if job.now_ms is None else job.now_ms,
                                  limits=job.limits)
                job.txn = txn
                try:
                    job.result = job.fn(txn)
                except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    txn.rollback()
                    job.error = exc
                    continue
                writes = txn.write_set()
                if writes or txn.bulk or txn.new_tables or txn.schema_changed:
                    ts = max(time.time_ns(), self.last_ts + 1)
                    schema = None
                    if txn.schema_changed:
                        schema = self.schema if self.schema is not None else SCHEMA_REMOVED
                    commit = Commit(ts, writes, list(txn.new_tables), schema, list(txn.bulk))
                    self.last_ts = ts  # (an interrupt from here on is undone by _abandon)
                    commits.append(commit)
                    committers.append(job)
                ran.append(job)
            prepare_error = None
            if commits and persistence is not None:
                try:
                    persistence.prepare_commits(commits)  # interruptible: nothing is durable before COMMIT
                except Exception as exc:  # noqa: BLE001 - nothing staged: the group fails below
                    prepare_error = exc
            with DEFERRED:  # the commit point: from here the group finishes whole
                past_commit_point = True
                self._finish_group(jobs, ran, commits, committers, prepare_error, ts_before, ct_before)
        except BaseException as exc:  # noqa: BLE001 - Ctrl-C on this thread
            if past_commit_point:
                raise  # a Ctrl-C that waited for the group to finish: run_mutation reports it
            self._abandon(jobs, exc, ts_before, ct_before)
            raise

    def _finish_group(self, jobs: list[_Job], ran: list[_Job], commits: list[Commit], committers: list[_Job],
                      prepare_error: Exception | None, ts_before: int, ct_before: float) -> None:
        # Inside the commit point's DEFERRED section: make the group durable, tell the listeners.
        persistence = self.persistence
        if prepare_error is not None:
            commits = self._durability_failed(ran, commits, prepare_error, ts_before, ct_before, False)
        elif commits and persistence is not None:
            try:
                persistence.commit_prepared()
            except Exception as exc:  # noqa: BLE001 - did it reach the file? ask before telling anyone
                present = persistence.confirm_commits(commits)
                commits = self._durability_failed(ran, commits, exc, ts_before, ct_before, present)
        for job, commit in zip(committers, commits):  # empty when the durable write failed
            job.commit = commit
            if job.record is not None:
                job.record[:] = [job.result, commit.ts]
        for commit in commits:
            for listener in self.listeners:
                try:
                    listener(commit)
                except Exception:  # noqa: BLE001 - the commit stands; a listener's bug must not undo it
                    log.exception("convex_lab: a commit listener failed on commit %s", commit.ts)
        for job in jobs:
            job.done = True

    def _abandon(self, jobs: list[_Job], exc: BaseException, ts_before: int, ct_before: float) -> None:
        """Undo a group interrupted before its commit point (see `_run_group`)."""
        me = threading.get_ident()
        with DEFERRED:
            if self.persistence is not None:
                self.persistence.abort_prepared()
            for job in reversed(jobs):
                if job.txn is not None:
                    job.txn.rollback()
            self.last_ts, self.last_creation_time = ts_before, ct_before
            handed_back = []
            for job in jobs:
                if job.state == "cancelled":
                    job.done = True
                elif job.owner == me:
                    job.result, job.commit, job.error, job.done = None, None, exc, True
                else:
                    job.reset()
                    handed_back.append(job)
            with self._queue_lock:
                self._queue.extendleft(reversed(handed_back))

    def _durability_failed(self, ran: list[_Job], commits: list[Commit], exc: Exception,
                           ts_before: int, ct_before: float, present: bool | None) -> list[Commit]:
        """Writing the group raised `exc`; `present` is what the file says of it. Present → it
        stands (returns `commits`); absent → undo memory and fail the group (returns []); unknown →
        close the database (nothing can be promised) and fail the group."""
        persistence = self.persistence
        if present:
            log.warning("convex_lab: the database reported an error while committing (%s: %s), but the "
                        "commit is in the file; it stands.", type(exc).__name__, exc)
            return commits
        if present is None:
            self.closed_reason = (
                f"The app was closed: a commit to {persistence.path} failed ({type(exc).__name__}: {exc}) and the "
                "file could not be read back to tell whether it was saved. Open the file again with "
                "App(path): it holds exactly the commits that were saved."
            )
            message = (f"The commit could not be confirmed in the database file ({type(exc).__name__}: {exc}); "
                       "it may or may not have been saved. " + self.closed_reason)
        else:
            message = (f"The commit could not be written to the database file ({type(exc).__name__}: {exc}); "
                       "nothing was applied. Check the disk and the file's permissions, then retry.")
        for job in reversed(ran):
            job.txn.rollback()  # type: ignore[union-attr]
        self.last_ts, self.last_creation_time = ts_before, ct_before
        for job in ran:
            if job.error is None:
                error = DurabilityError(message)
                error.__cause__ = exc
                job.error = error
            job.commit = None
        return []

    # -- schema -----------------------------------------------------------------------------
    def set_schema(self, schema: Any) -> bool:
        """Install `schema` in one commit: check existing data, create tables, backfill and drop
        indexes. Returns False (and does nothing) when the schema is unchanged. Acquires the lock.
        """
        if self.schema is not None and schema is not None and self.schema.fingerprint() == schema.fingerprint():
            return False

        def apply(txn: Transaction) -> None:
            self.check_data_against(schema)
            old_schema = self.schema
            old_indexes = {name: (t.indexes, t.index_list) for name, t in self.store.tables.items()}
            with DEFERRED:
                txn.undo.append(("schema", (old_schema, old_indexes)))
                self.schema = schema
            for name in (schema.tables if schema is not None else {}):
                if name not in self.store.tables:
                    txn.create_table(name)
            for name, table in self.store.tables.items():
                definition = schema.tables.get(name) if schema is not None else None
                table.set_user_indexes(dict(definition.indexes) if definition is not None else {})
            txn.schema_changed = True
            return True  # what an InterruptedAfterCommit of the change carries

        committed: list = []
        try:
            self.run_mutation(apply, limits=UNLIMITED, record=committed)
            return True
        except KeyboardInterrupt as interrupted:
            raise interrupted_write(interrupted, committed, "The schema change") from None

    def restore_schema(self, saved: tuple) -> None:
        """Undo a schema change (called by `Transaction.rollback_to`, inside DEFERRED)."""
        old_schema, old_indexes = saved
        self.schema = old_schema
        for name, (indexes, index_list) in old_indexes.items():
            table = self.store.tables.get(name)
            if table is not None:
                table.indexes = indexes
                # Recomputed rather than restored: a lazily-built index may have been built since.
                table.index_list = [index for index in indexes.values() if index.entries is not None]

    def check_data_against(self, schema: Any) -> None:
        """Raise SchemaValidationError naming table, document and path if data breaks `schema`."""
        if schema is None or not schema.schema_validation:
            return
        from ..validators import ValidationMismatch

        resolver = self.table_name_of
        for name in schema.tables:
            table = self.store.tables.get(name)
            if table is None:
                continue
            for doc in table.docs.values():
                try:
                    schema.validate_document(name, doc, resolver)  # system fields are ignored
                except ValidationMismatch as exc:
                    raise SchemaValidationError(
                        f'Document with ID "{doc["_id"]}" in table "{name}" does not match the schema: {exc.message}'
                    ) from None

    def _check(self) -> None:
        """Assert the store's invariants and the id-prefix map (for tests)."""
        self.store._check()
        for prefix, table in self._prefix_tables.items():
            assert self.store.tables.get(table.name) is table
            assert prefix in _id_prefixes(table.number)


def _id_prefixes(table_number: int) -> list[str]:
    """The possible first 4 characters of the ids of a table.

    For table numbers 128..16383 (every user and system table) the VInt is 2 bytes = 16 bits, and
    4 base32 characters hold 20 bits: the table number plus the top 4 bits of the random part, so
    there are 16 prefixes per table. Other numbers have none and take the decoding path.
    """
    if not 128 <= table_number < 16384:
        return []
    return [idlib.encode_id(table_number, bytes([hi << 4]) + bytes(15))[:4] for hi in range(16)]
