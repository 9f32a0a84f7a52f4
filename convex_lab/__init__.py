"""convex_lab: Convex, the reactive backend, rebuilt in Python to live inside a Jupyter kernel.

Start with `App()` (in memory) or `App("lab.duckdb")` (durable); see README.md and the
documentation in docs/ (the guide, and the API reference in docs/reference/).
"""

from .app import App
from .errors import (
    AppClosedError,
    ArgumentValidationError,
    ConvexError,
    ConvexSystemError,
    DatabaseFileError,
    DocumentTooLarge,
    DurabilityError,
    EvalError,
    FunctionNotFound,
    IndexNotFoundError,
    InterruptedAfterCommit,
    InvalidArgument,
    InvalidCursor,
    InvalidFunctionCall,
    InvalidFunctionPath,
    InvalidIndexRange,
    MaximumCallDepthExceeded,
    MultiplePaginatedDatabaseQueries,
    NoDocumentsForPagination,
    NonexistentDocument,
    PageSizeTooLarge,
    QueryReused,
    ReadOnlyTable,
    ReturnsValidationError,
    SchemaDefinitionError,
    SchemaValidationError,
    TooManyBytesRead,
    TooManyDocumentsRead,
    TooManyFunctionsScheduled,
    TooManyReads,
    TooManyWrites,
    UniqueQueryError,
    WrongFunctionKind,
)
from .runtime.clock import ManualClock
from .runtime.crons import cron_jobs
from .runtime.http import Response, http_action, http_router
from .runtime.modules import action, internal_action, internal_mutation, internal_query, mutation, query
from .schema import define_schema, define_table
from .validators import ValidationMismatch, v
from .values import UNSET, Int64

__version__ = "0.1.0"

# Every error class is importable from here (`from convex_lab import SchemaValidationError`).
__all__ = [
    "App",
    "ManualClock",
    "action",
    "cron_jobs",
    "http_action",
    "http_router",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "mutation",
    "query",
    "AppClosedError",
    "ArgumentValidationError",
    "ConvexError",
    "ConvexSystemError",
    "DatabaseFileError",
    "DocumentTooLarge",
    "DurabilityError",
    "EvalError",
    "FunctionNotFound",
    "IndexNotFoundError",
    "Int64",
    "InterruptedAfterCommit",
    "InvalidArgument",
    "InvalidCursor",
    "InvalidFunctionCall",
    "InvalidFunctionPath",
    "InvalidIndexRange",
    "MaximumCallDepthExceeded",
    "MultiplePaginatedDatabaseQueries",
    "NoDocumentsForPagination",
    "NonexistentDocument",
    "PageSizeTooLarge",
    "QueryReused",
    "ReadOnlyTable",
    "Response",
    "ReturnsValidationError",
    "SchemaDefinitionError",
    "SchemaValidationError",
    "TooManyBytesRead",
    "TooManyDocumentsRead",
    "TooManyFunctionsScheduled",
    "TooManyReads",
    "TooManyWrites",
    "UNSET",
    "UniqueQueryError",
    "ValidationMismatch",
    "WrongFunctionKind",
    "define_schema",
    "define_table",
    "v",
]


def load_ipython_extension(ipython) -> None:  # noqa: ANN001 - IPython's shell
    """`%load_ext convex_lab`: bind `app` to a new in-memory App (unless `app` already is one)
    and register the `%%live` and `%convex` magics. The notebook integration is imported only
    when asked for."""
    from .notebook import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython) -> None:  # noqa: ANN001
    """`%unload_ext convex_lab`: stop the live cells' subscriptions and remove the magics."""
    from .notebook import unload_ipython_extension as unload

    unload(ipython)
