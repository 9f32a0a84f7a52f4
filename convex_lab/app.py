"""`App`: one Convex deployment in the process — engine, persistence, functions, data in and out.

The App is the user-facing object of API.md. It owns a `Database` (engine/database.py), its
`Persistence` (DuckDB: durable file or in-memory SQL mirror), and a `Runtime` (registered functions).
It holds little logic of its own: each method delegates to the module that owns the concept.
"""

from __future__ import annotations

import os
import weakref
from typing import Any, Callable

from .engine.database import Database
from .engine.persistence import Persistence
from .errors import AppClosedError
from .interrupts import DEFERRED
from .runtime.functions import FunctionHandle, Runtime, _in_coroutine
from .runtime.logs import ExecutionLog
from .runtime.reactivity import Reactor, Subscription
from . import data_io


class App:
    """A Convex backend living in this process.

    >>> app = App()                      # in memory; App("lab.duckdb") is durable
    >>> @app.mutation
    ... def add(ctx, body):
    ...     return ctx.db.insert("notes", {"body": body})
    >>> note_id = add(body="hi")

    `limits="off"` lifts Convex's transaction limits.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, limits: str | bool = "on") -> None:
        if limits not in ("on", "off", True, False):
            raise ValueError(f'limits must be "on" or "off", got {limits!r}.')
        self.path = os.fspath(path) if path is not None else None
        self._closed = False
        # Opening a file another App of this process has open takes it over: that App is closed
        # (its live views say so), and every commit it acknowledged is in the file already.
        self._persistence = Persistence(self.path)
        try:
            self._db = Database(persistence=self._persistence if self.path else None,
                                limits=limits in ("on", True))
            with data_io.gc_paused():
                loaded = self._persistence.load() if self.path else None
                if loaded is not None:
                    self._restore(loaded)
            if not self.path:
                self._db.listeners.append(lambda commit: self._persistence.mirror([commit]))
            self._execution_log = ExecutionLog()
            self._runtime = Runtime(self._db, self._execution_log)
            self._reactor = Reactor(self._db, self._runtime)
        except BaseException:  # Ctrl-C or a damaged file: release the file again
            self._persistence.close()
            raise
        app_ref = weakref.ref(self)

        def taken_over() -> None:
            app = app_ref()
            if app is not None:
                app._close(
                    f'This App was closed: a newer App("{self.path}") opened the same file in this process '
                    "(re-running the cell that opens it does this). Use the new App, and re-run the cells "
                    "that define functions on it."
                )

        self._persistence.on_taken_over = taken_over

    def _restore(self, loaded: Any) -> None:
        from .schema import SchemaDefinition
        db = self._db
        for name, number in sorted(loaded.tables.items(), key=lambda item: item[1]):
            db.known_numbers[name] = number
        if loaded.schema_json:
            db.schema = SchemaDefinition.from_json(loaded.schema_json)
        for name, number in loaded.tables.items():
            table = db.create_table(name, number)
            if db.schema is not None and name in db.schema.tables:
                table.define_indexes(dict(db.schema.tables[name].indexes))
            docs = loaded.documents.get(name, [])
            if docs:
                table.bulk_load(docs)  # sizes are computed lazily, on first read
        db.last_ts = loaded.last_ts
        db.last_creation_time = loaded.last_creation_time

    def __repr__(self) -> str:
        where = self.path or "memory"
        return f"<convex_lab.App {where}: {len(self._db.store.tables)} tables, {len(self._runtime.functions)} functions>"

    def __enter__(self) -> "App":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the app's threads and release the database file. Idempotent. Every commit it
        acknowledged is already durable; later use of the App raises `AppClosedError`."""
        if self.path:
            reason = f'This App was closed (app.close()). Open the file again with App("{self.path}") to go on.'
        else:
            reason = "This App was closed (app.close()); its in-memory data is gone. Create a new App()."
        self._close(reason)

    def _close(self, reason: str) -> None:
        # Not interruptible: a Ctrl-C waits until the file is released and the views are told.
        with DEFERRED:
            if self._closed:
                return
            self._db.close(reason)
            self._reactor.close(AppClosedError(reason))
            with self._db.lock:
                self._persistence.close()
            self._closed = True

    # -- schema -----------------------------------------------------------------------------
    def set_schema(self, schema: Any) -> None:
        """Install a schema (see API.md). Unchanged schemas cost nothing; a schema the existing
        data breaks is refused, naming the table, document and path; index changes happen in one
        commit."""
        self._db.set_schema(schema)

    @property
    def schema(self) -> Any:
        return self._db.schema

    # -- functions --------------------------------------------------------------------------
    def _decorator(self, kind: str, internal: bool, fn: Callable | None, args: Any, returns: Any, name: str | None):
        def register(handler: Callable) -> FunctionHandle:
            return self._runtime.register(kind, internal, handler, args=args, returns=returns, name=name)

        if fn is not None:
            return register(fn)
        return register

    def query(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        """Register a query: `@app.query` or `@app.query(args={...}, returns=..., name=...)`."""
        return self._decorator("query", False, fn, args, returns, name)

    def mutation(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        """Register a mutation (runs serially, all or nothing)."""
        return self._decorator("mutation", False, fn, args, returns, name)

    def action(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        """Register an action (`def` or `async def`; may do anything, not transactional)."""
        return self._decorator("action", False, fn, args, returns, name)

    def internal_query(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        return self._decorator("query", True, fn, args, returns, name)

    def internal_mutation(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        return self._decorator("mutation", True, fn, args, returns, name)

    def internal_action(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        return self._decorator("action", True, fn, args, returns, name)

    def run(self, fn: Any, args: dict | None = None) -> Any:
        """Run a function (a handle or a path such as "notebook:send") as a client call: blocks
        and returns the result from synchronous code, returns an awaitable from a coroutine."""
        path = fn.path if isinstance(fn, FunctionHandle) else fn
        handle = self._runtime.handles[self._runtime.resolve(path).path]
        if _in_coroutine():
            return handle.call_async(args or {})
        return handle.call(args or {})

    def run_query(self, fn: Any, args: dict | None = None) -> Any:
        return self._runtime.call(self._runtime.resolve(fn, "query").path, args or {})

    def run_mutation(self, fn: Any, args: dict | None = None) -> Any:
        return self._runtime.call(self._runtime.resolve(fn, "mutation").path, args or {})

    def run_action(self, fn: Any, args: dict | None = None) -> Any:
        return self._runtime.call(self._runtime.resolve(fn, "action").path, args or {})

    @property
    def functions(self) -> dict[str, FunctionHandle]:
        """Registered functions by path."""
        return dict(self._runtime.handles)

    def logs(self):
        """Every recent execution (bounded): a DataFrame with path, kind, caller, duration, status,
        error and log lines."""
        return self._execution_log.dataframe()

    # -- reactivity -------------------------------------------------------------------------
    def subscribe(self, fn: Any, args: dict | None = None, callback: Callable[[Any], None] | None = None,
                  on_error: Callable[[BaseException], None] | None = None) -> Subscription:
        """Call `callback(result)` now and again after every commit that changes the query's
        result (by Convex equality). Returns a `Subscription` (`.result`, `.unsubscribe()`)."""
        if callback is None:
            raise TypeError("app.subscribe needs a callback: app.subscribe(fn, args, callback)")
        return self._reactor.subscribe(fn, args, callback, on_error)

    def live(self, fn: Any, **args: Any):
        """A widget showing query `fn`'s result with `args`, re-rendered on every change."""
        from .notebook import live_view

        return live_view(self, fn, args)

    def flush(self) -> None:
        """Block until every commit so far has been delivered to subscriptions."""
        self._reactor.flush()

    # -- data out and in --------------------------------------------------------------------
    def sql(self, query: str):
        """Run one DuckDB SELECT over the live tables; returns a pandas DataFrame."""
        self._db.check_open()
        return self._persistence.sql(query, data_io.table_infos(self._db))

    def table(self, name: str) -> "TableView":
        return TableView(self, name)

    def import_rows(self, table: str, rows: Any, *, progress: bool | None = None) -> list[str]:
        """Bulk-insert a DataFrame or a list of dicts into `table`, validated, in one commit.
        Returns the new ids. See API.md for the DataFrame rules."""
        return data_io.import_rows(self._db, self._persistence, table, rows, progress=progress)


class TableView:
    """`app.table(name)`: the table's data as pandas."""

    def __init__(self, app: App, name: str) -> None:
        self._app = app
        self.name = name

    def df(self):
        self._app._db.check_open()
        return self._app._persistence.table_df(data_io.table_info(self._app._db, self.name))

    def __len__(self) -> int:
        table = self._app._db.store.tables.get(self.name)
        return len(table.docs) if table is not None else 0
