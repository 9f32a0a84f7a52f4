"""convex_lab's own functions, registered on every App under `_system/` (internal: only the
notebook, other functions and the admin key reach them). The CLI's `data` command calls them over
HTTP; they are left out of `app.functions` and of name suggestions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def register_system_functions(registry: "Registry") -> None:
    registry.register("query", True, _tables, name="_system/cli:tables")
    registry.register("query", True, _documents, name="_system/cli:documents",
                      args={"table": v.string(), "limit": v.number(), "order": v.union(v.literal("asc"), v.literal("desc"))})
