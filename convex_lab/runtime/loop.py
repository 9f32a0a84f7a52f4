"""convex_lab's own asyncio loop, on its own daemon thread.

Async actions (and, later, scheduler and cron timers) run here, never on the kernel's loop: a busy
cell blocks the kernel's loop, and user code must not be able to starve convex_lab's timers.
One loop serves every App in the process; it starts on first use.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any, Coroutine

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def runtime_loop() -> asyncio.AbstractEventLoop:
    """The runtime loop, started on first call."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=run, name="convex_lab-runtime", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
        return _loop


def on_runtime_thread() -> bool:
    return _thread is not None and threading.current_thread() is _thread


def submit(coro: Coroutine[Any, Any, Any]) -> Future:
    """Schedule `coro` on the runtime loop; returns a concurrent Future."""
    return asyncio.run_coroutine_threadsafe(coro, runtime_loop())
