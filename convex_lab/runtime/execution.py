"""Running registered functions: validation, ctx, log capture, and what one run produced.

`Runtime` (a `Registry`) runs a function as a client call and returns an `Execution`: the value
or the error, the commit timestamp (or the snapshot's), the read set, the pagination journal, the
log lines, the timing, and who called. An error raised by the function or by validation is kept
in the `Execution`, not raised; `Runtime.call` (and the handles) raise it again through
`Execution.result()`. Ctrl-C is never kept: it propagates (`InterruptedAfterCommit` once a
mutation has committed).

Queries and mutations run in their own transaction; `ctx.run_query`/`ctx.run_mutation` inside them
(`run_nested`) share it (a nested mutation is a sub-transaction rolled back if it raises) and are
part of the caller's execution. An action's `ctx.run_*` calls are executions of their own, whose
lines go to the action's capture. HTTP actions (`execute_http_action`, `start_http_action`) run
as actions given `(ctx, request)`; what they return is checked by the server. Every execution records itself in the `ExecutionLog` when it
finishes (`Execution.finish`). The engine (`engine/database.py`) owns locking and commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Callable

from ..engine.transaction import UNLIMITED
from ..errors import (
    ArgumentValidationError,
    FunctionNotFound,
    InvalidFunctionCall,
    MaximumCallDepthExceeded,
    ReturnsValidationError,
    interrupted_write,
)
from ..interrupts import armed
from ..validators import ValidationMismatch
from ..values import check_value_limits, convex_value
from . import logs as logmod
from . import replays
from .context import ActionCtx, MutationCtx, QueryCtx
from .loop import on_runtime_thread, submit
from .registry import SYSTEM_MODULE, FunctionDef, Registry, current_frame
from .scheduler import running_job
from .storage import StorageActionWriter, StorageReader, StorageWriter

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.database import Database
    from ..engine.transaction import Transaction

MAX_CALL_DEPTH = 8
_NOT_ARMED = contextlib.nullcontext()
_perf_counter = time.perf_counter
_time = time.time


# ---------------------------------------------------------------------------------------------
# The outcome of one run


class Execution:
    """One run of a function, as `Runtime.execute` returns it.

    Attributes:
        path (str): The function's path.
        kind (str): `"query"`, `"mutation"`, `"action"` or `"http_action"`.
        caller (str): Who called: `"notebook"`, `"action"`, `"subscription"`, `"http"`, ...
        started_ms (float): When it started, in milliseconds since the Unix epoch.
        duration_ms (float): How long it ran, in milliseconds.
        value: What it returned (converted to a Convex value); `None` when it failed.
        error (BaseException | None): What it raised (the function's own error, a validation or
            engine error), or `None`.
        ts (int | None): For a mutation that committed, its commit's timestamp; for a query (and
            a mutation that committed nothing) the timestamp of the snapshot it read, i.e.
            `Database.last_ts` when it ran. `None` for actions.
        journal (str | None): The end cursor of its paginated query (what a live query passes
            back as `journal=` on its next run), or `None`.
        lines (list[str]): Its captured `print`/`logging` lines; empty when they went to the
            calling action's capture.
    """

    __slots__ = ("path", "kind", "caller", "started_ms", "duration_ms", "value", "error", "ts", "journal",
                 "lines", "_reads", "_txn", "_t0", "_capture")

    def __init__(self, definition: FunctionDef, caller: str, capture: logmod.Capture | None) -> None:
        self.path = definition.path
        self.kind = definition.kind
        self.caller = caller
        self.value = self.error = self.ts = self.journal = self._reads = self._txn = None
        # `duration_ms` and `lines` are set by `finish` (an Execution is handed out finished).
        self._capture = capture  # its own capture, finished with it; None when it writes to its caller's
        self.started_ms = _time() * 1000.0
        self._t0 = _perf_counter()

    @property
    def reads(self) -> list[tuple[str, str, bytes, bytes | None]]:
        """The read set of a query or mutation: `(table, index, lo, hi)` intervals of encoded
        index keys (`hi` exclusive, `None` for unbounded), `db.get`s as `by_id` intervals. Also
        for a run that raised (what it read until then); empty for actions."""
        reads = self._reads
        if reads is None:
            return []
        if type(reads) is not list:  # the transaction's ReadSet: turned into intervals on first use
            reads = self._reads = reads.intervals()
        return reads

    def finish(self, log: logmod.ExecutionLog, error: BaseException | None = None) -> Execution:
        """End the run (with `error`, if it raised): stop the clock, keep what its transaction
        read, take its log lines, and record it in `log`. Called once per run."""
        self.duration_ms = (_perf_counter() - self._t0) * 1000.0
        self.error = error
        txn = self._txn
        if txn is not None:
            self._txn = None
            self._reads = txn.reads
            self.journal = txn.pagination_end_cursor
        capture = self._capture
        self.lines = capture.finish() if capture is not None else []
        if self.path.startswith(SYSTEM_MODULE):
            return self  # convex_lab's own functions (the CLI's polls) stay out of the app's log, as in Convex
        log.record(path=self.path, kind=self.kind, caller=self.caller, started_ms=self.started_ms,
                   duration_ms=self.duration_ms, status="success" if error is None else "failure",
                   error=None if error is None else f"{type(error).__name__}: {error}", lines=self.lines)
        return self

    def result(self) -> Any:
        """The value, or the error raised again (its traceback still shows where it came from)."""
        error = self.error
        if error is not None:
            raise error
        return self.value

    def __repr__(self) -> str:
        status = "ok" if self.error is None else f"{type(self.error).__name__}"
        return f"<Execution {self.kind} {self.path} {status} {self.duration_ms:.3f} ms>"


def _caller_tag(definition: FunctionDef) -> str:
    """What Convex's clients put before a function's error: `[CONVEX M(messages:send)]`."""
    return f"[CONVEX {definition.kind[0].upper()}({definition.path})]"


async def _result_of(future: Future) -> Any:
    """What a caller awaits: the value of the `Execution` that `future` will hold (or its error)."""
    return (await asyncio.wrap_future(future)).result()


# ---------------------------------------------------------------------------------------------
# The runtime


class Runtime(Registry):
    """The registry of functions (`Registry`), and running them: validation, ctx, log capture,
    the execution log."""

    def __init__(self, database: "Database", execution_log: logmod.ExecutionLog) -> None:
        super().__init__()
        self.database = database
        self.execution_log = execution_log
        self._resolver = database.catalog.name_of
        # Called after a mutation committed, before its caller gets the result (reactivity waits
        # there until the subscriptions its commit touched have been delivered).
        self.after_mutation: Callable[[], None] | None = None
        # File storage (storage.py's StorageService), which the App sets: `ctx.storage`.
        self.storage: Any = None
        # The App's scheduler service (runtime/scheduler.py): what `ctx.scheduler` writes through.
        self.scheduler: Any = None
        logmod.install()

    def storage_for(self, txn: "Transaction | None", *, writer: bool = False, is_async: bool = False) -> Any:
        """`ctx.storage`: for a query's transaction (`writer=False`), a mutation's, or an action
        (`txn` None)."""
        service = self.storage
        if service is None:
            raise RuntimeError("File storage is not set up: this Runtime belongs to no App.")
        if txn is None:
            return StorageActionWriter(service, is_async)
        return StorageWriter(service, txn) if writer else StorageReader(service, txn)

    # -- validation -------------------------------------------------------------------------
    def _convert_args(self, definition: FunctionDef, raw: Any) -> dict:
        if raw is None:
            raw = {}
        if type(raw) is not dict:
            raise ArgumentValidationError(f"{_caller_tag(definition)} ArgumentValidationError: Arguments must be an object (a dict), got {type(raw).__name__}.")
        if definition.args is None:
            converted = convex_value(raw)
        else:
            try:
                converted = definition.args.convert(raw, "", self._resolver)
            except ValidationMismatch as exc:
                raise ArgumentValidationError(f"{_caller_tag(definition)} ArgumentValidationError: {exc.message}") from None
        check_value_limits(converted)
        return converted

    def _convert_result(self, definition: FunctionDef, result: Any) -> Any:
        if definition.returns is None:
            converted = convex_value(result)
        else:
            try:
                converted = definition.returns.convert(result, "", self._resolver)
            except ValidationMismatch as exc:
                raise ReturnsValidationError(f"{_caller_tag(definition)} ReturnsValidationError: {exc.message}") from None
        if not definition.unlimited:
            check_value_limits(converted)
        return converted

    def recorded_mutation(self, replay_key: str) -> replays.RecordedMutation | None:
        """The first run of the mutation executed with `replay_key`, if it committed (and is
        among the newest kept), or `None`."""
        return replays.recorded(self.database.records, replay_key)

    # -- client calls -----------------------------------------------------------------------
    def call(self, path: str, args: dict, *, caller: str = "notebook", identity: dict | None = None,
             parent_capture: logmod.Capture | None = None) -> Any:
        """Run a function as a client call and return its result, or raise its error (blocks)."""
        return self.execute(path, args, identity=identity, caller=caller, parent_capture=parent_capture).result()

    def call_async(self, path: str, args: dict, *, caller: str = "notebook", identity: dict | None = None,
                   parent_capture: logmod.Capture | None = None) -> Any:
        """Run a function as a client call; returns an awaitable of its result for the calling loop.

        Async actions run on convex_lab's loop; the rest on a worker thread of the calling loop."""
        definition = self.resolve(path)
        if definition.kind == "action" and definition.is_async:
            return _result_of(self.start_async_action(path, args, identity=identity, caller=caller,
                                                      parent_capture=parent_capture))
        context = contextvars.copy_context()
        return asyncio.get_running_loop().run_in_executor(None, context.run, lambda: self.call(
            path, args, identity=identity, caller=caller, parent_capture=parent_capture))

    def execute(self, path: str, raw_args: Any, *, identity: dict | None = None, caller: str = "notebook",
                allow_internal: bool = True, parent_capture: logmod.Capture | None = None,
                journal: str | None = None, replay_key: str | None = None,
                in_commit: Callable[["Transaction"], None] | None = None) -> Execution:
        """Validate, run (queries and mutations in their own transaction), log; the `Execution`.

        An error of the function or of validation is kept in the `Execution`; a path that names
        no function raises at once (nothing runs, nothing is logged), as does Ctrl-C
        (`InterruptedAfterCommit` once a mutation committed). `journal`, for live queries, is the
        previous run's pagination end cursor (`Execution.journal`). With `parent_capture` (an
        action's `ctx.run_*`), the lines go to the action's capture. A mutation given a
        `replay_key` records its result in its own commit (runtime/replays.py; `recorded_mutation`
        finds it); the caller checks for a recorded run first.
        `in_commit(txn)` (mutations: the scheduler's) writes into the mutation's transaction after
        its handler succeeded, so those writes commit with the mutation's or not at all.
        """
        definition = self.resolve(path)
        if definition.internal and not allow_internal:
            raise FunctionNotFound(f"Could not find public function for '{definition.path}'.")
        kind = definition.kind
        if kind == "action" and definition.is_async:
            if on_runtime_thread():
                raise RuntimeError("A blocking call of an async action from convex_lab's own loop would deadlock; await it instead.")
            return self.start_async_action(path, raw_args, identity=identity, caller=caller,
                                           allow_internal=allow_internal, parent_capture=parent_capture).result()
        if parent_capture is None:
            capture = logmod.Capture(echo=logmod.echo_stream() if caller == "notebook" else None)
            execution = Execution(definition, caller, capture)
        else:
            capture = parent_capture
            execution = Execution(definition, caller, None)
        # [result, commit ts], filled at the commit point of a mutation (only a mutation commits)
        committed: list | tuple = [] if kind == "mutation" else ()
        error = None
        try:
            # A mutation keeps the Ctrl-C handler in place through its commit and its deliveries.
            with armed() if kind == "mutation" else _NOT_ARMED:
                try:
                    args = self._convert_args(definition, raw_args)
                    if kind == "query":
                        execution.value = self._run_query(definition, args, identity, capture, execution, journal)
                    elif kind == "mutation":
                        execution.value = self._run_mutation(definition, args, identity, capture, execution, committed,
                                                             replay_key, in_commit)
                        if committed:
                            execution.ts = committed[1]
                        if self.after_mutation is not None:
                            self.after_mutation()
                    else:
                        execution.value = self._run_sync_action(definition, args, identity, capture)
                except Exception as exc:  # noqa: BLE001 - the function's outcome: kept, not raised
                    error = exc
                except BaseException as exc:  # Ctrl-C, exit: logged, then raised
                    execution.finish(self.execution_log, exc)
                    raise
                return execution.finish(self.execution_log, error)
        except KeyboardInterrupt as interrupted:  # also one after the commit, while deliveries ran
            raise interrupted_write(interrupted, committed, f"The mutation {definition.path}") from None

    def _run_query(self, definition: FunctionDef, args: dict, identity: dict | None, capture: logmod.Capture,
                   execution: Execution, journal: str | None) -> Any:
        def body(txn: "Transaction") -> Any:
            execution._txn = txn
            execution.ts = txn.catalog.last_ts  # the snapshot it reads (the commit lock is held)
            txn.journal_end_cursor = journal
            return self._invoke(definition, QueryCtx(self, txn, identity, 1), args, txn, capture, 1)

        return self.database.run_query(body, limits=UNLIMITED if definition.unlimited else None)[0]

    def _run_mutation(self, definition: FunctionDef, args: dict, identity: dict | None,
                      capture: logmod.Capture, execution: Execution, committed: list,
                      replay_key: str | None = None,
                      in_commit: Callable[["Transaction"], None] | None = None) -> Any:
        scheduled_by = running_job.get()  # read here: the transaction may run on another thread

        def body(txn: "Transaction") -> Any:
            execution._txn = txn
            execution.ts = txn.catalog.last_ts  # the snapshot it reads; its commit's ts once it commits
            txn.scheduled_by = scheduled_by
            value = self._invoke(definition, MutationCtx(self, txn, identity, 1), args, txn, capture, 1)
            if in_commit is not None:
                in_commit(txn)
            if replay_key is not None:  # in the same commit as its writes: both or neither are kept
                txn.put_record(replays.KIND, replay_key, replays.encode(value, capture.finish()))
            return value

        return self.database.run_mutation(body, record=committed)[0]

    def _invoke(self, definition: FunctionDef, ctx: Any, args: dict, txn: "Transaction",
                capture: logmod.Capture, depth: int) -> Any:
        # Runs on whichever thread holds the commit lock (group commit may run another caller's
        # job), so the capture and frame are set here rather than inherited: in a copy of the
        # context, which they leave with. `Context.run` is C, so no Ctrl-C can land between the
        # end of the run and putting them back (a `finally` could be cut short).
        return contextvars.copy_context().run(self._invoke_here, definition, ctx, args, txn, capture, depth)

    def _invoke_here(self, definition: FunctionDef, ctx: Any, args: dict, txn: "Transaction",
                     capture: logmod.Capture, depth: int) -> Any:
        current_frame.set((self, txn, capture, depth))
        logmod.current_capture.set(capture)
        result = definition.handler(ctx, **args)
        if inspect.iscoroutine(result):
            raise TypeError(f"{definition.path} returned an awaitable: queries and mutations must be plain `def` functions.")
        return self._convert_result(definition, result)

    def run_nested(self, fn: Any, raw_args: dict, txn: "Transaction", identity: dict | None, depth: int, kind: str) -> Any:
        """`ctx.run_query` / `ctx.run_mutation` inside a query or mutation."""
        if depth >= MAX_CALL_DEPTH:
            raise MaximumCallDepthExceeded(
                f"Function call depth limit exceeded: at most {MAX_CALL_DEPTH} functions deep through "
                "ctx.run_query and ctx.run_mutation. Do you have an infinite loop in your app?"
            )
        definition = self.resolve(fn, kind)
        if kind == "mutation" and not txn.writable:
            raise InvalidFunctionCall("Cannot call a mutation function from a query function")
        frame = current_frame.get()
        capture = frame[2] if frame is not None else logmod.Capture()
        args = self._convert_args(definition, raw_args)
        if kind == "query":
            ctx: Any = QueryCtx(self, txn, identity, depth + 1)
            return self._invoke(definition, ctx, args, txn, capture, depth + 1)
        savepoint = txn.savepoint()
        try:
            return self._invoke(definition, MutationCtx(self, txn, identity, depth + 1), args, txn, capture, depth + 1)
        except BaseException:
            txn.rollback_to(savepoint)
            raise

    # -- actions ----------------------------------------------------------------------------
    def _run_sync_action(self, definition: FunctionDef, args: dict, identity: dict | None, capture: logmod.Capture) -> Any:
        ctx = ActionCtx(self, identity, False, capture)

        def run() -> Any:
            logmod.current_capture.set(capture)  # inside a copy of the context: it leaves with it
            return self._convert_result(definition, definition.handler(ctx, **args))

        return contextvars.copy_context().run(run)

    def start_async_action(self, path: str, raw_args: Any, *, identity: dict | None = None, caller: str = "notebook",
                           allow_internal: bool = True, parent_capture: logmod.Capture | None = None) -> Future:
        """Start an `async def` action on convex_lab's own loop; returns a concurrent Future of its
        `Execution` (an error of the action is kept in it, as `execute` keeps it)."""
        definition = self.resolve(path, "action")
        if definition.internal and not allow_internal:
            raise FunctionNotFound(f"Could not find public function for '{definition.path}'.")
        echo = logmod.echo_stream() if caller == "notebook" else None
        return submit(self._run_async_action(definition, raw_args, identity, caller, parent_capture, echo))

    async def _run_async_action(self, definition: FunctionDef, raw_args: Any, identity: dict | None, caller: str,
                                parent_capture: logmod.Capture | None, echo: Any) -> Execution:
        capture = parent_capture or logmod.Capture(echo=echo)
        token = logmod.current_capture.set(capture)
        execution = Execution(definition, caller, capture if parent_capture is None else None)
        error = None
        try:
            args = self._convert_args(definition, raw_args)
            result = await definition.handler(ActionCtx(self, identity, True, capture), **args)
            execution.value = self._convert_result(definition, result)
        except Exception as exc:  # noqa: BLE001 - the action's outcome: kept, not raised
            error = exc
        except BaseException as exc:  # cancelled, interrupted: logged, then raised
            execution.finish(self.execution_log, exc)
            raise
        finally:
            logmod.current_capture.reset(token)
        return execution.finish(self.execution_log, error)

    # -- HTTP actions -----------------------------------------------------------------------
    def execute_http_action(self, definition: FunctionDef, request: Any, identity: dict | None = None) -> Execution:
        """Run a `def` HTTP action (`definition.handler(ctx, request)`, blocking) and log it;
        its `Execution` holds what the handler returned (unchecked) or raised."""
        capture = logmod.Capture()
        execution = Execution(definition, "http", capture)
        ctx = ActionCtx(self, identity, False, capture)

        def run() -> Any:
            logmod.current_capture.set(capture)  # inside a copy of the context: it leaves with it
            return definition.handler(ctx, request)

        error = None
        try:
            execution.value = contextvars.copy_context().run(run)
        except Exception as exc:  # noqa: BLE001 - the handler's outcome: kept, not raised
            error = exc
        except BaseException as exc:
            execution.finish(self.execution_log, exc)
            raise
        return execution.finish(self.execution_log, error)

    def start_http_action(self, definition: FunctionDef, request: Any, identity: dict | None = None) -> Future:
        """Start an `async def` HTTP action on convex_lab's loop; a Future of its `Execution`."""
        return submit(self._run_async_http_action(definition, request, identity))

    async def _run_async_http_action(self, definition: FunctionDef, request: Any, identity: dict | None) -> Execution:
        capture = logmod.Capture()
        token = logmod.current_capture.set(capture)
        execution = Execution(definition, "http", capture)
        error = None
        try:
            execution.value = await definition.handler(ActionCtx(self, identity, True, capture), request)
        except Exception as exc:  # noqa: BLE001
            error = exc
        except BaseException as exc:
            execution.finish(self.execution_log, exc)
            raise
        finally:
            logmod.current_capture.reset(token)
        return execution.finish(self.execution_log, error)
