"""Ctrl-C at every line: run an operation with a simulated SIGINT at the n-th traced line.

A real Ctrl-C makes Python run the installed SIGINT handler in the main thread between two
bytecodes; the default handler raises KeyboardInterrupt there. `Injector` does the same from a
`sys.settrace` line hook: at its target line it calls whatever Python-level SIGINT handler is
installed at that moment, so convex_lab's deferring handler (interrupts.py) is exercised exactly
as a real signal would exercise it. Only the main thread is traced (signals land only there), and
only lines of the files the commit path runs through (convex_lab, sortedcontainers, threading,
contextlib).
"""

from __future__ import annotations

import dis
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import _signal
import contextlib
import sortedcontainers
import threading

import convex_lab

TRACED_ROOTS = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep for module in (convex_lab, sortedcontainers)
) + (os.path.abspath(threading.__file__), os.path.abspath(contextlib.__file__))


# Instructions at whose end CPython checks for pending signals (3.10 and 3.11+ names).
_CHECKED_AFTER = frozenset(dis.opmap[name] for name in (
    "CALL", "CALL_FUNCTION", "CALL_FUNCTION_KW", "CALL_FUNCTION_EX", "CALL_METHOD", "JUMP_BACKWARD",
    "JUMP_ABSOLUTE") if name in dis.opmap)


def traced(filename: str) -> bool:
    return filename.startswith(TRACED_ROOTS)


class Injector:
    """Ctrl-C while line `target` (a `(file, line)` pair) runs, the first time it does.

    The simulated signal is handled where CPython would handle a real one: at the next check
    point, which is a function's start, the end of a call (C or Python) or a backward jump. So
    from the target line on, the injector watches the frame's instructions and delivers at the
    first of: a function call starting, the frame returning, or the instruction after a call or a
    backward jump in that frame. `record=True` collects every traced line instead.
    """

    def __init__(self, target: tuple[str, int] | None = None, record: bool = False) -> None:
        self.target = target
        self.count = 0
        self.fired_at: tuple[str, int] | None = None  # the target line, once reached
        self.points: list[tuple[str, int]] | None = [] if record else None
        self._waiting: Any = None  # the frame whose next check point delivers the signal
        self._previous_op = -1
        self._done = False

    def _global(self, frame, event, arg):
        if self._waiting is not None and event == "call":
            self._deliver(frame)  # a function's start (RESUME) is a check point
        if not self._done and event == "call" and traced(frame.f_code.co_filename):
            return self._local
        return None

    def _local(self, frame, event, arg):
        if self._done:
            return None
        if self._waiting is not None:
            if event == "return" and frame is self._waiting:
                self._wait_in_caller(frame)  # the signal is handled in the caller, never here
            elif event == "return":
                self._deliver(frame)  # a function it called returns: the waiting frame's call ends
            elif event == "opcode" and frame is self._waiting:
                op = frame.f_code.co_code[frame.f_lasti]
                if self._previous_op in _CHECKED_AFTER:
                    self._deliver(frame)
                self._previous_op = op
            return self._local
        if event != "line":
            return self._local
        self.count += 1
        point = (frame.f_code.co_filename, frame.f_lineno)
        if self.points is not None:
            self.points.append(point)
        if point == self.target:
            self.fired_at = point
            self._waiting = frame
            frame.f_trace_opcodes = True
        return self._local

    def _wait_in_caller(self, frame) -> None:
        """The waiting frame returns before a check point: CPython handles the signal in the
        caller, at the end of the instruction that called (a check point if it is a call, else
        at the caller's next check point). Raising here, in the returning frame, would not be
        what CPython does, and how a traced frame treats an exception raised at its return
        differs between CPython releases."""
        frame.f_trace_opcodes = False
        caller = frame.f_back
        if caller is None:
            self._deliver(frame)
            return
        self._waiting = caller
        self._previous_op = caller.f_code.co_code[caller.f_lasti]  # the instruction that called
        if caller.f_trace is None:
            caller.f_trace = self._local
        caller.f_trace_opcodes = True

    def _deliver(self, frame) -> None:
        if self._waiting is not None:
            self._waiting.f_trace_opcodes = False
        self._waiting = None
        self._done = True
        handler = _signal.getsignal(_signal.SIGINT)
        if callable(handler):
            handler(_signal.SIGINT, frame)  # raises KeyboardInterrupt unless deferred

    def run(self, operation: Callable[[], Any]) -> Any:
        sys.settrace(self._global)
        try:
            return operation()
        finally:
            sys.settrace(None)


def distinct_lines(points: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Each distinct (file, line) in the order first run: one trial per line."""
    return list(dict.fromkeys(points))


# The thin API layer: functions that only pass a call on to the engine and hand back its result.
# A Ctrl-C handled in one of these frames came before the engine started or after it had returned
# its result (at the end of their one call), exactly as one handled in the user's own frame.
API_FRAMES = frozenset({
    ("app.py", "set_schema"), ("app.py", "import_rows"), ("app.py", "run"), ("app.py", "run_mutation"),
    ("app.py", "run_query"), ("app.py", "subscribe"), ("app.py", "sql"),
    ("registry.py", "__call__"), ("registry.py", "call"), ("execution.py", "call"), ("execution.py", "result"),
})


@dataclass
class Outcome:
    """How an interrupted call ended: "returned", "committed" (InterruptedAfterCommit),
    "interrupted" (a plain KeyboardInterrupt raised inside the engine: nothing may have been
    applied), or "around" (a plain KeyboardInterrupt handled in the thin API layer or the caller,
    before the engine started or after it returned: either state is right)."""

    kind: str
    value: Any = None
    error: BaseException | None = None
    where: tuple[str, int] | None = None


def _raised_in(exc: BaseException) -> tuple[str, str] | None:
    """(file name, function) of the innermost frame the exception passed through, the harness's
    own frames left out."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.endswith("interrupt_harness.py"):
            found = (os.path.basename(code.co_filename), code.co_name)
        tb = tb.tb_next
    return found


def call_with_interrupt(operation: Callable[[], Any], target: tuple[str, int] | None) -> Outcome:
    injector = Injector(target)
    try:
        value = injector.run(operation)
    except convex_lab.InterruptedAfterCommit as exc:
        return Outcome("committed", exc.result, exc, injector.fired_at)
    except KeyboardInterrupt as exc:
        origin = _raised_in(exc)
        inside = origin is not None and origin[0] != "test_interrupts.py" and origin not in API_FRAMES
        return Outcome("interrupted" if inside else "around", None, exc, injector.fired_at)
    return Outcome("returned", value, None, injector.fired_at)


@dataclass
class Report:
    points: int = 0
    trials: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
