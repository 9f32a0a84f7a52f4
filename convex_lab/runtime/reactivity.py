"""Live queries: `app.subscribe`, sessions, re-runs on relevant commits, delivery on the notifier.

Responsibilities:
- Keep one `LiveQuery` per (function, args, identity); its subscribers share its runs (never
  across identities). A subscriber is a `Subscription` (a callback, `app.subscribe`) or a
  `SessionQuery`, one query of a `Session` (runtime/sessions.py), which gets one `Transition` per
  commit with every changed result of its queries.
- On each commit (a `Database` listener, under the commit lock), ask `SubscriptionIndex.touched_by`
  which live queries the writes touch (engine/subscriptions.py), and queue them.
- Re-run each queued query once, at the newest commit, and call the subscribers' callbacks only
  when the result differs by Convex equality. Deliveries are serialized (the notifier's
  `delivering` lock), in commit order, normally on the notifier thread (`Notifier`,
  runtime/notifier.py); sessions' transitions are built and sent there, after each pass.
- A mutation called from Python returns after the deliveries its commit triggered. When it was
  called on the main thread (a cell, a script), the notifier is idle and none of the touched
  queries feeds a widget or a session, the main thread delivers them itself: that skips a thread hand-off
  (~70 µs) per mutation.
- Widgets subscribe `notifier_only`: their callbacks, first delivery included, and any other work
  they post with `call_soon` run only on the notifier thread, so their traits have a single writer.
- Each subscriber gets its own copy of a result (`own_copy`; widgets, which only read, share one).
- Ctrl-C on the main thread (an inline delivery, a subscribe, a flush) never loses a queued
  re-run: bookkeeping changes in DEFERRED sections, and work not finished goes back to the queue.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple

from ..engine.subscriptions import SubscriptionIndex
from ..interrupts import DEFERRED
from ..keys import decode_key
from ..values import convex_value, copy_value, display_value, to_convex_json, values_equal
from .cell_output import CellOutput
from .notifier import Notifier
from .sessions import Session, SessionQuery, Transition

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.database import Commit, Database
    from .execution import Runtime

log = logging.getLogger("convex_lab")


class Rerun(NamedTuple):
    """Why a live query re-ran: the commit, and the write that landed in its read set.

    For a re-run caused by redefining the query's function, `change` is `"redefined"`,
    `doc_id` is the function's path and `table`/`index` are empty.

    Attributes:
        ts: The commit's timestamp.
        table: The table written.
        index: The index whose read range the write landed in.
        doc_id: The id of the document written.
        change: `"insert"`, `"update"`, `"delete"` or `"redefined"`.
    """

    ts: int
    table: str
    index: str
    doc_id: str
    change: str  # "insert" | "update" | "delete", or "redefined" (doc_id is then the function path)


def describe_interval(table: str, index: str, fields: tuple[str, ...], lo: bytes, hi: bytes | None) -> str:
    """A read-set interval as people read it: `messages.by_room: room == "a"`,
    `messages.by_creation_time: everything`, `t.by_x: x >= 1.0, x < 5.0`."""
    lo_values, lo_end = decode_key(lo) if lo else ([], "")
    hi_values, hi_end = decode_key(hi) if hi is not None else ([], "")
    parts = []
    common = 0
    while (common < len(lo_values) and common < len(hi_values)
           and values_equal(lo_values[common], hi_values[common])):
        common += 1
    for i in range(common):
        if i < len(lo_values) - 1 or hi_end == "top" or i < len(hi_values) - 1:
            parts.append(f"{_field(fields, i)} == {display_value(lo_values[i])}")
    if common < len(lo_values):
        op = ">" if lo_end == "top" and common == len(lo_values) - 1 else ">="
        parts.append(f"{_field(fields, common)} {op} {display_value(lo_values[common])}")
    if common < len(hi_values):
        op = "<=" if hi_end in ("top", "+") and common == len(hi_values) - 1 else "<"
        parts.append(f"{_field(fields, common)} {op} {display_value(hi_values[common])}")
    if hi is not None and common == len(hi_values) and hi_end == "+" and common == len(lo_values):
        parts = [f"{_field(fields, i)} == {display_value(v)}" for i, v in enumerate(lo_values)]
    return f"{table}.{index}: {', '.join(parts) if parts else 'everything'}"


def _field(fields: tuple[str, ...], i: int) -> str:
    return fields[i] if i < len(fields) else f"#{i}"


class Subscription:
    """One subscriber of a live query, as `app.subscribe` returns it.

    Attributes:
        result: The last result delivered to the callback (`None` before the first).
        error: The exception of the last failed run, or `None` once a result was delivered
            after it.
        delivered (bool): Whether a result has been delivered yet.
        active (bool): False after `unsubscribe()` (or once the App is closed).
        callback: The function called with each new result.
        on_error: The function called with each failure, or `None`.
    """

    # A live query's subscribers are Subscriptions (a callback) and SessionQuery objects (one
    # query of a Session, runtime/sessions.py); both have `active`, `notifier_only` and `_live`.
    session_query = False

    def __init__(self, reactor: "Reactor", callback: Callable[[Any], None],
                 on_error: Callable[[BaseException], None] | None, notifier_only: bool = False,
                 own_copy: bool = True) -> None:
        self._reactor = reactor
        self.notifier_only = notifier_only
        self.own_copy = own_copy  # deliver a private copy (a callback may change what it gets)
        self._live: LiveQuery = None  # type: ignore[assignment]  # set when attached (Reactor._attach)
        self.callback = callback
        self.on_error = on_error
        self.result: Any = None
        self._seen: Any = None  # the shared result `result` was copied from (never handed out)
        self.error: BaseException | None = None
        self.delivered = False  # whether a result has been delivered yet
        self.active = True
        # Where its callbacks' prints go: the subscribing cell (widgets print nothing).
        self.output = None if notifier_only else CellOutput.current()

    @property
    def path(self) -> str:
        """The query's path, such as `"notebook:list_messages"`."""
        return self._live.path

    @property
    def args(self) -> dict:
        """The query's arguments."""
        return self._live.args

    @property
    def runs(self) -> int:
        """How many times the shared query has run (the first run included)."""
        return self._live.runs

    @property
    def last_ms(self) -> float:
        """How long the query's last run took, in milliseconds."""
        return self._live.last_ms

    @property
    def read_set(self) -> list[str]:
        """The index ranges the last run read, one readable line each.

        For example `['messages.by_room: room == "a"']`, or `'messages.by_creation_time:
        everything'` for a full scan. A commit re-runs the query only when it writes a document
        whose old or new version falls in one of these ranges.
        """
        return self._reactor.describe_reads(self._live)

    @property
    def reruns(self) -> list[Rerun]:
        """Why the query re-ran: one `Rerun` per re-run, newest last (the last 50)."""
        return list(self._live.reasons)

    def unsubscribe(self) -> None:
        """Stop the callbacks. Idempotent. The query stops re-running once it has no subscriber."""
        self._reactor.unsubscribe(self)

    def call_soon(self, task: Callable[[], None]) -> None:
        """Run `task` on the notifier thread, in order with this subscription's deliveries."""
        self._reactor.call_soon(task)

    def __repr__(self) -> str:
        return f"<Subscription {self._live.path} {self._live.args!r}{'' if self.active else ' (inactive)'}>"


NO_PRIOR = object()  # a LiveQuery's `prior` when no earlier result is known to differ from its `result`



class LiveQuery:
    """A (function, args, identity) that has subscribers: its last result and read set.

    `prior` is an earlier result known to differ from `result` by Convex equality (or `NO_PRIOR`):
    a re-run compares its result with the previous one once, for all subscribers, so a subscriber
    that last saw `prior` needs no comparison of its own (nor one that saw `result`, which an equal
    re-run keeps as the same object). Results are shared and never changed, so identity holds."""

    __slots__ = ("key", "path", "args", "identity", "subscribers", "result", "prior", "error", "runs", "reads",
                 "journal", "lines", "reasons", "last_ms")

    def __init__(self, key: tuple, path: str, args: dict, identity: dict | None, journal: str | None = None) -> None:
        self.key = key
        self.path = path
        self.args = args
        self.identity = identity
        self.subscribers: list[Subscription | SessionQuery] = []
        self.result: Any = None
        self.prior: Any = NO_PRIOR
        self.error: BaseException | None = None
        self.runs = 0
        self.reads: list = []
        self.journal = journal  # the end cursor of its paginated query, kept across re-runs
        self.lines: tuple = ()  # what its last run logged ("[LOG] text" lines)
        self.reasons: deque[Rerun] = deque(maxlen=50)  # why it re-ran, newest last
        self.last_ms = 0.0  # how long its last run took


def _identity_key(identity: dict | None) -> str | None:
    return None if identity is None else json.dumps(identity, sort_keys=True, default=str)


class Reactor:
    """The live-query coordinator of one App (see the module docstring)."""

    def __init__(self, database: "Database", runtime: "Runtime") -> None:
        self.database = database
        self.runtime = runtime
        self.index = SubscriptionIndex()
        self.live: dict[tuple, LiveQuery] = {}
        # Guards `live`, `index`, the queue and the sessions' query sets. Taken briefly inside the
        # commit listener (which runs under the commit lock); never held while waiting for the
        # commit lock.
        self._lock = threading.RLock()
        # Live queries to re-run, each with the number of the commit that last touched it. A key
        # leaves only once delivered (and only if no newer commit touched it meanwhile), so an
        # interrupted delivery pass leaves the rest for the next one.
        self._pending: dict[tuple, int] = {}
        self._generation = 0
        self._reasons: dict[tuple, Rerun] = {}  # why each pending query will re-run
        # The newest commit, set by `_on_commit` together with its marks in `_pending` (so it
        # equals `database.last_ts` whenever the commit lock is free): every live query not
        # pending holds its result at this timestamp. What transitions report.
        self._ts = database.last_ts
        self._sessions: dict[Session, None] = {}  # open sessions, in the order opened
        self._dirty: dict[Session, None] = {}  # sessions with something to send, maybe
        self.notifier = Notifier(self._deliver_pending, self._inline_allowed)
        # Held while delivering or running tasks, so callbacks never run concurrently (the
        # notifier's lock; see runtime/notifier.py).
        self._delivering = self.notifier.delivering
        database.listeners.append(self._on_commit)
        runtime.after_mutation = self.notifier.wait  # = wait_for_deliveries, one call less per mutation
        runtime.on_redefine = self._function_redefined

    # -- subscribing ------------------------------------------------------------------------
    def subscribe(self, fn: Any, args: dict | None, callback: Callable[[Any], None],
                  on_error: Callable[[BaseException], None] | None = None,
                  identity: dict | None = None, notifier_only: bool = False,
                  own_copy: bool = True) -> Subscription:
        """Subscribe `callback` to a query; it is called once now, then on each change.

        With `notifier_only`, every call (the first included) happens on the notifier thread; the
        first is queued, and `flush()` waits for it. With `own_copy` (the default) each delivery
        is a private copy of the result. Interrupted (Ctrl-C) before it returns, it leaves no
        subscription behind."""
        subscription = Subscription(self, callback, on_error, notifier_only, own_copy)
        try:
            live = self._attach(subscription, fn, args, identity)
            if notifier_only:
                self._deliver_later(subscription, live)
            else:
                self._ensure_thread()
                with self._delivering:
                    self._deliver(subscription, live)
        except BaseException:
            self.unsubscribe(subscription)
            raise
        return subscription

    def _attach(self, subscriber: Subscription | SessionQuery, fn: Any, args: dict | None,
                identity: dict | None, journal: str | None = None) -> LiveQuery:
        """Make `subscriber` one of the live query `fn(args)` as `identity`, starting from
        `journal` (created and run first if it has no subscriber yet). A caller interrupted in
        here or after it unsubscribes it.

        Subscribers share a live query only while it runs with the journal they ask for: a
        paginated query's first run settles its page's end (its journal), so a later subscriber
        asking for a fresh first page (no journal) gets a run of its own, numbered `n` in the key."""
        definition = self.runtime.resolve(fn, "query")
        args = dict(args or {})
        base = (definition.path, json.dumps(to_convex_json(convex_value(args)), sort_keys=True), _identity_key(identity),
                journal)
        with self.database.lock:  # no commit between the first run and registering its read set
            self.database.check_open()
            with DEFERRED, self._lock:
                if not subscriber.active:
                    raise RuntimeError("this subscriber was removed")
                n = 0
                while True:
                    key = (*base, n)
                    live = self.live.get(key)
                    if live is None or live.journal == journal:
                        break
                    n += 1
                fresh = live is None
                if fresh:
                    live = self.live[key] = LiveQuery(key, definition.path, args, identity, journal)
                subscriber._live = live
                live.subscribers.append(subscriber)
            if fresh:
                self._run(live)
        return live

    def unsubscribe(self, subscription: Subscription | SessionQuery) -> None:
        with DEFERRED, self._lock:
            if not subscription.active:
                return
            subscription.active = False
            live = subscription._live
            if live is None or subscription not in live.subscribers:
                return  # never attached
            live.subscribers.remove(subscription)
            if not live.subscribers:
                self.live.pop(live.key, None)
                self.index.remove(live.key)
                self._pending.pop(live.key, None)
                self._reasons.pop(live.key, None)

    def describe_reads(self, live: LiveQuery) -> list[str]:
        out = []
        for table, index, lo, hi in live.reads:
            stored = self.database.store.tables.get(table)
            idx = stored.indexes.get(index) if stored is not None else None
            fields = idx.full_fields if idx is not None else ()
            out.append(describe_interval(table, index, fields, lo, hi))
        return out

    def subscriptions(self) -> list[Subscription]:
        """Every `Subscription` (callback subscriber); sessions' queries are not listed."""
        with self._lock:
            return [s for live in self.live.values() for s in live.subscribers if not s.session_query]

    # -- sessions ---------------------------------------------------------------------------
    def open_session(self, on_transition: Callable[[Transition], None],
                     on_error: Callable[[BaseException], None] | None = None) -> Session:
        """A new `Session` (runtime/sessions.py): a query set sent one `Transition` per commit
        that changes any of its results, on the notifier thread."""
        self.database.check_open()
        session = Session(self, on_transition, on_error)
        with DEFERRED, self._lock:
            self._sessions[session] = None
        return session

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions)

    def _session_changed(self, session: Session) -> None:
        """The session's query set changed: send what there is to send, on the notifier."""
        with DEFERRED, self._lock:
            if session.closed:
                return
            self._dirty[session] = None
        self.call_soon(self._send_transitions)

    def _send_transitions(self) -> None:
        """Send each marked session its transition, if it has one (on the notifier, holding
        `delivering`). A session with a query still to re-run stays marked for the next pass."""
        if not self._dirty:
            return
        with self._lock:
            sessions = list(self._dirty)
        for session in sessions:
            transition = session._transition()
            if transition is None:
                continue
            session.transitions += 1
            try:
                session.on_transition(transition)
            except Exception:  # noqa: BLE001 - a callback must not stop the notifier
                log.exception("convex_lab: on_transition of a session raised")

    def _close_session(self, session: Session) -> None:
        with DEFERRED, self._lock:
            if session.closed:
                return
            session.closed = True
            entries = list(session._queries.values())
            session._queries.clear()
            session._removed.clear()
            for entry in entries:
                self.unsubscribe(entry)
            self._sessions.pop(session, None)
            self._dirty.pop(session, None)

    # -- running ----------------------------------------------------------------------------
    def _run(self, live: LiveQuery) -> None:
        """Run `live` at the newest commit and register its read set. Hold the commit lock."""
        outcome = self.runtime.execute(live.path, live.args, identity=live.identity, caller="subscription",
                                       journal=live.journal)  # an error is kept in it, for on_error
        reads = outcome.reads
        with DEFERRED, self._lock:  # a run's outcome and read set are recorded together
            if outcome.error is None:
                live.result, live.prior = outcome.value, NO_PRIOR  # `_settle` may know better
                live.journal = outcome.journal  # a failed run keeps the page where it was
            live.error = outcome.error
            live.lines = tuple(outcome.lines)
            live.runs += 1
            live.last_ms = outcome.duration_ms
            live.reads = reads
            if live.key in self.live:
                self.index.add(live.key, reads)

    def _deliver(self, subscription: Subscription | SessionQuery, live: LiveQuery) -> None:
        """Call the subscriber's callback (or `on_error`) if its last delivery differs. It counts as
        delivered once the callback has returned (or raised an error, which is logged): a callback
        cut short by Ctrl-C gets the same result again on the next pass. A session's query only
        marks its session: the pass ends by sending each marked session one transition."""
        if not subscription.active:
            return
        if subscription.session_query:
            with self._lock:
                self._dirty[subscription.session] = None  # type: ignore[union-attr]
            return
        if live.error is not None:
            if subscription.error is live.error:
                return
            try:
                handler = subscription.on_error or (lambda error: _warn_failed(live.path, error))
                _call(subscription, handler, live.error)
            except BaseException:  # noqa: BLE001 - a callback must not stop the notifier
                self._callback_raised("on_error callback", subscription)
            subscription.error = live.error
            return
        seen = subscription._seen
        if subscription.delivered and subscription.error is None and (
                seen is live.result or (seen is not live.prior and values_equal(seen, live.result))):
            return  # unchanged by Convex equality: nothing to send
        value = copy_value(live.result) if subscription.own_copy else live.result
        subscription.result = value
        try:
            _call(subscription, subscription.callback, value)
        except BaseException:  # noqa: BLE001
            self._callback_raised("callback", subscription)
        # One statement of plain stores: no point between them where Python handles a Ctrl-C.
        subscription._seen, subscription.error, subscription.delivered = live.result, None, True

    def _deliver_later(self, subscription: Subscription | SessionQuery, live: LiveQuery) -> None:
        """Deliver on the notifier thread (a widget's writes, a session's transitions stay there)."""
        def task() -> None:
            self._deliver(subscription, live)
            self._send_transitions()

        self.call_soon(task)

    def _callback_raised(self, what: str, subscription: Subscription) -> None:
        """Log a callback's exception (under the subscribing cell). On the notifier even SystemExit
        is only logged (the thread must outlive bad callbacks); elsewhere Ctrl-C and exits
        propagate to the caller."""
        error = sys.exc_info()[1]
        if not isinstance(error, Exception) and not self.notifier.is_current():
            raise error  # type: ignore[misc]
        _call(subscription, lambda path: log.exception("convex_lab: %s of live query %s raised", what, path),
              subscription.path)

    # -- commits ----------------------------------------------------------------------------
    def _on_commit(self, commit: "Commit") -> None:
        """Database listener (commit lock held): queue the live queries this commit touched."""
        if not self.live:
            self._ts = commit.ts
            return
        with self._lock:
            touched = self.index.touched_by(commit.writes)
            if touched:
                reasons = self._reasons
                ts = commit.ts
                for key, touch in touched.items():
                    reasons[key] = Rerun(ts, *touch)
                self._mark(touched)
            self._ts = commit.ts  # with its marks: a transition never claims a commit not yet marked
        if touched:
            self._queue_delivery()

    def _mark(self, keys: Iterable) -> None:
        """Queue `keys` for a re-run (with `_lock` held)."""
        self._generation += 1
        generation = self._generation
        pending = self._pending
        for key in keys:
            pending[key] = generation

    def _function_redefined(self, path: str) -> None:
        """A re-run cell replaced `path`: its live queries re-run with the new code now."""
        with DEFERRED:  # queued and counted together, or a flush could miss them
            with self._lock:
                keys = {key for key in self.live if key[0] == path}
                if not keys:
                    return
                reason = Rerun(self.database.last_ts, "", "", path, "redefined")
                for key in keys:
                    self._reasons[key] = reason
                self._mark(keys)
            self._queue_delivery()
        self._ensure_thread()
        self.wait_for_deliveries()

    def _queue_delivery(self) -> None:
        """Count one more batch of `_pending` to deliver, and wake the notifier."""
        self.notifier.queue_pass()

    def _ensure_thread(self) -> None:
        self.notifier.start()

    def call_soon(self, task: Callable[[], None]) -> None:
        """Run `task` on the notifier thread, in order with deliveries (widgets post their writes here)."""
        self.notifier.call_soon(task)

    def _deliver_pending(self) -> None:
        """One delivery pass (the notifier's `run_pass`; `delivering` held): re-run each touched
        query once, at the newest commit, then deliver changes and send sessions' transitions. A
        query stays queued until its subscribers have it: a Ctrl-C at any point (on the main
        thread) leaves it, and the rest, for the notifier's next pass."""
        on_notifier = self.notifier.is_current()
        with self._lock:
            batch = list(self._pending.items())
        for key, generation in batch:
            live = self.live.get(key)
            if live is not None:
                reason = self._reasons.get(key)
                if reason is not None and (not live.reasons or live.reasons[-1] is not reason):
                    live.reasons.append(reason)
                previous = live.result
                with self.database.lock:
                    self._run(live)
                self._settle(live, previous)
                for subscription in list(live.subscribers):
                    if subscription.notifier_only and not on_notifier:
                        # A widget or session that subscribed meanwhile: its work stays on the notifier.
                        self._deliver_later(subscription, live)
                    else:
                        self._deliver(subscription, live)
            with DEFERRED, self._lock:
                if self._pending.get(key) == generation:  # not touched again since: done with it
                    del self._pending[key]
                    self._reasons.pop(key, None)
        if on_notifier and self._dirty:
            self._send_transitions()

    @staticmethod
    def _settle(live: LiveQuery, previous: Any) -> None:
        """After a re-run (outside the commit lock): compare its result with the previous one once
        for every subscriber. Equal: keep the previous object, so subscribers that saw it see no
        change by identity. Different: remember the previous one as `prior`."""
        result = live.result
        if result is previous or live.runs < 2:
            return
        if values_equal(previous, result):
            with DEFERRED:
                live.result, live.prior = previous, NO_PRIOR
        else:
            live.prior = previous

    def _inline_allowed(self) -> bool:
        """Whether the calling thread may deliver the pending commits itself (no widget or session
        among them)."""
        with self._lock:
            for key in self._pending:
                live = self.live.get(key)
                if live is not None and any(s.notifier_only for s in live.subscribers):
                    return False
            return True

    def wait_for_deliveries(self) -> None:
        """Block until every commit queued and task posted so far has been delivered/run.

        Not on the notifier, nor inside a callback (the nested commit is delivered after it)."""
        self.notifier.wait()

    flush = wait_for_deliveries

    def close(self, error: BaseException | None = None) -> None:
        """Stop delivering. With `error` (why the app closed), every widget, every subscriber
        with its own `on_error` and every session with one is told first, so live views say the
        app is gone; then every subscription and session is dropped."""
        if error is not None:
            with self._lock:
                subscriptions = [s for live in self.live.values() for s in live.subscribers
                                 if s.active and not s.session_query]
                sessions = list(self._sessions)
            told = [s for s in subscriptions if s.notifier_only or s.on_error is not None]
            for subscription in told:
                if subscription.notifier_only:
                    self.call_soon(lambda s=subscription: self._tell(s, error))
                else:
                    with self._delivering:
                        self._tell(subscription, error)
            for session in sessions:
                if session.on_error is not None:
                    self.call_soon(lambda s=session: _tell_session(s, error))
            if any(s.notifier_only for s in told) or any(s.on_error is not None for s in sessions):
                self.wait_for_deliveries()
            for subscription in subscriptions:
                self.unsubscribe(subscription)
            for session in sessions:
                self._close_session(session)
        self.notifier.close()

    def _check(self) -> None:
        """Assert the live-query bookkeeping's invariants (for tests): the registry and the read-set
        index agree, every live query has active subscribers, sessions and their queries agree,
        and nothing is counted twice."""
        self.notifier._check()
        with self._lock:
            self.index._check()
            for key, live in self.live.items():
                assert live.key == key
                assert live.subscribers, key
                assert all(s.active and s._live is live for s in live.subscribers), key
                for s in live.subscribers:
                    if s.session_query:
                        assert s.session in self._sessions, s  # type: ignore[union-attr]
                        assert s.session._queries.get(s.query_id) is s, s  # type: ignore[union-attr]
            assert set(self.index._owned) <= set(self.live)
            assert set(self._pending) <= set(self.live), set(self._pending) - set(self.live)
            assert set(self._reasons) <= set(self.live)
            assert set(self._dirty) <= set(self._sessions)
            for session in self._sessions:
                assert not session.closed, session
                for query_id, entry in session._queries.items():
                    assert entry.query_id == query_id and entry.session is session
                    assert entry.active and entry._live is not None, entry
                    assert self.live.get(entry._live.key) is entry._live, entry
                    assert entry in entry._live.subscribers, entry
            assert self._ts <= self.database.last_ts or self.database.last_ts == 0

    def _tell(self, subscription: Subscription, error: BaseException) -> None:
        subscription.error = error
        try:
            _call(subscription, subscription.on_error or (lambda e: None), error)
        except BaseException:  # noqa: BLE001 - closing goes on
            self._callback_raised("on_error callback", subscription)


def _tell_session(session: Session, error: BaseException) -> None:
    try:
        session.on_error(error)  # type: ignore[misc]
    except Exception:  # noqa: BLE001 - closing goes on
        log.exception("convex_lab: on_error of a session raised")


def _call(subscription: Subscription, fn: Callable[[Any], Any], arg: Any) -> None:
    if subscription.output is None:
        fn(arg)
    else:
        subscription.output.call(fn, arg)


def _warn_failed(path: str, error: BaseException) -> None:
    """The default `on_error` (live views show errors themselves)."""
    log.warning("convex_lab: live query %s failed: %s: %s", path, type(error).__name__, error)
