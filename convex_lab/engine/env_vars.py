"""Environment variables: Convex's rules for them, and their reads and writes in a transaction.

The variables are documents `{name, value}` of the hidden system table `_environment_variables`
(catalog.py), indexed `by_name`. Reading one is a query of its name's range of that index, so the
read enters the transaction's read set like any other: a live query that read `X` (even a missing
`X`) re-runs when `X` is set or removed, and only then. Writing goes through the same transaction
and commit path as every other write, so a change is durable, atomic and undone on rollback.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import (
    EnvironmentVariableNameInvalid,
    EnvironmentVariableNameTooLong,
    EnvironmentVariableValueTooLarge,
    EnvVarLimitMet,
    EnvVarTotalSizeLimitMet,
)
from .query import Query
from .transaction import Transaction

TABLE = "_environment_variables"
BY_NAME = "by_name"

# Convex's limits (reference §11.1; the values its code enforces).
MAX_NAME_LENGTH = 256
MAX_VALUE_BYTES = 8 * 1024
MAX_COUNT = 512
MAX_TOTAL_BYTES = 512 * 1024

_NAME = re.compile(r"[a-zA-Z_]+[a-zA-Z0-9_]*")


def check_name(name: Any) -> str:
    """`name` if it is a valid variable name; else Convex's error (rule first, then length)."""
    if type(name) is not str:
        raise TypeError(f"An environment variable name is a string, got {type(name).__name__}.")
    if not _NAME.fullmatch(name):
        raise EnvironmentVariableNameInvalid(
            f"The environment variable name {name} is invalid. Environment variable names must begin with a "
            "letter and may only include characters a-z, A-Z, 0-9, and underscores."
        )
    if len(name.encode()) > MAX_NAME_LENGTH:
        raise EnvironmentVariableNameTooLong(
            f"The environment variable name {name} is too long. Environment variable names must be less "
            f"than {MAX_NAME_LENGTH}."
        )
    return name


def check_value(value: Any) -> str:
    """`value` if it is a valid variable value (a string of at most 8 KiB of UTF-8)."""
    if type(value) is not str:
        raise TypeError(f"An environment variable value is a string, got {type(value).__name__}: "
                        "convert it first (str(value), json.dumps(value)).")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_VALUE_BYTES:
        # Convex's text (which leaves its parenthesis open; closed here).
        raise EnvironmentVariableValueTooLarge(
            f"The environment variable value is {size} bytes, which is too large. (max size: {MAX_VALUE_BYTES})"
        )
    return value


def _documents(txn: Transaction, name: str | None = None) -> list[dict]:
    """The variables' documents in name order: all, or the one named `name` (its key range)."""
    query = Query(txn, TABLE)
    if name is None:
        return query.with_index(BY_NAME).collect()
    return query.with_index(BY_NAME, lambda q: q.eq("name", name)).collect()


def read(txn: Transaction, name: str) -> str | None:
    """The value of variable `name`, or None. Records a read of that name only."""
    docs = _documents(txn, check_name(name))
    return docs[0]["value"] if docs else None


def read_all(txn: Transaction) -> dict[str, str]:
    """Every variable, name → value, in name order. Records a read of the whole table."""
    return {doc["name"]: doc["value"] for doc in _documents(txn)}


def write(txn: Transaction, name: str, value: str | None) -> None:
    """Set variable `name` to `value` (None removes it), then check Convex's count and total
    size limits; a limit error leaves the transaction to be rolled back by its runner."""
    check_name(name)
    if value is not None:
        check_value(value)
    docs = _documents(txn, name)
    if value is None:
        if docs:
            txn.delete(docs[0]["_id"], system=True)
        return
    if docs:
        txn.patch(docs[0]["_id"], {"value": value}, system=True)  # the same value writes nothing
    else:
        txn.insert(TABLE, {"name": name, "value": value}, system=True)
    variables = read_all(txn)
    if len(variables) > MAX_COUNT:
        raise EnvVarLimitMet(f"The environment variable limit ({MAX_COUNT}) has been met.")
    total = sum(len(n.encode()) + len(v.encode("utf-8", "surrogatepass")) for n, v in variables.items())
    if total > MAX_TOTAL_BYTES:
        raise EnvVarTotalSizeLimitMet(
            f"The total size of all environment variables ({total} bytes) exceeds the limit ({MAX_TOTAL_BYTES} bytes)."
        )
