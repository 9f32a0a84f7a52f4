"""`app.crons`: installing cron definitions, keeping their state, and running them when due.

A cron's state is a row of the internal `_cron_jobs` system table (keyed by its name: the
function's path, args and schedule it was defined with, `lastRun`, `nextRun`, `paused`,
`running`), written through the engine's commit path, so it survives reopening a file. The
definitions themselves are code: after reopening, a cron runs again once it is defined again
(a re-run cell, `load_functions`); defining it with the same spec keeps its state.

Runs (on the service's worker threads, caller `cron`, no identity) never overlap: a cron whose
run is still going is not started again. When a run finishes, the next time is computed from
the time it was scheduled for; times already past are skipped and logged (as Convex's
"Skipping N runs"), never replayed: so a cron overdue after the App was closed runs once, and
the runs it missed besides are skipped. A mutation's run and its new state commit together; an
action's run is marked `running` first, so after a crash it is not run again (at most once).
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from typing import TYPE_CHECKING, Any

from pathlib import Path

from ..interrupts import DEFERRED
from ..errors import (
    ConvexSystemError,
    FunctionNotFound,
    InterruptedAfterCommit,
    InvalidScheduledFunction,
    WrongFunctionKind,
)
from ..values import check_value_limits, convex_value
from .clock import Clock
from .crons import CronDef, CronDefinitions, CronJobs, first_run, next_after_run
from .registry import FunctionHandle, FunctionSpec, normalize_path
from .timers import TimerService

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.database import Database
    from ..engine.transaction import Transaction
    from .execution import Runtime
    from .scheduler import Scheduler

logger = logging.getLogger("convex_lab")

TABLE = "_cron_jobs"


class Crons(CronDefinitions, TimerService):
    """The App's crons (`app.crons`): define them (`interval`, `hourly`, `daily`, `weekly`,
    `monthly`, `cron`), look at them (`list`), `pause`, `resume` and `remove` them.

    Defining a name again replaces that cron (one with the same schedule, function and args keeps
    its `lastRun`/`nextRun`). Runs are logged in `app.logs()` with caller `cron`.

    Examples:
        >>> clock = ManualClock("2025-01-01T00:00:00Z")
        >>> lab = App(clock=clock)
        >>> @lab.mutation
        ... def tick(ctx):
        ...     ctx.db.insert("ticks", {})
        >>> lab.crons.interval("tick", tick, minutes=5)
        >>> clock.advance(minutes=12)      # runs at 0, 5 and 10 minutes
        >>> len(lab.table("ticks"))
        3
        >>> lab.crons.list()[0]["schedule"]
        {'type': 'interval', 'minutes': 5}
    """

    def __init__(self, database: "Database", runtime: "Runtime", clock: Clock, scheduler: "Scheduler") -> None:
        TimerService.__init__(self, clock, "crons")
        self.database = database
        self.runtime = runtime
        self._scheduler = scheduler
        self._lock = threading.RLock()  # definitions and `_running` (the notebook's thread and the loop)
        self._defs: dict[str, CronDef] = {}  # defined in this session: name -> resolved definition
        self._running: set[str] = set()
        self._installed: dict[Any, set[str]] = {}  # functions directory -> the crons its crons.py defined

    def start(self) -> None:
        """A reopened file: a run left `running` was cut off (an action's, by a crash or a close);
        it counts as done, and the cron's next time is the next one in the future."""
        now = self.clock.now_ms()

        def recover(txn: "Transaction") -> None:
            for row in self._rows():
                if row["running"]:
                    following, _ = next_after_run(row["schedule"], row["name"], row["nextRun"], now)
                    txn.patch(row["_id"], {"running": False, "nextRun": following}, system=True)

        if any(row["running"] for row in self._rows()):
            self.database.run_mutation(recover)

    # -- definitions ----------------------------------------------------------------------
    def _define(self, definition: CronDef) -> None:
        self._install([definition])

    def _install(self, definitions: list[CronDef], removed: set[str] = frozenset()) -> None:
        """Install `definitions` (checked first: all or nothing) and remove the crons `removed`."""
        resolved = [self._resolve(d) for d in definitions]
        now = self.clock.now_ms()

        def write(txn: "Transaction") -> None:
            rows = {row["name"]: row for row in self._rows()}
            for d in resolved:
                row = rows.get(d.name)
                spec = {"function": d.function, "args": d.args, "schedule": d.schedule}
                if row is None:
                    txn.insert(TABLE, {"name": d.name, **spec, "nextRun": first_run(d.schedule, d.name, now),
                                       "paused": False, "running": False}, system=True)
                elif any(row[k] != v for k, v in spec.items()):
                    txn.patch(row["_id"], {**spec, "nextRun": first_run(d.schedule, d.name, now)}, system=True)
            for name in removed:
                if name in rows:
                    txn.delete(rows[name]["_id"], system=True)

        def apply() -> None:
            for name in removed:
                self._defs.pop(name, None)
            for d in resolved:
                self._defs[d.name] = d

        self._commit(write, apply)

    def _commit(self, write: Any, apply: Any = None) -> None:
        """Commit `write`, then `apply()` (this session's definitions) and wake the service, as
        one step for Ctrl-C (a cell defining or pausing a cron): the rows never change without
        the definitions (the cron would be missing from `list()` and never run until its cell
        ran again) nor without a wake. A Ctrl-C that came meanwhile is delivered afterwards, as
        `InterruptedAfterCommit` (a plain `KeyboardInterrupt` means nothing changed)."""
        applied: list = []
        try:
            with DEFERRED, self._lock:
                commit = self.database.run_mutation(write)[2]
                if apply is not None:
                    apply()
                applied.append(commit.ts if commit is not None else None)
                self.wake()
        except KeyboardInterrupt:
            if not applied:
                raise
            raise InterruptedAfterCommit(None, applied[0], "The change of the crons") from None

    def _resolve(self, definition: CronDef) -> CronDef:
        target = self._scheduler.target(definition.function)
        return CronDef(definition.name, definition.schedule, target.path, _cron_args(definition))

    def check_directory_crons(self, directory: Any, jobs: CronJobs | None, functions: dict[str, Any],
                              removed: set[str]) -> list[CronDef]:
        """The definitions of a functions directory's `crons.py`, checked before the directory's
        load changes anything: each cron's function must be a mutation or action among the
        directory's `functions` (path → FunctionSpec, about to be registered) or the registered
        ones other than `removed` (about to be unregistered), and its args a dict of Convex
        values. Returns them with their function as a path, for `load_directory_crons`.

        Raises:
            InvalidScheduledFunction: A cron names no such function, or a query (the message
                names crons.py and the cron).
            TypeError / ValueError: A cron's args are not a dict of Convex values.
        """
        if jobs is None:
            return []
        where = Path(directory) / "crons.py" if directory is not None else "crons.py"
        checked = []
        for d in jobs.definitions.values():
            try:
                path, kind = self._target_in(d.function, functions, removed)
                if kind not in ("mutation", "action"):
                    raise InvalidScheduledFunction(
                        f"{path} is a {kind}: only mutations and actions can be scheduled.")
                args = _cron_args(d)
            except (InvalidScheduledFunction, TypeError, ValueError) as exc:
                raise type(exc)(f"{where}: cron {d.name!r}: {exc}") from None
            checked.append(CronDef(d.name, d.schedule, path, args))
        return checked

    def _target_in(self, fn: Any, functions: dict[str, Any], removed: set[str]) -> tuple[str, str]:
        """(path, kind) of the function `fn` names once a directory's load is done."""
        if isinstance(fn, FunctionSpec):
            for path, spec in functions.items():
                if spec is fn:
                    return path, spec.kind
        elif isinstance(fn, (str, FunctionHandle)):
            path = normalize_path(fn if isinstance(fn, str) else fn.path)
            if path in functions:
                return path, functions[path].kind
        try:
            definition = self.runtime.resolve(fn)
        except FunctionNotFound as missing:
            raise InvalidScheduledFunction(f"Cannot schedule a function that does not exist. {missing}") from None
        if definition.path in removed:
            raise InvalidScheduledFunction(
                f"Cannot schedule a function that does not exist: {definition.path} is no longer declared "
                "in the functions directory.")
        return definition.path, definition.kind

    def load_directory_crons(self, directory: Any, definitions: list[CronDef]) -> None:
        """Install what a functions directory's `crons.py` defines now (`check_directory_crons`'
        result), removing the crons it defined last time and no longer does."""
        names = {d.name for d in definitions}
        self._install(definitions, self._installed.get(directory, set()) - names)
        self._installed[directory] = names

    def remove(self, name: str) -> None:
        """Remove the cron `name` (its state too); a run in progress finishes.

        Raises:
            KeyError: No cron of that name is defined.
        """
        with self._lock:
            if name not in self._defs:
                raise KeyError(f"No cron named {name!r}; the crons are: {', '.join(self._defs) or 'none'}.")
            self._install([], {name})

    delete = remove

    def pause(self, name: str | None = None) -> None:
        """Stop running cron `name`, or every cron defined now (without a name), until `resume`.
        A run in progress finishes. Paused stays paused across reopening the file.

        Raises:
            KeyError: No cron of that name is defined.
        """
        self._set_paused(name, True)

    def resume(self, name: str | None = None) -> None:
        """Run cron `name` (or every paused cron) again. Runs missed while paused are skipped:
        the next run is the next scheduled time from now (for an interval cron: now)."""
        self._set_paused(name, False)

    def _set_paused(self, name: str | None, paused: bool) -> None:
        with self._lock:
            if name is not None and name not in self._defs:
                raise KeyError(f"No cron named {name!r}; the crons are: {', '.join(self._defs) or 'none'}.")
            names = set(self._defs) if name is None else {name}
            now = self.clock.now_ms()

            def write(txn: "Transaction") -> None:
                for row in self._rows():
                    if row["name"] in names and row["paused"] != paused:
                        fields: dict[str, Any] = {"paused": paused}
                        if not paused and row["nextRun"] <= now:  # what it missed is skipped
                            fields["nextRun"] = first_run(row["schedule"], row["name"], now)
                        txn.patch(row["_id"], fields, system=True)

            self._commit(write)

    def list(self) -> list[dict]:
        """The crons defined, sorted by name: one dict each with `name`, `schedule` (Convex's
        spec, such as `{"type": "interval", "seconds": 30}`), `function` (its path), `args`,
        `lastRun` and `nextRun` (epoch ms; `lastRun` None before the first run) and `paused`."""
        rows = {row["name"]: row for row in self._rows()}
        with self._lock:
            defs = dict(self._defs)
        listed = []
        for name in sorted(defs):
            d, row = defs[name], rows.get(name)
            listed.append({"name": name, "schedule": dict(d.schedule), "function": d.function, "args": d.args,
                           "lastRun": row.get("lastRun") if row else None,
                           "nextRun": row["nextRun"] if row else None,
                           "paused": row["paused"] if row else False})
        return listed

    def __repr__(self) -> str:
        return f"<convex_lab crons: {', '.join(sorted(self._defs)) or 'none'}>"

    def _rows(self) -> list[dict]:
        table = self.database.store.tables.get(TABLE)
        return list(table.docs.values()) if table is not None else []

    # -- running (the runtime loop decides, worker threads run) ---------------------------
    def _dispatch(self, now_ms: float) -> float | None:
        rows = {row["name"]: row for row in self._rows()}
        soonest = None
        with self._lock:
            for name, d in self._defs.items():
                row = rows.get(name)
                if row is None or row["paused"] or name in self._running or row["running"]:
                    continue
                due = row["nextRun"]
                if due <= now_ms:
                    self._running.add(name)
                    if not self._start(lambda d=d, due=due: self._run(d, due)):
                        self._running.discard(name)
                        return None
                elif soonest is None or due < soonest:
                    soonest = due
        return soonest

    def _run(self, d: CronDef, scheduled: float) -> None:
        try:
            definition = self.runtime.functions.get(d.function)
            if definition is None or definition.kind not in ("mutation", "action"):
                what = "no function is registered there" if definition is None else f"it is a {definition.kind}"
                logger.warning("Cron %r did not run: %s (%s).", d.name, d.function, what)
                self._complete_alone(d, scheduled, started=None)
            elif definition.kind == "mutation":
                self._run_mutation(d, scheduled)
            else:
                self._run_action(d, scheduled)
        finally:
            with self._lock:
                self._running.discard(d.name)

    def _run_mutation(self, d: CronDef, scheduled: float) -> None:
        started = self.clock.now_ms()
        try:
            execution = self.runtime.execute(d.function, d.args, identity=None, caller="cron",
                                             in_commit=lambda txn: self._complete(txn, d, scheduled, started))
        except (FunctionNotFound, WrongFunctionKind) as gone:
            logger.warning("Cron %r did not run: %s", d.name, gone)
            execution = None
        if execution is None or execution.error is not None:  # its writes rolled back: the state alone
            self._complete_alone(d, scheduled, started)

    def _run_action(self, d: CronDef, scheduled: float) -> None:
        def mark(txn: "Transaction") -> bool:
            row = self._row_in(txn, d.name)
            if row is None or row["running"] or row["paused"] or row["nextRun"] != scheduled:
                return False
            txn.patch(row["_id"], {"running": True}, system=True)
            return True

        if self.closed or not self.database.run_mutation(mark)[0]:
            return
        started = self.clock.now_ms()
        try:
            self.runtime.execute(d.function, d.args, identity=None, caller="cron")
        except (FunctionNotFound, WrongFunctionKind, ConvexSystemError) as gone:
            logger.warning("Cron %r did not run: %s", d.name, gone)
        self._complete_alone(d, scheduled, started)

    def _complete_alone(self, d: CronDef, scheduled: float, started: float | None) -> None:
        if not self.closed:
            self.database.run_mutation(lambda txn: self._complete(txn, d, scheduled, started))

    def _complete(self, txn: "Transaction", d: CronDef, scheduled: float, started: float | None) -> None:
        """The cron's state after its run scheduled at `scheduled`: `lastRun`, the next time."""
        row = self._row_in(txn, d.name)
        if row is None:
            return  # removed meanwhile
        now = self.clock.now_ms()
        if row["schedule"] != d.schedule:  # redefined meanwhile: that set its next time
            following, skipped = row["nextRun"], 0
        else:
            following, skipped = next_after_run(d.schedule, d.name, scheduled, now)
        fields: dict[str, Any] = {"nextRun": following, "running": False}
        if started is not None:
            fields["lastRun"] = started
        txn.patch(row["_id"], fields, system=True)
        if skipped:
            logger.warning("Skipping %d run%s of cron %r because multiple scheduled runs are in the past "
                           "(the next run is at %s).", skipped, "" if skipped == 1 else "s", d.name,
                           _iso(following))

    def _row_in(self, txn: "Transaction", name: str) -> dict | None:
        table = txn.store.tables.get(TABLE)
        for row in table.docs.values() if table is not None else ():
            if row["name"] == name:
                return row
        return None


def _cron_args(definition: CronDef) -> Any:
    """A cron's args, checked as Convex checks them: a dict of Convex values within the limits."""
    args = definition.args if definition.args is not None else {}
    if type(args) is not dict:
        raise TypeError(f"The arguments of cron {definition.name!r} must be a dict, got {type(args).__name__}.")
    args = convex_value(args)
    check_value_limits(args)
    return args


def _iso(ms: float) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000.0, _dt.timezone.utc).isoformat().replace("+00:00", "Z")

