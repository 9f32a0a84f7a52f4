"""convex_lab's own functions, registered on every App under `_system/` (internal: only the
notebook, other functions and the admin key reach them). The CLI's `data`, `env` and `logs`
commands call them over HTTP; they are left out of `app.functions`, of name suggestions and of
the execution log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..engine import env_vars
from ..validators import v

if TYPE_CHECKING:  # pragma: no cover
    from .registry import Registry


def _tables(ctx: Any) -> dict[str, float]:
    """Every user table and how many documents it holds."""
    tables = ctx.db._txn.store.tables  # counts of the committed tables; not part of any read set
    return {name: float(len(table.docs)) for name, table in list(tables.items()) if not name.startswith("_")}


def _documents(ctx: Any, table: str, limit: float, order: str) -> list[dict]:
    """A table's documents by creation time, `limit` of them."""
    return ctx.db.query(table).order(order).take(int(limit))


def _env_list(ctx: Any) -> dict[str, str]:
    return env_vars.read_all(ctx.db._txn)


def _env_get(ctx: Any, name: str) -> str | None:
    return env_vars.read(ctx.db._txn, name)


def _env_set(ctx: Any, name: str, value: str) -> None:
    env_vars.write(ctx.db._txn, name, value)


def _env_remove(ctx: Any, name: str) -> None:
    env_vars.write(ctx.db._txn, name, None)


def _logs(ctx: Any, cursor: float | None = None, history: float = 0) -> dict:
    """The executions logged after `cursor` (an entry id), or the last `history` ones, and the
    cursor to ask with next: how `convex-lab logs` follows the log."""
    entries, last = ctx._runtime.execution_log.since(None if cursor is None else int(cursor), int(history))
    return {"entries": entries, "cursor": float(last)}


def register_system_functions(registry: "Registry") -> None:
    registry.register("query", True, _tables, name="_system/cli:tables")
    registry.register("query", True, _documents, name="_system/cli:documents",
                      args={"table": v.string(), "limit": v.number(), "order": v.union(v.literal("asc"), v.literal("desc"))})
    registry.register("query", True, _env_list, name="_system/cli:envList")
    registry.register("query", True, _env_get, name="_system/cli:envGet", args={"name": v.string()})
    registry.register("mutation", True, _env_set, name="_system/cli:envSet",
                      args={"name": v.string(), "value": v.string()})
    registry.register("mutation", True, _env_remove, name="_system/cli:envRemove", args={"name": v.string()})
    registry.register("query", True, _logs, name="_system/cli:logs",
                      args={"cursor": v.optional(v.union(v.number(), v.null())), "history": v.optional(v.number())})
