"""Send what a subscription's callbacks print to the notebook cell that subscribed.

ipykernel sends a thread's output to whichever cell is running at that moment, so a callback run by the notifier — or by the main thread while a
later cell commits — would print under an unrelated cell. ipykernel >= 7.4 lets a thread point its
output at a given request with `set_thread_parent`; `CellOutput` remembers the subscribing cell's
request and does that around each callback. Outside a kernel it is absent and costs nothing.
"""

from __future__ import annotations

import sys
from typing import Any, Callable


class CellOutput:
    """The request (cell execution) that output should go to."""

    __slots__ = ("_shell", "_parent")

    def __init__(self, shell: Any, parent: dict) -> None:
        self._shell = shell
        self._parent = parent

    @classmethod
    def current(cls) -> CellOutput | None:
        """The cell running on this thread now, or None outside a kernel (IPython is never imported here)."""
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
        if shell is None or not hasattr(shell, "set_thread_parent") or not hasattr(shell, "get_parent"):
            return None
        parent = shell.get_parent()
        return cls(shell, parent) if parent else None

    def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        """`fn(arg)` with this thread's output sent to the remembered cell."""
        tokens = self._shell.set_thread_parent(self._parent)
        try:
            return fn(arg)
        finally:
            sys.stdout.flush()  # output still buffered belongs to that cell too
            sys.stderr.flush()
            self._shell.reset_thread_parent(tokens)
