"""`app.env`: the deployment's environment variables, set and read from Python.

Each change is one commit through the engine's mutation path (engine/env_vars.py), so it is
durable in a file-backed App, atomic under Ctrl-C, and re-runs exactly the live queries that read
the variable it changes. Functions read the variables with `ctx.env` (context.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..engine import env_vars
from ..errors import interrupted_write

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.database import Database


class EnvironmentVariables:
    """`app.env`: set, read, list and remove the environment variables functions read with
    `ctx.env`.

    Names follow Convex's rule (letters, digits and underscores, not starting with a digit; at
    most 256 characters); values are strings of at most 8 KiB; a deployment holds at most 512
    variables, 512 KiB in all. Breaking a rule raises Convex's error and changes nothing.

    Examples:
        >>> app.env.set("GREETING", "hello")
        >>> app.env.get("GREETING")
        'hello'
        >>> app.env.list()
        {'GREETING': 'hello'}
        >>> app.env.remove("GREETING")
        >>> app.env.get("GREETING", "unset")
        'unset'
    """

    __slots__ = ("_database", "_after_change")

    def __init__(self, database: "Database", after_change: Any = None) -> None:
        self._database = database
        self._after_change = after_change  # waits for the deliveries a change triggered

    def set(self, name: str, value: str) -> None:
        """Set variable `name` to `value` (creating or replacing it), in one commit.

        Setting the value it already has writes nothing (no live query re-runs).

        Raises:
            EnvironmentVariableNameInvalid: `name` breaks Convex's rule.
            EnvironmentVariableNameTooLong: `name` is longer than 256 characters.
            EnvironmentVariableValueTooLarge: `value` is larger than 8 KiB.
            EnvVarLimitMet: There are 512 variables already.
            EnvVarTotalSizeLimitMet: All names and values together would exceed 512 KiB.
            TypeError: `name` or `value` is not a string.
        """
        env_vars.check_name(name)
        env_vars.check_value(value)
        self._write(name, value, f"Setting the environment variable {name}")

    def get(self, name: str, default: Any = None) -> Any:
        """The value of variable `name`, or `default` when it is not set.

        Raises:
            EnvironmentVariableNameInvalid: `name` breaks Convex's rule.
            EnvironmentVariableNameTooLong: `name` is longer than 256 characters.
        """
        value = self._database.run_query(lambda txn: env_vars.read(txn, name))[0]
        return default if value is None else value

    def list(self) -> dict[str, str]:
        """Every variable as a dict, name → value, in name order."""
        return self._database.run_query(env_vars.read_all)[0]

    def remove(self, name: str) -> None:
        """Remove variable `name` (nothing happens when it is not set).

        Raises:
            EnvironmentVariableNameInvalid: `name` breaks Convex's rule.
            EnvironmentVariableNameTooLong: `name` is longer than 256 characters.
        """
        env_vars.check_name(name)
        self._write(name, None, f"Removing the environment variable {name}")

    def _write(self, name: str, value: str | None, what: str) -> None:
        committed: list = []
        try:
            self._database.run_mutation(lambda txn: env_vars.write(txn, name, value), record=committed)
            if committed and self._after_change is not None:
                self._after_change()
        except KeyboardInterrupt as interrupted:
            raise interrupted_write(interrupted, committed, what) from None

    def __repr__(self) -> str:
        names = list(self.list())
        return f"<app.env: {len(names)} variable{'s' if len(names) != 1 else ''}{': ' if names else ''}{', '.join(names)}>"
