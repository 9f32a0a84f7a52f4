"""Registered functions: decorators, paths, argument/return validation, ctx objects, execution.

`Runtime` runs a function as a client call (its own transaction), or nested through
`ctx.run_query/run_mutation/run_action` (same transaction for queries and mutations; a nested
mutation is a sub-transaction rolled back if it raises). Every execution is logged with its
captured `print`/`logging` lines. The engine (`engine/database.py`) owns locking and commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import difflib
import inspect
import os
import random
import re
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..engine.query import Query
from ..interrupts import armed
from ..engine.transaction import UNLIMITED
from ..errors import (
    ArgumentValidationError,
    interrupted_write,
    FunctionNotFound,
    InvalidFunctionPath,
    ReturnsValidationError,
    WrongFunctionKind,
)
from ..validators import ValidationMismatch, args_validator
from ..values import check_value_limits, convex_value
from . import logs as logmod
from .loop import on_runtime_thread, submit

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.database import Database
    from ..engine.transaction import Transaction

MAX_CALL_DEPTH = 8
_NOT_ARMED = contextlib.nullcontext()

_MODULE_RE = re.compile(r"^[A-Za-z0-9_\-.]+(/[A-Za-z0-9_\-.]+)*$")
_NAME_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


# ---------------------------------------------------------------------------------------------
# Paths


def normalize_path(path: str) -> str:
    """Convex's user-facing form: `mod` → `mod:default`, `mod.js:fn` → `mod:fn`."""
    if type(path) is not str or not path:
        raise InvalidFunctionPath(f"Invalid function path {path!r}: expected \"module:function\".")
    module, sep, name = path.partition(":")
    if not sep:
        name = "default"
    if module.endswith(".js"):
        module = module[:-3]
    if not module or not _MODULE_RE.match(module) or not _NAME_RE.match(name):
        raise InvalidFunctionPath(
            f"Invalid function path {path!r}: expected \"module:function\" such as \"messages:send\" "
            "(module path segments of letters, digits, _ - . separated by /; function name an identifier)."
        )
    return f"{module}:{name}"


def _caller_tag(definition: "FunctionDef") -> str:
    """What Convex's clients put before a function's error: `[CONVEX M(messages:send)]`."""
    return f"[CONVEX {definition.kind[0].upper()}({definition.path})]"


def canonical_path(path: str) -> str:
    """Convex's stored form, with `.js`: `messages:send` → `messages.js:send`."""
    module, _, name = normalize_path(path).partition(":")
    return f"{module}.js:{name}"


# ---------------------------------------------------------------------------------------------
# Definitions and handles


@dataclass
class FunctionDef:
    kind: str  # "query" | "mutation" | "action"
    internal: bool
    path: str
    handler: Callable[..., Any]
    args: Any = None  # a v.object validator or None (anything goes)
    returns: Any = None
    is_async: bool = False
    unlimited: bool = False  # exempt from transaction and value limits (`%%live` cells)


# Set while a query or mutation handler runs: (runtime, transaction, capture, depth).
_frame: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("convex_lab_frame", default=None)


class FunctionHandle:
    """A registered function, as `@app.query`, `@app.mutation` and `@app.action` return it.

    Call it like a client: `send(room="a", body="hi")` or `send({"room": "a", "body": "hi"})`.
    From synchronous code a call blocks and returns the result; from a coroutine (an `async def`,
    or a notebook cell using top-level `await`) it returns an awaitable. `call(args)` always
    blocks; `call_async(args)` always returns an awaitable. A handle can also be passed wherever
    a function is expected: `ctx.run_query`/`run_mutation`/`run_action`, `app.run`,
    `app.subscribe`, `app.live`. The handle keeps the handler's `__doc__` and `__name__`.

    Inside a Convex function, do not call a handle directly (that raises `RuntimeError`): use
    `ctx.run_query`, `ctx.run_mutation` or `ctx.run_action`.

    Attributes:
        definition (FunctionDef): The registration: kind, path, handler, validators.
    """

    def __init__(self, runtime: "Runtime", definition: FunctionDef) -> None:
        self._runtime = runtime
        self.definition = definition
        self.__wrapped__ = definition.handler
        self.__doc__ = definition.handler.__doc__
        self.__name__ = getattr(definition.handler, "__name__", definition.path)

    @property
    def path(self) -> str:
        """The function's path, such as `"notebook:send"`."""
        return self.definition.path

    @property
    def kind(self) -> str:
        """`"query"`, `"mutation"` or `"action"`."""
        return self.definition.kind

    def __repr__(self) -> str:
        internal = "internal " if self.definition.internal else ""
        return f"<convex_lab {internal}{self.definition.kind} {self.definition.path}>"

    @staticmethod
    def _gather(args: tuple, kwargs: dict) -> dict:
        if args:
            if len(args) > 1 or kwargs or not isinstance(args[0], dict):
                raise TypeError("Call a function with keyword arguments or with one dict of arguments, e.g. send(room='a') or send({'room': 'a'}).")
            return args[0]
        return kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function as a client call, with keyword arguments or one dict of arguments.

        Returns:
            The result (blocking), or an awaitable of it when called from a coroutine.

        Raises:
            TypeError: Positional arguments other than one dict.
            RuntimeError: Called from inside another Convex function.
            ArgumentValidationError: The arguments do not match the `args` validators.
            ReturnsValidationError: The result does not match the `returns` validator.
            InterruptedAfterCommit: Ctrl-C arrived after a mutation had committed.
        """
        arguments = self._gather(args, kwargs)
        _refuse_direct_call(self.definition.path)
        if _in_coroutine():
            return self.call_async(arguments)
        return self._runtime.call(self.definition.path, arguments, caller="notebook")

    def call(self, args: dict | None = None) -> Any:
        """Run the function with `args` (a dict) and return its result; always blocks."""
        _refuse_direct_call(self.definition.path)
        return self._runtime.call(self.definition.path, args or {}, caller="notebook")

    def call_async(self, args: dict | None = None) -> Any:
        """Run the function with `args` (a dict); returns an awaitable of its result.

        Call it from a running event loop. Queries, mutations and plain `def` actions run on a
        worker thread, `async def` actions on convex_lab's own loop, so the calling loop is
        never blocked.
        """
        _refuse_direct_call(self.definition.path)
        return self._runtime.call_async(self.definition.path, args or {}, caller="notebook")


_COROUTINE_FLAGS = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _in_coroutine() -> bool:
    """True when the code calling the handle is a coroutine: an `async def`, or a notebook cell
    that uses top-level `await` (IPython compiles those as coroutine code). A plain cell runs
    inside the kernel's event loop too, so "is a loop running" cannot tell the two apart."""
    frame = sys._getframe(2)  # 0: here, 1: FunctionHandle.__call__, 2: the caller
    return bool(frame.f_code.co_flags & _COROUTINE_FLAGS)


def _refuse_direct_call(path: str) -> None:
    if _frame.get() is not None:
        raise RuntimeError(
            f"Calling the function {path} directly from inside another Convex function is not supported. "
            "Use ctx.run_query, ctx.run_mutation or ctx.run_action instead."
        )


# ---------------------------------------------------------------------------------------------
# ctx objects


_WRITE_METHODS = frozenset({"insert", "patch", "replace", "delete"})


class DatabaseReader:
    """`ctx.db` in a query: reads only.

    Documents come back as fresh dicts (changing one changes nothing stored), with `_id` and
    `_creationTime`. Every read is recorded in the function's read set, which decides when a
    live query re-runs. A write method (`insert`, `patch`, ...) on it raises `AttributeError`
    saying that queries only read.

    Attributes:
        system (SystemReader): Read-only access to system tables (`ctx.db.system`).
    """

    __slots__ = ("_txn", "system")

    def __init__(self, txn: "Transaction") -> None:
        self._txn = txn
        self.system = SystemReader(txn)

    def get(self, table_or_id: Any, doc_id: Any = None) -> dict | None:
        """Read one document by id: `db.get(id)`, or `db.get(table, id)` to also check its table.

        Args:
            table_or_id: The document's id, or the table's name when `doc_id` is given.
            doc_id: The document's id, in the two-argument form.

        Returns:
            The document, or `None` when no document has that id (deleted, or never there).

        Raises:
            InvalidArgument: The id is not an id string at all, or (two-argument form) is an
                id of another table.
        """
        if doc_id is None:
            return self._txn.get(table_or_id)
        return self._txn.get(doc_id, table_or_id)

    def query(self, table: str) -> Query:
        """Start a query over `table`: chain `.with_index(...)`, `.order(...)`, `.filter(...)`,
        then one of `.collect()`, `.take(n)`, `.first()`, `.unique()`, `.paginate(...)`, or
        iterate over it. A table that does not exist yet reads as empty.

        Raises:
            TypeError: `table` is not a string.
            ValueError: `table` is a system table (read those with `db.system.query`).
        """
        if type(table) is not str:
            raise TypeError(f"db.query takes a table name, got {table!r}.")
        if table.startswith("_"):
            raise ValueError(f'System table "{table}" must be read with ctx.db.system.query("{table}").')
        return Query(self._txn, table)

    def normalize_id(self, table: str, id_string: Any) -> str | None:
        """`id_string` if it is a valid id of a document of `table`, else `None` (never raises).

        Whether the document exists is not checked. `normalizeId` is the same method under
        Convex's name.
        """
        return self._txn.normalize_id(table, id_string)

    normalizeId = normalize_id

    def __getattr__(self, name: str) -> Any:
        if name in _WRITE_METHODS:
            raise AttributeError(f"ctx.db.{name} is not available here: queries (and %%live cells) only read. "
                                 "Write from a mutation.")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


class DatabaseWriter(DatabaseReader):
    """`ctx.db` in a mutation: reads (as `DatabaseReader`) and writes.

    Writes apply at once within the mutation (later reads see them) and commit together when
    the handler returns; if it raises, none of them happen. Written values follow the int rule:
    in a table with a schema, the validators decide (`v.int64()` fields store `Int64`), elsewhere
    a Python int becomes a float. Documents are checked against the table's schema and Convex's
    size limits.
    """

    __slots__ = ()

    def insert(self, table: str, value: dict) -> str:
        """Insert a new document into `table` (created if needed) and return its id.

        Args:
            table: The table's name (an identifier; not a system table).
            value: The document's fields; `_id` and `_creationTime` are set by Convex.

        Returns:
            The new document's id.

        Raises:
            SchemaValidationError: The document does not match the table's schema.
            InvalidArgument: `value` is not a dict or contains a system field, or the table
                name is invalid.
            ReadOnlyTable: `table` is a system table.
            DocumentTooLarge: The document is over Convex's size or nesting limits.
            TypeError: A value is not a Convex value (a set, a datetime, ...).
            ValueError: A value cannot be stored as given (an int beyond `2**53` outside a
                `v.int64()` field, a field name Convex does not allow, ...).
        """
        return self._txn.insert(table, value)

    def patch(self, table_or_id: str, id_or_value: Any, value: Any = None) -> None:
        """Update some fields of a document: `db.patch(id, fields)` or `db.patch(table, id, fields)`.

        A shallow merge: the given fields replace the old values, a field set to `UNSET` is
        removed, the other fields stay. `_id` and `_creationTime` may appear only with their
        current values.

        Args:
            table_or_id: The document's id, or the table's name in the three-argument form.
            id_or_value: The fields to change, or the document's id in the three-argument form.
            value: The fields to change, in the three-argument form.

        Raises:
            NonexistentDocument: No document has that id.
            InvalidArgument: The id is of another table (three-argument form), or the fields
                are not a dict or try to change a system field.
            SchemaValidationError: The patched document does not match the table's schema.
        """
        if value is None:
            return self._txn.patch(table_or_id, id_or_value)
        self._check_table(table_or_id, id_or_value)
        return self._txn.patch(id_or_value, value)

    def replace(self, table_or_id: str, id_or_value: Any, value: Any = None) -> None:
        """Replace all fields of a document: `db.replace(id, doc)` or `db.replace(table, id, doc)`.

        `_id` and `_creationTime` stay; fields missing from the new value are removed.

        Args:
            table_or_id: The document's id, or the table's name in the three-argument form.
            id_or_value: The new fields, or the document's id in the three-argument form.
            value: The new fields, in the three-argument form.

        Raises:
            NonexistentDocument: No document has that id.
            InvalidArgument: As for `patch`.
            SchemaValidationError: The new document does not match the table's schema.
        """
        if value is None:
            return self._txn.replace(table_or_id, id_or_value)
        self._check_table(table_or_id, id_or_value)
        return self._txn.replace(id_or_value, value)

    def delete(self, table_or_id: str, doc_id: Any = None) -> None:
        """Delete a document: `db.delete(id)` or `db.delete(table, id)`.

        Raises:
            NonexistentDocument: No document has that id.
            InvalidArgument: The id is of another table (two-argument form).
        """
        if doc_id is None:
            return self._txn.delete(table_or_id)
        self._check_table(table_or_id, doc_id)
        return self._txn.delete(doc_id)

    def _check_table(self, table: str, doc_id: Any) -> None:
        if self._txn.normalize_id(table, doc_id) is None:
            from ..errors import InvalidArgument

            raise InvalidArgument(f'Invalid argument `id`: "{doc_id}" is not an id of table "{table}".')


class SystemReader:
    """`ctx.db.system`: read-only access to system tables (names starting with `_`)."""

    __slots__ = ("_txn",)

    def __init__(self, txn: "Transaction") -> None:
        self._txn = txn

    def get(self, doc_id: Any) -> dict | None:
        """A system document by id, or `None` (as `DatabaseReader.get`)."""
        return self._txn.get(doc_id)

    def query(self, table: str) -> Query:
        """Start a query over the system table `table` (as `DatabaseReader.query`).

        Raises:
            ValueError: `table` is not a system table name.
        """
        if type(table) is not str or not table.startswith("_"):
            raise ValueError(f"ctx.db.system.query reads system tables (names starting with _), got {table!r}.")
        return Query(self._txn, table)

    def normalize_id(self, table: str, id_string: Any) -> str | None:
        """`id_string` if it is an id of the system table `table`, else `None`."""
        return self._txn.normalize_id(table, id_string, system=True)


class Auth:
    """`ctx.auth`: who is calling.

    Calls from the notebook, `app.run*` and `app.subscribe` carry no identity, so
    `get_user_identity()` returns `None` for them.
    """

    __slots__ = ("_identity",)

    def __init__(self, identity: dict | None) -> None:
        self._identity = identity

    def get_user_identity(self) -> dict | None:
        """A copy of the caller's identity (a dict of claims such as `subject`), or `None`.

        `getUserIdentity` is the same method under Convex's name.
        """
        return dict(self._identity) if self._identity is not None else None

    getUserIdentity = get_user_identity


class QueryCtx:
    """The `ctx` a query's handler receives.

    Attributes:
        db (DatabaseReader): Reads documents and builds queries.
        auth (Auth): The caller's identity.
        now (float): The time this run started, in milliseconds since the Unix epoch (fixed for
            the whole run, as Convex's `Date.now()` is in a query).
    """

    def __init__(self, runtime: "Runtime", txn: "Transaction", identity: dict | None, depth: int) -> None:
        self._runtime = runtime
        self._txn = txn
        self._identity = identity
        self._depth = depth
        self.db = self._make_db(txn)
        self.auth = Auth(identity)
        self.now = txn.now_ms
        self._random: random.Random | None = None

    @property
    def random(self) -> random.Random:
        """A `random.Random` for this run, freshly seeded (made on first use)."""
        if self._random is None:
            self._random = random.Random(int.from_bytes(os.urandom(8), "big"))
        return self._random

    def _make_db(self, txn: "Transaction") -> DatabaseReader:
        return DatabaseReader(txn)

    def run_query(self, fn: Any, args: dict | None = None) -> Any:
        """Run another query inside this one and return its result.

        It runs in the same transaction: it sees the same snapshot (and, from a mutation, the
        writes made so far), and its reads join this run's read set. `runQuery` is the same
        method under Convex's name.

        Args:
            fn: A query's `FunctionHandle` or path.
            args: Its arguments, as a dict (validated like a client call's).

        Raises:
            WrongFunctionKind: `fn` is not a query.
            FunctionNotFound: No function is registered at that path.
            RuntimeError: The nested calls go more than 8 functions deep.
        """
        return self._runtime.run_nested(fn, args or {}, self._txn, self._identity, self._depth, "query")

    runQuery = run_query


class MutationCtx(QueryCtx):
    """The `ctx` a mutation's handler receives: a `QueryCtx` whose `db` also writes.

    Attributes:
        db (DatabaseWriter): Reads and writes documents.
    """

    def _make_db(self, txn: "Transaction") -> DatabaseReader:
        return DatabaseWriter(txn)

    def run_mutation(self, fn: Any, args: dict | None = None) -> Any:
        """Run another mutation inside this one, as a sub-transaction, and return its result.

        Its writes join this mutation's transaction. If it raises, its own writes are rolled back
        and the exception propagates (catch it to go on). `runMutation` is the same method under
        Convex's name.

        Args:
            fn: A mutation's `FunctionHandle` or path.
            args: Its arguments, as a dict.

        Raises:
            WrongFunctionKind: `fn` is not a mutation.
            FunctionNotFound: No function is registered at that path.
            RuntimeError: The nested calls go more than 8 functions deep.
        """
        return self._runtime.run_nested(fn, args or {}, self._txn, self._identity, self._depth, "mutation")

    runMutation = run_mutation


class ActionCtx:
    """The `ctx` an action's handler receives: no `db`, but `run_query`, `run_mutation`,
    `run_action`.

    Each call runs as its own transaction (a mutation commits when it returns). In a plain `def`
    action these methods block and return the result; in an `async def` action they return
    awaitables (`await ctx.run_query(...)`). `runQuery`, `runMutation` and `runAction` are the
    same methods under Convex's names.

    Attributes:
        auth (Auth): The caller's identity.
    """

    def __init__(self, runtime: "Runtime", identity: dict | None, is_async: bool, capture: logmod.Capture) -> None:
        self._runtime = runtime
        self._identity = identity
        self._async = is_async
        self._capture = capture
        self.auth = Auth(identity)

    def _run(self, fn: Any, args: dict | None, kind: str) -> Any:
        runtime, identity, capture = self._runtime, self._identity, self._capture
        path = runtime.resolve(fn, kind).path

        def blocking() -> Any:
            return runtime.execute(path, args or {}, identity=identity, caller="action", allow_internal=True,
                                   parent_capture=capture)

        if not self._async:
            return blocking()
        if kind == "action":
            return asyncio.wrap_future(runtime.start_async_action(
                path, args or {}, identity=identity, caller="action", allow_internal=True, parent_capture=capture))
        # Queries and mutations take the commit lock: run them off the loop so other actions go on.
        context = contextvars.copy_context()
        return asyncio.get_running_loop().run_in_executor(None, context.run, blocking)

    def run_query(self, fn: Any, args: dict | None = None) -> Any:
        """Run a query (handle or path) with `args`; its result, or an awaitable in an async action.

        Raises:
            WrongFunctionKind: `fn` is not a query.
            FunctionNotFound: No function is registered at that path.
        """
        return self._run(fn, args, "query")

    def run_mutation(self, fn: Any, args: dict | None = None) -> Any:
        """Run a mutation (handle or path) with `args` as its own transaction; its result, or
        an awaitable in an async action.

        Raises:
            WrongFunctionKind: `fn` is not a mutation.
            FunctionNotFound: No function is registered at that path.
        """
        return self._run(fn, args, "mutation")

    def run_action(self, fn: Any, args: dict | None = None) -> Any:
        """Run another action (handle or path) with `args`; its result, or an awaitable in an
        async action.

        Raises:
            WrongFunctionKind: `fn` is not an action.
            FunctionNotFound: No function is registered at that path.
        """
        return self._run(fn, args, "action")

    runQuery, runMutation, runAction = run_query, run_mutation, run_action


# ---------------------------------------------------------------------------------------------
# The runtime


class Runtime:
    """Responsibilities: the registry of functions, and running them with validation, ctx,
    log capture and the execution log."""

    def __init__(self, database: "Database", execution_log: logmod.ExecutionLog) -> None:
        self.database = database
        self.functions: dict[str, FunctionDef] = {}
        self.handles: dict[str, FunctionHandle] = {}
        self.execution_log = execution_log
        self._resolver = database.catalog.name_of
        # Called after a mutation committed, before its caller gets the result (reactivity waits
        # there until the subscriptions its commit touched have been delivered).
        self.after_mutation: Callable[[], None] | None = None
        # Called with a path whose function was just replaced (reactivity re-runs its live queries).
        self.on_redefine: Callable[[str], None] | None = None
        logmod.install()

    # -- registration -----------------------------------------------------------------------
    def register(self, kind: str, internal: bool, handler: Callable[..., Any], *, args: Any = None,
                 returns: Any = None, name: str | None = None, module: str = "notebook",
                 unlimited: bool = False) -> FunctionHandle:
        if not callable(handler):
            raise TypeError(f"@{kind} decorates a function, got {handler!r}.")
        fn_name = getattr(handler, "__name__", None) or "default"
        if name is not None:
            path = normalize_path(name if ":" in name else f"{module}:{name}")
        else:
            path = normalize_path(f"{module}:{fn_name}")
        is_async = inspect.iscoroutinefunction(handler)
        if is_async and kind != "action":
            raise TypeError(f"{path}: queries and mutations must be plain `def` functions; only actions may be `async def`.")
        definition = FunctionDef(kind=kind, internal=internal, path=path, handler=handler,
                                 args=args_validator(args) if args is not None else None,
                                 returns=returns, is_async=is_async, unlimited=unlimited)
        replaced = path in self.functions
        self.functions[path] = definition
        handle = FunctionHandle(self, definition)
        self.handles[path] = handle
        if replaced and self.on_redefine is not None:
            self.on_redefine(path)
        return handle

    def resolve(self, fn: Any, expected_kind: str | None = None) -> FunctionDef:
        """A FunctionDef from a handle or a path, checking its kind when `expected_kind` is given."""
        if isinstance(fn, FunctionHandle):
            definition = self.functions.get(fn.path, fn.definition)
        elif isinstance(fn, str):
            definition = self.functions.get(fn)  # fast path: already a normalised path
            path = fn
            if definition is None:
                path = normalize_path(fn)
                definition = self.functions.get(path) or self._by_bare_name(fn, path, expected_kind)
        else:
            raise TypeError(f"Expected a convex_lab function or a path string, got {fn!r}.")
        if expected_kind is not None and definition.kind != expected_kind:
            raise WrongFunctionKind(
                f"Trying to execute {definition.path} as {_article(expected_kind)} {expected_kind.capitalize()}, "
                f"but it is defined as {_article(definition.kind)} {definition.kind.capitalize()}."
            )
        return definition

    def _by_bare_name(self, name: str, path: str, expected_kind: str | None) -> FunctionDef:
        """A notebook user writes `app.run("send")` for `notebook:send`. Convex reads a bare name
        as the module's default export (`send:default`); when no such function exists, the one
        function named `send` in any module is meant. Otherwise: FunctionNotFound, with the
        candidates (or the closest names) as suggestions."""
        named = [d for d in self.functions.values() if ":" not in name and d.path.partition(":")[2] == name]
        if len(named) == 1:
            return named[0]
        message = f"Could not find function for '{path}'."
        if named:
            choices = " or ".join(f"'{d.path}'" for d in sorted(named, key=lambda d: d.path))
            message += f" Several functions are named '{name}': did you mean {choices}?"
        else:
            close = difflib.get_close_matches(path, sorted(self.functions), n=3, cutoff=0.8)
            if close:
                message += f" Did you mean {' or '.join(repr(c) for c in close)}?"
            else:
                message += (f" Define it with @app.{expected_kind or 'query'} first "
                            f"(registered: {', '.join(sorted(self.functions)) or 'none'}).")
        raise FunctionNotFound(message)

    # -- validation -------------------------------------------------------------------------
    def _convert_args(self, definition: FunctionDef, raw: Any) -> dict:
        if raw is None:
            raw = {}
        if type(raw) is not dict:
            raise ArgumentValidationError(f"{_caller_tag(definition)} ArgumentValidationError: Arguments must be an object (a dict), got {type(raw).__name__}.")
        if definition.args is None:
            converted = convex_value(raw)
        else:
            try:
                converted = definition.args.convert(raw, "", self._resolver)
            except ValidationMismatch as exc:
                raise ArgumentValidationError(f"{_caller_tag(definition)} ArgumentValidationError: {exc.message}") from None
        check_value_limits(converted)
        return converted

    def _convert_result(self, definition: FunctionDef, result: Any) -> Any:
        if definition.returns is None:
            converted = convex_value(result)
        else:
            try:
                converted = definition.returns.convert(result, "", self._resolver)
            except ValidationMismatch as exc:
                raise ReturnsValidationError(f"{_caller_tag(definition)} ReturnsValidationError: {exc.message}") from None
        if not definition.unlimited:
            check_value_limits(converted)
        return converted

    # -- client calls -----------------------------------------------------------------------
    def call(self, path: str, args: dict, *, caller: str = "notebook", identity: dict | None = None) -> Any:
        """Run a function as a client call and return its result (blocks)."""
        return self.execute(path, args, identity=identity, caller=caller, allow_internal=True)

    def call_async(self, path: str, args: dict, *, caller: str = "notebook", identity: dict | None = None) -> Any:
        """Run a function as a client call; returns an awaitable for the calling loop."""
        definition = self.resolve(path)
        if definition.kind == "action" and definition.is_async:
            return asyncio.wrap_future(self.start_async_action(path, args, identity=identity, caller=caller, allow_internal=True))
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(None, context.run, lambda: self.execute(path, args, identity=identity, caller=caller, allow_internal=True))

    def execute(self, path: str, raw_args: Any, *, identity: dict | None = None, caller: str = "notebook",
                allow_internal: bool = True, parent_capture: logmod.Capture | None = None,
                tracking: dict | None = None) -> Any:
        """Validate, run in its own transaction (queries and mutations), log, return the result.

        `tracking`, for live queries: `tracking["journal"]` (in) is the previous run's pagination
        end cursor; on return (even when the query raises) `tracking["reads"]` holds the run's
        read-set intervals and `tracking["journal"]` the new end cursor.
        """
        definition = self.resolve(path)
        if definition.internal and not allow_internal:
            raise FunctionNotFound(f"Could not find public function for '{definition.path}'.")
        if definition.kind == "action" and definition.is_async:
            if on_runtime_thread():
                raise RuntimeError("A blocking call of an async action from convex_lab's own loop would deadlock; await it instead.")
            return self.start_async_action(path, raw_args, identity=identity, caller=caller,
                                           allow_internal=allow_internal, parent_capture=parent_capture).result()
        capture = parent_capture or logmod.Capture(echo=logmod.echo_stream() if caller == "notebook" else None)
        started = time.time() * 1000.0
        t0 = time.perf_counter()
        status, error = "success", None
        committed: list = []  # [result, commit ts], filled at the commit point of a mutation
        try:
            # A mutation keeps the Ctrl-C handler in place through its commit and its deliveries.
            with armed() if definition.kind == "mutation" else _NOT_ARMED:
                try:
                    args = self._convert_args(definition, raw_args)
                    if definition.kind == "query":
                        result = self._run_query(definition, args, identity, capture, tracking)
                    elif definition.kind == "mutation":
                        result = self._run_mutation(definition, args, identity, capture, committed)
                        if self.after_mutation is not None:
                            self.after_mutation()
                    else:
                        result = self._run_sync_action(definition, args, identity, capture)
                    return result
                except BaseException as exc:
                    status, error = "failure", f"{type(exc).__name__}: {exc}"
                    raise
                finally:
                    lines = capture.finish() if parent_capture is None else []
                    self.execution_log.record(path=definition.path, kind=definition.kind, caller=caller,
                                              started_ms=started, duration_ms=(time.perf_counter() - t0) * 1000.0,
                                              status=status, error=error, lines=lines)
        except KeyboardInterrupt as interrupted:  # also one after the commit, while deliveries ran
            raise interrupted_write(interrupted, committed, f"The mutation {definition.path}") from None

    def _run_query(self, definition: FunctionDef, args: dict, identity: dict | None, capture: logmod.Capture,
                   tracking: dict | None = None) -> Any:
        def body(txn: "Transaction") -> Any:
            if tracking is not None:
                txn.journal_end_cursor = tracking.get("journal")
            try:
                return self._invoke(definition, QueryCtx(self, txn, identity, 1), args, txn, capture, 1)
            finally:
                if tracking is not None:
                    tracking["reads"] = txn.reads.intervals()
                    tracking["journal"] = txn.pagination_end_cursor

        result, _ = self.database.run_query(body, limits=UNLIMITED if definition.unlimited else None)
        return result

    def _run_mutation(self, definition: FunctionDef, args: dict, identity: dict | None,
                      capture: logmod.Capture, committed: list | None = None) -> Any:
        def body(txn: "Transaction") -> Any:
            return self._invoke(definition, MutationCtx(self, txn, identity, 1), args, txn, capture, 1)

        return self.database.run_mutation(body, record=committed)[0]

    def _invoke(self, definition: FunctionDef, ctx: Any, args: dict, txn: "Transaction",
                capture: logmod.Capture, depth: int) -> Any:
        # Runs on whichever thread holds the commit lock (group commit may run another caller's
        # job), so the capture and frame are set here rather than inherited: in a copy of the
        # context, which they leave with. `Context.run` is C, so no Ctrl-C can land between the
        # end of the run and putting them back (a `finally` could be cut short).
        return contextvars.copy_context().run(self._invoke_here, definition, ctx, args, txn, capture, depth)

    def _invoke_here(self, definition: FunctionDef, ctx: Any, args: dict, txn: "Transaction",
                     capture: logmod.Capture, depth: int) -> Any:
        _frame.set((self, txn, capture, depth))
        logmod.current_capture.set(capture)
        result = definition.handler(ctx, **args)
        if inspect.iscoroutine(result):
            raise TypeError(f"{definition.path} returned an awaitable: queries and mutations must be plain `def` functions.")
        return self._convert_result(definition, result)

    def run_nested(self, fn: Any, raw_args: dict, txn: "Transaction", identity: dict | None, depth: int, kind: str) -> Any:
        """`ctx.run_query` / `ctx.run_mutation` inside a query or mutation."""
        if depth >= MAX_CALL_DEPTH:
            raise RuntimeError(f"Function call depth exceeded: at most {MAX_CALL_DEPTH} nested ctx.run_* calls are allowed.")
        definition = self.resolve(fn, kind)
        if kind == "mutation" and not txn.writable:
            raise RuntimeError("ctx.run_mutation is only available in mutations and actions.")
        frame = _frame.get()
        capture = frame[2] if frame is not None else logmod.Capture()
        args = self._convert_args(definition, raw_args)
        if kind == "query":
            ctx: Any = QueryCtx(self, txn, identity, depth + 1)
            return self._invoke(definition, ctx, args, txn, capture, depth + 1)
        savepoint = txn.savepoint()
        try:
            return self._invoke(definition, MutationCtx(self, txn, identity, depth + 1), args, txn, capture, depth + 1)
        except BaseException:
            txn.rollback_to(savepoint)
            raise

    # -- actions ----------------------------------------------------------------------------
    def _run_sync_action(self, definition: FunctionDef, args: dict, identity: dict | None, capture: logmod.Capture) -> Any:
        ctx = ActionCtx(self, identity, False, capture)

        def run() -> Any:
            logmod.current_capture.set(capture)  # inside a copy of the context: it leaves with it
            return self._convert_result(definition, definition.handler(ctx, **args))

        return contextvars.copy_context().run(run)

    def start_async_action(self, path: str, raw_args: Any, *, identity: dict | None = None, caller: str = "notebook",
                           allow_internal: bool = True, parent_capture: logmod.Capture | None = None) -> Future:
        """Start an async action on convex_lab's own loop; returns a concurrent Future."""
        definition = self.resolve(path, "action")
        if definition.internal and not allow_internal:
            raise FunctionNotFound(f"Could not find public function for '{definition.path}'.")
        echo = logmod.echo_stream() if caller == "notebook" else None

        async def run() -> Any:
            capture = parent_capture or logmod.Capture(echo=echo)
            token = logmod.current_capture.set(capture)
            started = time.time() * 1000.0
            t0 = time.perf_counter()
            status, error = "success", None
            try:
                args = self._convert_args(definition, raw_args)
                ctx = ActionCtx(self, identity, definition.is_async, capture)
                if definition.is_async:
                    result = await definition.handler(ctx, **args)
                else:
                    # A sync action blocks: run it on a worker thread so the loop keeps serving others.
                    result = await asyncio.to_thread(contextvars.copy_context().run, definition.handler, ctx, **args)
                return self._convert_result(definition, result)
            except BaseException as exc:
                status, error = "failure", f"{type(exc).__name__}: {exc}"
                raise
            finally:
                logmod.current_capture.reset(token)
                lines = capture.finish() if parent_capture is None else []
                self.execution_log.record(path=definition.path, kind="action", caller=caller, started_ms=started,
                                          duration_ms=(time.perf_counter() - t0) * 1000.0, status=status,
                                          error=error, lines=lines)

        return submit(run())


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"
