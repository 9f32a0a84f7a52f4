"""Ctrl-C safety: sections of code that a KeyboardInterrupt must not cut in half.

In a notebook, Ctrl-C (Interrupt the kernel) runs the Python-level SIGINT handler in the main
thread between any two bytecodes, and the default handler raises `KeyboardInterrupt` right there:
between a store write and its undo entry, inside a sorted index's rebalancing, between a durable
COMMIT and the bookkeeping that records it. `DEFERRED` marks such a section: while one is open on
the main thread, a SIGINT only records that it came, and the handler it replaced runs (normally
raising `KeyboardInterrupt`) when the outermost section closes. Blocking calls inside a section
(lock waits, sleeps, DuckDB statements) resume instead of failing, as PEP 475 makes them.

Other threads never receive KeyboardInterrupt, so there a section costs one thread check.
`armed()` installs the deferring handler for a longer stretch (a whole mutation run) without
deferring anything itself, so the many short sections inside it skip the install (~0.4 µs each).
Outside any section the installed handler behaves exactly as the one it replaced.

>>> with DEFERRED:
...     pass  # a Ctrl-C here is delivered as the block ends
"""

from __future__ import annotations

import sys
import threading

import _signal  # the C module: `signal.getsignal` wraps results in enums (~3 µs a call)

__all__ = ["DEFERRED", "armed"]

SIGINT = _signal.SIGINT
_get_ident = threading.get_ident
_getsignal = _signal.getsignal
_MAIN = threading.main_thread().ident


class _State:
    # Touched only by the main thread (sections elsewhere are no-ops), and by the handler, which
    # Python runs in the main thread: no lock needed.
    __slots__ = ("depth", "pending", "saved", "section_installed")

    def __init__(self) -> None:
        self.depth = 0  # open DEFERRED sections on the main thread
        self.pending = False  # a SIGINT arrived while depth > 0
        self.saved = None  # the handler ours replaced (what a delivered interrupt runs)
        self.section_installed = False  # the outermost open section installed the handler


_state = _State()


def _handler(signum: int, frame) -> None:
    """The deferring SIGINT handler: record inside a section, otherwise act as the one replaced."""
    if _state.depth:
        _state.pending = True
        return
    # Outside a section the interrupt is delivered now: step aside (an `armed()` stretch that
    # installed us finds us gone and leaves things be; an interrupt that cut an install or a
    # restore short cannot leave us in place), then act as the handler we replaced.
    saved = _state.saved
    _restore()
    if callable(saved):
        saved(signum, frame)


def _install() -> bool:
    """Put `_handler` in place of the current Python-level handler; False when there is none to
    stand in for (SIG_IGN/SIG_DFL: Python raises nothing on Ctrl-C then, so nothing to defer)."""
    current = _getsignal(SIGINT)
    if not callable(current):
        return False
    _state.saved = current
    _signal.signal(SIGINT, _handler)
    return True


def _restore() -> None:
    if _getsignal(SIGINT) is _handler:  # someone else's handler stays where they put it
        _signal.signal(SIGINT, _state.saved)


def _deliver() -> None:
    saved = _state.saved
    if callable(saved):
        saved(SIGINT, sys._getframe(1))


class _Deferred:
    """`with DEFERRED:` — KeyboardInterrupt waits until the outermost section ends. Re-entrant;
    O(1); a no-op off the main thread."""

    __slots__ = ()

    def __enter__(self) -> None:
        if _get_ident() != _MAIN:
            return
        state = _state
        if state.depth == 0:
            state.section_installed = _getsignal(SIGINT) is not _handler and _install()
        state.depth += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        if _get_ident() != _MAIN:
            return False
        state = _state
        state.depth -= 1
        if state.depth:
            return False
        # From here a new SIGINT is handled at once (raising here, which is still correct).
        installed, state.section_installed = state.section_installed, False
        pending, state.pending = state.pending, False
        if installed:
            _restore()
        if pending:
            _deliver()  # normally raises KeyboardInterrupt, which then replaces any exception in flight
        return False

    def __repr__(self) -> str:
        return "DEFERRED"


DEFERRED = _Deferred()


class armed:
    """Keep the deferring handler installed for a stretch of code (a mutation run) so the short
    `DEFERRED` sections inside it cost only a counter. Interrupts outside those sections are
    delivered at once, as before."""

    __slots__ = ("_installed",)

    def __enter__(self) -> armed:
        self._installed = (_get_ident() == _MAIN and _state.depth == 0
                           and _getsignal(SIGINT) is not _handler and _install())
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._installed:
            if _state.depth:
                _state.section_installed = True  # an open section restores it when it ends
            else:
                _restore()
        return False


def _check() -> None:
    """Assert that no section is open and no interrupt is waiting (for tests, between runs). Our
    handler may still be in place if an interrupt cut its restore short: it then behaves as the
    one it replaced, and steps aside at the next Ctrl-C."""
    assert _state.depth == 0, _state.depth
    assert not _state.pending
    assert _getsignal(SIGINT) is not _handler or callable(_state.saved)
