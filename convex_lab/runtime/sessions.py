"""Sessions: one subscriber holding many live queries, told of their changes one batch per commit.

This is what a sync-protocol client session needs (Convex's `ModifyQuerySet` / `Transition`): a
session holds a query set (`add`, `remove`), and after the deliveries of each commit it receives
at most one `Transition`: every query of the session whose result changed (`QueryUpdated`, or
`QueryFailed`), every query removed since the last one (`QueryRemoved`), and `ts`, the commit
timestamp at which all of the session's results hold. Results equal by Convex equality to what
the session was last sent are never sent again; a commit that changes none of them sends nothing.

Each query of a session is a `SessionQuery`, a subscriber of the shared `LiveQuery` exactly like a
callback `Subscription`: the same (function, args, identity) run once for all its subscribers, and
only when a commit touches its read set. Transitions are delivered on the notifier thread (a
server hands them to its own event loop from there); the values in them are the live query's
shared results, to read, not to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Hashable, NamedTuple

from ..interrupts import DEFERRED
from ..values import values_equal

if TYPE_CHECKING:  # pragma: no cover
    from .reactivity import LiveQuery, Reactor


class QueryUpdated(NamedTuple):
    """A query of the session has a new result: its value, the lines its run logged
    (`"[LOG] text"`, as executions capture them) and its journal (the end cursor its paginated
    query settled on, which its re-runs keep; `None` when it did not paginate)."""

    query_id: Hashable
    value: Any
    log_lines: tuple = ()
    journal: str | None = None


class QueryFailed(NamedTuple):
    """A query of the session failed (the exception its run raised), with the lines the run
    logged and the journal its next run starts from."""

    query_id: Hashable
    error: BaseException
    log_lines: tuple = ()
    journal: str | None = None


class QueryRemoved(NamedTuple):
    """A query left the session (`Session.remove`)."""

    query_id: Hashable


class Transition(NamedTuple):
    """What one session is sent after a commit: its changed queries, and the commit timestamp
    (ns) at which every result of the session holds (Convex's `Transition` end version)."""

    ts: int
    modifications: list  # of QueryUpdated | QueryFailed | QueryRemoved, removals first


_NOTHING = object()  # a session query's "sent" before its first result went out


class SessionQuery:
    """One query of a session: a subscriber of its `LiveQuery`, remembering what was sent."""

    session_query = True  # the kind of subscriber (a `Subscription` has False; see reactivity.py)
    notifier_only = True  # a session's transitions are built and sent on the notifier thread

    def __init__(self, session: "Session", query_id: Hashable) -> None:
        self.session = session
        self.query_id = query_id
        self._live: LiveQuery | None = None  # set when attached (Reactor._attach)
        self.active = True
        self.sent: Any = _NOTHING  # the result last sent (the shared object itself)
        self.sent_error: BaseException | None = None  # the failure last sent, if the last was one
        self.sent_extras: tuple = ((), None)  # the log lines and journal last sent

    @property
    def path(self) -> str:
        return self._live.path if self._live is not None else "?"

    def modification(self) -> QueryUpdated | QueryFailed | None:
        """What to send for this query now, if anything differs from what was last sent; records
        it as sent. Call on the notifier, with the live query's result settled."""
        live = self._live
        if live is None or live.runs == 0:
            return None
        error = live.error
        extras = (live.lines, live.journal)
        same_extras = extras == self.sent_extras  # a result is its value and its log lines (Convex)
        if error is not None:
            if self.sent_error is not None and same_extras and _same_error(self.sent_error, error):
                return None
            self.sent, self.sent_error, self.sent_extras = _NOTHING, error, extras
            return QueryFailed(self.query_id, error, *extras)
        result = live.result
        sent = self.sent
        if (self.sent_error is None and sent is not _NOTHING and same_extras
                and (sent is result or (sent is not live.prior and values_equal(sent, result)))):
            return None  # unchanged by Convex equality: nothing to send
        self.sent, self.sent_error, self.sent_extras = result, None, extras
        return QueryUpdated(self.query_id, result, *extras)

    def __repr__(self) -> str:
        return f"<SessionQuery {self.query_id!r} {self.path}{'' if self.active else ' (inactive)'}>"


def _same_error(a: BaseException, b: BaseException) -> bool:
    """Two failures the client cannot tell apart: same type, message and ConvexError data."""
    if a is b:
        return True
    if type(a) is not type(b) or str(a) != str(b):
        return False
    data_a, data_b = getattr(a, "data", None), getattr(b, "data", None)
    try:
        return data_a is data_b or values_equal(data_a, data_b)
    except Exception:  # noqa: BLE001 - data that is no Convex value: compare as Python does
        return data_a == data_b


class Session:
    """A subscriber holding a set of queries, sent one `Transition` per commit that changes any.

    Made by `Reactor.open_session(on_transition, on_error=None)`. `on_transition(transition)` runs
    on the notifier thread; `on_error(error)` is told (there too) when the App closes.

    Attributes:
        closed (bool): True after `close()` (or once the App is closed).
        on_transition: Called with each `Transition`.
        on_error: Called with the `AppClosedError` when the App closes, or `None`.
    """

    def __init__(self, reactor: "Reactor", on_transition: Callable[[Transition], None],
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self._reactor = reactor
        self.on_transition = on_transition
        self.on_error = on_error
        self._queries: dict[Hashable, SessionQuery] = {}  # the query set, in the order added
        self._removed: list[Hashable] = []  # removed since the last transition
        self.closed = False
        self.transitions = 0  # how many were sent
        self._forced = False  # send the next transition even with no modifications

    def add(self, query_id: Hashable, fn: Any, args: dict | None = None, identity: dict | None = None,
            journal: str | None = None) -> None:
        """Add query `fn(args)` (run as `identity`) under `query_id`; its first result comes in a
        transition. Runs the query now unless another subscriber shares its run already. With
        `journal` (the end cursor of a journal a client was sent), its paginated query keeps that
        page boundary, as on every re-run.

        Raises:
            ValueError: `query_id` is in the session already.
            RuntimeError: The session is closed.
            FunctionNotFound, WrongFunctionKind, AppClosedError: as `app.subscribe`.
        """
        reactor = self._reactor
        entry = SessionQuery(self, query_id)
        try:
            with DEFERRED, reactor._lock:
                if self.closed:
                    raise RuntimeError("this session is closed")
                if query_id in self._queries:
                    raise ValueError(f"query id {query_id!r} is in use in this session already")
                self._queries[query_id] = entry
            reactor._attach(entry, fn, args, identity, journal)
            reactor._session_changed(self)
        except BaseException:
            with DEFERRED, reactor._lock:
                if self._queries.get(query_id) is entry:
                    del self._queries[query_id]
                reactor.unsubscribe(entry)
            raise

    def remove(self, query_id: Hashable) -> None:
        """Remove a query: the next transition carries `QueryRemoved(query_id)`, and no update
        of it after that.

        Raises:
            KeyError: No query of the session has that id.
        """
        reactor = self._reactor
        with DEFERRED, reactor._lock:
            if self.closed:
                raise RuntimeError("this session is closed")
            entry = self._queries.pop(query_id)
            self._removed.append(query_id)
            reactor.unsubscribe(entry)
        reactor._session_changed(self)

    def request_transition(self) -> None:
        """Ask for a transition even if no result changes: the next one is sent with no
        modifications if need be, as soon as every query of the session holds at the newest
        commit. Its `ts` is then at least that of every commit made before this call (a sync
        server tells a client so that the client's own mutation is reflected)."""
        reactor = self._reactor
        with DEFERRED, reactor._lock:
            if self.closed:
                return
            self._forced = True
        reactor._session_changed(self)

    @property
    def query_ids(self) -> list:
        """The ids of the session's queries, in the order they were added."""
        return list(self._queries)

    def close(self) -> None:
        """Drop every query and stop all transitions. Idempotent."""
        self._reactor._close_session(self)

    def _transition(self) -> Transition | None:
        """The transition to send now, or None: nothing changed (and `request_transition` asked
        for none), or a query of the session is still to re-run for a commit (the results would
        not all hold at one timestamp; the session stays marked for the next pass). Clears the
        session's mark. Call on the notifier with `delivering` held: results of live queries
        already run change only there."""
        reactor = self._reactor
        with reactor._lock:
            reactor._dirty.pop(self, None)
            if self.closed:
                return None
            # A query whose first run is under way (another thread's `add`) joins a later one.
            entries = [entry for entry in self._queries.values() if entry._live is not None and entry._live.runs]
            pending = reactor._pending
            if any(entry._live.key in pending for entry in entries):  # type: ignore[union-attr]
                reactor._dirty[self] = None
                return None
            ts = reactor._ts
            removed, self._removed = self._removed, []
            forced, self._forced = self._forced, False
        modifications: list = [QueryRemoved(query_id) for query_id in removed]
        for entry in entries:
            change = entry.modification()
            if change is not None:
                modifications.append(change)
        return Transition(ts, modifications) if modifications or forced else None

    def __repr__(self) -> str:
        return f"<Session {len(self._queries)} queries{' (closed)' if self.closed else ''}>"
