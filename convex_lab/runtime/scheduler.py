"""Scheduled functions: `ctx.scheduler` and the service that runs jobs when they fall due.

Every job is a row of the `_scheduled_functions` system table, shaped as Convex keeps it: `name`
(the canonical path, `messages.js:send`), `args` (a one-element list), `scheduledTime` (epoch
ms), `completedTime` once finished, and `state.kind`: pending → (inProgress →) success | failed
(with `error`) | canceled. The rows are the truth; the service keeps only an index of pending
jobs, fed by a commit listener, so a job exists for it only once the transaction that scheduled
it committed (a mutation that fails or is interrupted schedules nothing).

Running a job (on the service's worker threads, caller `scheduler`, no identity):
- a mutation runs once: its job turns `success` inside the mutation's own transaction
  (`Runtime.execute(in_commit=...)`); if the mutation fails, its writes roll back and the job
  turns `failed` with the error, in a commit of its own;
- an action runs at most once: `inProgress` commits before it starts, `success`/`failed` after;
  a job found `inProgress` when a file is opened again was cut off by a crash or a close, and
  turns `failed` ("Transient error while executing action"), never re-run.
Cancelling an action's job while it runs marks it `canceled` at once; the action goes on, and
what it schedules from then on (itself, or through the mutations and actions it calls) is
created `canceled` and never runs. `running_job` (a context variable set around the action's run,
carried into its mutations' transactions as `Transaction.scheduled_by`) says whose job a call
runs under. The action's job stays `canceled` when it finishes.
A due job whose function is not registered (after reopening a file, before its code ran again)
stays pending, with a warning naming the function, and runs as soon as that path is registered.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import datetime as _dt
import heapq
import logging
import math
from typing import TYPE_CHECKING, Any

from ..errors import (
    ConvexSystemError,
    FunctionNotFound,
    InvalidArgument,
    InvalidScheduledFunction,
    InvalidScheduledFunctionDelay,
    WrongFunctionKind,
)
from ..validators import ValidationMismatch
from ..values import check_value_limits, convex_value
from .clock import Clock, to_epoch_ms
from .registry import canonical_path, normalize_path
from .timers import PARALLELISM, TimerService

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.database import Commit, Database
    from ..engine.transaction import Transaction
    from .execution import Runtime

logger = logging.getLogger("convex_lab")

TABLE = "_scheduled_functions"
# Convex refuses times more than five years (of 366 days) away, in either direction.
MAX_DISTANCE_MS = 5 * 366 * 86_400_000
ACTION_CUT_OFF = "Transient error while executing action"

# The job of the scheduled action this context runs (None elsewhere): what the action schedules
# after its job was canceled is created canceled. Context variables follow the action into the
# functions it calls (`ctx.run_*`, an `async def` action's tasks); a mutation's transaction may
# run on another thread (group commit), so `Runtime` copies it onto `Transaction.scheduled_by`.
running_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("convex_lab_running_job", default=None)


def error_text(error: BaseException) -> str:
    """What a failed job's `state.error` says: Convex's message for its own errors, and
    `Uncaught <Type>: <message>` for what the function raised."""
    if isinstance(error, ConvexSystemError):
        return str(error)
    return f"Uncaught {type(error).__name__}: {error}"


class _Superseded(Exception):
    """The job stopped being pending (canceled) before its mutation could commit."""


class Scheduler(TimerService):
    """The App's scheduled-functions service (`runtime.scheduler`)."""

    def __init__(self, database: "Database", runtime: "Runtime", clock: Clock) -> None:
        super().__init__(clock, "scheduler")
        self.database = database
        self.runtime = runtime
        # (job id, due time or None) from commits, on any thread; drained on the loop
        self._inbox: collections.deque[tuple[str, float | None]] = collections.deque()
        self._pending: dict[str, float] = {}  # pending job id -> scheduledTime (loop only)
        self._heap: list[tuple[float, str]] = []  # (scheduledTime, id); stale entries skipped
        self._running: set[str] = set()
        self._waiting: dict[str, list[str]] = {}  # function path -> due job ids it holds back
        database.listeners.append(self._on_commit)
        runtime.on_register.append(lambda path: self.wake() if self._waiting else None)
        runtime.scheduler = self

    def start(self) -> None:
        """Take over the jobs found in the database (a reopened file): pending ones are indexed;
        an action left `inProgress` was cut off and is marked failed, not run again."""
        table = self.database.store.tables.get(TABLE)
        cut_off = []
        for doc in list(table.docs.values()) if table is not None else []:
            kind = doc["state"]["kind"]
            if kind == "pending":
                self._inbox.append((doc["_id"], doc["scheduledTime"]))
            elif kind == "inProgress":
                cut_off.append(doc["_id"])
        if cut_off:
            now = self.clock.now_ms()

            def fail(txn: "Transaction") -> None:
                for job_id in cut_off:
                    txn.patch(job_id, {"state": {"kind": "failed", "error": ACTION_CUT_OFF},
                                       "completedTime": now}, system=True)

            self.database.run_mutation(fail)
        self.wake()

    # -- scheduling (ctx.scheduler) -------------------------------------------------------
    def ctx(self, txn: "Transaction | None" = None, is_async: bool = False) -> "SchedulerCtx":
        """The `ctx.scheduler` of a mutation (writing into `txn`) or of an action."""
        return SchedulerCtx(self, txn, is_async)

    def job_for(self, delay_or_when: Any, fn: Any, args: Any, *, at: bool) -> dict:
        """The new job's row, checked as Convex checks a scheduling call (not yet written)."""
        now = self.clock.now_ms()
        if at:
            if isinstance(delay_or_when, (_dt.datetime, int, float)) and not isinstance(delay_or_when, bool):
                when = to_epoch_ms(delay_or_when)
            else:
                raise TypeError("The time to run at must be epoch milliseconds (a number) or a datetime, "
                                f"got {type(delay_or_when).__name__}.")
            if not math.isfinite(when):
                raise ValueError(f"The time to run at must be a finite number, got {when}.")
        else:
            delay = delay_or_when
            if not isinstance(delay, (int, float)) or isinstance(delay, bool):
                raise TypeError(f"`delay_ms` must be a number, got {type(delay).__name__}.")
            if not math.isfinite(delay):
                raise ValueError(f"`delay_ms` must be a finite number, got {delay}.")
            if delay < 0:
                raise ValueError(f"`delay_ms` must be non-negative, got {delay}.")
            when = now + delay
        if abs(when - now) > MAX_DISTANCE_MS:
            direction = "future" if when > now else "past"
            raise InvalidScheduledFunctionDelay(
                f"Attempted to schedule a function at {_iso(when)}, more than 5 years in the {direction}. "
                "Scheduled functions must run within 5 years of now.")
        definition = self.target(fn)
        return {"name": canonical_path(definition.path), "args": [self._convert_args(definition, args)],
                "scheduledTime": float(when), "state": {"kind": "pending"}}

    def target(self, fn: Any) -> Any:
        """The FunctionDef `fn` names, which must be a mutation or an action."""
        try:
            definition = self.runtime.resolve(fn)
        except FunctionNotFound as missing:
            raise InvalidScheduledFunction(f"Cannot schedule a function that does not exist. {missing}") from None
        if definition.kind not in ("mutation", "action"):
            raise InvalidScheduledFunction(
                f"{definition.path} is a {definition.kind}: only mutations and actions can be scheduled.")
        return definition

    def _convert_args(self, definition: Any, args: Any) -> Any:
        # Convex checks that the arguments are Convex values within the size limits now, and runs
        # the function's validator when it runs. The validator still decides the int rule when
        # it accepts them (an int for a `v.int64()` stays an Int64); otherwise the plain rule.
        if args is None:
            args = {}
        if type(args) is not dict:
            raise TypeError(f"The arguments of a scheduled function must be a dict, got {type(args).__name__}.")
        converted = None
        if definition.args is not None:
            try:
                converted = definition.args.convert(args, "", self.database.catalog.name_of)
            except (ValidationMismatch, TypeError, ValueError):
                converted = None
        if converted is None:
            converted = convex_value(args)
        check_value_limits(converted)
        return converted

    def insert_in(self, txn: "Transaction", row: dict, parent: str | None) -> Any:
        """Write a new job; created canceled when `parent` (the scheduled action it is scheduled
        under) was canceled, as Convex cancels what a canceled action schedules."""
        if parent is not None:
            doc = txn.get(parent)
            if doc is not None and doc["state"]["kind"] == "canceled":
                row = {**row, "state": {"kind": "canceled"}, "completedTime": self.clock.now_ms()}
        return txn.insert(TABLE, row, system=True)

    def cancel_in(self, txn: "Transaction", job_id: Any) -> None:
        """Cancel a pending job (or an action in progress, which keeps running); a finished or
        canceled one is left as it is."""
        if txn.normalize_id(TABLE, job_id, system=True) is None:
            raise InvalidArgument(f"scheduler.cancel takes the id of a scheduled function (from run_after or "
                                  f"run_at), got {job_id!r}.")
        doc = txn.get(job_id)
        if doc is not None and doc["state"]["kind"] in ("pending", "inProgress"):
            txn.patch(job_id, {"state": {"kind": "canceled"}, "completedTime": self.clock.now_ms()}, system=True)

    # -- what committed -------------------------------------------------------------------
    def _on_commit(self, commit: "Commit") -> None:
        # Inside the commit point: only note the jobs and wake the loop.
        found = None
        for write in commit.changes:
            if write.table.name == TABLE:
                new = write.new
                due = new["scheduledTime"] if new is not None and new["state"]["kind"] == "pending" else None
                (found := found or []).append((write.id, due))
        if found:
            self._inbox.extend(found)
            self.wake()

    # -- on the runtime loop --------------------------------------------------------------
    def _dispatch(self, now_ms: float) -> float | None:
        inbox = self._inbox
        while inbox:
            job_id, due = inbox.popleft()
            if due is None:
                self._pending.pop(job_id, None)
            else:
                self._pending[job_id] = due
                heapq.heappush(self._heap, (due, job_id))
        if self._waiting:  # functions registered since: their jobs go back in line
            for path in [p for p in self._waiting if p in self.runtime.functions]:
                for job_id in self._waiting.pop(path):
                    if job_id in self._pending:
                        heapq.heappush(self._heap, (self._pending[job_id], job_id))
        heap = self._heap
        while heap and heap[0][0] <= now_ms and len(self._running) < PARALLELISM:
            due, job_id = heapq.heappop(heap)
            if self._pending.get(job_id) != due or job_id in self._running:
                continue  # canceled, done or rescheduled since
            doc = self._document(job_id)
            if doc is None or doc["state"]["kind"] != "pending":
                continue
            path = normalize_path(doc["name"])
            if path not in self.runtime.functions:
                self._hold(path, job_id)
                continue
            self._running.add(job_id)
            if not self._start(lambda job_id=job_id, path=path, args=doc["args"]: self._run_job(job_id, path, args)):
                self._running.discard(job_id)
                return None
        if len(self._running) >= PARALLELISM:
            return None  # a job finishing wakes the service
        return heap[0][0] if heap else None

    def _document(self, job_id: str) -> dict | None:
        table = self.database.store.tables.get(TABLE)
        return table.docs.get(job_id) if table is not None else None

    def _hold(self, path: str, job_id: str) -> None:
        held = self._waiting.setdefault(path, [])
        if not held:
            logger.warning("A scheduled function is due but %s is not registered; it stays pending and runs "
                           "once %s is defined again (re-run the cell or load the functions directory).",
                           path, path)
        held.append(job_id)

    # -- running a job (worker thread) ----------------------------------------------------
    def _run_job(self, job_id: str, path: str, args: list) -> None:
        try:
            definition = self.runtime.functions.get(path)
            if definition is None or definition.kind not in ("mutation", "action"):
                what = "no function is registered" if definition is None else f"it is now a {definition.kind}"
                self._settle(job_id, "pending", {"kind": "failed", "error": f"Cannot run {path}: {what}."})
            elif definition.kind == "mutation":
                self._run_mutation(job_id, path, args)
            else:
                self._run_action(job_id, path, args)
        finally:
            self._loop.call_soon_threadsafe(self._running.discard, job_id)

    def _run_mutation(self, job_id: str, path: str, args: list) -> None:
        def succeed(txn: "Transaction") -> None:  # in the mutation's own transaction
            doc = txn.get(job_id)
            if doc is None or doc["state"]["kind"] != "pending":
                raise _Superseded()
            txn.patch(job_id, {"state": {"kind": "success"}, "completedTime": self.clock.now_ms()}, system=True)

        try:
            execution = self.runtime.execute(path, args[0], identity=None, caller="scheduler", in_commit=succeed)
        except (FunctionNotFound, WrongFunctionKind) as gone:  # unregistered in between
            self._settle(job_id, "pending", {"kind": "failed", "error": str(gone)})
            return
        if execution.error is not None and not isinstance(execution.error, _Superseded):
            self._settle(job_id, "pending", {"kind": "failed", "error": error_text(execution.error)})

    def _run_action(self, job_id: str, path: str, args: list) -> None:
        if not self._settle(job_id, "pending", {"kind": "inProgress"}, completed=False):
            return  # canceled meanwhile
        token = running_job.set(job_id)  # what it schedules once its job is canceled is canceled
        try:
            execution = self.runtime.execute(path, args[0], identity=None, caller="scheduler")
            error = execution.error
        except (FunctionNotFound, WrongFunctionKind) as gone:
            error = gone
        finally:
            running_job.reset(token)
        state = {"kind": "success"} if error is None else {"kind": "failed", "error": error_text(error)}
        self._settle(job_id, "inProgress", state)  # canceled while it ran: it stays canceled

    def _settle(self, job_id: str, expected: str, state: dict, completed: bool = True) -> bool:
        """Commit `state` for the job if it is still in state `expected`; whether it was."""
        def write(txn: "Transaction") -> bool:
            doc = txn.get(job_id)
            if doc is None or doc["state"]["kind"] != expected:
                return False
            fields: dict[str, Any] = {"state": state}
            if completed:
                fields["completedTime"] = self.clock.now_ms()
            txn.patch(job_id, fields, system=True)
            return True

        if self.closed:
            return False
        return self.database.run_mutation(write)[0]


class SchedulerCtx:
    """`ctx.scheduler`: schedule mutations and actions to run later, or cancel them.

    From a mutation, scheduling is part of its transaction: the job exists only if the mutation
    commits. From an action, each call commits at once (in an `async def` action the methods
    return awaitables). Scheduled functions run without a user identity. `runAfter` and `runAt`
    are the same methods under Convex's names.
    """

    __slots__ = ("_service", "_txn", "_async")

    def __init__(self, service: Scheduler, txn: "Transaction | None" = None, is_async: bool = False) -> None:
        self._service = service
        self._txn = txn
        self._async = is_async

    def run_after(self, delay_ms: float, fn: Any, args: dict | None = None) -> Any:
        """Run mutation or action `fn` (handle or path) with `args` after `delay_ms` milliseconds.

        `run_after(0, ...)` runs it as soon as this mutation commits (from an action: at once).

        Returns:
            The job's id in `_scheduled_functions` (an awaitable of it in an async action).

        Raises:
            TypeError / ValueError: `delay_ms` is not a finite non-negative number, or `args` is
                not a dict of Convex values.
            InvalidScheduledFunction: No function is registered at `fn`, or it is a query.
            InvalidScheduledFunctionDelay: The time is more than five years away.
        """
        return self._schedule(delay_ms, fn, args, at=False)

    def run_at(self, when: Any, fn: Any, args: dict | None = None) -> Any:
        """Run mutation or action `fn` with `args` at `when`: epoch milliseconds or a `datetime`
        (naive means UTC). A time in the past runs as soon as possible.

        Returns and raises as `run_after`.
        """
        return self._schedule(when, fn, args, at=True)

    def cancel(self, job_id: str) -> Any:
        """Cancel a scheduled function: a pending one never runs; an action already running goes
        on (its job shows `canceled`). A finished or canceled job is left as it is.

        Raises:
            InvalidArgument: `job_id` is not an id of `_scheduled_functions`.
        """
        service = self._service
        return self._write(lambda txn: service.cancel_in(txn, job_id))

    runAfter, runAt = run_after, run_at

    def _schedule(self, delay_or_when: Any, fn: Any, args: Any, *, at: bool) -> Any:
        service = self._service
        row = service.job_for(delay_or_when, fn, args, at=at)  # checked before anything is written
        # Under whose scheduled action: a mutation's transaction says; an action's context does.
        parent = self._txn.scheduled_by if self._txn is not None else running_job.get()
        return self._write(lambda txn: service.insert_in(txn, row, parent))

    def _write(self, step: Any) -> Any:
        if self._txn is not None:  # a mutation: part of its transaction
            return step(self._txn)
        database = self._service.database
        if self._async:
            return asyncio.get_running_loop().run_in_executor(None, lambda: database.run_mutation(step)[0])
        return database.run_mutation(step)[0]


def _iso(ms: float) -> str:
    try:
        return _dt.datetime.fromtimestamp(ms / 1000.0, _dt.timezone.utc).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms since the epoch"

