"""Error classes users see.

`ConvexError` is the user's own error carrying data (as in Convex). Everything convex_lab itself
detects raises a subclass of `ConvexSystemError` named by Convex's error code, whose `str()` is
Convex's text. Values that are not Convex values raise plain `TypeError`/`ValueError`, as the
official Python client does (those live in `values/`).
"""

from __future__ import annotations

from typing import Any


class ConvexError(Exception):
    """Your own application error, carrying structured `data` (Convex's `ConvexError`).

    Raise it from a function to report an expected failure; the caller catches it and reads
    `.data`. Its message is `data` itself when it is a string, else Convex's rendering of it.

    Args:
        data: Any value describing the error (a string, a dict, ...).

    Attributes:
        data: The value given.

    Examples:
        >>> e = ConvexError({"code": 42}); e.data
        {'code': 42}
    """

    def __init__(self, data: Any = None) -> None:
        self.data = data
        super().__init__(data if isinstance(data, str) else _stringify(data))


def _stringify(data: Any) -> str:
    # Convex's message for non-string data is a JSON-ish rendering of the value.
    try:
        from .values import stringify_value_for_error as display_value

        return display_value(data)
    except Exception:  # pragma: no cover - best effort for odd data
        return repr(data)


class ConvexSystemError(Exception):
    """Base class of the errors convex_lab itself detects, each named by Convex's error code.

    `str(error)` is the message, in Convex's words where Convex has them. Catch
    `ConvexSystemError` to catch them all; the subclasses are listed below.

    Attributes:
        code (str): Convex's error code, which is also the class's name.
        message (str): The message.
    """

    code = "ConvexSystemError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _define(code: str, doc: str) -> type[ConvexSystemError]:
    cls = type(code, (ConvexSystemError,), {"code": code, "__doc__": doc})
    return cls


ArgumentValidationError = _define("ArgumentValidationError", "Arguments do not match the function's `args` validator.")
"""Raised when a function is called with arguments that do not match its `args` validators (or
are not a dict). The message is Convex's: the path of the mismatch, the value and the validator."""

ReturnsValidationError = _define("ReturnsValidationError", "A return value does not match the function's `returns` validator.")
"""Raised when a function returns a value that does not match its `returns` validator."""

SchemaValidationError = _define("SchemaValidationError", "A document does not match its table's schema.")
"""Raised when a document does not match its table's schema: on `db.insert`/`patch`/`replace`,
on `app.import_rows` (naming the row), and by `app.set_schema` when stored data breaks the new
schema (naming the table and document)."""

SchemaDefinitionError = _define("SchemaDefinitionError", "A schema definition is invalid.")
"""Raised by `define_table`, `.index(...)` and `define_schema` when a schema breaks one of
Convex's rules (invalid or reserved names, duplicate or empty indexes, an index on a field the
validator cannot contain, ...). `.short_code` is Convex's code for the rule."""

InvalidIndexRange = _define("InvalidIndexRange", "A `with_index` range does not follow the index's fields.")
"""Raised by `with_index` when the range does not follow the index's fields: `eq` on a prefix of
them, then at most one lower and one upper bound on the next field."""

IndexNotFoundError = _define("IndexNotFoundError", "The named index does not exist on the table.")
"""Raised by `with_index` when the table has no index of that name."""

InvalidArgument = _define("InvalidArgument", "A database call received an invalid argument.")
"""Raised when a database call gets an invalid argument: a malformed id, an id of another table,
a document that is not a dict or sets a system field, a bad `order`, `take(n)` or pagination
options, an invalid table name, ..."""

EvalError = _define("EvalError", "A filter expression could not be evaluated.")
"""Raised while a query runs when a filter expression cannot be evaluated: a non-boolean used as
a condition, arithmetic on mixed or non-numeric types, int64 overflow or division by zero."""

NonexistentDocument = _define("NonexistentDocument", "A write named a document that does not exist.")
"""Raised by `db.patch`, `db.replace` and `db.delete` when no document has the id."""

ReadOnlyTable = _define("ReadOnlyTable", "System tables are read-only.")
"""Raised when a function writes to a system table (a name starting with `_`)."""

TooManyReads = _define("TooManyReads", "A function read more index ranges than Convex allows.")
"""Raised when a function reads more index ranges than Convex allows (4,096).
`App(limits="off")` lifts the limit."""

TooManyDocumentsRead = _define("TooManyDocumentsRead", "A function read more documents than Convex allows.")
"""Raised when a function reads more documents than Convex allows (32,000). `App(limits="off")`
lifts the limit."""

TooManyBytesRead = _define("TooManyBytesRead", "A function read more bytes than Convex allows.")
"""Raised when a function reads more bytes than Convex allows (16 MiB). `App(limits="off")`
lifts the limit."""

TooManyWrites = _define("TooManyWrites", "A function wrote more documents or bytes than Convex allows.")
"""Raised when a mutation writes more documents (16,000) or bytes (16 MiB) than Convex allows.
`App(limits="off")` lifts the limit."""

TooManyFunctionsScheduled = _define("TooManyFunctionsScheduled", "A mutation scheduled more functions than Convex allows.")
"""Convex's error for scheduling too many functions from one mutation; convex_lab sets no such
limit, so it is not raised."""

InvalidScheduledFunction = _define("InvalidScheduledFunction", "The function to schedule does not exist or cannot be scheduled.")
"""Raised by `ctx.scheduler.run_after` / `run_at` (and by a cron's registration) when no function
is registered at the path, or it is a query: only mutations and actions can be scheduled."""

InvalidScheduledFunctionDelay = _define("InvalidScheduledFunctionDelay", "The time to run a scheduled function is out of range.")
"""Raised by `ctx.scheduler.run_after` / `run_at` for a time more than five years (5 × 366 days)
in the future or in the past, as Convex."""

MultiplePaginatedDatabaseQueries = _define("MultiplePaginatedDatabaseQueries", "Only one paginated query may run per function.")
"""Raised when one function calls `.paginate(...)` a second time."""

NoDocumentsForPagination = _define("NoDocumentsForPagination", "`numItems` must be positive.")
"""Raised by `.paginate(...)` when `numItems` is 0."""

PageSizeTooLarge = _define("PageSizeTooLarge", "`numItems` is above Convex's page size limit.")
"""Raised by `.paginate(...)` when `numItems` is above 32,000."""

InvalidCursor = _define("InvalidCursor", "A pagination cursor is malformed or belongs to another query.")
"""Raised by `.paginate(...)` when the cursor is malformed or was returned by a different query
(another table, index or order)."""

QueryReused = _define("QueryReused", "A query builder object was used twice.")
"""Raised when a query or index-range builder object is used a second time: chain the calls
instead."""

UniqueQueryError = _define("UniqueQueryError", "`unique()` found more than one document.")
"""Raised by `.unique()` when more than one document matches."""

FunctionNotFound = _define("FunctionNotFound", "No function is registered at that path.")
"""Raised when no function is registered at the given path."""

InvalidFunctionPath = _define("InvalidFunctionPath", "A function path is malformed.")
"""Raised when a function path or name is malformed (expected `"module:function"`)."""

WrongFunctionKind = _define("WrongFunctionKind", "A function was called as a different kind than it is.")
"""Raised when a function is run as another kind than it is (`app.run_query` on a mutation,
`ctx.run_mutation` on a query, subscribing to a mutation, ...)."""

InvalidFunctionCall = _define("InvalidFunctionCall", "A function of one kind called a kind it may not call.")
"""Raised when a function runs a kind of function its own kind may not run: Convex lets queries
run queries, and mutations run queries and mutations. (A query's `ctx` has no `run_mutation`, so
from a handler this shows as an `AttributeError` first.)"""

MaximumCallDepthExceeded = _define("MaximumCallDepthExceeded", "Nested function calls went too deep.")
"""Raised when `ctx.run_query`/`ctx.run_mutation` calls nest more than 8 functions deep (Convex's
limit), which usually means an infinite loop."""

DocumentTooLarge = _define("DocumentTooLarge", "A document exceeds Convex's size or shape limits.")
"""Raised when a document or value exceeds Convex's limits: 1 MiB per document, nesting depth,
8,192 array items, 1,024 object fields."""

StorageIdNotFound = _define("StorageIdNotFound", "No stored file has that storage id.")
"""Raised by `ctx.storage.delete` (and `app.storage.delete`) when no file has the storage id,
with Convex's message `storage id <id> not found`."""

FileTooLarge = _define("FileTooLarge", "A file is larger than the App's file size limit.")
"""Raised by `ctx.storage.store` and `app.storage.store` when a file is larger than
`app.storage.max_file_size` (1 GiB unless changed); nothing is stored. An upload over the limit
gets HTTP 413 with this code."""
EnvironmentVariableNameInvalid = _define("EnvironmentVariableNameInvalid", "An environment variable name breaks Convex's rule.")
"""Raised by `app.env.set` (and `get`, `remove`, `ctx.env[...]`) when a name does not match
Convex's rule: letters, digits and underscores, not starting with a digit."""

EnvironmentVariableNameTooLong = _define("EnvironmentVariableNameTooLong", "An environment variable name is too long.")
"""Raised when an environment variable name is longer than 256 characters (Convex's limit)."""

EnvironmentVariableValueTooLarge = _define("EnvironmentVariableValueTooLarge", "An environment variable value is too large.")
"""Raised by `app.env.set` when the value is larger than 8 KiB (8,192 bytes of UTF-8)."""

EnvVarLimitMet = _define("EnvVarLimitMet", "The deployment has as many environment variables as Convex allows.")
"""Raised by `app.env.set` when a new variable would be the 513th (Convex allows 512)."""

EnvVarTotalSizeLimitMet = _define("EnvVarTotalSizeLimitMet", "The environment variables are larger in total than Convex allows.")
"""Raised by `app.env.set` when the names and values of all variables together would exceed
512 KiB."""

DurabilityError = _define("DurabilityError", "The commit could not be written to the database file; nothing was applied.")
"""Raised when a commit could not be written to the database file (disk full, permissions,
...): nothing of it was applied, and the App goes on. If the file could not even be read back to
tell whether the commit was saved, the message says so and the App is closed: open the file
again, it holds exactly the commits that were saved."""



class InterruptedAfterCommit(KeyboardInterrupt):
    """Ctrl-C arrived while a write was committing, and the commit went through: its writes are saved.

    Raised instead of a plain `KeyboardInterrupt` by a mutation call, `app.import_rows` and
    `app.set_schema` when the interrupt came too late to stop the commit. It is a
    `KeyboardInterrupt` (the cell stops as usual), carrying what the call would have returned.
    A plain `KeyboardInterrupt` from those calls means nothing was applied.

    Attributes:
        result: The mutation's return value, the new ids of an import, or `True` for a schema
            change.
        ts (int | None): The commit's timestamp.
    """

    def __init__(self, result: Any = None, ts: int | None = None, what: str = "The write") -> None:
        self.result = result
        self.ts = ts
        super().__init__(
            f"{what} had already committed when the interrupt arrived (commit ts {ts}): its writes are "
            "saved. The result is on this exception's `.result`."
        )

    def with_what(self, what: str) -> InterruptedAfterCommit:
        """The same interrupt, its message naming the write (`what`: "The mutation notebook:send")."""
        return InterruptedAfterCommit(self.result, self.ts, what)


def interrupted_write(interrupted: KeyboardInterrupt, record: list, what: str) -> KeyboardInterrupt:
    """What a caller of a write raises for a Ctrl-C that reached it: `InterruptedAfterCommit`
    naming `what` once the commit is durable (`record` holds `[result, ts]` from the commit
    point), else the plain interrupt (nothing was applied)."""
    if isinstance(interrupted, InterruptedAfterCommit):
        return interrupted.with_what(what)
    if record:
        return InterruptedAfterCommit(record[0], record[1], what)
    return interrupted


class AppClosedError(RuntimeError):
    """Raised when a closed App is used.

    An App is closed by `app.close()`, by a newer App opening the same file in this process
    (re-running the cell that opens it), or after a commit whose durability could not be
    confirmed. The message says which, and what to use instead.
    """


class DatabaseFileError(RuntimeError):
    """Raised by `App(path)` when the database file cannot be opened: another process holds it,
    the path is a directory, or the file is not a convex_lab database."""


__all__ = [
    "InterruptedAfterCommit",
    "AppClosedError",
    "DatabaseFileError",
    "ConvexError",
    "ConvexSystemError",
    *[name for name, obj in list(globals().items()) if isinstance(obj, type) and issubclass(obj, ConvexSystemError) and obj is not ConvexSystemError],
]
