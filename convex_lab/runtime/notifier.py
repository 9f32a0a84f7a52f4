"""The notifier thread: one per App, where live-query deliveries and widget work run, in order.

Responsibilities:
- Own the thread (`convex_lab-notifier`, started on first need), its condition, the queue of
  posted tasks (`call_soon`) and the counters of delivery passes asked for (`queue_pass`) and
  finished, so `wait` (a mutation's "return after my deliveries", `flush`) knows what to wait for.
- Hold `delivering`, the lock every delivery pass and task runs under, wherever it runs: callbacks
  never run concurrently. Whether the calling thread holds it (`_is_owned`) tells a callback's own
  commits and flushes not to wait for a delivery that cannot finish before the callback returns.
- What a pass does is the owner's (`Reactor`): `run_pass` is given at construction, and
  `may_run_inline` says whether the main thread may run a pass itself instead of handing it over.

Ctrl-C (main thread only): counters and the queue change in DEFERRED sections; a pass counts as
done only once it returned, so an interrupted inline pass leaves its work for the thread; waits
on the `threading.Condition` (Python code) are DEFERRED steps of at most 0.1 s.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Callable

from ..interrupts import DEFERRED, armed

log = logging.getLogger("convex_lab")


class Notifier:
    """The notifier thread of one App and the work it is given (see the module docstring).

    Args:
        run_pass: One delivery pass (re-run what commits touched, deliver). Called with
            `delivering` held, on the thread or (when `may_run_inline` allows) the main thread.
        may_run_inline: Whether the main thread may run the pending pass itself.
    """

    def __init__(self, run_pass: Callable[[], None], may_run_inline: Callable[[], bool],
                 name: str = "convex_lab-notifier") -> None:
        self._run_pass = run_pass
        self._may_run_inline = may_run_inline
        self._name = name
        # Held while delivering or running tasks, so callbacks never run concurrently.
        self.delivering = threading.RLock()  # re-entered when a callback subscribes
        self._changed = threading.Condition(threading.Lock())
        self._queued = 0  # passes asked for (one per commit that touched a live query)
        self._done = 0  # of those, how many are finished
        self._tasks: deque[Callable[[], None]] = deque()  # work posted with call_soon, in order
        self._tasks_posted = 0
        self._tasks_done = 0
        self._closed = False
        self.thread: threading.Thread | None = None

    def is_current(self) -> bool:
        """Whether the calling thread is the notifier thread."""
        return threading.current_thread() is self.thread

    def start(self) -> None:
        """Start the thread if it is not running."""
        if self.thread is None or not self.thread.is_alive():
            with DEFERRED:  # Thread.start waits on a Python-level Event
                self.thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self.thread.start()

    def queue_pass(self) -> None:
        """Count one more pass to run (a commit touched live queries), and wake the thread."""
        with DEFERRED, self._changed:
            self._queued += 1
            self._changed.notify_all()

    def call_soon(self, task: Callable[[], None]) -> None:
        """Run `task` on the notifier thread, in order with deliveries (widgets post their writes here)."""
        with DEFERRED, self._changed:
            self._tasks.append(task)
            self._tasks_posted += 1
            self._changed.notify_all()
        self.start()

    # -- the thread ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._changed:
                while self._queued == self._done and not self._tasks and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
            with self.delivering:
                self._run_tasks()
                self.run_pending()

    def _run_tasks(self) -> None:
        while True:
            with self._changed:
                if not self._tasks:
                    return
                task = self._tasks.popleft()
            try:
                task()
            except Exception:  # noqa: BLE001 - a task must not stop the notifier
                log.exception("convex_lab: a notifier task raised")
            with self._changed:
                self._tasks_done += 1
                self._changed.notify_all()

    def run_pending(self) -> None:
        """Run one pass covering every pass asked for so far, if any. Hold `delivering`. The
        passes count as done only once it returned (a Ctrl-C leaves them for the thread)."""
        with DEFERRED, self._changed:
            target = self._queued
            if self._done >= target:
                return
        self._run_pass()
        with DEFERRED, self._changed:
            self._done = max(self._done, target)
            self._changed.notify_all()

    # -- waiting --------------------------------------------------------------------------------
    def wait(self) -> None:
        """Block until every pass asked for and task posted so far has run.

        Not on the notifier, nor inside a callback (the nested commit is delivered after it)."""
        if self._done >= self._queued and self._tasks_done >= self._tasks_posted:
            return  # nothing queued (reading two ints needs no lock): the common case, made cheap
        current = threading.current_thread()
        if current is self.thread or self.delivering._is_owned():  # type: ignore[attr-defined]
            return
        with armed():  # one Ctrl-C handler install for the many short sections below
            self._wait_for(current)

    def _wait_for(self, current: threading.Thread) -> None:
        with DEFERRED, self._changed:
            target, tasks = self._queued, self._tasks_posted
            if self._done >= target and self._tasks_done >= tasks:
                return
        # Commits from other threads are the notifier's to deliver; the main thread, where notebook
        # cells and scripts call mutations, may deliver its own when nothing else is in flight.
        inline = current is threading.main_thread() and self._done < target and self._may_run_inline()
        if inline:
            with self.delivering:  # a C lock's `with` releases even on a Ctrl-C
                self.run_pending()
        while True:
            # `threading.Condition` is Python code: a Ctrl-C inside it could leave its lock held.
            # So each wait is a DEFERRED step, short enough (0.1 s) that Ctrl-C still stops a flush.
            with DEFERRED, self._changed:
                if (self._done >= target and self._tasks_done >= tasks) or self._closed:
                    return
                self._changed.wait(0.1)

    # -- closing ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the thread (after the work it is doing) and wait for it, up to 5 s."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)

    def _check(self) -> None:
        """Assert the notifier's invariants (for tests): no lock left held, nothing counted twice."""
        assert self.delivering.acquire(timeout=5), "the delivery lock was left held"
        self.delivering.release()
        assert self._changed.acquire(timeout=5), "the notifier's condition lock was left held"
        try:
            assert self._done <= self._queued, (self._done, self._queued)
            assert self._tasks_done <= self._tasks_posted, (self._tasks_done, self._tasks_posted)
            assert len(self._tasks) <= self._tasks_posted - self._tasks_done
        finally:
            self._changed.release()
