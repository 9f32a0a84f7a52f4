"""Error classes users see.

`ConvexError` is the user's own error carrying data (as in Convex). Everything convex_lab itself
detects raises a subclass of `ConvexSystemError` named by Convex's error code, whose `str()` is
Convex's text. Values that are not Convex values raise plain `TypeError`/`ValueError`, as the
official Python client does (those live in `values.py`).
"""

from __future__ import annotations

from typing import Any


class ConvexError(Exception):
    """An application error with structured `data`, as `throw new ConvexError(data)` in Convex.

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
    """Base of the errors convex_lab detects; `.code` is Convex's error code."""

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
ReturnsValidationError = _define("ReturnsValidationError", "A return value does not match the function's `returns` validator.")
SchemaValidationError = _define("SchemaValidationError", "A document does not match its table's schema.")
SchemaDefinitionError = _define("SchemaDefinitionError", "A schema definition is invalid.")
InvalidIndexRange = _define("InvalidIndexRange", "A `with_index` range does not follow the index's fields.")
IndexNotFoundError = _define("IndexNotFoundError", "The named index does not exist on the table.")
InvalidArgument = _define("InvalidArgument", "A database call received an invalid argument.")
EvalError = _define("EvalError", "A filter expression could not be evaluated.")
NonexistentDocument = _define("NonexistentDocument", "A write named a document that does not exist.")
ReadOnlyTable = _define("ReadOnlyTable", "System tables are read-only.")
TooManyReads = _define("TooManyReads", "A function read more index ranges than Convex allows.")
TooManyDocumentsRead = _define("TooManyDocumentsRead", "A function read more documents than Convex allows.")
TooManyBytesRead = _define("TooManyBytesRead", "A function read more bytes than Convex allows.")
TooManyWrites = _define("TooManyWrites", "A function wrote more documents or bytes than Convex allows.")
TooManyFunctionsScheduled = _define("TooManyFunctionsScheduled", "A mutation scheduled more functions than Convex allows.")
MultiplePaginatedDatabaseQueries = _define("MultiplePaginatedDatabaseQueries", "Only one paginated query may run per function.")
NoDocumentsForPagination = _define("NoDocumentsForPagination", "`numItems` must be positive.")
PageSizeTooLarge = _define("PageSizeTooLarge", "`numItems` is above Convex's page size limit.")
InvalidCursor = _define("InvalidCursor", "A pagination cursor is malformed or belongs to another query.")
QueryReused = _define("QueryReused", "A query builder object was used twice.")
UniqueQueryError = _define("UniqueQueryError", "`unique()` found more than one document.")
FunctionNotFound = _define("FunctionNotFound", "No function is registered at that path.")
InvalidFunctionPath = _define("InvalidFunctionPath", "A function path is malformed.")
WrongFunctionKind = _define("WrongFunctionKind", "A function was called as a different kind than it is.")
DocumentTooLarge = _define("DocumentTooLarge", "A document exceeds Convex's size or shape limits.")
DurabilityError = _define("DurabilityError", "The commit could not be written to the database file; nothing was applied.")



class InterruptedAfterCommit(KeyboardInterrupt):
    """Ctrl-C arrived while a write was committing, and the commit went through: its writes are
    saved. A `KeyboardInterrupt` (the cell stops), carrying what the caller would have got:
    `.result` (the function's return value, or the new ids of an import) and `.ts` (the commit
    timestamp)."""

    def __init__(self, result: Any = None, ts: int | None = None, what: str = "The write") -> None:
        self.result = result
        self.ts = ts
        super().__init__(
            f"{what} had already committed when the interrupt arrived (commit ts {ts}): its writes are "
            "saved. The result is on this exception's `.result`."
        )

    def with_what(self, what: str) -> "InterruptedAfterCommit":
        """The same interrupt, saying which write it was (`what`: "The mutation notebook:send")."""
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
    """The App was closed (`app.close()`, or a newer App opened the same file in this process);
    the message says which and what to use instead."""


class DatabaseFileError(RuntimeError):
    """A database file cannot be opened: another process holds it, or it is not a convex_lab
    database."""


__all__ = [
    "InterruptedAfterCommit",
    "AppClosedError",
    "DatabaseFileError",
    "ConvexError",
    "ConvexSystemError",
    *[name for name, obj in list(globals().items()) if isinstance(obj, type) and issubclass(obj, ConvexSystemError) and obj is not ConvexSystemError],
]
