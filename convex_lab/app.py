"""`App`: one Convex deployment in the process — engine, persistence, functions, data in and out.

The App is the object users hold (documented in docs/reference/app.md). It owns a `Database`
(engine/database.py), its `Persistence` (DuckDB: durable file or in-memory SQL mirror), and a
`Runtime` (registered functions). It holds little logic of its own: each method delegates to the
module that owns the concept.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import threading
import weakref
from typing import Any, Callable

from .engine.database import Database
from .engine.persistence import ADMIN_KEY_KEY, DEV_AUTH_KEY_KEY, Persistence
from .errors import AppClosedError
from .interrupts import DEFERRED
from .runtime.clock import ManualClock, SystemClock
from .runtime.auth import Authenticator, TokenError, acting_as, python_caller_identity
from .runtime.env import EnvironmentVariables
from .runtime.execution import Runtime
from .runtime.http import HttpRouter
from .runtime.registry import FunctionHandle, _in_coroutine
from .runtime.logs import ExecutionLog
from .runtime.modules import read_directory
from .runtime.reactivity import Reactor, Subscription
from .runtime.storage import AppStorage, StorageService
from .runtime.scheduler import Scheduler
from .runtime.cron_runner import Crons
from .runtime.system_functions import register_system_functions
from .server import Server
from .server.wire import HttpError
from . import data_io
from .schema import SchemaDefinition


class App:
    """A Convex backend living in this process: tables, functions, live queries and SQL.

    `App()` keeps everything in memory; `App("lab.duckdb")` keeps it in a DuckDB file, where
    every acknowledged commit is durable and reopening the file restores tables, schema and
    documents (functions are code: define them again). Opening a file that another App of this
    process has open takes it over (re-running the cell that opens it does this): the older App
    is closed. An App is a context manager: `with App("lab.duckdb") as app:` closes it at the end.

    Args:
        path: The database file, or `None` for an in-memory App.
        limits: `"on"` (or `True`, the default) enforces Convex's per-transaction limits (documents
            and bytes read and written, index ranges read); `"off"` (or `False`) lifts them.
        clock: The clock scheduled functions and crons follow: the wall clock by default, or a
            `ManualClock` that only moves when told (tests, examples; see the guide's Scheduling
            page).

    Raises:
        ValueError: `limits` is not `"on"`, `"off"`, `True` or `False`.
        DatabaseFileError: The file is held by another process, or is not a convex_lab database.

    Attributes:
        path (str | None): The database file, or `None` for an in-memory App.
        http (HttpRouter): The App's HTTP actions: `app.http.route(path=..., method=...,
            handler=...)`, served at `<url>/http/<path>` by `serve`.
        storage (AppStorage): File storage: `app.storage.store(bytes_or_path, content_type=None)`
            returns a storage id; `get`, `get_url`, `get_metadata`, `delete`,
            `generate_upload_url`, `list`, `max_file_size` (see the guide's File storage page).
        env (EnvironmentVariables): The environment variables functions read with `ctx.env`:
            `app.env.set(name, value)`, `get(name, default=None)`, `list()`, `remove(name)`.
            Kept in the database (a file-backed App keeps them when reopened).
        clock (SystemClock | ManualClock): The clock scheduled functions and crons follow.
        crons (Crons): The App's crons: `app.crons.interval(name, fn, seconds=30)`, `daily`,
            `cron(name, "0 16 1 * *", fn)`, ..., `list()`, `pause()`, `resume()`, `remove(name)`.
        auth (Authenticator): Auth: `app.auth.dev_token(subject, ...)` signs a token the App's
            server accepts; `app.auth.dev_issuer` is its issuer (see the guide's Auth page).

    Examples:
        >>> app = App()                      # in memory; App("lab.duckdb") is durable
        >>> @app.mutation
        ... def add(ctx, body):
        ...     return ctx.db.insert("notes", {"body": body})
        >>> note_id = add(body="hi")
    """

    def __init__(self, path: str | os.PathLike | None = None, *, limits: str | bool = "on",
                 clock: SystemClock | ManualClock | None = None) -> None:
        if limits not in ("on", "off", True, False):
            raise ValueError(f'limits must be "on" or "off", got {limits!r}.')
        self.path = os.fspath(path) if path is not None else None
        self._closed = False
        self._admin_key: str | None = None
        self._admin_key_lock = threading.Lock()  # one key, even when first asked from two threads
        self._server: Server | None = None
        self._serve_lock = threading.RLock()  # one server, even when two threads ask for `url` at once
        app_ref = weakref.ref(self)  # the router must not keep the App alive
        self.http = HttpRouter(url_source=lambda: app_ref().url)
        self._loaded_routes: dict[Any, list] = {}  # functions directory -> the routes its http.py installed
        # Opening a file another App of this process has open takes it over: that App is closed
        # (its live views say so), and every commit it acknowledged is in the file already.
        self._persistence = Persistence(self.path)
        persistence = self._persistence  # (not self: the key's callbacks keep no App alive)
        self.auth = Authenticator(
            load_key=(lambda: persistence.get_meta(DEV_AUTH_KEY_KEY)) if self.path else None,
            save_key=(lambda pem: persistence.save_meta(DEV_AUTH_KEY_KEY, pem)) if self.path else None,
        )
        try:
            self._db = Database(persistence=self._persistence if self.path else None,
                                limits=limits in ("on", True))
            with data_io.gc_paused():
                loaded = self._persistence.load() if self.path else None
                if loaded is not None:
                    self._db.restore(loaded)
            if not self.path:
                self._db.listeners.append(lambda commit: self._persistence.mirror([commit]))
            self._execution_log = ExecutionLog()
            self._loaded_functions: dict[Any, set[str]] = {}  # functions directory -> its paths
            self._runtime = Runtime(self._db, self._execution_log)
            register_system_functions(self._runtime)
            self._reactor = Reactor(self._db, self._runtime)
            # Files' bytes beside the database file (a temporary folder in memory); `_storage` rows
            # in the database. Swept of what a crash left unreferenced.
            self._storage = StorageService(
                self._db, os.path.abspath(self.path) + ".storage" if self.path else None,
                secret=lambda: app_ref().admin_key, url=lambda: app_ref().url)
            self._runtime.storage = self._storage
            runtime = self._runtime
            self._storage.after_commit = lambda: runtime.after_mutation and runtime.after_mutation()
            self.storage = AppStorage(self._storage)
            self.env = EnvironmentVariables(
                self._db, after_change=lambda: runtime.after_mutation and runtime.after_mutation())
            self.clock = clock if clock is not None else SystemClock()
            self._scheduler = Scheduler(self._db, self._runtime, self.clock)
            self.crons = Crons(self._db, self._runtime, self.clock, self._scheduler)
            self._scheduler.start()
            self.crons.start()
        except BaseException:  # Ctrl-C or a damaged file: release the file again
            self._persistence.close()
            raise

        def taken_over() -> None:
            app = app_ref()
            if app is not None:
                app._close(
                    f'This App was closed: a newer App("{self.path}") opened the same file in this process '
                    "(re-running the cell that opens it does this). Use the new App, and re-run the cells "
                    "that define functions on it."
                )

        self._persistence.on_taken_over = taken_over

    def __repr__(self) -> str:
        where = self.path or "memory"
        return f"<convex_lab.App {where}: {len(self.tables())} tables, {len(self._runtime.user_paths())} functions>"

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the App: stop its threads and release the database file.

        Idempotent. Every commit the App acknowledged is already durable, so nothing is lost by
        closing; an in-memory App's data is gone. Live queries and live views are told the App
        is closed. Afterwards, using the App (calling its functions, `sql`, `subscribe`, ...)
        raises `AppClosedError`.
        """
        if self.path:
            reason = f'This App was closed (app.close()). Open the file again with App("{self.path}") to go on.'
        else:
            reason = "This App was closed (app.close()); its in-memory data is gone. Create a new App()."
        self._close(reason)

    def _close(self, reason: str) -> None:
        # The server goes first: no request may start on a closing database.
        self.stop_serving()
        # Not interruptible: a Ctrl-C waits until the file is released and the views are told.
        with DEFERRED:
            if self._closed:
                return
            self._scheduler.close()
            self.crons.close()
            self._db.close(reason)
            self._reactor.close(AppClosedError(reason))
            with self._db.lock:
                self._persistence.close()
                self._storage.close()  # an in-memory App's files go with it
            self._closed = True

    # -- serving ----------------------------------------------------------------------------
    def serve(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve this App's HTTP API, the one Convex's clients speak; returns its URL.

        The server runs on its own thread, so it answers while a cell is busy. It offers
        Convex's function endpoints (`POST /api/query`, `/api/mutation`, `/api/action`,
        `/api/run/<module>/<function>`, ...), so `ConvexHttpClient` (npm or PyPI) and plain HTTP
        requests can call public functions; internal functions need the admin key
        (`Authorization: Convex <app.admin_key>`). Calling `serve` again while serving returns
        the same URL, unless another address is asked for (then the server moves there).
        See the guide's Server page.

        Args:
            port: The TCP port; 0 (the default) picks a free one.
            host: The interface to listen on. The default, `127.0.0.1`, accepts connections
                from this machine only; `0.0.0.0` would accept them from the network.

        Returns:
            The server's URL, such as `http://127.0.0.1:8123` (no trailing slash).

        Raises:
            OSError: The port is taken.
            AppClosedError: The App is closed.

        Examples:
            >>> url = app.serve()
            >>> url.startswith("http://127.0.0.1:")
            True
            >>> app.stop_serving()
        """
        self._db.check_open()
        self.admin_key  # read (or made) here, so the server's loop never waits on the file for it
        with self._serve_lock:
            server = self._server
            if server is not None and server.url is not None:
                if host == server.host and port in (0, server.port):
                    return server.url
                self.stop_serving()
            server = Server(self)
            url = server.start(host, port)
            self._server = server
            return url

    @property
    def url(self) -> str:
        """The server's URL; when the App is not serving, `serve()` starts it first (on
        `127.0.0.1` and a free port), so what needs a URL can just ask for it.

        Raises:
            AppClosedError: The App is closed.

        Examples:
            >>> url = app.url                  # starts the server
            >>> url.startswith("http://127.0.0.1:") and app.url == url == app.serve()
            True
            >>> app.stop_serving()
        """
        with self._serve_lock:
            server = self._server
            if server is not None and server.url is not None:
                return server.url
            return self.serve()

    def stop_serving(self) -> None:
        """Stop the server that `serve` started (idempotent); `serve` can start it again.

        Open connections are closed; requests whose function is running finish it (a mutation
        commits or not as it would have), but their answers are not sent.
        """
        with self._serve_lock:
            server, self._server = self._server, None
            if server is not None:
                server.stop()

    @property
    def admin_key(self) -> str:
        """The admin key: `Authorization: Convex <admin_key>` makes an HTTP request the admin's.

        The admin may call internal functions. A file-backed App keeps its key in the database
        file, so it stays the same when the file is opened again; an in-memory App gets a new
        random key. Keep it secret, as a password.
        """
        key = self._admin_key
        if key is None:
            with self._admin_key_lock:
                key = self._admin_key
                if key is None:
                    self._db.check_open()
                    if self.path:
                        key = self._persistence.get_meta(ADMIN_KEY_KEY)
                        if key is None:
                            key = _new_admin_key()
                            self._persistence.save_meta(ADMIN_KEY_KEY, key)
                    else:
                        key = _new_admin_key()
                    self._admin_key = key
        return key

    def _is_admin_key(self, key: str) -> bool:
        return hmac.compare_digest(key.encode("utf-8", "surrogatepass"), self.admin_key.encode("utf-8"))

    def _identity_for_token(self, token: str) -> dict:
        """The identity of a bearer token (a JWT) from an HTTP or WebSocket client, verified by
        the dev provider or a provider of `set_auth_config`.

        Raises `HttpError` (401, Convex's code and a message saying why) for a token refused.
        May fetch a provider's keys (cached): the server calls it off its event loop.
        """
        if self.path:
            self._db.check_open()
        try:
            return self.auth.identity_for_token(token)
        except TokenError as refused:
            raise HttpError(401, refused.code, refused.message) from None

    # -- auth -------------------------------------------------------------------------------
    def set_auth_config(self, config: dict) -> None:
        """Trust the auth providers of `config`, which has the shape of Convex's `auth.config.ts`.

        Clients then send these providers' JWTs (`Authorization: Bearer <token>`, or the
        clients' `setAuth`/`set_auth`), and functions see the identity. The dev provider
        (`app.auth.dev_token`) is always trusted besides them. Replaces the previous config.

        Args:
            config: `{"providers": [...]}`, each provider one of
                `{"domain": "https://issuer.example.com", "applicationID": "my-app"}` (OIDC: keys
                found through `<domain>/.well-known/openid-configuration`) or
                `{"type": "customJwt", "issuer": ..., "jwks": <URL or data: URI>, "algorithm":
                "RS256" | "ES256", "applicationID": ...}` (`applicationID` optional).

        Raises:
            ValueError: The config is malformed (the message names the bad field, as
                `providers[0].applicationID`), or an inline JWKS cannot be read.

        Examples:
            >>> app.set_auth_config({"providers": [
            ...     {"domain": "https://accounts.example.com", "applicationID": "my-app"}]})
            >>> app.auth.providers
            ['convex_lab dev provider https://dev.convex-lab.invalid', 'OIDC provider https://accounts.example.com']
        """
        self.auth.configure(config)

    def as_user(self, subject: str, issuer: str | None = None, **claims: Any) -> contextlib.AbstractContextManager[dict]:
        """A `with` block whose calls run as a signed-in user.

        Inside it, functions called from Python (`app.run`, `run_query`, `run_mutation`,
        `run_action`, function handles) and subscriptions created in it (`app.subscribe`,
        `app.live`, `%%live`) see this identity in `ctx.auth.get_user_identity()`, exactly
        as a client sending `app.auth.dev_token(subject, **claims)` would; a subscription's
        re-runs keep it after the block. Other threads are not affected.

        Args:
            subject: The user's id (the identity's `subject`).
            issuer: The issuer; by default the dev provider's (`app.auth.dev_issuer`).
            **claims: More claims, named as for `app.auth.dev_token` (`name`, `email`,
                `given_name` or `givenName`, ...).

        Returns:
            A context manager; `with app.as_user(...) as identity:` binds the identity.

        Examples:
            >>> @app.query
            ... def whoami(ctx):
            ...     identity = ctx.auth.get_user_identity()
            ...     return identity and identity["name"]
            >>> with app.as_user("user_1", name="Ada"):
            ...     whoami()
            'Ada'
            >>> print(whoami())
            None
        """
        return acting_as(self._runtime, self.auth.identity_of(subject, issuer, **claims))

    def _caller_identity(self) -> dict | None:
        """The identity of a call made from Python now (that of the `as_user` block it is in)."""
        return python_caller_identity(self._runtime)

    # -- schema -----------------------------------------------------------------------------
    def set_schema(self, schema: Any) -> None:
        """Install a schema made with `define_schema` (see the guide's Schemas page).

        The change is one commit: existing documents are checked against the new schema, tables
        it names are created, and indexes are built or dropped. Installing a schema equal to the
        current one costs nothing. `None` removes the schema (documents are no longer checked and
        the schema's indexes are dropped).

        Args:
            schema: A `SchemaDefinition` from `define_schema(...)`, or `None`.

        Raises:
            SchemaValidationError: A stored document does not match the new schema; the message
                names the table, the document id and the path of the mismatch. Nothing changes.
            InterruptedAfterCommit: Ctrl-C arrived after the change had committed.
        """
        self._db.set_schema(schema)

    @property
    def schema(self) -> Any:
        """The installed `SchemaDefinition`, or `None` when no schema is set."""
        return self._db.schema

    # -- functions --------------------------------------------------------------------------
    def _decorator(self, kind: str, internal: bool, fn: Callable | None, args: Any, returns: Any, name: str | None):
        def register(handler: Callable) -> FunctionHandle:
            return self._runtime.register(kind, internal, handler, args=args, returns=returns, name=name)

        if fn is not None:
            return register(fn)
        return register

    def query(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        """Register a query: a read-only function of the database, which live queries can follow.

        Use it bare (`@app.query`) or with options (`@app.query(args={...}, returns=..., name=...)`).
        The handler is a plain `def handler(ctx, **args)`; `ctx` is a `QueryCtx`. Its path is
        `"notebook:<function name>"` unless `name` says otherwise; registering the same path
        again replaces the function (and re-runs its live queries).

        Args:
            fn: The handler, when used as a bare decorator.
            args: The arguments' validators: a dict of validators (`{"room": v.string()}`) or a
                `v.object(...)`, checked on every call. They also decide the int rule: a Python
                int passed for a `v.int64()` argument becomes an `Int64`, elsewhere a float.
                `None` accepts any Convex values (ints become floats).
            returns: A validator the return value must match, or `None`.
            name: The function's name (`"list"`) or full path (`"messages:list"`).

        Returns:
            FunctionHandle: The handle (or, with options, a decorator that returns one).

        Raises:
            TypeError: The handler is not callable, or is an `async def`.
            InvalidFunctionPath: `name` is not a valid function name or path.

        Examples:
            >>> @app.query(args={"room": v.string()})
            ... def by_room(ctx, room):
            ...     return ctx.db.query("messages").filter(lambda q: q.eq(q.field("room"), room)).collect()
            >>> by_room(room="a")
            []
        """
        return self._decorator("query", False, fn, args, returns, name)

    def mutation(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        """Register a mutation: a function that reads and writes the database in one transaction.

        Mutations run one at a time and are all or nothing: if the handler raises, none of its
        writes are applied. The handler is a plain `def handler(ctx, **args)`; `ctx` is a
        `MutationCtx`. Options as in `query`.

        Args:
            fn: The handler, when used as a bare decorator.
            args: The arguments' validators (a dict of validators or a `v.object(...)`), or `None`.
            returns: A validator the return value must match, or `None`.
            name: The function's name or full path.

        Returns:
            FunctionHandle: The handle (or, with options, a decorator that returns one).

        Raises:
            TypeError: The handler is not callable, or is an `async def`.
            InvalidFunctionPath: `name` is not a valid function name or path.
        """
        return self._decorator("mutation", False, fn, args, returns, name)

    def action(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        """Register an action: a function that may do anything (call APIs, sleep), not a transaction.

        The handler may be `def` or `async def`; `ctx` is an `ActionCtx`, which has no `db`: an
        action reads and writes through `ctx.run_query` and `ctx.run_mutation`. Options as in
        `query`.

        Args:
            fn: The handler, when used as a bare decorator.
            args: The arguments' validators (a dict of validators or a `v.object(...)`), or `None`.
            returns: A validator the return value must match, or `None`.
            name: The function's name or full path.

        Returns:
            FunctionHandle: The handle (or, with options, a decorator that returns one).

        Raises:
            TypeError: The handler is not callable.
            InvalidFunctionPath: `name` is not a valid function name or path.
        """
        return self._decorator("action", False, fn, args, returns, name)

    def internal_query(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        """Register an internal query (as `query`): meant to be called from other functions.

        In convex_lab every caller is trusted, so internal functions can be called like public
        ones (from the notebook, `app.run`, `ctx.run_*`); the flag is kept for parity with Convex.
        """
        return self._decorator("query", True, fn, args, returns, name)

    def internal_mutation(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        """Register an internal mutation (as `mutation`; see `internal_query`)."""
        return self._decorator("mutation", True, fn, args, returns, name)

    def internal_action(self, fn: Callable | None = None, *, args: Any = None, returns: Any = None, name: str | None = None):
        """Register an internal action (as `action`; see `internal_query`)."""
        return self._decorator("action", True, fn, args, returns, name)

    def run(self, fn: Any, args: dict | None = None) -> Any:
        """Run a function as a client call, by handle or by path.

        From synchronous code it blocks and returns the result; from a coroutine (an `async def`,
        or a notebook cell that uses top-level `await`) it returns an awaitable instead.

        Args:
            fn: A `FunctionHandle`, or a path such as `"notebook:send"` (also written
                `"notebook.js:send"`). A bare name `"send"` means `"send:default"` as in Convex,
                or else the one function named `send` in any module.
            args: The arguments, as a dict (default: none).

        Returns:
            The function's return value (or an awaitable of it, from a coroutine).

        Raises:
            FunctionNotFound: No function is registered at that path.
            InvalidFunctionPath: The path is malformed.
            ArgumentValidationError: `args` do not match the function's `args` validators.
            ReturnsValidationError: The result does not match its `returns` validator.
            InterruptedAfterCommit: Ctrl-C arrived after a mutation had committed.

        Any exception the function raises (a `ConvexError`, ...) propagates to the caller.
        """
        path = fn.path if isinstance(fn, FunctionHandle) else fn
        handle = self._runtime.handles[self._runtime.resolve(path).path]
        if _in_coroutine():
            return handle.call_async(args or {})
        return handle.call(args or {})

    def run_query(self, fn: Any, args: dict | None = None) -> Any:
        """Run a query (by handle or path) and return its result; always blocks.

        Raises:
            WrongFunctionKind: `fn` is not a query.
            FunctionNotFound: No function is registered at that path.
        """
        return self._runtime.call(self._runtime.resolve(fn, "query").path, args or {},
                                  identity=self._caller_identity())

    def run_mutation(self, fn: Any, args: dict | None = None) -> Any:
        """Run a mutation (by handle or path) and return its result; always blocks.

        Raises:
            WrongFunctionKind: `fn` is not a mutation.
            FunctionNotFound: No function is registered at that path.
        """
        return self._runtime.call(self._runtime.resolve(fn, "mutation").path, args or {},
                                  identity=self._caller_identity())

    def run_action(self, fn: Any, args: dict | None = None) -> Any:
        """Run an action (by handle or path) and return its result; always blocks, even for
        an `async def` action (from a coroutine, use `await app.run(...)` instead).

        Raises:
            WrongFunctionKind: `fn` is not an action.
            FunctionNotFound: No function is registered at that path.
        """
        return self._runtime.call(self._runtime.resolve(fn, "action").path, args or {},
                                  identity=self._caller_identity())

    def load_functions(self, directory: str | os.PathLike) -> list[str]:
        """Load a functions directory: every `.py` module in it (and its subfolders), with the
        functions it declares with `@query`, `@mutation`, ... (imported from `convex_lab`), and
        its `schema.py`.

        A function's path is its module's path and the name it is bound to: `messages.py`'s
        `send` is `messages:send`, `admin/users.py`'s `list` is `admin/users:list`. Modules can
        import each other relatively (`from .messages import send`). Files and folders whose
        names start with `_` or `.` are skipped. `schema.py`'s `schema` (a `define_schema(...)`)
        is installed as `set_schema` does, and the routes of `http.py`'s `http` (an
        `http_router()`) are added to `app.http`, replacing a route of the same path (or prefix)
        and method defined before. `crons.py`'s `crons` (a `cron_jobs()`) defines crons as
        `app.crons` does.

        Loading the same directory again (after editing it) re-imports every module: changed
        functions replace the old ones and their live queries re-run, functions no longer
        declared are removed, the directory's routes are replaced by those `http.py` defines now
        (routes defined on `app.http` directly stay, unless `http.py` defines the same path and
        method), the crons it defined are replaced by those `crons.py` defines now (one defined
        with the same spec keeps its state), and the data stays. All or nothing: if a module fails to
        import, `http.py` sets no router, `crons.py` names a function that the load would not leave
        registered (or a query), or the schema does not fit the data, nothing changes: functions,
        routes, schema and crons stay as they were.

        Args:
            directory: The functions directory.

        Returns:
            The paths of the functions it declares, sorted.

        Raises:
            FileNotFoundError: `directory` is not a directory.
            SchemaValidationError: Stored documents do not match `schema.py`'s schema.
            TypeError: `schema.py`'s `schema` is not a `define_schema(...)`, `http.py`'s
                `http` is not an `http_router()`, or `crons.py`'s `crons` is not a `cron_jobs()`.
            InvalidScheduledFunction: A cron of `crons.py` names a function that does not exist
                (among the directory's and the other registered functions) or is a query; the
                message names `crons.py` and the cron.
            Exception: Whatever a module raised while importing (its note names the file).
        """
        loaded = read_directory(directory)
        if loaded.has_schema:
            if loaded.schema is not None and not isinstance(loaded.schema, SchemaDefinition):
                raise TypeError(f"schema.py's `schema` must be a define_schema(...), got {type(loaded.schema).__name__}.")
        removed = self._loaded_functions.get(loaded.directory, set()) - set(loaded.functions)
        # crons.py is checked against the functions as they will be before anything changes.
        crons = self.crons.check_directory_crons(loaded.directory, loaded.crons, loaded.functions, removed)
        if loaded.has_schema:
            self.set_schema(loaded.schema)
        for path, spec in loaded.functions.items():
            module, _, name = path.partition(":")
            self._runtime.register(spec.kind, spec.internal, spec.handler, args=spec.args,
                                   returns=spec.returns, name=name, module=module)
            spec.path = path
        for path in removed:
            self._runtime.unregister(path)
        self._loaded_functions[loaded.directory] = set(loaded.functions)
        routes = loaded.http.routes if loaded.http is not None else []
        self.http._replace(self._loaded_routes.get(loaded.directory, []), routes)
        self._loaded_routes[loaded.directory] = routes
        self.crons.load_directory_crons(loaded.directory, crons)
        return sorted(loaded.functions)

    @property
    def functions(self) -> dict[str, FunctionHandle]:
        """The registered functions: a new dict of path -> `FunctionHandle`."""
        handles = self._runtime.handles
        return {path: handles[path] for path in self._runtime.user_paths()}

    def function(self, fn: Any, kind: str | None = None) -> FunctionHandle:
        """The registered function that `fn` names, found as `app.run` finds it.

        Args:
            fn: A `FunctionHandle`, a path (`"notebook:send"`, `"notebook.js:send"`) or a bare
                function name (`"send"`).
            kind: `"query"`, `"mutation"` or `"action"` to also check its kind, or `None`.

        Raises:
            FunctionNotFound: No function is registered at that path (the message suggests
                close names).
            WrongFunctionKind: It is not of `kind`.

        Examples:
            >>> @app.query
            ... def hello(ctx):
            ...     return "hi"
            >>> app.function("hello").path
            'notebook:hello'
        """
        return self._runtime.handles[self._runtime.resolve(fn, kind).path]

    def logs(self):
        """The recent executions (the last 10,000) as a pandas DataFrame, oldest first.

        Columns: `id`, `timestamp` (UTC), `path`, `kind` (query, mutation, action, and
        http_action for an HTTP action, whose path is its method and route: `GET /hello`),
        `caller` (`notebook`, `action`, `subscription`, `http` and `websocket` for clients of
        `serve`'s server; more kinds may come), `duration_ms`, `status` (`success` or `failure`), `error` (`"TypeName:
        message"` or None) and `lines` (what the function printed or logged). Functions run
        through `ctx.run_query`/`ctx.run_mutation` are part of their caller's execution.
        """
        return self._execution_log.dataframe()

    def on_log(self, callback: Callable[[dict], None]) -> Callable[[], None]:
        """Call `callback(entry)` for every execution logged from now on.

        `entry` is a dict with the columns of `logs()` (its `timestamp` in milliseconds since the
        epoch). The callback runs on the thread that ran the function, just after it finished:
        keep it short (hand the entry to a queue or a widget's `call_soon`). An exception in it
        is logged and does not affect the function.

        Returns:
            A function that stops the callbacks.

        Examples:
            >>> seen = []
            >>> stop = app.on_log(lambda entry: seen.append((entry["path"], entry["status"])))
            >>> @app.query
            ... def ping(ctx):
            ...     return "pong"
            >>> _ = ping()
            >>> stop()
            >>> _ = ping()
            >>> seen
            [('notebook:ping', 'success')]
        """
        return self._execution_log.add_listener(callback)

    # -- reactivity -------------------------------------------------------------------------
    def subscribe(self, fn: Any, args: dict | None = None, callback: Callable[[Any], None] | None = None,
                  on_error: Callable[[BaseException], None] | None = None, *, notifier_only: bool = False,
                  copy: bool = True) -> Subscription:
        """Follow a query: call `callback(result)` now, and again whenever a commit changes it.

        The query runs once now (the first callback happens before `subscribe` returns). After
        each commit that writes into what the query read (its read set), the query re-runs, and
        the callback is called only if the result differs by Convex equality. Subscribers of the
        same query and arguments share its runs. Callbacks run one at a time, in commit order,
        usually on convex_lab's notifier thread; a mutation called from Python returns only
        after the callbacks its commit triggered have run. Each callback gets its own copy of
        the result. An exception in a callback is logged and does not stop later deliveries.
        Made inside a `with app.as_user(...)` block, the query runs (and re-runs) as that user.

        Args:
            fn: A query's `FunctionHandle` or path.
            args: The query's arguments, as a dict (default: none).
            callback: Called with each new result.
            on_error: Called with the exception when a run of the query raises (the next
                successful result goes to `callback` again). Without it, a failure is logged
                as a warning.
            notifier_only: Make every call on the notifier thread, the first one included
                (queued; `flush()` waits for it), also for commits made on the calling thread.
                For subscribers whose state is not thread-safe, such as widgets.
            copy: Give each call its own copy of the result (the default). `False` hands the
                shared result to a subscriber that only reads it, saving the copy.

        Returns:
            The `Subscription` (`.result`, `.read_set`, `.reruns`, `.unsubscribe()`, ...).

        Raises:
            TypeError: `callback` is missing.
            WrongFunctionKind: `fn` is not a query.
            FunctionNotFound: No function is registered at that path.
            AppClosedError: The App is closed.

        Examples:
            >>> sub = app.subscribe(by_room, {"room": "a"}, print)
            []
            >>> sub.unsubscribe()
        """
        if callback is None:
            raise TypeError("app.subscribe needs a callback: app.subscribe(fn, args, callback)")
        return self._reactor.subscribe(fn, args, callback, on_error, identity=self._caller_identity(),
                                       notifier_only=notifier_only, own_copy=copy)

    def tables(self, *, system: bool = False) -> dict[str, int]:
        """Every table and how many documents it holds, in the order the tables were created.

        Args:
            system: Also list the system tables that hold documents (`_storage`,
                `_scheduled_functions`, which functions read with `ctx.db.system`, and
                `_environment_variables`, which they read through `ctx.env` only).

        Examples:
            >>> lab = App()
            >>> _ = lab.import_rows("notes", [{"body": "hi"}, {"body": "there"}])
            >>> lab.tables()
            {'notes': 2}
        """
        return {name: len(table.docs) for name, table in list(self._db.store.tables.items())
                if system or not name.startswith("_")}

    def live(self, fn: Any, **args: Any):
        """A live widget showing query `fn`'s result, re-rendered whenever it changes.

        Lists of documents (and single documents, and pages of `.paginate`) show as a table,
        other values as text, errors in red; the header shows the run count, the time of the
        last run, the read set and what caused the last re-run. `%%live` cells use the same
        widget.

        Args:
            fn: A query's `FunctionHandle` or path.
            **args: The query's arguments.

        Returns:
            LiveView: The widget; `view.subscription` is its `Subscription`.
        """
        from .notebook import live_view

        return live_view(self, fn, args)

    def flush(self) -> None:
        """Block until every commit so far has been delivered to subscriptions.

        Useful after writes made from another thread, or from an action, before looking at what
        subscribers received. (A mutation called from Python already waits for its own
        deliveries.)
        """
        self._reactor.flush()

    # -- data out and in --------------------------------------------------------------------
    def sql(self, query: str):
        """Run one read-only SQL `SELECT` (DuckDB's dialect) over the tables; returns a DataFrame.

        Each table is a view with `_id`, `_creationTime` and one column per top-level field.
        A field the schema declares with one scalar type (`v.string()`, `v.float64()`,
        `v.int64()`, `v.boolean()`, `v.bytes()`, `v.id(...)`, optional or not) is a typed column;
        other fields are JSON. Every acknowledged commit is visible.

        Args:
            query: One `SELECT` statement (also `WITH ... SELECT`, `DESCRIBE`, `SUMMARIZE`).

        Returns:
            pandas.DataFrame: The result, one row per result row.

        Raises:
            ValueError: The text is not exactly one `SELECT` statement, or does not parse.
            AppClosedError: The App is closed.

        Examples:
            >>> app.sql('select room, count(*) as n from messages group by room')  # doctest: +SKIP
        """
        self._db.check_open()
        return self._persistence.sql(query, data_io.table_infos(self._db))

    def table(self, name: str) -> TableView:
        """A `TableView` of table `name`: `len(app.table("t"))`, `app.table("t").df()`."""
        return TableView(self, name)

    def import_rows(self, table: str, rows: Any, *, progress: bool | None = None) -> list[str]:
        """Insert many documents at once, from a pandas DataFrame or a list of dicts, in one commit.

        Each row becomes a document, converted and validated as `db.insert` would (the schema's
        validators decide the int rule), but written in bulk and exempt from the transaction
        limits. All or nothing: one invalid row and nothing is imported. In a DataFrame, each
        column becomes a field; missing values (`None`, `NaN` outside float columns, `pd.NA`,
        `NaT`) leave the field out of that document, while `NaN` in a float64 column stays `NaN`.
        Datetime, timedelta and period columns are refused (convert them first, e.g. to epoch
        milliseconds).

        Args:
            table: The table's name; it is created if needed.
            rows: A DataFrame, or a list of dicts (one per document).
            progress: Show a progress bar; by default shown from 50,000 rows on.

        Returns:
            The new documents' ids, in row order.

        Raises:
            SchemaValidationError: A row does not match the table's schema (the message names
                the row).
            InvalidArgument: A row or column is named `_id` or `_creationTime`, or the table
                name is not a valid identifier.
            TypeError: `rows` is not a DataFrame or a list of dicts, or a value is not a Convex
                value (the message names the row).
            ValueError: A value cannot be converted (an int beyond `2**53` without a `v.int64()`
                validator, ...), or a DataFrame has duplicate column names.
            InterruptedAfterCommit: Ctrl-C arrived after the import had committed; the ids are
                on its `.result`.
        """
        return data_io.import_rows(self._db, self._persistence, table, rows, progress=progress)


def _new_admin_key() -> str:
    return f"convex-lab|{secrets.token_hex(32)}"


class TableView:
    """A table's data as pandas, from `app.table(name)`.

    `len(view)` is the number of documents (0 for a table that does not exist yet). As a cell's
    value (or printed) it shows its document count and first 10 rows.

    Attributes:
        name (str): The table's name.
    """

    def __init__(self, app: App, name: str) -> None:
        self._app = app
        self.name = name

    def df(self):
        """All documents of the table as a pandas DataFrame, oldest first.

        Columns as in `App.sql`: `_id`, `_creationTime`, then one per top-level field (typed
        when the schema gives the field one scalar type, JSON otherwise).

        Raises:
            KeyError: The table does not exist.
            AppClosedError: The App is closed.
        """
        self._app._db.check_open()
        return self._app._persistence.table_df(data_io.table_info(self._app._db, self.name))

    def __len__(self) -> int:
        return self._app.tables().get(self.name, 0)

    # How a TableView shows itself (a notebook cell's value, `print`): its size and first rows.
    PREVIEW_ROWS = 10

    def _preview(self) -> tuple[str, Any]:
        count = self._app.tables().get(self.name)
        if count is None:
            return f"Table '{self.name}': does not exist yet (0 documents)", None
        header = f"Table '{self.name}': {count:,} document{'s' if count != 1 else ''}"
        if count > self.PREVIEW_ROWS:
            header += f" (the first {self.PREVIEW_ROWS}; .df() has them all)"
        frame = self._app.sql(f'select * from "{self.name}" order by _creationTime limit {self.PREVIEW_ROWS}')
        return header, frame

    def __repr__(self) -> str:
        header, frame = self._preview()
        return header if frame is None or frame.empty else f"{header}\n{frame.to_string()}"

    def _repr_html_(self) -> str:
        import html

        header, frame = self._preview()
        body = "" if frame is None or frame.empty else frame.to_html(index=False)
        return f"<div><p><b>{html.escape(header)}</b></p>{body}</div>"
