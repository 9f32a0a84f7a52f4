"""Mutation results kept for replays: a client that re-sends a mutation (same client session,
same request) gets the first run's result instead of a second run.

A mutation run with a `replay_key` (`Runtime.execute(..., replay_key=...)`) stores its result and
log lines as a record of its own commit (engine/records.py): the result is kept exactly when the
mutation committed, durable with its writes in a database file, so a replay after the App was
closed and reopened (or the server restarted) still finds it. A failed mutation commits nothing
and leaves no record: a replay runs it again, as Convex does. Each App keeps the newest
`MAX_RECORDS_PER_KIND` (10,000) results; Convex keeps them in its `_session_requests` table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from ..values import dumps_export, loads_export

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.records import Records

KIND = "mutation_result"  # the records' kind


class RecordedMutation(NamedTuple):
    """A mutation's first run, as recorded: its value, log lines and commit timestamp (ns)."""

    value: Any
    lines: list[str]
    ts: int


def encode(value: Any, lines: list[str]) -> str:
    """A record's text: the value (a Convex value) and the log lines, in export JSON."""
    return dumps_export({"value": value, "logLines": list(lines)})


def recorded(records: "Records", replay_key: str) -> RecordedMutation | None:
    """The recorded first run of the mutation sent with `replay_key`, or `None`."""
    record = records.get(KIND, replay_key)
    if record is None:
        return None
    body = loads_export(record.body)
    return RecordedMutation(body["value"], body["logLines"], record.ts)
