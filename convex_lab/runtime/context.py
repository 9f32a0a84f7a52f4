"""What a function's handler receives: `ctx` (`QueryCtx`, `MutationCtx`, `ActionCtx`), `ctx.db`
(`DatabaseReader`, `DatabaseWriter`, `SystemReader`), `ctx.auth` (`Auth`) and `ctx.env` (`Env`).

The ctx objects only pass calls on: reads and writes to the function's `Transaction`
(engine/transaction.py), `ctx.run_*` to the `Runtime` that runs it (execution.py).
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any, Callable

from ..engine import env_vars
from ..engine.catalog import SYSTEM_TABLES
from ..engine.query import Query
from ..errors import InvalidArgument

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.database import Database
    from ..engine.transaction import Transaction
    from .execution import Runtime
    from .logs import Capture


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
            InvalidArgument: No system table has that name.
        """
        if type(table) is not str or not table.startswith("_"):
            raise ValueError(f"ctx.db.system.query reads system tables (names starting with _), got {table!r}.")
        system = self._txn.catalog.system_table(table)
        if system is None or system.hidden:
            raise InvalidArgument(f'"{table}" is not a system table. The system tables are '
                                  f'{", ".join(sorted(t.name for t in SYSTEM_TABLES.values() if not t.hidden))}.')
        return Query(self._txn, table)

    def normalize_id(self, table: str, id_string: Any) -> str | None:
        """`id_string` if it is an id of the system table `table`, else `None`."""
        system = self._txn.catalog.system_table(table) if type(table) is str else None
        if system is not None and system.hidden:
            return None
        return self._txn.normalize_id(table, id_string, system=True)


class Auth:
    """`ctx.auth`: who is calling.

    A client's identity comes from its token (verified by the App's auth providers); calls
    from Python carry the identity of the `with app.as_user(...)` block they are made in, and
    none outside one (`get_user_identity()` returns `None`).
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


class Env:
    """`ctx.env`: the deployment's environment variables (set with `app.env.set`), by name.

    `ctx.env["NAME"]` is the value (a string) or raises `KeyError`; `ctx.env.get("NAME",
    default)` and `"NAME" in ctx.env` never raise for a missing variable. As Convex's
    `process.env`, it reads one name at a time and cannot be listed. In a query or mutation each
    read is part of the run's read set: a live query that read `NAME` re-runs when `NAME` is set,
    changed or removed (and not when another variable changes). An action sees the variables
    as they were at its first read of `ctx.env`, for its whole run.

    Raises:
        EnvironmentVariableNameInvalid: The name breaks Convex's rule (letters, digits and
            underscores, not starting with a digit).
        EnvironmentVariableNameTooLong: The name is longer than 256 characters.
    """

    __slots__ = ("_read",)

    def __init__(self, read: Callable[[str], "str | None"]) -> None:
        self._read = read

    def __getitem__(self, name: str) -> str:
        value = self._read(name)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        """The value of variable `name`, or `default` when it is not set."""
        value = self._read(name)
        return default if value is None else value

    def __contains__(self, name: object) -> bool:
        return self._read(name) is not None  # type: ignore[arg-type]

    def __iter__(self):
        raise TypeError('ctx.env cannot be listed (as process.env in Convex): read a variable by name, '
                        'ctx.env["NAME"] or ctx.env.get("NAME").')

    def __repr__(self) -> str:
        return "<ctx.env: read a variable with ctx.env['NAME'] or ctx.env.get('NAME', default)>"


def transaction_env(txn: "Transaction") -> Env:
    """`ctx.env` of a query or mutation: each read goes through its transaction."""
    return Env(lambda name: env_vars.read(txn, name))


def snapshot_env(database: "Database") -> Env:
    """`ctx.env` of an action: every variable read once, at the first read, then kept."""
    snapshot: list[dict] = []

    def read(name: str) -> str | None:
        env_vars.check_name(name)
        if not snapshot:
            snapshot.append(database.run_query(env_vars.read_all)[0])
        return snapshot[0].get(name)

    return Env(read)


class QueryCtx:
    """The `ctx` a query's handler receives.

    Attributes:
        db (DatabaseReader): Reads documents and builds queries.
        auth (Auth): The caller's identity.
        env (Env): The environment variables (`ctx.env["NAME"]`), read into the read set.
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
        self.env = transaction_env(txn)
        self.now = txn.now_ms
        self._random: random.Random | None = None

    @property
    def random(self) -> random.Random:
        """A `random.Random` for this run, freshly seeded (made on first use)."""
        if self._random is None:
            self._random = random.Random(int.from_bytes(os.urandom(8), "big"))
        return self._random

    @property
    def storage(self) -> Any:
        """File storage (`StorageReader`): `get_url(id)`, `get_metadata(id)`."""
        return self._runtime.storage_for(self._txn, writer=False)

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
            MaximumCallDepthExceeded: The nested calls go more than 8 functions deep.
        """
        return self._runtime.run_nested(fn, args or {}, self._txn, self._identity, self._depth, "query")

    runQuery = run_query


class MutationCtx(QueryCtx):
    """The `ctx` a mutation's handler receives: a `QueryCtx` whose `db` also writes.

    Attributes:
        db (DatabaseWriter): Reads and writes documents.
    """

    @property
    def storage(self) -> Any:
        """File storage (`StorageWriter`): `store`, `get`, `get_url`, `get_metadata`, `delete`,
        `generate_upload_url`; stores and deletes happen only if the mutation commits."""
        return self._runtime.storage_for(self._txn, writer=True)

    def _make_db(self, txn: "Transaction") -> DatabaseReader:
        return DatabaseWriter(txn)

    @property
    def scheduler(self) -> Any:
        """`ctx.scheduler` (a `SchedulerCtx`): `run_after`, `run_at`, `cancel`; what it schedules
        is part of this mutation's transaction."""
        return self._runtime.scheduler.ctx(self._txn)

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
            MaximumCallDepthExceeded: The nested calls go more than 8 functions deep.
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
        env (Env): The environment variables (`ctx.env["NAME"]`), as they were at the action's
            first read of them.
    """

    def __init__(self, runtime: "Runtime", identity: dict | None, is_async: bool, capture: "Capture") -> None:
        self._runtime = runtime
        self._identity = identity
        self._async = is_async
        self._capture = capture
        self.auth = Auth(identity)
        self.env = snapshot_env(runtime.database)

    @property
    def storage(self) -> Any:
        """File storage (`StorageActionWriter`): every method, each in its own transaction;
        awaitables in an `async def` action."""
        return self._runtime.storage_for(None, is_async=self._async)

    @property
    def scheduler(self) -> Any:
        """`ctx.scheduler` (a `SchedulerCtx`): `run_after`, `run_at`, `cancel`, each committed at
        once (awaitables in an `async def` action)."""
        return self._runtime.scheduler.ctx(None, self._async)

    def _run(self, fn: Any, args: dict | None, kind: str) -> Any:
        runtime = self._runtime
        path = runtime.resolve(fn, kind).path
        if self._async:  # an awaitable; queries and mutations run off the loop, so other actions go on
            return runtime.call_async(path, args or {}, caller="action", identity=self._identity,
                                      parent_capture=self._capture)
        return runtime.call(path, args or {}, caller="action", identity=self._identity, parent_capture=self._capture)

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
