"""Live queries: `app.subscribe`, re-runs on relevant commits, delivery by the notifier thread.

Responsibilities:
- Keep one `LiveQuery` per (function, args, identity); subscribers of the same one share its runs
  (never across identities).
- On each commit (a `Database` listener, under the commit lock), find the live queries whose read
  set holds a written key — old or new, in any index — through `SubscriptionIndex`, and queue them.
- The notifier thread re-runs each queued query once, at the newest commit, and calls the
  subscribers' callbacks only when the result differs by Convex equality. It is the only thread
  that runs callbacks, so widgets fed from callbacks have a single writer.
- A mutation called from Python returns after the deliveries its commit triggered (`wait_for`).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable

from ..engine.subscriptions import SubscriptionIndex
from ..values import convex_value, to_convex_json, values_equal

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.database import Commit, Database
    from .functions import Runtime

log = logging.getLogger("convex_lab")


class Subscription:
    """One subscriber: `result` (the last value delivered), `unsubscribe()`."""

    def __init__(self, reactor: "Reactor", live: "LiveQuery", callback: Callable[[Any], None],
                 on_error: Callable[[BaseException], None] | None) -> None:
        self._reactor = reactor
        self._live = live
        self.callback = callback
        self.on_error = on_error
        self.result: Any = None
        self.error: BaseException | None = None
        self.delivered = False  # whether a result has been delivered yet
        self.active = True

    @property
    def path(self) -> str:
        return self._live.path

    @property
    def args(self) -> dict:
        return self._live.args

    @property
    def runs(self) -> int:
        """How many times the shared query has run (the first run included)."""
        return self._live.runs

    def unsubscribe(self) -> None:
        self._reactor.unsubscribe(self)

    def __repr__(self) -> str:
        return f"<Subscription {self._live.path} {self._live.args!r}{'' if self.active else ' (inactive)'}>"


class LiveQuery:
    """A (function, args, identity) that has subscribers: its last result and read set."""

    __slots__ = ("key", "path", "args", "identity", "subscribers", "result", "error", "has_result", "runs", "reads")

    def __init__(self, key: tuple, path: str, args: dict, identity: dict | None) -> None:
        self.key = key
        self.path = path
        self.args = args
        self.identity = identity
        self.subscribers: list[Subscription] = []
        self.result: Any = None
        self.error: BaseException | None = None
        self.has_result = False
        self.runs = 0
        self.reads: list = []


def _identity_key(identity: dict | None) -> str | None:
    return None if identity is None else json.dumps(identity, sort_keys=True, default=str)


class Reactor:
    """The live-query coordinator of one App (see the module docstring)."""

    def __init__(self, database: "Database", runtime: "Runtime") -> None:
        self.database = database
        self.runtime = runtime
        self.index = SubscriptionIndex()
        self.live: dict[tuple, LiveQuery] = {}
        # Guards `live`, `index` and the queue. Taken briefly inside the commit listener (which
        # runs under the commit lock); never held while waiting for the commit lock.
        self._lock = threading.RLock()
        self._pending: set[tuple] = set()
        self._queued = 0  # commits queued so far
        self._done = 0  # commits whose deliveries have finished
        self._changed = threading.Condition(threading.Lock())
        self._closed = False
        self._thread: threading.Thread | None = None
        database.listeners.append(self._on_commit)
        runtime.after_mutation = self.wait_for_deliveries

    # -- subscribing ------------------------------------------------------------------------
    def subscribe(self, fn: Any, args: dict | None, callback: Callable[[Any], None],
                  on_error: Callable[[BaseException], None] | None = None,
                  identity: dict | None = None) -> Subscription:
        """Subscribe `callback` to a query; it is called once now, then on each change."""
        definition = self.runtime.resolve(fn, "query")
        args = dict(args or {})
        key = (definition.path, json.dumps(to_convex_json(convex_value(args)), sort_keys=True), _identity_key(identity))
        with self.database.lock:  # no commit between the first run and registering its read set
            with self._lock:
                live = self.live.get(key)
                fresh = live is None
                if fresh:
                    live = self.live[key] = LiveQuery(key, definition.path, args, identity)
                subscription = Subscription(self, live, callback, on_error)
                live.subscribers.append(subscription)
            if fresh:
                self._run(live)
        self._ensure_thread()
        self._deliver(subscription, live)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if not subscription.active:
                return
            subscription.active = False
            live = subscription._live
            live.subscribers.remove(subscription)
            if not live.subscribers:
                self.live.pop(live.key, None)
                self.index.remove(live.key)
                self._pending.discard(live.key)

    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return [s for live in self.live.values() for s in live.subscribers]

    # -- running ----------------------------------------------------------------------------
    def _run(self, live: LiveQuery) -> None:
        """Run `live` at the newest commit and register its read set. Hold the commit lock."""
        reads: list = []
        try:
            result = self.runtime.execute(live.path, live.args, identity=live.identity, caller="subscription",
                                          reads_out=reads)
            live.result, live.error, live.has_result = result, None, True
        except Exception as exc:  # noqa: BLE001 - delivered to on_error
            live.error = exc
        live.runs += 1
        live.reads = reads
        with self._lock:
            if live.key in self.live:
                self.index.add(live.key, reads)

    def _deliver(self, subscription: Subscription, live: LiveQuery) -> None:
        if not subscription.active:
            return
        if live.error is not None:
            if subscription.error is live.error:
                return
            subscription.error = live.error
            handler = subscription.on_error
            try:
                if handler is not None:
                    handler(live.error)
                else:
                    log.warning("convex_lab: live query %s failed: %s", live.path, live.error)
            except Exception:  # noqa: BLE001 - a callback must not stop the notifier
                log.exception("convex_lab: on_error callback of %s raised", live.path)
            return
        if subscription.delivered and subscription.error is None and values_equal(subscription.result, live.result):
            return  # unchanged by Convex equality: nothing to send
        subscription.result, subscription.error, subscription.delivered = live.result, None, True
        try:
            subscription.callback(live.result)
        except Exception:  # noqa: BLE001
            log.exception("convex_lab: callback of live query %s raised", live.path)

    # -- commits ----------------------------------------------------------------------------
    def _on_commit(self, commit: "Commit") -> None:
        """Database listener (commit lock held): queue the live queries this commit touched."""
        if not self.live:
            return
        index = self.index
        touched: set = set()
        with self._lock:
            watched = index.watched_tables()
            for write in commit.writes:
                table = write.table
                if table.name not in watched:
                    continue
                tail_old = _tail(write.old)
                tail_new = _tail(write.new)
                for name, idx in table.indexes.items():
                    if not index.watches(table.name, name):
                        continue
                    keys = []
                    if write.old is not None:
                        keys.append(idx.key(write.old, tail_old))
                    if write.new is not None:
                        keys.append(idx.key(write.new, tail_new))
                    touched |= index.touched(table.name, name, keys)
            if not touched:
                return
            self._pending |= touched
        with self._changed:
            self._queued += 1
            self._changed.notify_all()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._notifier, name="convex_lab-notifier", daemon=True)
            self._thread.start()

    def _notifier(self) -> None:
        while True:
            with self._changed:
                while self._queued == self._done and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                target = self._queued
            with self._lock:
                keys, self._pending = self._pending, set()
            # Re-run each touched query once, at the newest commit, then deliver changes.
            for key in keys:
                live = self.live.get(key)
                if live is None:
                    continue
                with self.database.lock:
                    self._run(live)
                for subscription in list(live.subscribers):
                    self._deliver(subscription, live)
            with self._changed:
                self._done = max(self._done, target)
                self._changed.notify_all()

    def wait_for_deliveries(self) -> None:
        """Block until every commit queued so far has been delivered (not on the notifier itself)."""
        if threading.current_thread() is self._thread:
            return
        with self._changed:
            target = self._queued
            while self._done < target and not self._closed:
                self._changed.wait()

    flush = wait_for_deliveries

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def _tail(doc: dict | None) -> bytes:
    from ..engine.store import doc_tail

    return doc_tail(doc) if doc is not None else b""
