"""Live sync for network clients: Convex's WebSocket sync protocol, one client connection at a time.

The official Convex clients (the `convex` npm package and React's `useQuery`, the PyPI `convex`
client) keep a WebSocket open to the deployment. Over it a client subscribes to queries, runs
mutations and actions, and is told of every change to its query results as it happens: after a
commit, one `Transition` message carries every result of that client that changed (a result
equal to what the client holds is never sent again), so the client's view is always one
consistent snapshot. A client's own mutation is answered with a `MutationResponse`, then a
`Transition` whose results already include the mutation's writes.

`SyncConnection` speaks the protocol for one client, whatever carries the messages: it is given
each client message as a dict (`receive`) and answers through the `send(message)` callable it was
built with. `server/websocket.py` carries it over tornado WebSockets. The live queries are the
reactor's sessions (runtime/sessions.py): a query that several clients watch runs once, and
again only when a commit writes inside what it read.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import logging
import struct
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable

from ..engine.query import decode_journal, encode_journal
from ..errors import InvalidCursor, InvalidFunctionPath
from ..runtime.auth import token_expiry
from ..runtime.registry import normalize_path
from ..runtime.sessions import QueryFailed, QueryUpdated, Session, Transition
from ..values import to_convex_json, values_equal
from . import wire
from .http_api import Caller, Refused, prepare_call

if TYPE_CHECKING:  # pragma: no cover
    from ..app import App
    from ..runtime.registry import FunctionDef

log = logging.getLogger("convex_lab")

MAX_U32 = 2**32 - 1
_TS = struct.Struct("<Q")


# ---------------------------------------------------------------------------------------------
# Wire helpers


def encode_ts(ts: int) -> str:
    """A timestamp (ns) as the sync protocol writes it: base64 of 8 little-endian bytes.

    >>> encode_ts(0)
    'AAAAAAAAAAA='
    """
    return wire.encode_ts(ts)


def decode_ts(text: str) -> int:
    """The inverse of `encode_ts`; raises `ValueError` for anything but 8 bytes of base64."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ValueError(f"invalid timestamp {text!r}: expected base64 of 8 bytes") from None
    if len(raw) != 8:
        raise ValueError(f"invalid timestamp {text!r}: expected base64 of 8 bytes")
    return _TS.unpack(raw)[0]


def error_payload(error: BaseException) -> tuple[str, Any]:
    """What a client is told of a failed function, as over HTTP: Convex's error message
    (`[Request ID: …] Server Error`, then `Uncaught ValueError: boom` and the function's frames,
    or convex_lab's refusal as it is: `Could not find public function for 'm:f'.`,
    `ArgumentValidationError: …`) and, for a `ConvexError`, its data in Convex JSON (else `None`).
    """
    if isinstance(error, (Refused, InvalidFunctionPath)):
        message, data, has_data = wire.plain_message(str(error))
    else:
        message, data, has_data = wire.error_text(error)
    return f"[Request ID: {wire.request_id()}] Server Error\n{message}", to_convex_json(data) if has_data else None


class ProtocolError(Exception):
    """A client message the protocol refuses (malformed, or out of step with the connection's
    versions): the client is sent a `FatalError` and the connection is closed."""


def _acting_identity(attributes: Any) -> dict:
    """The identity an admin acts as (`impersonating`), as `ctx.auth.get_user_identity()` gives it."""
    if type(attributes) is not dict:
        raise ProtocolError("Invalid Authenticate message: `impersonating` must be an object of identity attributes")
    identity = dict(attributes)
    if "tokenIdentifier" not in identity:
        if not (isinstance(identity.get("issuer"), str) and isinstance(identity.get("subject"), str)):
            raise ProtocolError('Invalid Authenticate message: either "tokenIdentifier" or "issuer" and "subject" must be set')
        identity["tokenIdentifier"] = f"{identity['issuer']}|{identity['subject']}"
    return identity


# ---------------------------------------------------------------------------------------------
# Threads: functions never run on the transport's event loop (queries and mutations wait for the
# commit lock). Each connection runs its query-set changes, identity changes and mutations one at
# a time, in the order they arrived (a lane on a shared pool); actions run side by side.

_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(name: str, workers: int) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"convex_lab-{name}")
        return pool


_NEEDS_VALID_TOKEN = ("ModifyQuerySet", "Mutation", "Action")  # operations that run as the client's identity
_clock = time.time  # (module level, so a test can move it)
_REFUSED = object()  # a job's identity was a token that was refused (the connection is ending)


def _settled(identity: Any) -> Any:
    """A job's identity: a user token's, once the lane has verified it (a `Future` until then),
    or `_REFUSED` if it was refused."""
    if isinstance(identity, Future):
        try:
            return identity.result()
        except Exception:  # noqa: BLE001 - refused: `_verify` has told the client
            return _REFUSED
    return identity


class _Lane:
    """Runs one connection's jobs one at a time, in order, on a shared pool."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._jobs: deque[Callable[[], None]] = deque()
        self._idle = threading.Condition(threading.Lock())
        self._running = False

    def submit(self, job: Callable[[], None]) -> None:
        with self._idle:
            self._jobs.append(job)
            if self._running:
                return
            self._running = True
        self._pool.submit(self._drain)

    def clear(self) -> None:
        with self._idle:
            self._jobs.clear()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every job submitted so far has run; False if `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout)

    def _drain(self) -> None:
        while True:
            with self._idle:
                if not self._jobs:
                    self._running = False
                    self._idle.notify_all()
                    return
                job = self._jobs.popleft()
            try:
                job()
            except Exception:  # noqa: BLE001 - one bad job must not stop the connection's others
                log.exception("convex_lab: a sync connection's job raised")


# ---------------------------------------------------------------------------------------------
# Replayed mutations: the runtime keeps each successful mutation's result, recorded in its own
# commit (runtime/replays.py); here a replay that arrives while the first run is still running (on
# another socket of the same session) waits for it.


class _InFlight:
    """The mutations of an App running now, by replay key: one run per key at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, threading.Event] = {}

    def begin(self, key: str) -> threading.Event | None:
        """`None` when the caller may run `key` now (then `finish` it), else the event to wait for."""
        with self._lock:
            running = self._running.get(key)
            if running is None:
                self._running[key] = threading.Event()
            return running

    def finish(self, key: str) -> None:
        with self._lock:
            done = self._running.pop(key)
        done.set()


_in_flight: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_in_flight_lock = threading.Lock()


def _in_flight_of(app: "App") -> _InFlight:
    with _in_flight_lock:
        in_flight = _in_flight.get(app)
        if in_flight is None:
            in_flight = _in_flight[app] = _InFlight()
        return in_flight


def replay_key(session_id: str, request_id: int) -> str:
    """Where a client's mutation is recorded: its session id and request id, as one string."""
    return f"{request_id}@{session_id}"


# ---------------------------------------------------------------------------------------------
# Message shapes


def _u32(message: dict, field: str, what: str) -> int:
    value = message.get(field)
    if type(value) is not int or not 0 <= value <= MAX_U32:
        raise ProtocolError(f"Invalid {what} message: `{field}` must be an integer from 0 to {MAX_U32}, got {value!r}")
    return value


def _text(message: dict, field: str, what: str) -> str:
    value = message.get(field)
    if type(value) is not str:
        raise ProtocolError(f"Invalid {what} message: `{field}` must be a string, got {value!r}")
    return value


def _raw_args(message: dict, what: str) -> Any:
    if "args" not in message:
        raise ProtocolError(f"Invalid {what} message: `args` is missing")
    return message["args"]


class _Query:
    """One query of the client's query set: what it runs, the journal it runs from (the one the
    client sent, then the newest it was sent: what a re-add, after an identity change, starts
    from), and its key in the session (`None` when it failed before it could be added: its
    failure was sent instead)."""

    __slots__ = ("path", "args", "component", "journal", "key")

    def __init__(self, path: str, args: Any, component: Any, journal: str | None) -> None:
        self.path = path
        self.args = args
        self.component = component
        self.journal = journal  # as the client holds it: Convex's opaque journal string, or None
        self.key: tuple | None = None


_UNKNOWN = object()  # `_record`'s `differs_from` when no value is known to differ

_last_wire: tuple = (_UNKNOWN, None)  # (a shared query result, its Convex JSON): the last one encoded


def _wire_value(value: Any) -> Any:
    """A query result in Convex JSON. The connections watching one live query are sent the same
    shared result object one after the other (results are never changed once made), so the last
    one encoded is kept and reused for that very object."""
    global _last_wire
    last = _last_wire
    if last[0] is value:
        return last[1]
    encoded = to_convex_json(value)
    _last_wire = (value, encoded)
    return encoded


def _first(item: tuple) -> Any:
    return item[0]


def _same(a: tuple, b: tuple) -> bool:
    """Two results a client cannot tell apart: equal values, or failures of the same type,
    message and data, with the same log lines and journal."""
    if a[0] != b[0] or a[2:] != b[2:]:
        return False
    x, y = a[1], b[1]
    if x is y:
        return True
    if a[0] == "value":
        return values_equal(x, y)
    if type(x) is not type(y) or str(x) != str(y):
        return False
    data_x, data_y = getattr(x, "data", None), getattr(y, "data", None)
    try:
        return data_x is data_y or values_equal(data_x, data_y)
    except Exception:  # noqa: BLE001 - data that is no Convex value
        return data_x == data_y


# ---------------------------------------------------------------------------------------------
# The connection


class SyncConnection:
    """The sync protocol for one client connection.

    Responsibilities:
    - Check each client message (`receive`) and its versions as it arrives; a malformed or
      out-of-step message gets a `FatalError` and closes the connection.
    - Keep the client's query set in a reactor `Session` (as the client's identity) and turn the
      session's transitions into the protocol's `Transition` messages: each starts at the version
      the previous one ended at (query set, identity, timestamp), at most one per commit that
      changed a result of the client, never with a result the client already holds.
    - Run mutations (in order) and actions (side by side) on worker threads; a mutation's
      response is followed by a `Transition` at a timestamp at least its commit's, and a replayed
      mutation (same session id and request id) gets its recorded response, also after the App
      was reopened (runtime/replays.py).

    Args:
        app: The App whose functions the client calls.
        send: Called with each server message (a JSON-able dict), from any thread, in order.
        close: Called as `close(code, reason)` (both may be `None`) when the connection must end:
            after a `FatalError` or `AuthError`, or when the App closes.
        client: The client's name and version (its `Convex-Client` header), kept as `client`.
    """

    def __init__(self, app: "App", send: Callable[[dict], None],
                 close: Callable[[int | None, str | None], None] | None = None, *, client: str | None = None) -> None:
        self._app = app
        self._runtime = app._runtime
        self._reactor = app._reactor
        self._send_message = send
        self._close_transport = close
        self.client = client
        self.session_id: str | None = None
        self.closed = False
        # Orders every message sent with the version state it reflects. Never held while waiting
        # for the commit lock or the notifier (the notifier takes it in `_on_transition`).
        self._lock = threading.RLock()
        self._lane = _Lane(_pool("sync", 16))
        self._in_flight = _in_flight_of(app)
        self._clock_skew: int | None = None
        # As messages arrive (`receive`, on the transport's thread): the versions the client has
        # asked for, its query ids, and who it is.
        self._received_query_set = 0
        self._received_identity = 0
        self._received_ids: set[int] = set()
        self._identity: Any = None  # a dict, None, or a Future while a user token is verified on the lane
        self._expires: float | None = None  # when the user's token stops being valid (epoch s)
        self._admin = False
        # As the lane has applied them: what the next Transition's end version reports.
        self._applied_query_set = 0
        self._applied_identity = 0
        # What the client holds: the end version last sent, and its results.
        self._sent_query_set = self._sent_identity = self._sent_ts = 0
        self._remote: dict[int, tuple] = {}  # query id -> ("value", v, log lines, journal) | ("error", e, ...)
        # What the next Transition will carry.
        self._queries: dict[int, _Query] = {}  # the query set applied
        self._by_key: dict[tuple, int] = {}  # session key -> query id (keys are never reused)
        # session key -> the value the session last sent for it (the shared object): the session
        # sends a new value only when it differs from that one, so a client holding that very
        # object needs no comparison (`_record`).
        self._from_session: dict[tuple, Any] = {}
        self._keys = itertools.count()
        self._buffer: dict[int, tuple] = {}  # query id -> a result, as in `_remote`, or ("removed",)
        self._buffer_ts = 0  # the newest session transition's ts: every result holds there
        self._waiting: set[int] = set()  # added queries whose first result has not come yet
        self._fresh_ts_wanted = False  # wait for the session's next transition (`_want_fresh_ts`)
        self._holds = 0  # > 0 while a job changes the query set or runs a mutation
        self._ts_needed: int | None = None  # a Transition must reach this ts (after a mutation)
        self._session = self._open_session()

    # -- transport-facing -------------------------------------------------------------------
    def receive(self, message: Any) -> None:
        """Handle one client message (a parsed JSON object). Call from one thread, in order.

        Checks it at once (a bad one sends `FatalError` and closes the connection); the work it
        asks for runs on worker threads, and its answers go to `send`."""
        if self.closed:
            return
        try:
            if type(message) is not dict:
                raise ProtocolError(f"Invalid client message: expected a JSON object, got {type(message).__name__}")
            kind = message.get("type")
            handler = _HANDLERS.get(kind) if type(kind) is str else None
            if handler is None:
                raise ProtocolError(f"Unsupported client message type {kind!r}: expected one of {', '.join(_HANDLERS)}")
            if kind in _NEEDS_VALID_TOKEN and self._expires is not None and _clock() > self._expires \
                    and self._identity.done():
                # As Convex: the token is checked again before each operation; the client is
                # told (`authUpdateAttempted: false`) and reconnects with a fresh one. (While it
                # is still being verified, the verification refuses an expired one.)
                self._auth_error("Could not verify the token: it expired; get a fresh token.", attempted=False)
                return
            handler(self, message)
        except ProtocolError as error:
            self.fail(str(error))
        except wire.HttpError as error:  # a credential refused, as HTTP refuses it (401)
            self._auth_error(error.message)
        except Exception:  # noqa: BLE001 - a bug here: end this socket as Convex ends one on an internal error
            log.exception("convex_lab: a sync connection failed on a client message")
            self._end(1011, "InternalServerError")

    def fail(self, text: str) -> None:
        """Send `FatalError` with `text`, then close the connection."""
        with self._lock:
            if self.closed:
                return
            self._send({"type": "FatalError", "error": text})
        self._end(None, None)

    def ping(self) -> None:
        """Send a keepalive `Ping` (the transport calls this when the connection has been quiet)."""
        with self._lock:
            self._send({"type": "Ping"})

    def close(self) -> None:
        """The connection is gone: drop its session and queued work. Idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            session = self._session
        self._lane.clear()
        session.close()

    # -- client messages (checked on arrival; the work is queued) ----------------------------
    def _on_connect(self, message: dict) -> None:
        session_id = _text(message, "sessionId", "Connect")
        if "connectionCount" in message:
            _u32(message, "connectionCount", "Connect")
        client_ts = message.get("clientTs")
        if client_ts is not None:
            if type(client_ts) not in (int, float):
                raise ProtocolError(f"Invalid Connect message: `clientTs` must be a number, got {client_ts!r}")
            if client_ts > 0:  # the Rust client sends 0: no clock
                self._clock_skew = int(client_ts - time.time() * 1000)
        observed = message.get("maxObservedTimestamp")
        if observed is not None:
            try:
                decode_ts(observed)
            except ValueError as error:
                raise ProtocolError(f"Invalid Connect message: `maxObservedTimestamp`: {error}") from None
            # Deliberate difference: Convex refuses a client that saw a timestamp newer than its
            # newest commit. Commit timestamps here are wall-clock ns, above every earlier one in
            # a database file; an App in memory starts afresh, and refusing its clients after a
            # kernel restart would only make them reconnect forever.
        self.session_id = session_id

    def _on_modify_query_set(self, message: dict) -> None:
        base = _u32(message, "baseVersion", "ModifyQuerySet")
        new = _u32(message, "newVersion", "ModifyQuerySet")
        modifications = message.get("modifications")
        if type(modifications) is not list:
            raise ProtocolError("Invalid ModifyQuerySet message: `modifications` must be an array")
        if base != self._received_query_set:
            raise ProtocolError(f"Base version {base} passed up doesn't match the current version {self._received_query_set}")
        if new <= base:
            raise ProtocolError(f"Invalid ModifyQuerySet message: newVersion {new} is not above baseVersion {base}")
        ids = set(self._received_ids)
        changes: list[tuple] = []
        for modification in modifications:
            if type(modification) is not dict:
                raise ProtocolError("Invalid ModifyQuerySet message: each modification must be an object")
            kind = modification.get("type")
            query_id = _u32(modification, "queryId", f"ModifyQuerySet {kind}")
            if kind == "Add":
                path = _text(modification, "udfPath", "ModifyQuerySet Add")
                journal = modification.get("journal")
                if journal is not None and type(journal) is not str:
                    raise ProtocolError("Invalid ModifyQuerySet Add: `journal` must be a string or null")
                if query_id in ids:
                    raise ProtocolError(f"Duplicate query ID: {query_id}")
                ids.add(query_id)
                changes.append(("add", query_id, path, modification.get("args", [{}]), modification.get("componentPath"),
                                journal))
            elif kind == "Remove":
                if query_id not in ids:
                    raise ProtocolError(f"Nonexistent query id: {query_id}")
                ids.discard(query_id)
                changes.append(("remove", query_id))
            else:
                raise ProtocolError(f"Invalid ModifyQuerySet message: unknown modification type {kind!r} (expected Add or Remove)")
        self._received_ids = ids
        self._received_query_set = new
        identity, admin = self._identity, self._admin
        self._lane.submit(lambda: self._apply_query_set(new, changes, identity, admin))

    def _on_mutation(self, message: dict) -> None:
        request_id = _u32(message, "requestId", "Mutation")
        path = _text(message, "udfPath", "Mutation")
        raw = _raw_args(message, "Mutation")
        component = message.get("componentPath")
        identity, admin, session_id = self._identity, self._admin, self.session_id
        self._lane.submit(lambda: self._mutation(request_id, path, raw, component, identity, admin, session_id))

    def _on_action(self, message: dict) -> None:
        request_id = _u32(message, "requestId", "Action")
        path = _text(message, "udfPath", "Action")
        raw = _raw_args(message, "Action")
        component = message.get("componentPath")
        identity, admin = self._identity, self._admin
        _pool("sync-actions", 32).submit(self._action, request_id, path, raw, component, identity, admin)

    def _on_authenticate(self, message: dict) -> None:
        base = _u32(message, "baseVersion", "Authenticate")
        token_type = message.get("tokenType")
        if base != self._received_identity:
            raise ProtocolError(f"Identity base version {base} passed up doesn't match the current version {self._received_identity}")
        if token_type == "Admin":
            key = _text(message, "value", "Authenticate")
            acting = message.get("impersonating", message.get("acting_as"))
            identity = None if acting is None else _acting_identity(acting)
            if not self._app._is_admin_key(key):
                raise wire.HttpError(401, "BadAdminKey", "The provided admin key was invalid for this instance")
            admin = True
        elif token_type == "User":
            # Verified on the lane, not on the transport's thread: that may fetch a provider's
            # keys. Until then the identity is a Future that the jobs after it wait for.
            token = _text(message, "value", "Authenticate")
            identity, admin = Future(), False
            self._lane.submit(lambda: self._verify(token, identity, base))
            self._expires = token_expiry(token)  # trusted once verified; refused, the socket ends
        elif token_type == "None":
            identity, admin = None, False
        else:
            raise ProtocolError(f"Invalid Authenticate message: unknown tokenType {token_type!r} (expected Admin, User or None)")
        if token_type != "User":
            self._expires = None
        self._received_identity = version = base + 1
        self._identity, self._admin = identity, admin
        self._lane.submit(lambda: self._apply_identity(version, identity, admin))

    def _on_event(self, message: dict) -> None:
        log.debug("convex_lab: client event %r: %r", message.get("eventType"), message.get("event"))

    def _auth_error(self, text: str, base: int | None = None, attempted: bool = True) -> None:
        """Send `AuthError`, then close: the update to identity version `base`+1 failed
        (`attempted`), or the current token is no longer valid."""
        with self._lock:
            if self.closed:
                return
            self._send({"type": "AuthError", "error": text,
                        "baseVersion": self._received_identity if base is None else base,
                        "authUpdateAttempted": attempted})
        self._end(None, None)

    # -- work on the lane --------------------------------------------------------------------
    def _verify(self, token: str, identity: Future, base: int) -> None:
        """Verify a user's token; refused, the client gets an `AuthError` and the socket ends."""
        try:
            identity.set_result(self._app._identity_for_token(token))
        except wire.HttpError as error:
            identity.set_exception(error)
            self._auth_error(error.message, base)
        except BaseException as error:  # a bug: end the socket as `receive` does
            identity.set_exception(error)
            log.exception("convex_lab: verifying a sync connection's token failed")
            self._end(1011, "InternalServerError")

    def _apply_query_set(self, version: int, changes: list[tuple], identity: Any, admin: bool) -> None:
        identity = _settled(identity)
        if identity is _REFUSED:
            return
        with self._lock:
            if self.closed:
                return
            self._holds += 1
            session = self._session
        try:
            for change in changes:
                if change[0] == "add":
                    self._add(session, change[1], _Query(*change[2:]), identity, admin)
                else:
                    self._remove(session, change[1])
        finally:
            with self._lock:
                self._holds -= 1
                self._applied_query_set = version
                self._want_fresh_ts()
                self._emit()

    def _apply_identity(self, version: int, identity: Any, admin: bool) -> None:
        """A new identity: every query runs again as it, in a new session; the Transition that
        reports the new identity version carries the results that changed."""
        identity = _settled(identity)
        if identity is _REFUSED:
            return
        with self._lock:
            if self.closed:
                return
            self._holds += 1
        try:
            session = self._open_session()
        except Exception as error:  # noqa: BLE001 - the App closed meanwhile
            with self._lock:
                self._holds -= 1
            self._on_app_closed(error)
            return
        with self._lock:
            old, self._session = self._session, session
            queries = list(self._queries.items())
            self._by_key.clear()  # the old session's results are stale: what it still sends is dropped
            self._from_session.clear()
            self._waiting.clear()
            self._buffer = {query_id: entry for query_id, entry in self._buffer.items() if entry[0] == "removed"}
            if self.closed:  # closed meanwhile: `close` closed the old session
                old = session
                queries = []
        old.close()
        try:
            for query_id, query in queries:
                self._add(session, query_id, query, identity, admin)
        finally:
            with self._lock:
                self._holds -= 1
                self._applied_identity = version
                self._want_fresh_ts()
                self._emit()

    def _add(self, session: Session, query_id: int, query: _Query, identity: dict | None, admin: bool) -> None:
        failure: Exception | None = None
        try:
            definition, args = self._prepare(query.path, "query", query.args, query.component, identity, admin)
            end_cursor = decode_journal(query.journal)
        except (Refused, InvalidFunctionPath, InvalidCursor) as error:  # told to the client as the query's failure
            failure = error
        with self._lock:
            self._queries[query_id] = query
            if failure is not None:
                self._record(query_id, ("error", failure, (), None))
                return
            key = query.key = (query_id, next(self._keys))
            self._by_key[key] = query_id
            self._waiting.add(query_id)
        try:
            session.add(key, definition.path, args, identity, end_cursor)
        except Exception as error:  # noqa: BLE001 - the App closed, or the session did
            with self._lock:
                self._from_session.pop(key, None)
                if self._by_key.pop(key, None) is None:
                    return
                query.key = None
                self._record(query_id, ("error", error, (), None))

    def _remove(self, session: Session, query_id: int) -> None:
        with self._lock:
            query = self._queries.pop(query_id, None)
            if query is None:
                return
            key = query.key
            if key is not None:
                self._by_key.pop(key, None)
                self._from_session.pop(key, None)
            self._waiting.discard(query_id)
            self._buffer[query_id] = ("removed",)
        if key is not None:
            try:
                session.remove(key)
            except (KeyError, RuntimeError):  # its add failed, or the session is closed
                pass

    def _mutation(self, request_id: int, path: str, raw: Any, component: Any, identity: Any, admin: bool,
                  session_id: str | None) -> None:
        identity = _settled(identity)
        if identity is _REFUSED:
            return
        with self._lock:
            if self.closed:
                return
            self._holds += 1  # its Transition comes after its response
        response: dict | None = None
        ts = None
        try:
            response, ts = self._run_recorded(request_id, path, raw, component, identity, admin, session_id)
        finally:
            with self._lock:
                if response is None:  # a bug: still answer, so the client is not left waiting
                    response = {"type": "MutationResponse", "requestId": request_id, "success": False,
                                "result": "[Request ID: internal] Server Error", "ts": None, "logLines": []}
                self._send(response)
                self._holds -= 1
                needed = max(self._sent_ts, ts or 0)
                self._ts_needed = needed if self._ts_needed is None else max(self._ts_needed, needed)
                self._emit()

    def _run_recorded(self, request_id: int, path: str, raw: Any, component: Any, identity: dict | None,
                      admin: bool, session_id: str | None) -> tuple[dict, int | None]:
        """Run a mutation, or answer a replay (same session id and request id) with the first
        run's response: its value, log lines and commit timestamp, as recorded in its commit."""
        if session_id is None:
            return self._run_mutation(request_id, path, raw, component, identity, admin, None)
        key = replay_key(session_id, request_id)
        while (running := self._in_flight.begin(key)) is not None:
            running.wait()  # the first run, from another socket of the session: recorded, or failed
        try:
            first = self._runtime.recorded_mutation(key)
            if first is not None:
                return self._success(request_id, first.value, first.lines, first.ts), first.ts
            return self._run_mutation(request_id, path, raw, component, identity, admin, key)
        finally:
            self._in_flight.finish(key)

    def _run_mutation(self, request_id: int, path: str, raw: Any, component: Any, identity: dict | None,
                      admin: bool, key: str | None) -> tuple[dict, int | None]:
        try:
            definition, args = self._prepare(path, "mutation", raw, component, identity, admin)
            execution = self._runtime.execute(definition.path, args, identity=identity, caller="websocket",
                                              allow_internal=admin, replay_key=key)
        except Exception as error:  # noqa: BLE001 - refused before it ran (or unregistered meanwhile)
            return self._failure("MutationResponse", request_id, error, []), None
        if execution.error is not None:
            return self._failure("MutationResponse", request_id, execution.error, execution.lines), None
        return self._success(request_id, execution.value, execution.lines, execution.ts), execution.ts

    @staticmethod
    def _success(request_id: int, value: Any, lines: list[str], ts: int) -> dict:
        return {"type": "MutationResponse", "requestId": request_id, "success": True,
                "result": to_convex_json(value), "ts": encode_ts(ts), "logLines": list(lines)}

    def _action(self, request_id: int, path: str, raw: Any, component: Any, identity: Any, admin: bool) -> None:
        identity = _settled(identity)  # waits for the token's verification, if one is under way
        if identity is _REFUSED:
            return
        try:
            definition, args = self._prepare(path, "action", raw, component, identity, admin)
            execution = self._runtime.execute(definition.path, args, identity=identity, caller="websocket",
                                              allow_internal=admin)
        except Exception as error:  # noqa: BLE001 - refused before it ran (or unregistered meanwhile)
            response = self._failure("ActionResponse", request_id, error, [])
        else:
            if execution.error is not None:
                response = self._failure("ActionResponse", request_id, execution.error, execution.lines)
            else:
                response = {"type": "ActionResponse", "requestId": request_id, "success": True,
                            "result": to_convex_json(execution.value), "logLines": execution.lines}
        with self._lock:
            self._send(response)

    @staticmethod
    def _failure(kind: str, request_id: int, error: BaseException, lines: list[str]) -> dict:
        message, data = error_payload(error)
        response = {"type": kind, "requestId": request_id, "success": False, "result": message, "logLines": lines}
        if kind == "MutationResponse":
            response["ts"] = None
        if data is not None:
            response["errorData"] = data
        return response

    def _prepare(self, path: str, kind: str, raw: Any, component: Any, identity: dict | None,
                 admin: bool) -> tuple["FunctionDef", dict]:
        """The function a client names and its arguments, found and checked as the HTTP API does
        (`prepare_call`): exactly its path (`messages:send`, `messages.js:send`, `messages` for
        `messages:default`), public unless the client is the admin (an internal function looks
        like a missing one), of the right kind, with one object of arguments. Raises `Refused`
        or `InvalidFunctionPath`, with Convex's message."""
        if component not in (None, ""):
            raise Refused(f"convex_lab has no components: componentPath must be empty, got {component!r}.")
        return prepare_call(self._runtime, normalize_path(path), kind, raw, Caller(admin, identity))

    # -- transitions -------------------------------------------------------------------------
    def _open_session(self) -> Session:
        session: Session | None = None

        def on_transition(transition: Transition) -> None:
            self._on_transition(session, transition)  # type: ignore[arg-type]

        session = self._reactor.open_session(on_transition, self._on_app_closed)
        return session

    def _on_transition(self, session: Session, transition: Transition) -> None:
        """A transition of the session (on the notifier): buffer its results, send if whole."""
        with self._lock:
            if self.closed or session is not self._session:
                return
            by_key, from_session = self._by_key, self._from_session
            for change in transition.modifications:
                query_id = by_key.get(change.query_id)
                if query_id is None:  # removed, or a key of an earlier add: the client has no use for it
                    continue
                if type(change) is QueryUpdated:
                    outcome = "value"
                    previous = from_session.get(change.query_id, _UNKNOWN)
                    # a re-sent equal value (only its log lines or journal changed) is the same object
                    differs_from = previous if previous is not change.value else _UNKNOWN
                    from_session[change.query_id] = change.value
                elif type(change) is QueryFailed:
                    outcome, differs_from = "error", _UNKNOWN
                    from_session.pop(change.query_id, None)
                else:
                    continue
                journal = encode_journal(change.journal)
                self._queries[query_id].journal = journal
                self._record(query_id, (outcome, change[1], change.log_lines, journal), differs_from)
            if transition.ts > self._buffer_ts:
                self._buffer_ts = transition.ts
            self._fresh_ts_wanted = False
            self._emit()

    def _record(self, query_id: int, result: tuple, differs_from: Any = _UNKNOWN) -> None:
        """A new result of a query (lock held): to send, unless the client holds an equal one.
        `differs_from`: a value known to differ from the new one (the session's previous value
        for the query), or `_UNKNOWN`; a client holding that very object is not compared."""
        self._waiting.discard(query_id)
        held = self._remote.get(query_id)
        if held is not None and not (held[0] == "value" and held[1] is differs_from) and _same(held, result):
            self._buffer.pop(query_id, None)
        else:
            self._buffer[query_id] = result

    def _emit(self) -> None:
        """Send the buffered results as one Transition, if it may go now (lock held): no job is
        changing the query set or running a mutation, and every query added has its first
        result. Asks the session for a transition when a mutation's timestamp is still ahead."""
        if self.closed:
            return
        if not self._holds and not self._waiting and not self._fresh_ts_wanted:
            self._emit_now()
        needed = self._ts_needed
        if needed is not None and max(self._sent_ts, self._buffer_ts) < needed:
            self._session.request_transition()

    def _want_fresh_ts(self) -> None:
        """Send the next Transition only after the session has told the newest timestamp at
        which its results hold (lock held): a query-set or identity change is reported at the
        newest commit, as Convex does, not at the last timestamp the client was sent."""
        self._fresh_ts_wanted = True
        self._session.request_transition()

    def _emit_now(self) -> None:
        query_set, identity = self._applied_query_set, self._applied_identity
        ts = max(self._sent_ts, self._buffer_ts)
        needed = self._ts_needed
        reached = needed is not None and ts >= needed
        if not self._buffer and not reached and query_set == self._sent_query_set and identity == self._sent_identity:
            return
        modifications = []
        remote = self._remote
        for query_id, entry in sorted(self._buffer.items(), key=_first):  # by query id, as Convex orders them
            if entry[0] == "removed":
                if remote.pop(query_id, None) is not None:
                    modifications.append({"type": "QueryRemoved", "queryId": query_id})
                continue
            remote[query_id] = entry
            outcome, result, lines, journal = entry
            if outcome == "value":
                modifications.append({"type": "QueryUpdated", "queryId": query_id, "value": _wire_value(result),
                                      "logLines": list(lines), "journal": journal})
            else:
                error_message, data = error_payload(result)
                failed = {"type": "QueryFailed", "queryId": query_id, "errorMessage": error_message,
                          "logLines": list(lines), "journal": journal}
                if data is not None:
                    failed["errorData"] = data
                modifications.append(failed)
        self._buffer.clear()
        message = {
            "type": "Transition",
            "startVersion": {"querySet": self._sent_query_set, "identity": self._sent_identity, "ts": encode_ts(self._sent_ts)},
            "endVersion": {"querySet": query_set, "identity": identity, "ts": encode_ts(ts)},
            "modifications": modifications,
            "serverTs": time.time_ns(),
        }
        if self._clock_skew is not None:
            message["clientClockSkew"] = self._clock_skew
        self._sent_query_set, self._sent_identity, self._sent_ts = query_set, identity, ts
        if reached:
            self._ts_needed = None
        self._send(message)

    # -- sending and ending ------------------------------------------------------------------
    def _send(self, message: dict) -> None:
        """Hand `message` to the transport (lock held, so messages leave in the order built)."""
        if self.closed:
            return
        try:
            self._send_message(message)
        except Exception:  # noqa: BLE001 - a transport that failed is closing anyway
            log.exception("convex_lab: sending a sync message failed")

    def _end(self, code: int | None, reason: str | None) -> None:
        if self._close_transport is not None and not self.closed:
            try:
                self._close_transport(code, reason)
            except Exception:  # noqa: BLE001
                log.exception("convex_lab: closing a sync connection failed")
        self.close()

    def _on_app_closed(self, error: BaseException) -> None:
        """The App closed: end the connection as "going away", so the client reconnects later."""
        self._end(1001, "The app was closed")

    def __repr__(self) -> str:
        return (f"<SyncConnection {self.session_id or '-'} {len(self._queries)} queries "
                f"v{self._sent_query_set}/{self._sent_identity}{' (closed)' if self.closed else ''}>")


_HANDLERS: dict[str, Callable[[SyncConnection, dict], None]] = {
    "Connect": SyncConnection._on_connect,
    "ModifyQuerySet": SyncConnection._on_modify_query_set,
    "Mutation": SyncConnection._on_mutation,
    "Action": SyncConnection._on_action,
    "Authenticate": SyncConnection._on_authenticate,
    "Event": SyncConnection._on_event,
}
