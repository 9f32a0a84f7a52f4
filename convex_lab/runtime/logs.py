"""Per-execution log capture and the bounded execution log.

`print()` and `logging` inside a function become that execution's log lines (`[LOG] text`,
`[INFO] …`), routed by a context variable through a stdout proxy and a logging handler, so threads
never mix their lines. Outside an execution, output passes straight through. Every execution is
recorded in a bounded in-memory ring (`ExecutionLog`); `App.logs()` turns it into a DataFrame.
"""

from __future__ import annotations

import contextvars
import io
import itertools
import logging
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, TextIO

MAX_LINES = 256  # Convex's per-execution log line limit
MAX_LINE_BYTES = 4096  # Convex's per-line length limit

_LEVEL_TAGS = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN", logging.ERROR: "ERROR", logging.CRITICAL: "ERROR"}


class Capture:
    """The log lines of one execution (shared by its nested `ctx.run_*` calls)."""

    __slots__ = ("lines", "echo", "_partial", "truncated")

    def __init__(self, echo: TextIO | None = None) -> None:
        ensure_stdout_proxy()
        self.lines: list[str] = []
        self.echo = echo  # where lines are also shown (the calling cell's stream), or None
        self._partial = ""
        self.truncated = False

    def add(self, tag: str, text: str) -> None:
        if len(self.lines) >= MAX_LINES:
            if not self.truncated:
                self.truncated = True
                self.lines.append(f"[WARN] Log overflow (maximum {MAX_LINES}). Remaining log lines will be omitted.")
            return
        encoded = text.encode("utf-8", "replace")
        if len(encoded) > MAX_LINE_BYTES:
            text = encoded[:MAX_LINE_BYTES].decode("utf-8", "ignore") + " (truncated due to length)"
        line = f"[{tag}] {text}"
        self.lines.append(line)
        if self.echo is not None:
            try:
                self.echo.write(line + "\n")
            except Exception:  # noqa: BLE001 - showing a line must never break the function
                pass

    def write(self, s: str) -> None:
        data = self._partial + s
        *complete, self._partial = data.split("\n")
        for line in complete:
            self.add("LOG", line)

    def finish(self) -> list[str]:
        if self._partial:
            self.add("LOG", self._partial)
            self._partial = ""
        return self.lines


current_capture: contextvars.ContextVar[Capture | None] = contextvars.ContextVar("convex_lab_capture", default=None)


class _StdoutProxy(io.TextIOBase):
    """Stands in for `sys.stdout`: inside an execution writes go to its capture, else through."""

    def __init__(self, target: TextIO) -> None:
        self._target = target

    def write(self, s: str) -> int:  # type: ignore[override]
        capture = current_capture.get()
        if capture is None:
            return self._target.write(s)
        capture.write(s)
        return len(s)

    def flush(self) -> None:
        if current_capture.get() is None:
            self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _LogHandler(logging.Handler):
    """Routes `logging` records made inside an execution to its capture."""

    def emit(self, record: logging.LogRecord) -> None:
        capture = current_capture.get()
        if capture is None:
            # Outside an execution this handler must not swallow what Python would have shown:
            # with no other handler installed, warnings go to stderr (logging's last resort).
            last_resort = logging.lastResort
            if (last_resort is not None and record.levelno >= last_resort.level
                    and all(h is self for h in logging.getLogger().handlers)):
                last_resort.handle(record)
            return
        try:
            capture.add(_LEVEL_TAGS.get(record.levelno, "LOG"), record.getMessage())
        except Exception:  # noqa: BLE001
            self.handleError(record)


class _CaptureFilter(logging.Filter):
    """Keeps other handlers from printing records that an execution captured."""

    def filter(self, record: logging.LogRecord) -> bool:
        return current_capture.get() is None


_install_lock = threading.Lock()
_installed = False
_handler = _LogHandler()
_filter = _CaptureFilter()


def ensure_stdout_proxy() -> None:
    """Wrap `sys.stdout` again if something replaced it since (pytest, IPython's capture)."""
    if not isinstance(sys.stdout, _StdoutProxy):
        with _install_lock:
            if not isinstance(sys.stdout, _StdoutProxy):
                sys.stdout = _StdoutProxy(sys.stdout)  # type: ignore[assignment]


def install() -> None:
    """Install the stdout proxy and the logging handler once per process (idempotent)."""
    global _installed
    ensure_stdout_proxy()
    with _install_lock:
        if not _installed:
            root = logging.getLogger()
            root.addHandler(_handler)
            for handler in root.handlers:
                if handler is not _handler:
                    handler.addFilter(_filter)
            if root.level > logging.INFO:
                # Let INFO records from functions reach the capture; other handlers still filter by their own level.
                root.setLevel(logging.INFO)
            _installed = True


def echo_stream() -> TextIO | None:
    """The stream where a notebook caller's function logs are shown, or None off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    out = sys.stdout
    return out._target if isinstance(out, _StdoutProxy) else out  # type: ignore[attr-defined]


_COLUMNS = ("id", "timestamp", "path", "kind", "caller", "duration_ms", "status", "error", "lines")


class ExecutionLog:
    """A bounded ring of execution records. Thread-safe appends (deque.append is atomic).

    Listeners (`add_listener`) are called with each new entry as a dict, on the thread that ran
    the function, right after it finished."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._ring: deque[dict] = deque(maxlen=maxlen)
        self._ids = itertools.count(1)
        self._listeners: tuple[Callable[[dict], None], ...] = ()  # replaced whole: no lock to read

    def record(self, *, path: str, kind: str, caller: str, started_ms: float, duration_ms: float,
               status: str, error: str | None, lines: list[str]) -> None:
        # A tuple, not a dict: this runs once per execution, on the hot path.
        row = (next(self._ids), started_ms, path, kind, caller, duration_ms, status, error, lines)
        self._ring.append(row)
        if self._listeners:
            entry = dict(zip(_COLUMNS, row))
            for listener in self._listeners:
                try:
                    listener(dict(entry))
                except Exception:  # noqa: BLE001 - a listener's bug must not fail the function
                    logging.getLogger("convex_lab").exception("convex_lab: a log listener failed")

    def add_listener(self, listener: Callable[[dict], None]) -> Callable[[], None]:
        """Call `listener(entry)` for every new entry; returns the function that stops it."""
        with _install_lock:
            self._listeners = self._listeners + (listener,)

        def remove() -> None:
            with _install_lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return remove

    def entries(self) -> list[dict]:
        return [dict(zip(_COLUMNS, row)) for row in list(self._ring)]

    def since(self, cursor: int | None, history: int = 0, limit: int = 1000) -> tuple[list[dict], int]:
        """The entries after entry `cursor` (at most `limit`, oldest first), or with no cursor the
        last `history` entries; and the cursor to pass next time (the last entry's id)."""
        ring = list(self._ring)
        if cursor is None:
            rows = ring[len(ring) - history:] if history > 0 else []
            last = ring[-1][0] if ring else 0
        else:
            rows = [row for row in ring if row[0] > cursor][:limit]  # ids increase along the ring
            last = rows[-1][0] if rows else cursor
        return [dict(zip(_COLUMNS, row)) for row in rows], last

    def dataframe(self):
        import pandas as pd

        frame = pd.DataFrame(list(self._ring), columns=list(_COLUMNS))
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
        return frame


def now_ms() -> float:
    return time.time() * 1000.0


def _plain(code: str, text: str) -> str:
    return text


def format_duration(ms: float) -> str:
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def format_entry(entry: dict, paint: Callable[[str, str], str] = _plain) -> str:
    """One execution as people read it: a line with its local time, kind, path, caller, duration
    and outcome (the error's first line), then what it printed, indented. `paint(sgr, text)` adds
    colour where the terminal has it (`2` dim, `31` red, `32` green, `36` cyan)."""
    when = time.strftime("%H:%M:%S", time.localtime(entry["timestamp"] / 1000.0))
    when += f".{int(entry['timestamp'] % 1000):03d}"
    if entry["status"] == "success":
        outcome = paint("32", "ok")
    else:
        error = (entry.get("error") or "failed").strip().split("\n", 1)[0]
        outcome = paint("31", f"failed: {error}")
    head = (f"{paint('2', when)} {paint('36', entry['kind'])} {entry['path']} "
            f"{paint('2', '(' + str(entry['caller']) + ')')} {format_duration(entry['duration_ms'])} {outcome}")
    return "\n".join([head] + [f"    {line}" for line in entry.get("lines") or ()])
