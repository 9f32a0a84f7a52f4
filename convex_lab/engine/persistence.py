"""DuckDB behind the engine: the durable commit log, the current tables derived from it, reopen, SQL.

Memory serves, DuckDB keeps: reads never come here. A file-backed app writes each commit
(or group) to `_convex.log` in one statement before it is acknowledged; `_convex.documents` is
derived from the log in batches off the commit path. An in-memory app feeds the same tables from a
background thread, only so that `sql()` and `.df()` have something to read. Export JSON is `values/json.py`'s.
"""

from __future__ import annotations

import atexit
import gc
import json
import logging
import os
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, NoReturn

import duckdb
import pyarrow as pa

from ..errors import DatabaseFileError
from ..interrupts import DEFERRED
from ..values import dumps_export, loads_export

log = logging.getLogger("convex_lab")

SCHEMA = "_convex"
SCHEMA_KEY = "schema"  # meta key of the schema JSON
MATERIALIZED_TS_KEY = "materialized_ts"  # every log row with ts <= this is in _convex.documents
LAST_CREATION_TIME_KEY = "last_creation_time"  # the largest _creationTime ever materialised
LAST_TS_KEY = "last_ts"  # written by commits that may have no log rows (new tables, schema)
FORMAT_KEY = "format"
ADMIN_KEY_KEY = "admin_key"  # the App's admin key (the HTTP API's `Authorization: Convex <key>`)
DEV_AUTH_KEY_KEY = "dev_auth_key"  # the App's dev auth provider's private key (PEM), which signs app.auth.dev_token
INTERNAL_META_KEYS = frozenset({MATERIALIZED_TS_KEY, LAST_CREATION_TIME_KEY, LAST_TS_KEY, FORMAT_KEY, ADMIN_KEY_KEY,
                                DEV_AUTH_KEY_KEY})
FORMAT_VERSION = "1"

# Tuning knobs (module level so tests can shrink them).
MIRROR_INTERVAL = 0.2  # s between background flushes of an in-memory app's mirror
MIRROR_MAX_PENDING = 5_000  # writes that trigger an immediate mirror flush
FILE_IDLE = 1.0  # s without commits before a file's log tail is materialised in the background
FILE_MAX_PENDING = 50_000  # log rows that trigger materialisation even while busy
FILE_TICK = 0.25  # s between background checks of a file-backed app
CHECKPOINT_WAL_BYTES = 8 * 1024 * 1024  # WAL size above which an idle file is checkpointed
VALUES_MAX_ROWS = 128  # groups up to this many writes use one multi-row VALUES insert, above it Arrow

_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.meta(key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS {SCHEMA}.tables(name VARCHAR PRIMARY KEY, number INTEGER);
CREATE TABLE IF NOT EXISTS {SCHEMA}.log(ts BIGINT, table_number INTEGER, id VARCHAR, body VARCHAR);
CREATE TABLE IF NOT EXISTS {SCHEMA}.documents(table_number INTEGER, id VARCHAR, creation_time DOUBLE, body VARCHAR);
CREATE TABLE IF NOT EXISTS {SCHEMA}.records(kind VARCHAR, key VARCHAR, ts BIGINT, body VARCHAR, PRIMARY KEY (kind, key));
INSERT OR IGNORE INTO {SCHEMA}.meta VALUES ('{FORMAT_KEY}', '{FORMAT_VERSION}');
"""

_LOG_SCHEMA = pa.schema([("ts", pa.int64()), ("table_number", pa.int32()), ("id", pa.string()), ("body", pa.string())])
_DOC_SCHEMA = pa.schema(
    [("table_number", pa.int32()), ("id", pa.string()), ("creation_time", pa.float64()), ("body", pa.string())]
)
_META_UPSERT = f"INSERT OR REPLACE INTO {SCHEMA}.meta VALUES (?, ?)"
_TABLE_UPSERT = f"INSERT OR REPLACE INTO {SCHEMA}.tables VALUES (?, ?)"
_RECORD_UPSERT = f"INSERT OR REPLACE INTO {SCHEMA}.records VALUES (?, ?, ?, ?)"
_RECORD_DELETE = f"DELETE FROM {SCHEMA}.records WHERE kind = ? AND key = ?"


BULK_ROWS = 10_000  # a write this large hands Arrow's spare buffers back to the OS afterwards


def _release_arrow_memory(rows: int) -> None:
    # After a bulk write or load, Arrow's allocator keeps the freed buffers for reuse; give them
    # back (measured: ~55 MB of resident memory after mirroring 100k documents).
    if rows >= BULK_ROWS:
        pa.default_memory_pool().release_unused()


def _store_schema(con: Any, schema: Any) -> None:
    """Record a commit's schema change; a removed schema (its JSON is None) deletes the record."""
    definition = schema.to_json()
    if definition is None:
        con.execute(f"DELETE FROM {SCHEMA}.meta WHERE key = ?", (SCHEMA_KEY,))
    else:
        con.execute(_META_UPSERT, (SCHEMA_KEY, json.dumps(definition)))

# The export JSON of the three non-finite floats Convex writes as `{"$float": base64 LE bits}`.
_POS_INF_B64 = "AAAAAAAA8H8="
_NEG_INF_B64 = "AAAAAAAA8P8="

_insert_sql_cache: dict[int, str] = {}


def _insert_log_sql(rows: int) -> str:
    """`INSERT INTO _convex.log VALUES (?,?,?,?),…` for `rows` rows (cached: parsing is per call)."""
    sql = _insert_sql_cache.get(rows)
    if sql is None:
        sql = f"INSERT INTO {SCHEMA}.log VALUES " + ",".join(["(?,?,?,?)"] * rows)
        _insert_sql_cache[rows] = sql
    return sql


@dataclass
class TableInfo:
    """What the SQL surface needs to know about one user table to build its view.

    `fields`: top-level field names in column order (`_id`/`_creationTime` are added first);
    `column_types[field]`: `BIGINT`/`DOUBLE`/`VARCHAR`/`BLOB`/`BOOLEAN`, or None for JSON.
    """

    name: str
    number: int
    fields: list[str] = field(default_factory=list)
    column_types: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Loaded:
    """The state of a database file, as `Persistence.load` reads it for the engine to rebuild."""

    tables: dict[str, int]  # table name -> table number
    documents: dict[str, list[dict]]  # table name -> current documents (internal values)
    schema_json: dict | None
    meta: dict[str, str]
    last_ts: int
    last_creation_time: float
    records: list[tuple[str, str, int, str]] = field(default_factory=list)  # (kind, key, ts, body), oldest first


# One row of the materialisation queue: (ts, table_number, id, creation_time, body, existed_before)
# where body None is a delete and existed_before says the document may be in _convex.documents.
_Row = tuple


class Persistence:
    """DuckDB as system of record (a file) or as the SQL surface of an in-memory app (`path=None`).

    Responsibilities:
    - `prepare_commits` / `commit_prepared` (`write_commits`): make a group of commits durable in
      one DuckDB transaction (file only); `confirm_commits` reads back an uncertain COMMIT.
    - `mirror`: queue an in-memory app's commits for the background feed (no DuckDB statement).
    - materialise `_convex.documents` from the log in batches: in the background when idle, before
      `sql()`/`table_df()`, in large commits (imports) and at `close()`.
    - `load`: everything the engine needs to rebuild memory on reopen.
    - `sql`/`table_df`: SELECT-only SQL over one view per user table, on a cursor per thread.

    Locking: `self._lock` (re-entrant) serialises every DuckDB write on the one writer connection:
    commits (called with the engine's commit lock held), materialisation (background thread or a
    `sql()` caller) and view DDL. It never takes the engine's lock, so there is no lock-order cycle.
    Reads for `sql()` run on per-thread cursors without the lock (DuckDB MVCC). `_queue_lock` only
    guards the in-memory mirror's queue, so `mirror` never waits for a flush in progress.
    """

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = os.fspath(path) if path is not None else None
        self.memory = self.path is None
        # Called when a newer Persistence in this process takes the file over (the App closes).
        self.on_taken_over: Callable[[], None] | None = None
        self._real_path = os.path.realpath(self.path) if self.path is not None else None
        if self._real_path is not None:
            _take_over(self._real_path)
            check_database_file(self.path)
        self._con = _connect(self.path)
        try:
            if not self.memory:
                _check_convex_lab_database(self._con, self.path)
            self._open()
        except BaseException:
            self._con.close()
            raise
        if self._real_path is not None:
            with _holders_lock:
                _holders[self._real_path] = weakref.ref(self)
        _open_instances.add(self)

    def _open(self) -> None:
        self._lock = threading.RLock()
        self._closed = False
        self._local = threading.local()
        self._cursors: list[Any] = []
        self._views: dict[str, str] = {}  # view name -> the CREATE VIEW text it was made with
        # File: log rows written but not yet in _convex.documents. Memory: unused.
        self._pending: list[_Row] = []
        self._staged: _Batch | None = None  # a group between prepare_commits and its COMMIT
        # Memory: commits not yet fed to DuckDB.
        self._queue: list[Any] = []
        self._queue_writes = 0
        self._queue_lock = threading.Lock()
        self._last_write = time.monotonic()
        self.background_error: BaseException | None = None  # last failure of the background thread
        self._con.execute(_DDL)
        row = self._con.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = ?", [LAST_CREATION_TIME_KEY]).fetchall()
        self._max_time = float(row[0][0]) if row else 0.0  # the largest _creationTime materialised
        if not self.memory:
            self._read_log_tail()
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=_background_loop,
            args=(weakref.ref(self), self._wake, MIRROR_INTERVAL if self.memory else FILE_TICK),
            name=f"convex_lab-persistence-{self.path or 'memory'}",
            daemon=True,
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"<Persistence {self.path or 'memory'}{' closed' if self._closed else ''}>"

    # -- the commit path -------------------------------------------------------------------------
    def write_commits(self, commits: list[Any]) -> None:
        """Make `commits` durable in one DuckDB transaction (file-backed only); raise on failure,
        after which nothing of the group is in the file. `prepare_commits` + `commit_prepared`."""
        self.prepare_commits(commits)
        try:
            self.commit_prepared()
        except BaseException:
            self.abort_prepared()
            raise

    def prepare_commits(self, commits: list[Any]) -> None:
        """Stage `commits` for one durable DuckDB transaction (file-backed only). Interruptible:
        nothing is durable until `commit_prepared`, and on any exception nothing stays staged.

        On success the DuckDB write lock stays held by this thread until `commit_prepared`,
        `confirm_commits` or `abort_prepared` (the engine calls them at once), so no other
        statement can land inside the open transaction.

        Cost: a group with only document writes, up to `VALUES_MAX_ROWS`, is staged as ONE
        multi-row INSERT that `commit_prepared` runs autocommitted (a statement is atomic: measured
        ~20% cheaper than BEGIN+INSERT+COMMIT). Anything else opens a transaction here and inserts
        from Arrow; a group with an import, or from `BULK_ROWS` rows on, also goes straight into
        `_convex.documents` (with the pending log tail), so an import is not written twice.
        O(size of writes).
        """
        if self.memory:
            raise RuntimeError("write_commits is for file-backed databases; an in-memory app uses mirror().")
        batch = _Batch(commits)
        with DEFERRED:  # held and staged together: abort_prepared can always undo both
            self._lock.acquire()
            self._staged = batch
        try:
            con = self._open_con()
            if batch.single_statement:
                return
            con.execute("BEGIN")
            self._write_batch_in_txn(con, batch, materialise=batch.count >= BULK_ROWS or bool(batch.bulk))
            if batch.has_extras:
                self._write_commit_extras(con, commits, batch.last_ts)
        except BaseException as exc:
            self.abort_prepared()
            _reraise(exc)

    def commit_prepared(self) -> None:
        """Make the staged group durable (the COMMIT, or the single INSERT) and record it. The
        caller holds a DEFERRED section: a durable COMMIT and its bookkeeping are one step. On an
        exception the group may or may not be in the file: ask `confirm_commits`."""
        batch = self._staged
        assert batch is not None, "commit_prepared without prepare_commits"
        if batch.single_statement:
            self._execute_commit(self._con, batch.insert_sql(), batch.params)
        else:
            self._execute_commit(self._con, "COMMIT", None)
        self._committed(batch)

    def _execute_commit(self, con: Any, sql: str, params: Any) -> None:
        # The one statement that makes a group durable (a seam for fault-injection tests).
        if params is None:
            con.execute(sql)
        else:
            con.execute(sql, params)

    def _committed(self, batch: "_Batch") -> None:
        # The staged group is in the file: note what materialisation still owes; release the lock.
        self._staged = None
        if batch.materialised:
            self._pending = []
        else:
            self._pending += batch.rows
        self._last_write = time.monotonic()
        if len(self._pending) >= FILE_MAX_PENDING:
            self._wake.set()
        self._lock.release()
        _release_arrow_memory(batch.count)

    def abort_prepared(self) -> None:
        """Drop the staged group, if this thread staged one (rolls back any transaction it began).
        Idempotent."""
        with DEFERRED:
            if self._staged is None or not self._lock._is_owned():  # type: ignore[attr-defined]
                return
            self._staged = None
            _rollback(self._con)  # a no-op when no transaction is open
            self._lock.release()

    def confirm_commits(self, commits: list[Any]) -> bool | None:
        """After `commit_prepared` raised: whether the group reached the file (True), did not
        (False), or cannot be told (None: the database cannot be read). Bookkeeping follows the
        answer; the staged group is released either way."""
        batch = self._staged
        if batch is None:
            return None
        present: bool | None
        try:
            con = self._con
            _rollback(con)  # a failed COMMIT may leave the transaction open
            present = self._group_in_file(con, batch)
        except Exception:  # noqa: BLE001 - the file cannot be read: nothing can be promised
            present = None
        if present:
            self._committed(batch)
        else:
            self._staged = None
            self._lock.release()
        return present

    def _group_in_file(self, con: Any, batch: "_Batch") -> bool:
        # A group is one transaction: any of its log rows, or its last ts in meta, means all of it.
        if batch.count:
            (found,) = con.execute(
                f"SELECT count(*) FROM {SCHEMA}.log WHERE ts BETWEEN ? AND ?", [batch.first_ts, batch.last_ts]
            ).fetchall()[0]
            return found > 0
        rows = con.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = ?", [LAST_TS_KEY]).fetchall()
        return bool(rows) and int(rows[0][0]) >= batch.last_ts

    def _write_batch_in_txn(self, con: Any, batch: "_Batch", materialise: bool) -> None:
        """Inside an open transaction: append `batch` to the log and, with `materialise`, bring
        `_convex.documents` up to date with it and with the pending tail."""
        if batch.count:
            con.from_arrow(batch.log_table()).insert_into(f"{SCHEMA}.log")
        if not materialise:
            return
        # Bulk inserts are new ids: no earlier row can touch them, and a later change in the same
        # group replaces them, so they go in first.
        max_time = 0.0
        for chunk in batch.bulk:
            con.from_arrow(_arrow_rows(_DOC_SCHEMA, *chunk)).insert_into(f"{SCHEMA}.documents")
            max_time = max(max_time, max(chunk[3]))
        rows = self._pending + batch.rows
        max_ts = batch.last_ts
        if rows:
            rows_ts, rows_time = self._materialise_in_txn(con, rows)
            max_time = max(max_time, rows_time)
            max_ts = max(max_ts, rows_ts)
        self._write_materialized(con, max_ts, max_time)
        batch.materialised = True

    def _write_commit_extras(self, con: Any, commits: Iterable[Any], last_ts: int) -> None:
        # Inside an open transaction: new tables, the schema, the records stored with the commits
        # (a file's only: an in-memory app's DuckDB is its SQL surface) and the group's last ts (a
        # commit with no document writes leaves no log row to recover its ts from).
        schema = None
        for commit in commits:
            for table in commit.new_tables:
                con.execute(_TABLE_UPSERT, (table.name, table.number))
            if commit.schema is not None:
                schema = commit.schema
            if not self.memory:
                for kind, key, body in commit.records:
                    con.execute(_RECORD_UPSERT, (kind, key, commit.ts, body))
                for kind, key in commit.dropped_records:
                    con.execute(_RECORD_DELETE, (kind, key))
        if schema is not None:
            _store_schema(con, schema)
        con.execute(_META_UPSERT, (LAST_TS_KEY, str(last_ts)))

    def mirror(self, commits: list[Any]) -> None:
        """Queue an in-memory app's commits for the background feed into DuckDB. O(1), no DuckDB
        statement: a background thread flushes every `MIRROR_INTERVAL` s or at `MIRROR_MAX_PENDING`
        writes, and `sql()`/`table_df()` materialize first."""
        count = 0
        for commit in commits:
            count += commit.size
        with self._queue_lock:
            self._queue += commits
            self._queue_writes += count
            full = self._queue_writes >= MIRROR_MAX_PENDING
        if full:
            self._wake.set()

    # -- materialisation -----------------------------------------------------------------------
    def materialize(self) -> None:
        """Bring `_convex.documents` up to date with every acknowledged commit. Raises on failure
        (the rows stay queued). Takes the DuckDB write lock."""
        with self._lock:
            if self._closed:
                return
            if self.memory:
                self._flush_mirror()
            elif self._pending:
                self._materialise_pending()

    def _materialise_pending(self) -> None:
        # File, lock held: apply every pending log row to _convex.documents in one transaction.
        rows = self._pending
        con = self._con
        con.execute("BEGIN")
        try:
            self._materialise_in_txn(con, rows)
            with DEFERRED:  # COMMIT and forgetting the rows are one step
                con.execute("COMMIT")
                self._pending = self._pending[len(rows):]
        except BaseException as exc:
            _rollback(con)
            _reraise(exc)

    def _materialise_in_txn(self, con: Any, rows: list[_Row]) -> tuple[int, float]:
        """Apply `rows` (in ts order) to `_convex.documents` and advance `materialized_ts`, inside
        the caller's transaction. Only ids that may already be there are deleted first, so an
        insert-only batch costs one Arrow insert. Returns (max ts, max creation time)."""
        latest: dict[str, _Row] = {}
        stale: list[str] = []
        for row in rows:
            doc_id = row[2]
            if doc_id not in latest and row[5]:
                stale.append(doc_id)
            latest[doc_id] = row
        if stale:
            if len(stale) <= 64:
                con.execute(f"DELETE FROM {SCHEMA}.documents WHERE id IN (SELECT UNNEST(?::VARCHAR[]))", [stale])
            else:
                con.register("_convex_stale", pa.table({"id": pa.array(stale, pa.string())}))
                try:
                    con.execute(f"DELETE FROM {SCHEMA}.documents WHERE id IN (SELECT id FROM _convex_stale)")
                finally:
                    con.unregister("_convex_stale")
        live = [row for row in latest.values() if row[4] is not None]
        max_time = 0.0
        if live:
            columns = _columns(live)
            max_time = max(columns[3])
            con.from_arrow(_arrow_rows(_DOC_SCHEMA, *columns)).insert_into(f"{SCHEMA}.documents")
        max_ts = rows[-1][0] if rows else 0
        self._write_materialized(con, max_ts, max_time)
        return max_ts, max_time

    def _write_materialized(self, con: Any, ts: int, max_time: float) -> None:
        # The caller commits; `_max_time` may then run ahead of the file after a failure, harmlessly.
        max_time = self._max_time = max(max_time, self._max_time)
        con.execute(
            f"INSERT OR REPLACE INTO {SCHEMA}.meta VALUES (?, ?), (?, ?)",
            [MATERIALIZED_TS_KEY, str(ts), LAST_CREATION_TIME_KEY, repr(float(max_time))],
        )

    def _flush_mirror(self) -> None:
        # Memory, lock held: write every queued commit to the log and documents in one transaction.
        # The queue is shortened only together with the COMMIT (one DEFERRED step), so after a
        # Ctrl-C or an error each commit is either written or still queued, never both or neither.
        with self._queue_lock:
            queue = list(self._queue)
        if not queue:
            return
        batch = _Batch(queue)
        con = self._con
        con.execute("BEGIN")
        try:
            self._write_batch_in_txn(con, batch, materialise=True)
            self._write_commit_extras(con, queue, batch.last_ts)
            with DEFERRED:
                con.execute("COMMIT")
                with self._queue_lock:
                    del self._queue[:len(queue)]
                    self._queue_writes = max(0, self._queue_writes - batch.count)
        except BaseException as exc:
            _rollback(con)  # after a COMMIT that went through, a harmless no-op
            _reraise(exc)
        _release_arrow_memory(batch.count)

    def _background_tick(self) -> None:
        # Background thread: feed the mirror, or materialise an idle (or long) log tail, then
        # checkpoint a big WAL while idle, so neither lands on a commit.
        if self.memory:
            if self._queue:
                self.materialize()
            return
        idle = time.monotonic() - self._last_write >= FILE_IDLE
        if self._pending and (idle or len(self._pending) >= FILE_MAX_PENDING):
            self.materialize()
        if idle and not self._pending:
            try:
                wal = os.path.getsize(self.path + ".wal")  # type: ignore[operator]
            except OSError:
                return
            if wal >= CHECKPOINT_WAL_BYTES:
                with self._lock:
                    if not self._closed and time.monotonic() - self._last_write >= FILE_IDLE:
                        try:
                            self._con.execute("CHECKPOINT")
                        except duckdb.Error:
                            pass  # other transactions running: try again at the next idle tick

    # -- reopen --------------------------------------------------------------------------------
    def _read_log_tail(self) -> None:
        # At open: the log rows a crash left unmaterialised become the first pending batch.
        row = self._con.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = ?", [MATERIALIZED_TS_KEY]).fetchall()
        materialized = int(row[0][0]) if row else -(1 << 63)
        tail = self._con.execute(
            f"SELECT ts, table_number, id, TRY_CAST(json_extract_string(body, '$._creationTime') AS DOUBLE), body "
            f"FROM {SCHEMA}.log WHERE ts > ? ORDER BY ts",
            [materialized],
        ).fetchall()
        self._pending = [(ts, number, doc_id, ct, body, True) for ts, number, doc_id, ct, body in tail]

    def load(self) -> Loaded | None:
        """Read everything the engine needs to rebuild memory; None for an in-memory database or a
        file with no tables and no saved settings. Documents are the materialised ones plus a replay
        of the log tail (ts > materialized_ts). Column-wise via Arrow, decoded in one loop each:
        ~1–2 µs per small document."""
        if self.memory:
            return None
        try:
            return self._load()
        except RuntimeError as exc:
            _reraise(exc)

    def _load(self) -> Loaded | None:
        with self._lock:
            con = self._open_con()
            tables = dict(con.execute(f"SELECT name, number FROM {SCHEMA}.tables").fetchall())
            meta = dict(con.execute(f"SELECT key, value FROM {SCHEMA}.meta").fetchall())
            records = con.execute(f"SELECT kind, key, ts, body FROM {SCHEMA}.records ORDER BY ts, kind, key").fetchall()
            if not tables and not set(meta) - INTERNAL_META_KEYS and not records:
                return None
            names = {number: name for name, number in tables.items()}
            documents: dict[str, list[dict]] = {name: [] for name in tables}
            counts = con.execute(
                f"SELECT table_number, count(*) FROM {SCHEMA}.documents GROUP BY 1"
            ).fetchall()
            for number, _ in counts:
                name = names.get(number)
                if name is None:
                    raise DatabaseFileError(
                        f"The database file has documents of table number {number}, which {SCHEMA}.tables "
                        "does not name. The file is damaged."
                    )
                bodies = (
                    con.sql(f"SELECT body FROM {SCHEMA}.documents WHERE table_number = {int(number)}")
                    .to_arrow_table()
                    .column(0)
                    .to_pylist()
                )
                documents[name] = _decode_all(bodies)
                _release_arrow_memory(len(bodies))
            last_time = float(meta.get(LAST_CREATION_TIME_KEY, "0"))
            if self._pending:
                last_time = max(last_time, self._replay(self._pending, documents, names))
            (max_ts,) = con.execute(f"SELECT max(ts) FROM {SCHEMA}.log").fetchall()[0]
            (max_doc_time,) = con.execute(f"SELECT max(creation_time) FROM {SCHEMA}.documents").fetchall()[0]
        last_ts = max(max_ts or 0, int(meta.get(LAST_TS_KEY, "0")), int(meta.get(MATERIALIZED_TS_KEY, "0")))
        last_time = max(last_time, max_doc_time or 0.0)
        schema_text = meta.get(SCHEMA_KEY)
        return Loaded(
            tables=tables,
            documents=documents,
            schema_json=json.loads(schema_text) if schema_text else None,
            meta=meta,
            last_ts=last_ts,
            last_creation_time=last_time,
            records=records,
        )

    @staticmethod
    def _replay(rows: list[_Row], documents: dict[str, list[dict]], names: dict[int, str]) -> float:
        # Apply log rows (ts order) to the loaded documents; returns the largest creation time seen.
        touched: dict[str, dict[str, dict | None]] = {}
        max_time = 0.0
        for _, number, doc_id, creation_time, body, _ in rows:
            name = names.get(number)
            if name is None:
                raise DatabaseFileError(
                    f"The commit log names table number {number}, which {SCHEMA}.tables does not. The file is damaged."
                )
            by_id = touched.get(name)
            if by_id is None:
                by_id = touched[name] = {doc["_id"]: doc for doc in documents.setdefault(name, [])}
            if body is None:
                by_id.pop(doc_id, None)
            else:
                by_id[doc_id] = loads_export(body)
                if creation_time is not None and creation_time > max_time:
                    max_time = creation_time
        for name, by_id in touched.items():
            documents[name] = list(by_id.values())
        return max_time

    # -- meta ----------------------------------------------------------------------------------
    def save_meta(self, key: str, value: str) -> None:
        """Store a setting (durable when this returns, for a file). One statement."""
        with self._lock:
            self._open_con().execute(_META_UPSERT, (key, value))

    def get_meta(self, key: str) -> str | None:
        """A setting stored with `save_meta`, or None."""
        with self._lock:
            rows = self._open_con().execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = ?", [key]).fetchall()
        return rows[0][0] if rows else None

    # -- SQL surface ---------------------------------------------------------------------------
    def sql(self, query: str, tables: dict[str, TableInfo]) -> Any:
        """Run one read-only SELECT over the live tables and return a pandas DataFrame.

        Only a single `SELECT` (also `WITH … SELECT`, `FROM t`, `VALUES`, `DESCRIBE`, `SUMMARIZE`)
        is accepted; anything else raises ValueError. Every acknowledged commit is visible: pending
        writes are materialized first. One view per user table (see `view_sql`) lives in schema `main`.

        >>> p.sql('select room, count(*) from messages group by 1', infos)  # doctest: +SKIP
        """
        check_select(query)
        self.materialize()
        self._sync_views(tables, drop_others=True)
        try:
            return self._cursor().execute(query).df()
        except RuntimeError as exc:
            _reraise(exc)

    def table_df(self, info: TableInfo) -> Any:
        """All documents of one table as a DataFrame, in `_creationTime` order."""
        self.materialize()
        self._sync_views({info.name: info}, drop_others=False)
        return self._cursor().execute(f"SELECT * FROM main.{_ident(info.name)} ORDER BY \"_creationTime\"").df()

    def _sync_views(self, tables: dict[str, TableInfo], drop_others: bool) -> None:
        wanted = {name: view_sql(info) for name, info in tables.items()}
        with self._lock:
            con = self._open_con()
            for name, text in wanted.items():
                if self._views.get(name) != text:
                    con.execute(text)
                    self._views[name] = text
            if drop_others:
                for name in [n for n in self._views if n not in wanted]:
                    con.execute(f"DROP VIEW IF EXISTS main.{_ident(name)}")
                    del self._views[name]

    def _cursor(self) -> Any:
        # DuckDB connections are not thread-safe: each thread reads on its own cursor (an
        # independent connection to the same database).
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._lock:
                cursor = self._open_con().cursor()
                self._cursors.append(cursor)
            self._local.cursor = cursor
        if self._closed:
            raise RuntimeError(f"{self!r}: the database is closed.")
        return cursor

    # -- lifecycle -----------------------------------------------------------------------------
    def _open_con(self) -> Any:
        if self._closed:
            raise RuntimeError(f"{self!r}: the database is closed.")
        return self._con

    def close(self) -> None:
        """Stop the background thread, materialise what is pending, checkpoint and close. Idempotent."""
        if self._closed:
            return
        with self._lock:
            error: BaseException | None = None
            if not self.memory:
                try:
                    self.materialize()
                    self._con.execute("CHECKPOINT")
                except duckdb.Error as exc:  # the log holds everything; the next open replays it
                    error = exc
            self._closed = True
            self._wake.set()
            for cursor in self._cursors:
                try:
                    cursor.close()
                except duckdb.Error:
                    pass
            self._cursors.clear()
            self._con.close()
        if self._real_path is not None:
            with _holders_lock:
                ref = _holders.get(self._real_path)
                if ref is not None and ref() is self:
                    del _holders[self._real_path]
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if error is not None:
            self.background_error = error


# ---------------------------------------------------------------------------------------------
# Opening a file: one writer per file, and only files that are convex_lab databases

# Every file a Persistence of this process has open (by real path): a newer one takes it over.
_holders: dict[str, "weakref.ref[Persistence]"] = {}
_holders_lock = threading.Lock()

_SQLITE_MAGIC = b"SQLite format 3\x00"
_DUCKDB_MAGIC = b"DUCK"  # at byte 8 of every DuckDB database file


def _take_over(real_path: str) -> None:
    """Close the Persistence of this process that has `real_path` open, if any (its App is told
    first, so it refuses further use): re-running `App("lab.duckdb")` in a notebook then works, and
    the old App's acknowledged commits are all in the file (acknowledged means durable)."""
    with _holders_lock:
        ref = _holders.pop(real_path, None)
    holder = ref() if ref is not None else None
    if holder is None or holder._closed:
        return
    callback = holder.on_taken_over
    if callback is not None:
        callback()
    holder.close()


def check_database_file(path: str) -> None:
    """Raise `DatabaseFileError` unless `path` is absent, empty (it is then removed, for DuckDB to
    create), or a DuckDB database: an SQLite file would make DuckDB look for its SQLite
    extension, and any other file is not ours."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise DatabaseFileError(f'"{path}" is a directory, not a database file. Give App() a file path such as "lab.duckdb".') from None
    if not head:
        # DuckDB will not open an empty file, and it holds nothing to lose (e.g. one made by
        # tempfile): let DuckDB create the database in its place.
        os.remove(path)
        return
    if head.startswith(_SQLITE_MAGIC):
        raise DatabaseFileError(
            f'"{path}" is an SQLite database, not a convex_lab database (which is a DuckDB file). '
            "To bring its data in, read it with pandas (pd.read_sql) and use app.import_rows; open "
            "the App on a new path."
        )
    if head[8:12] != _DUCKDB_MAGIC:
        raise DatabaseFileError(
            f'"{path}" is not a convex_lab database (not a DuckDB file: it starts with {head[:8]!r}). '
            "Open the App on a new path, or on a file an App created."
        )


def _connect(path: str | None) -> Any:
    # Never let DuckDB fetch or load extensions on its own: a convex_lab database needs none, and
    # an unexpected file must fail here, not start a download.
    config = {"autoload_known_extensions": False, "autoinstall_known_extensions": False}
    try:
        return duckdb.connect(path if path is not None else ":memory:", config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise DatabaseFileError(_lock_message(path or "", str(exc))) from None
        raise DatabaseFileError(f'The database file "{path}" could not be opened: {exc}') from None
    except duckdb.Error as exc:
        raise DatabaseFileError(f'The database file "{path}" could not be opened: {exc}') from None


def _lock_message(path: str, detail: str) -> str:
    """Who holds `path`, from DuckDB's lock error ("... held in /usr/bin/python3 (PID 123) ...")."""
    match = re.search(r"held in (.+?) \(PID (\d+)\)", detail)
    holder = "another process"
    if match:
        program, pid = match.group(1), match.group(2)
        command = os.path.basename(program)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                parts = [p.decode(errors="replace") for p in handle.read().split(b"\0") if p]
            if parts:
                command = " ".join([os.path.basename(parts[0]), *parts[1:]])[:200]
        except OSError:
            pass
        holder = f"another process (PID {pid}: {command})"
    return (
        f'The database file "{path}" is in use by {holder}. A convex_lab database has one writer: close '
        "the App there (app.close()) or stop that process, then open it again here. To read the data "
        "meanwhile, copy the file and open the copy."
    )


def _check_convex_lab_database(con: Any, path: str) -> None:
    """Refuse a DuckDB file with tables of its own and no convex_lab schema: it is the user's, and
    convex_lab will not add its tables to it."""
    schemas = {row[0] for row in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
    if SCHEMA in schemas:
        return
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() ORDER BY 1, 2 LIMIT 6"
    ).fetchall()
    if tables:
        names = ", ".join(f"{schema}.{name}" for schema, name in tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise DatabaseFileError(
            f'"{path}" is a DuckDB database that convex_lab did not create (it has tables: {names}). '
            "convex_lab keeps its data in a database of its own and will not add tables to yours: "
            "open the App on a new path, and bring data in with app.import_rows(table, df)."
        )


# Every open Persistence: closed at interpreter exit, so no background thread is inside DuckDB
# when Python stops its threads (a thread stopped there aborts the process: "FATAL: exception not
# rethrown"), and a file's log tail is materialised and checkpointed for a fast reopen.
_open_instances: "weakref.WeakSet[Persistence]" = weakref.WeakSet()


@atexit.register
def _close_all_at_exit() -> None:
    for persistence in list(_open_instances):
        try:
            persistence.close()
        except Exception:  # noqa: BLE001 - exiting anyway; the file's log holds every commit
            pass


def _background_loop(ref: "weakref.ref[Persistence]", wake: threading.Event, interval: float) -> None:
    # Holds the Persistence only weakly between ticks, so an App that is dropped without close()
    # can still be collected (its thread then ends at the next tick).
    while True:
        wake.wait(interval)
        wake.clear()
        persistence = ref()
        if persistence is None or persistence._closed:
            return
        try:
            persistence._background_tick()
            persistence.background_error = None
        except BaseException as exc:  # noqa: BLE001 - sql() and close() retry; the user is told once
            if repr(persistence.background_error) != repr(exc):
                where = persistence.path or "the in-memory app's SQL mirror"
                log.warning("convex_lab: writing %s in the background failed (%s: %s); commits are safe, "
                            "and app.sql() and close() will try again", where, type(exc).__name__, exc)
            persistence.background_error = exc
        del persistence


def _decode_all(bodies: list[str]) -> list[dict]:
    # Millions of new dicts would trigger repeated full GC passes (measured ~2x slower): pause it.
    was_enabled = gc.isenabled()
    try:
        gc.disable()
        return [loads_export(body) for body in bodies]
    finally:
        if was_enabled:
            gc.enable()


def _string_array(items: list[str]) -> pa.Array:
    """An Arrow string array built from one joined buffer and offsets: several times faster than
    `pa.array(list_of_str)` for a million values when the text is ASCII (ids, most bodies)."""
    import numpy as np

    joined = "".join(items)
    if not joined.isascii():
        return pa.array(items, pa.string())
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, items), dtype=np.int64, count=len(items)), out=offsets[1:])
    data = joined.encode("ascii")
    array = pa.LargeStringArray.from_buffers(len(items), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))
    return array.cast(pa.string())


def _reraise(exc: BaseException) -> NoReturn:
    """Raise `exc` again, or the KeyboardInterrupt it stands for when DuckDB turned one into it."""
    if _is_duckdb_interrupt(exc):
        raise KeyboardInterrupt from None
    raise exc


def _is_duckdb_interrupt(exc: BaseException) -> bool:
    # DuckDB turns a Ctrl-C during a statement into RuntimeError("Query interrupted"), or, while it
    # reads an Arrow table, into an error whose text names the KeyboardInterrupt, and drops the
    # KeyboardInterrupt itself: give the user back the one they asked for.
    if isinstance(exc, duckdb.InterruptException):
        return True
    if type(exc) is RuntimeError and str(exc) == "Query interrupted":
        return True
    return isinstance(exc, duckdb.Error) and "KeyboardInterrupt" in str(exc)


def _rollback(con: Any) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass  # the failed statement or commit already ended the transaction


class _Batch:
    """A group of commits as DuckDB will take them: the log rows of their one-by-one writes (also
    kept for materialisation) and each bulk batch column-wise (in `_arrow_rows`' order), bodies
    encoded once. Built before any lock is taken, so this (the costly part of a write) stays
    interruptible. Both the file's commits and the in-memory mirror's feed are written from it."""

    __slots__ = ("rows", "bulk", "count", "first_ts", "last_ts", "has_extras", "single_statement",
                 "materialised")

    def __init__(self, commits: list[Any]) -> None:
        rows: list[_Row] = []
        bulk: list[tuple] = []
        has_extras = False
        for commit in commits:
            ts = commit.ts
            if commit.new_tables or commit.schema is not None or commit.records:
                has_extras = True
            for write in commit.changes:
                new = write.new
                if new is None:
                    rows.append((ts, write.table.number, write.id, None, None, True))
                else:
                    rows.append((ts, write.table.number, write.id, new["_creationTime"], dumps_export(new),
                                 write.old is not None))
            for table, docs in commit.bulk:
                if docs:
                    bulk.append((ts, table.number, _string_array([doc["_id"] for doc in docs]),
                                 [doc["_creationTime"] for doc in docs],
                                 _string_array([dumps_export(doc) for doc in docs])))
        self.rows = rows
        self.bulk = bulk
        self.count = len(rows) + sum(len(b[3]) for b in bulk)
        self.first_ts = commits[0].ts if commits else 0
        self.last_ts = commits[-1].ts if commits else 0
        self.has_extras = has_extras
        self.single_statement = not has_extras and not bulk and 0 < len(rows) <= VALUES_MAX_ROWS
        self.materialised = False  # set once `_convex.documents` holds it too

    @property
    def params(self) -> list[Any]:
        return [x for row in self.rows for x in (row[0], row[1], row[2], row[4])]

    def insert_sql(self) -> str:
        return _insert_log_sql(len(self.rows))

    def log_table(self) -> pa.Table:
        parts = [_arrow_rows(_LOG_SCHEMA, *_columns(self.rows))] if self.rows else []
        parts += [_arrow_rows(_LOG_SCHEMA, *chunk) for chunk in self.bulk]
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


def _columns(rows: list[_Row]) -> list[tuple]:
    """`rows` column-wise, in `_arrow_rows`' order: ts, table numbers, ids, creation times, bodies."""
    return list(zip(*rows))[:5]


def _arrow_rows(schema: pa.Schema, ts: Any, numbers: Any, ids: Any, times: Any, bodies: Any) -> pa.Table:
    """Rows for `_convex.log` (`_LOG_SCHEMA`) or `_convex.documents` (`_DOC_SCHEMA`) as one Arrow
    table: the one place both are built, for single writes (`_columns` of their rows) and for
    bulk batches alike. Each column is an Arrow array, a sequence, or one value for every row;
    `schema` takes the ones its table has (the log keeps no creation time, documents no ts)."""
    given = {"ts": ts, "table_number": numbers, "id": ids, "creation_time": times, "body": bodies}
    arrays = []
    for column in schema:
        values = given[column.name]
        if not isinstance(values, pa.Array):
            if not isinstance(values, (list, tuple)):
                values = [values] * len(ids)
            values = pa.array(values, column.type)
        arrays.append(values)
    return pa.Table.from_arrays(arrays, schema=schema)


# ---------------------------------------------------------------------------------------------
# SQL text


def check_select(query: str) -> None:
    """Raise ValueError unless `query` is exactly one SELECT statement (DuckDB's own parser)."""
    if not isinstance(query, str):
        raise TypeError(f"sql() takes the query as a str, got {type(query).__name__}.")
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise ValueError(f"The SQL could not be parsed: {exc}") from None
    if not statements:
        raise ValueError("sql() got no statement; pass one SELECT statement.")
    if len(statements) > 1:
        raise ValueError(
            f"sql() runs one statement, got {len(statements)}. Send each SELECT separately."
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise ValueError(
            f"sql() only runs SELECT statements (also WITH … SELECT), got {kind.name}. The tables are "
            "views of the Convex documents: change data with mutations or app.import_rows."
        )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pointer(field_name: str, *rest: str) -> str:
    # A JSON pointer (RFC 6901): works for any field name, unlike `$.name` paths.
    parts = (field_name,) + rest
    return _string("".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts))


def column_sql(field_name: str, sql_type: str | None) -> str:
    """The view expression of one top-level field read from the export-JSON `body`."""
    path = _pointer(field_name)
    if sql_type is None:
        return f"json_extract(body, {path})"
    if sql_type == "VARCHAR":
        return f"json_extract_string(body, {path})"
    if sql_type in ("BIGINT", "BOOLEAN"):
        return f"TRY_CAST(json_extract_string(body, {path}) AS {sql_type})"
    if sql_type == "BLOB":
        return f"from_base64(json_extract_string(body, {_pointer(field_name, '$bytes')}))"
    if sql_type == "DOUBLE":
        # Finite floats are JSON numbers; NaN and ±inf are {"$float": base64 of the LE bits}.
        special = f"json_extract_string(body, {_pointer(field_name, '$float')})"
        return (
            f"COALESCE(TRY_CAST(json_extract_string(body, {path}) AS DOUBLE), "
            f"CASE WHEN {special} IS NULL THEN NULL "
            f"WHEN {special} = '{_POS_INF_B64}' THEN 'inf'::DOUBLE "
            f"WHEN {special} = '{_NEG_INF_B64}' THEN '-inf'::DOUBLE ELSE 'nan'::DOUBLE END)"
        )
    raise ValueError(f"Unknown SQL column type {sql_type!r} for field {field_name!r}.")


def view_sql(info: TableInfo) -> str:
    """`CREATE OR REPLACE VIEW main."<table>"` with `_id`, `_creationTime`, then one column per field."""
    columns = ['id AS "_id"', 'creation_time AS "_creationTime"']
    for name in info.fields:
        if name in ("_id", "_creationTime"):
            continue
        columns.append(f"{column_sql(name, info.column_types.get(name))} AS {_ident(name)}")
    return (
        f"CREATE OR REPLACE VIEW main.{_ident(info.name)} AS SELECT {', '.join(columns)} "
        f"FROM {SCHEMA}.documents WHERE table_number = {int(info.number)}"
    )
