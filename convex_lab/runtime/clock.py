"""The time the scheduler and the crons read: the system's, or a manual one that tests move.

A clock gives `now_ms()` (epoch milliseconds) and says how long, in real seconds, a timer must
wait for a moment (`wait_seconds`). The `SystemClock` is the wall clock. A `ManualClock` stands
still until it is moved (`advance`, `set`): its timers never fire on their own, and moving it
wakes every timer service that reads it and waits until the work that became due has finished,
so tests (and documentation examples) compress hours into a line without sleeping.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
import weakref
from typing import Any

# How long `ManualClock.advance` waits for the work due to finish before saying so.
SETTLE_TIMEOUT_S = 60.0


class SystemClock:
    """The wall clock (the default of every App)."""

    manual = False

    def now_ms(self) -> float:
        """The current time, in milliseconds since the Unix epoch."""
        return time.time() * 1000.0

    def wait_seconds(self, until_ms: float) -> float | None:
        """Real seconds until `until_ms` (0 when it has passed)."""
        return max(0.0, (until_ms - self.now_ms()) / 1000.0)

    def watch(self, service: Any) -> None:
        """The wall clock never jumps: nothing to tell the services."""

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told: `App(clock=ManualClock(...))` for tests and examples.

    Scheduled functions and crons of an App on this clock run when `advance` (or `set`) moves it
    past their time. The clock steps through each time something falls due on the way (so an
    interval cron runs at each of its times), and each call returns once everything due by the
    new time has run (including what those runs scheduled for no later than that).

    Args:
        start: The starting time: epoch milliseconds, or a `datetime` (naive means UTC).
            Defaults to the current wall-clock time.

    Examples:
        >>> clock = ManualClock("2025-01-01T00:00:00Z")
        >>> clock.advance(minutes=90)
        >>> clock.isoformat()
        '2025-01-01T01:30:00Z'
    """

    manual = True

    def __init__(self, start: float | _dt.datetime | str | None = None) -> None:
        self._now = time.time() * 1000.0 if start is None else to_epoch_ms(start)
        self._lock = threading.Lock()
        self._services: weakref.WeakSet = weakref.WeakSet()

    def now_ms(self) -> float:
        """The clock's time, in milliseconds since the Unix epoch."""
        return self._now

    def wait_seconds(self, until_ms: float) -> float | None:
        """0 when `until_ms` has come; otherwise None: only moving the clock brings it."""
        return 0.0 if until_ms <= self._now else None

    def watch(self, service: Any) -> None:
        """Tell `service` (its `wake()` and `settle(timeout)`) whenever the clock moves."""
        with self._lock:
            self._services.add(service)

    def advance(self, ms: float = 0, *, seconds: float = 0, minutes: float = 0, hours: float = 0,
                days: float = 0, wait: bool = True) -> None:
        """Move the clock forward and run what became due.

        Args:
            ms: How far, in milliseconds (added to the other units; nothing at all runs what is
                due now).
            seconds: Seconds to add.
            minutes: Minutes to add.
            hours: Hours to add.
            days: Days to add.
            wait: Return only once the scheduled functions and cron runs due by the new time have
                finished (the default). `False` returns at once (to look at a run in progress).

        Raises:
            ValueError: The total is negative (a clock never goes back).
            TimeoutError: The runs due did not finish within a minute.
        """
        delta = ms + 1000.0 * (seconds + 60.0 * (minutes + 60.0 * (hours + 24.0 * days)))
        if delta < 0:
            raise ValueError(f"A clock only moves forward; advance() got {delta} ms.")
        self.set(self._now + delta, wait=wait)

    def set(self, when: float | _dt.datetime | str, *, wait: bool = True) -> None:
        """Move the clock to `when` (epoch ms, a `datetime` or an ISO 8601 string), as `advance`.

        Raises:
            ValueError: `when` is earlier than the clock's time.
        """
        target = to_epoch_ms(when)
        if target < self._now:
            raise ValueError(f"A clock only moves forward: {target} ms is before its time {self._now} ms.")
        with self._lock:
            services = [s for s in self._services if not s.closed]
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        if wait:
            self._settle(services, deadline)  # what was asked for before: its next times are known
            # Step through each time work falls due on the way, as if the time had passed with
            # the App running: an interval cron runs at each of its times, not once, late.
            while True:
                due = [s.next_due for s in services if s.next_due is not None]
                step = min(due) if due else None
                if step is None or step > target or step <= self._now:
                    break
                self._move(step, services, deadline)
        self._now = target
        for service in services:
            service.wake()
        if wait:
            self._settle(services, deadline)

    def _move(self, when: float, services: list, deadline: float) -> None:
        self._now = when
        for service in services:
            service.wake()
        self._settle(services, deadline)

    @staticmethod
    def _settle(services: list, deadline: float) -> None:
        for service in services:
            service.settle(max(0.0, deadline - time.monotonic()))

    def isoformat(self) -> str:
        """The clock's time as ISO 8601 UTC (`'2025-01-01T01:30:00Z'`)."""
        moment = _dt.datetime.fromtimestamp(self._now / 1000.0, _dt.timezone.utc)
        text = moment.isoformat(timespec="milliseconds" if self._now % 1000 else "seconds")
        return text.replace("+00:00", "Z")

    def __repr__(self) -> str:
        return f"ManualClock({self.isoformat()!r})"


def to_epoch_ms(when: Any, what: str = "time") -> float:
    """Epoch milliseconds from a number, a `datetime` (naive = UTC) or an ISO 8601 string."""
    if isinstance(when, str):
        try:
            when = _dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"The {what} {when!r} is not an ISO 8601 date and time.") from None
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        return when.timestamp() * 1000.0
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        return float(when)
    raise TypeError(f"The {what} must be epoch milliseconds or a datetime, got {type(when).__name__}.")


Clock = SystemClock | ManualClock
