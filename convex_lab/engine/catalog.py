"""The catalog: what a database's ids and commits are made of, below the store and the transactions.

One object per database owns:
- table names and numbers: every name ever given a number keeps it (a table created, rolled back
  and created again gets the same number, and ids of a dropped table still decode to its name);
  user tables are numbered from 10001, system tables have Convex's fixed numbers;
- the id prefixes: the first 4 characters of an id name its table, so `db.get` finds the table in
  one dict lookup;
- the schema in force;
- the clocks: the last commit timestamp (ns) and the last `_creationTime` handed out (ms);
- the system tables (`_scheduled_functions`, `_storage`, and the internal `_environment_variables`
  and `_cron_jobs`): their numbers, document validators and indexes. User code reads the first two
  (`ctx.db.system`) and never writes any; the engine writes them through the same transactions and
  the same commit path as user tables (`Transaction.insert(..., system=True)`, ...). The internal
  ones are hidden from functions, as in Convex: they read variables through `ctx.env` only, and
  never see the cron table.

A plain structure like the store: the coordinator's commit lock guards it, and a transaction's undo
log restores what it changed (`clocks()` / `restore_clocks`, `schema`).
"""

from __future__ import annotations

import math
import time
from typing import Any

from .. import ids as idlib
from ..validators import v

# The system tables convex_lab keeps, with the documents Convex gives functions to read (the
# fields beside `_id` and `_creationTime`).
SYSTEM_TABLE_VALIDATORS = {
    "_scheduled_functions": v.object({
        "name": v.string(),  # the canonical path, with `.js`: "messages.js:send"
        "args": v.array(v.any()),  # the positional form: one object
        "scheduledTime": v.float64(),
        "completedTime": v.optional(v.float64()),
        "state": v.union(
            v.object({"kind": v.literal("pending")}),
            v.object({"kind": v.literal("inProgress")}),
            v.object({"kind": v.literal("success")}),
            v.object({"kind": v.literal("failed"), "error": v.string()}),
            v.object({"kind": v.literal("canceled")}),
        ),
    }),
    "_storage": v.object({
        "sha256": v.string(),  # base64, as Convex's `_storage` rows keep it
        "size": v.float64(),
        "contentType": v.optional(v.union(v.string(), v.null())),
    }),
    "_environment_variables": v.object({"name": v.string(), "value": v.string()}),
    # One row per cron name: its definition when it last ran or was registered, and its state.
    # Internal (Convex does not show functions its cron table): `ctx.db.system` cannot read it.
    "_cron_jobs": v.object({
        "name": v.string(),
        "function": v.string(),  # the function's path
        "args": v.any(),
        "schedule": v.any(),  # Convex's spec: {"type": "interval", "seconds": 30}, ...
        "lastRun": v.optional(v.float64()),  # epoch ms of the last run's scheduled time
        "nextRun": v.float64(),
        "paused": v.boolean(),
        "running": v.boolean(),  # a run started and has not finished (an action's, across a crash)
    }),
}

# The indexes of system tables (beside `by_id` and `by_creation_time`): a variable is read by
# name, so a query's read of one variable is one key range of `by_name`.
SYSTEM_TABLE_INDEXES = {
    "_environment_variables": {"by_name": ("name",)},
}

# System tables functions cannot read (`ctx.db.system` refuses them; `db.get` of their ids is None).
HIDDEN_SYSTEM_TABLES = frozenset({"_environment_variables", "_cron_jobs"})


class SystemTable:
    """A system table's fixed number and document validator."""

    __slots__ = ("name", "number", "validator", "indexes", "hidden")

    def __init__(self, name: str, number: int, validator: Any) -> None:
        self.name = name
        self.number = number
        self.validator = validator
        self.indexes: dict[str, tuple[str, ...]] = SYSTEM_TABLE_INDEXES.get(name, {})
        self.hidden = name in HIDDEN_SYSTEM_TABLES

    def __repr__(self) -> str:
        return f"SystemTable({self.name!r}, {self.number})"


SYSTEM_TABLES = {name: SystemTable(name, idlib.SYSTEM_TABLE_NUMBERS[name], validator)
                 for name, validator in SYSTEM_TABLE_VALIDATORS.items()}


class Catalog:
    """Table numbers, id prefixes, the schema and the clocks of one database."""

    __slots__ = ("numbers", "names", "prefixes", "schema", "last_ts", "last_creation_time")

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}  # every table name ever given a number
        self.names: dict[int, str] = {}
        self.prefixes: dict[str, int] = {}  # the first 4 characters of an id -> its table number
        self.schema: Any = None  # the SchemaDefinition in force, or None
        self.last_ts = 0  # the newest commit's timestamp (ns)
        self.last_creation_time = 0.0  # the largest `_creationTime` handed out (ms)
        for system in SYSTEM_TABLES.values():
            self.enter(system.name, system.number)

    # -- names and numbers --------------------------------------------------------------------
    def enter(self, name: str, number: int) -> None:
        """Record that table `name` has `number` (reopening a file, creating a table)."""
        self.numbers[name] = number
        self.names[number] = name
        for prefix in id_prefixes(number):
            self.prefixes[prefix] = number

    def number_for(self, name: str) -> int:
        """The number of table `name`, giving a new user table the next free one."""
        number = self.numbers.get(name)
        if number is None:
            number = max(idlib.FIRST_USER_TABLE_NUMBER, max(self.names, default=0) + 1)
            self.enter(name, number)
        return number

    def number_of(self, name: str) -> int | None:
        """The number of table `name`, or None if no table of that name was ever created."""
        return self.numbers.get(name)

    def name_of(self, number: int) -> str | None:
        """The name of the table numbered `number`, or None (also the resolver of `v.id`)."""
        return self.names.get(number)

    def number_for_id(self, doc_id: str) -> int | None:
        """The table number an id string probably has, from its first 4 characters. O(1).

        No validation: a hit must still be confirmed (a document found under that exact id, or a
        full `ids.decode_id`); a miss means "decode to find out"."""
        return self.prefixes.get(doc_id[:4])

    def system_table(self, name: str) -> SystemTable | None:
        return SYSTEM_TABLES.get(name)

    # -- the schema ---------------------------------------------------------------------------
    def table_indexes(self, table: str) -> dict[str, tuple[str, ...]]:
        """The declared indexes of `table`: a system table's own, else the schema's."""
        system = SYSTEM_TABLES.get(table)
        if system is not None:
            return dict(system.indexes)
        schema = self.schema
        if schema is None or table not in schema.tables:
            return {}
        return dict(schema.tables[table].indexes)

    def index_fields(self, table: str, index: str) -> tuple[str, ...] | None:
        """The fields of a declared index, or None when `table` has no such index."""
        system = SYSTEM_TABLES.get(table)
        if system is not None:
            return system.indexes.get(index)
        schema = self.schema
        if schema is None or table not in schema.tables:
            return None
        fields = schema.tables[table].indexes.get(index)
        return tuple(fields) if fields is not None else None

    # -- clocks -------------------------------------------------------------------------------
    def next_commit_ts(self) -> int:
        """A new commit timestamp: now in ns, above every earlier one (also across reopening)."""
        ts = self.last_ts = max(time.time_ns(), self.last_ts + 1)
        return ts

    def next_creation_time(self, now_ms: float) -> float:
        """A new `_creationTime`: `now_ms`, or just above the last one handed out (unique and
        increasing across the deployment)."""
        t = now_ms
        if t <= self.last_creation_time:
            t = math.nextafter(self.last_creation_time, math.inf)
        self.last_creation_time = t
        return t

    def clocks(self) -> tuple[int, float]:
        """The clocks, to put back with `restore_clocks` when a group of commits is undone."""
        return self.last_ts, self.last_creation_time

    def restore_clocks(self, saved: tuple[int, float]) -> None:
        self.last_ts, self.last_creation_time = saved

    def _check(self) -> None:
        """Assert that names, numbers and prefixes agree (for tests)."""
        assert len(self.names) == len(self.numbers)
        for name, number in self.numbers.items():
            assert self.names[number] == name
        for prefix, number in self.prefixes.items():
            assert number in self.names and prefix in id_prefixes(number)
        for system in SYSTEM_TABLES.values():
            assert self.numbers[system.name] == system.number


def id_prefixes(table_number: int) -> list[str]:
    """The possible first 4 characters of the ids of a table.

    For table numbers 128..16383 (every user and system table) the VInt is 2 bytes = 16 bits, and
    4 base32 characters hold 20 bits: the table number plus the top 4 bits of the random part, so
    there are 16 prefixes per table. Other numbers have none and take the decoding path.
    """
    if not 128 <= table_number < 16384:
        return []
    return [idlib.encode_id(table_number, bytes([hi << 4]) + bytes(15))[:4] for hi in range(16)]
