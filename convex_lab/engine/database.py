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
The store and the catalog (`catalog.py`: table numbers, id prefixes, schema, clocks) know nothing
of this; `Transaction` is the only thing that writes to them, and every write, bulk imports and
system tables included, reaches them through `run_mutation`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from typing import Any, Callable

from ..errors import (
    AppClosedError,
    DurabilityError,
    InterruptedAfterCommit,
    SchemaValidationError,
    interrupted_write,
)
from ..interrupts import DEFERRED, armed
from .catalog import Catalog
from .records import Records
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
    `records` are the `(kind, key, body)` records stored with it (engine/records.py) and
    `dropped_records` the `(kind, key)` ones its group drops to stay within the limit.
    """

    __slots__ = ("ts", "changes", "bulk", "_writes", "new_tables", "schema", "records", "dropped_records")

    def __init__(self, ts: int, changes: list[Write], new_tables: list[Table], schema: Any,
                 bulk: list[tuple[Table, list[dict]]] | None = None, records: list | None = None) -> None:
        self.ts = ts
        self.changes = changes
        self.bulk = bulk or []
        self._writes: list[Write] | None = None if self.bulk else changes
        self.new_tables = new_tables
        # The new SchemaDefinition when this commit changed it, SCHEMA_REMOVED when it removed it,
        # else None.
        self.schema = schema
        self.records = records or []
        self.dropped_records: list[tuple[str, str]] = []

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
        self.catalog = Catalog()
        self.store = Store()
        self.records = Records()  # stored with commits (Transaction.put_record); restored on reopen
        # The commit lock. Held for a whole query or mutation run; re-entrant so that engine-level
        # helpers (schema changes, imports) can nest. Contention is the point: it serialises.
        self.lock = threading.RLock()
        self.limits = DEFAULT_LIMITS if limits else UNLIMITED
        self.persistence = persistence
        self.listeners: list[Callable[[Commit], None]] = []
        # Called with each mutation's transaction once it has committed or been rolled back (in
        # the commit point's, or the abandoning's, DEFERRED section): file storage releases the
        # files it staged for the transaction's rows there.
        self.settle_listeners: list[Callable[[Transaction], None]] = []
        self._queue: deque[_Job] = deque()
        self._queue_lock = threading.Lock()
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

    # -- state --------------------------------------------------------------------------------
    @property
    def schema(self) -> Any:
        """The schema in force (`SchemaDefinition`), or None."""
        return self.catalog.schema

    @property
    def last_ts(self) -> int:
        """The newest commit's timestamp (ns)."""
        return self.catalog.last_ts

    def restore(self, loaded: Any) -> None:
        """Rebuild memory from a database file (`Persistence.load`), before any run."""
        from ..schema import SchemaDefinition

        catalog = self.catalog
        for name, number in loaded.tables.items():
            catalog.enter(name, number)
        if loaded.schema_json:
            catalog.schema = SchemaDefinition.from_json(loaded.schema_json)
        for name, number in sorted(loaded.tables.items(), key=lambda item: item[1]):
            table = self.store.create_table(name, number)
            indexes = catalog.table_indexes(name)
            if indexes:
                table.define_indexes(indexes)
            docs = loaded.documents.get(name, [])
            if docs:
                table.bulk_load(docs)  # sizes are computed lazily, on first read
        catalog.restore_clocks((loaded.last_ts, loaded.last_creation_time))
        self.records.restore(loaded.records)

    # -- running ----------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() * 1000.0

    def run_query(self, fn: Callable[[Transaction], Any], *, limits: Limits | None = None,
                  now_ms: float | None = None) -> tuple[Any, Transaction]:
        """Run `fn(txn)` read-only at the newest commit. Acquires the commit lock."""
        with self.lock:
            self.check_open()
            txn = Transaction(self.store, self.catalog, writable=False, now_ms=self.now() if now_ms is None else now_ms,
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
        clocks = self.catalog.clocks()
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
                txn = Transaction(self.store, self.catalog, writable=True, now_ms=self.now() if job.now_ms is None else job.now_ms,
                                  limits=job.limits)
                job.txn = txn
                try:
                    job.result = job.fn(txn)
                except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    txn.rollback()
                    job.error = exc
                    continue
                writes = txn.write_set()
                if writes or txn.bulk or txn.new_tables or txn.schema_changed or txn.records:
                    ts = self.catalog.next_commit_ts()  # (an interrupt from here on is undone by _abandon)
                    schema = None
                    if txn.schema_changed:
                        schema = self.catalog.schema if self.catalog.schema is not None else SCHEMA_REMOVED
                    commit = Commit(ts, writes, list(txn.new_tables), schema, list(txn.bulk), list(txn.records))
                    commits.append(commit)
                    committers.append(job)
                ran.append(job)
            stored = [commit for commit in commits if commit.records]
            if stored:  # the group drops the oldest records beyond the limit, in the file and in memory
                stored[-1].dropped_records = self.records.evictions(
                    (kind, key) for commit in stored for kind, key, _ in commit.records)
            prepare_error = None
            if commits and persistence is not None:
                try:
                    persistence.prepare_commits(commits)  # interruptible: nothing is durable before COMMIT
                except Exception as exc:  # noqa: BLE001 - nothing staged: the group fails below
                    prepare_error = exc
            with DEFERRED:  # the commit point: from here the group finishes whole
                past_commit_point = True
                self._finish_group(jobs, ran, commits, committers, prepare_error, clocks)
        except BaseException as exc:  # noqa: BLE001 - Ctrl-C on this thread
            if past_commit_point:
                raise  # a Ctrl-C that waited for the group to finish: run_mutation reports it
            self._abandon(jobs, exc, clocks)
            raise

    def _finish_group(self, jobs: list[_Job], ran: list[_Job], commits: list[Commit], committers: list[_Job],
                      prepare_error: Exception | None, clocks: tuple) -> None:
        # Inside the commit point's DEFERRED section: make the group durable, tell the listeners.
        persistence = self.persistence
        if prepare_error is not None:
            commits = self._durability_failed(ran, commits, prepare_error, clocks, False)
        elif commits and persistence is not None:
            try:
                persistence.commit_prepared()
            except Exception as exc:  # noqa: BLE001 - did it reach the file? ask before telling anyone
                present = persistence.confirm_commits(commits)
                commits = self._durability_failed(ran, commits, exc, clocks, present)
        for job, commit in zip(committers, commits):  # empty when the durable write failed
            job.commit = commit
            if job.record is not None:
                job.record[:] = [job.result, commit.ts]
            if commit.records:
                self.records.apply(commit.ts, commit.records, commit.dropped_records)
        for commit in commits:
            for listener in self.listeners:
                try:
                    listener(commit)
                except Exception:  # noqa: BLE001 - the commit stands; a listener's bug must not undo it
                    log.exception("convex_lab: a commit listener failed on commit %s", commit.ts)
        self._settle(jobs)
        for job in jobs:
            job.done = True

    def _settle(self, jobs: list[_Job]) -> None:
        for job in jobs:
            if job.txn is not None:
                for listener in self.settle_listeners:
                    try:
                        listener(job.txn)
                    except Exception:  # noqa: BLE001 - the outcome stands; a listener's bug must not change it
                        log.exception("convex_lab: a settle listener failed")

    def _abandon(self, jobs: list[_Job], exc: BaseException, clocks: tuple) -> None:
        """Undo a group interrupted before its commit point (see `_run_group`)."""
        me = threading.get_ident()
        with DEFERRED:
            if self.persistence is not None:
                self.persistence.abort_prepared()
            for job in reversed(jobs):
                if job.txn is not None:
                    job.txn.rollback()
            self.catalog.restore_clocks(clocks)
            self._settle(jobs)
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
                           clocks: tuple, present: bool | None) -> list[Commit]:
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
        self.catalog.restore_clocks(clocks)
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
        catalog = self.catalog
        if catalog.schema is not None and schema is not None and catalog.schema.fingerprint() == schema.fingerprint():
            return False

        def apply(txn: Transaction) -> None:
            self.check_data_against(schema)
            old_schema = catalog.schema
            old_indexes = {name: (t.indexes, t.index_list) for name, t in self.store.tables.items()}
            with DEFERRED:
                txn.undo.append(("schema", (old_schema, old_indexes)))
                catalog.schema = schema
            for name in (schema.tables if schema is not None else {}):
                if name not in self.store.tables:
                    txn.create_table(name)
            for name, table in self.store.tables.items():
                table.set_user_indexes(catalog.table_indexes(name))  # system tables keep theirs
            txn.schema_changed = True
            return True  # what an InterruptedAfterCommit of the change carries

        committed: list = []
        try:
            self.run_mutation(apply, limits=UNLIMITED, record=committed)
            return True
        except KeyboardInterrupt as interrupted:
            raise interrupted_write(interrupted, committed, "The schema change") from None

    def check_data_against(self, schema: Any) -> None:
        """Raise SchemaValidationError naming table, document and path if data breaks `schema`."""
        if schema is None or not schema.schema_validation:
            return
        from ..validators import ValidationMismatch

        resolver = self.catalog.name_of
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
        """Assert the store's and the catalog's invariants, and that they agree (for tests)."""
        self.store._check()
        self.catalog._check()
        self.records._check()
        for name, table in self.store.tables.items():
            assert self.catalog.number_of(name) == table.number, name
