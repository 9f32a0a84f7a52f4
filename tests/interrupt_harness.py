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


def traced(filename: str) -> bool:
    return filename.startswith(TRACED_ROOTS)


class Injector:
    """Counts traced lines; the first time line `target` (a `(file, line)` pair) runs, it delivers
    a simulated SIGINT there. Targeting a line rather than the n-th event keeps a trial aimed at
    the same place even when thread timing changes which lines run before it."""

    def __init__(self, target: tuple[str, int] | None = None, record: bool = False) -> None:
        self.target = target
        self.count = 0
        self.fired_at: tuple[str, int] | None = None
        self.points: list[tuple[str, int]] | None = [] if record else None

    def _global(self, frame, event, arg):
        if event == "call" and traced(frame.f_code.co_filename):
            return self._local
        return None

    def _local(self, frame, event, arg):
        if event != "line":
            return self._local
        self.count += 1
        point = (frame.f_code.co_filename, frame.f_lineno)
        if self.points is not None:
            self.points.append(point)
        if point == self.target:
            self.target = None
            self.fired_at = point
            handler = _signal.getsignal(_signal.SIGINT)
            if callable(handler):
                handler(_signal.SIGINT, frame)  # raises KeyboardInterrupt unless deferred
        return self._local

    def run(self, operation: Callable[[], Any]) -> Any:
        sys.settrace(self._global)
        try:
            return operation()
        finally:
            sys.settrace(None)


def distinct_lines(points: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Each distinct (file, line) in the order first run: one trial per line."""
    return list(dict.fromkeys(points))


@dataclass
class Outcome:
    """How an interrupted call ended: "returned", "committed" (InterruptedAfterCommit) or
    "interrupted" (a plain KeyboardInterrupt: nothing may have been applied)."""

    kind: str
    value: Any = None
    error: BaseException | None = None
    where: tuple[str, int] | None = None


def call_with_interrupt(operation: Callable[[], Any], target: tuple[str, int] | None) -> Outcome:
    injector = Injector(target)
    try:
        value = injector.run(operation)
    except convex_lab.InterruptedAfterCommit as exc:
        return Outcome("committed", exc.result, exc, injector.fired_at)
    except KeyboardInterrupt as exc:
        return Outcome("interrupted", None, exc, injector.fired_at)
    return Outcome("returned", value, None, injector.fired_at)


@dataclass
class Report:
    points: int = 0
    trials: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
