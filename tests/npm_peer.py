"""The official npm `convex` client as a test peer: node scripts in tests/js (the package pinned by
tests/js/package-lock.json), run against a served App.

    @requires_node
    def test_...(app):
        done = run_node("sync_client.mjs", app.serve())
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).parent / "js"
TIMEOUT = 300

requires_node = pytest.mark.skipif(shutil.which("node") is None,
                                   reason="node is not installed (the npm client runs on it)")


@functools.cache
def _node_flags() -> tuple[str, ...]:
    """Installs tests/js's packages if missing (.ci/run does it; by hand, it happens here), and
    gives node the flag that Node 20 and 21 need for a global WebSocket."""
    if not (JS / "node_modules" / "convex").is_dir():
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=JS, check=True,
                       capture_output=True, timeout=600)
    probe = subprocess.run(["node", "-e", "process.stdout.write(typeof WebSocket)"], capture_output=True, text=True,
                           timeout=TIMEOUT)
    return () if probe.stdout == "function" else ("--experimental-websocket",)


def node_command(script: str, *args: str) -> list[str]:
    """The command that runs tests/js/`script` with `args` (run it with `cwd=JS`)."""
    return ["node", *_node_flags(), script, *args]


def run_node(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run tests/js/`script` with `args` to its end; fails the test if it exits with an error."""
    done = subprocess.run(node_command(script, *args), cwd=JS, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    return done
