"""A service whose work falls due at times of a clock: the base of the scheduler and the crons.

Its decisions are taken on convex_lab's runtime loop (runtime/loop.py), never on the kernel's
thread: `wake()` (from any thread: a commit, a registration, the clock moving) queues a `_pump`
there, which asks the subclass to start the work due (`_dispatch`) and arms one `call_later` for
the next due time. The work itself runs on the service's worker threads (a mutation blocks on the
commit lock, which must not stall the loop; an async action is handed back to the loop by the
runtime). `settle(timeout)` waits until a pump has seen every wake so far and no work is running:
what `ManualClock.advance` waits for.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ..interrupts import DEFERRED
from .clock import Clock
from .loop import on_runtime_thread, runtime_loop

logger = logging.getLogger("convex_lab")

# Convex runs at most this many scheduled functions at once (its default executor count).
PARALLELISM = 8


class TimerService:
    """Work due at clock times, decided on the runtime loop and run on worker threads."""

    def __init__(self, clock: Clock, name: str) -> None:
        self.clock = clock
        self._name = name
        self._loop: asyncio.AbstractEventLoop = runtime_loop()
        self._pool = ThreadPoolExecutor(PARALLELISM, thread_name_prefix=f"convex_lab-{name}")
        self._timer: asyncio.TimerHandle | None = None  # the armed wake-up (loop only)
        self._closed = False
        self._state = threading.Condition()
        self._wakes = 0  # wake() calls so far
        self._pumped = 0  # the wakes the last finished pump had seen
        self._in_flight = 0  # work started and not finished
        self.next_due: float | None = None  # when the last pump found work due next (a ManualClock steps there)
        clock.watch(self)

    # -- any thread ---------------------------------------------------------------------------
    def wake(self) -> None:
        """Look again (soon, on the runtime loop) for work that is due."""
        # One step for Ctrl-C (the notebook's thread wakes services: defining a cron, moving a
        # ManualClock): a wake counted but never queued would leave `settle` waiting for a pump
        # that never comes.
        with DEFERRED, self._state:
            if self._closed:
                return
            self._wakes += 1
            self._loop.call_soon_threadsafe(self._pump)

    def settle(self, timeout: float) -> None:
        """Wait until every wake so far was looked at and no work is running.

        Raises:
            TimeoutError: Still busy after `timeout` seconds.
            RuntimeError: Called on the runtime loop, where the work could never finish.
        """
        if on_runtime_thread():
            raise RuntimeError("Waiting for scheduled work from convex_lab's own loop would deadlock.")
        deadline = time.monotonic() + timeout
        with self._state:
            while not self._closed and (self._pumped < self._wakes or self._in_flight):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"The {self._name} still had work running after {timeout:.0f} s.")
                self._state.wait(min(left, 0.1))

    def close(self) -> None:
        """Stop: no more work starts (work running finishes, or fails on the closed database)."""
        with self._state:
            if self._closed:
                return
            self._closed = True
            self._state.notify_all()
        self._loop.call_soon_threadsafe(self._disarm)
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- the runtime loop ---------------------------------------------------------------------
    def _pump(self) -> None:
        with self._state:
            seen = self._wakes
            if self._closed:
                return
        try:
            next_due = self._dispatch(self.clock.now_ms())
        except Exception:  # a bug here must not kill the loop or stop later pumps
            logger.exception("convex_lab's %s failed while looking for due work", self._name)
            next_due = None
        self._disarm()
        self.next_due = next_due
        if next_due is not None:
            delay = self.clock.wait_seconds(next_due)
            if delay is not None:
                self._timer = self._loop.call_later(delay, self.wake)
        with self._state:
            self._pumped = max(self._pumped, seen)
            self._state.notify_all()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _start(self, work: Callable[[], Any]) -> bool:
        """Run `work()` on a worker thread; the service wakes again when it is done. False when
        the service is closed (nothing started)."""
        with self._state:
            if self._closed:
                return False
            self._in_flight += 1
        try:
            self._pool.submit(self._perform, work)
        except RuntimeError:  # the pool was shut down in between
            self._finished()
            return False
        return True

    def _perform(self, work: Callable[[], Any]) -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - the work records its own outcome; this is a bug or a close
            if not self._closed:
                logger.exception("convex_lab's %s failed while running due work", self._name)
        finally:
            self._finished(look_again=True)

    def _finished(self, look_again: bool = False) -> None:
        # One step: `settle` never sees the work done before the wake that follows it.
        with self._state:
            self._in_flight -= 1
            if look_again and not self._closed:
                self._wakes += 1
                self._loop.call_soon_threadsafe(self._pump)
            self._state.notify_all()

    @property
    def _busy(self) -> int:
        return self._in_flight

    def _dispatch(self, now_ms: float) -> float | None:
        """Start the work due at `now_ms`; return when the next work falls due (None: never,
        until a wake). Subclasses implement it; it runs on the runtime loop."""
        raise NotImplementedError
