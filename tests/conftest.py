"""Shared fixtures: the core suite runs against both the in-memory and the DuckDB-file app."""

from __future__ import annotations

import pytest

from convex_lab import App


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
