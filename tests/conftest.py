"""Shared fixtures: the core suite runs against both the in-memory and the DuckDB-file app."""

from __future__ import annotations

import signal

import pytest

from convex_lab import App

# The Ctrl-C tests need Python's own SIGINT handler. A process started in the background by a
# non-interactive shell begins with SIGINT ignored (and then `_thread.interrupt_main()` and real
# SIGINTs do nothing); a notebook kernel or a terminal never does.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(params=["memory", "file"])
def app(request, tmp_path):
    """An App in memory and one backed by a DuckDB file (every test using it runs twice)."""
    instance = App() if request.param == "memory" else App(tmp_path / "lab.duckdb")
    yield instance
    instance.close()


@pytest.fixture
def memory_app():
    instance = App()
    yield instance
    instance.close()


def check(app: App) -> None:
    """Assert the engine's structural invariants."""
    app._db._check()
