"""The sync protocol over WebSockets: the endpoint official Convex clients keep open for live data.

`sync_routes(app)` gives the tornado routes of both paths the clients connect to:
`/api/<version>/sync` (the npm client, e.g. `/api/1.48.0/sync`) and `/api/sync` (the PyPI and
Rust clients). Each socket gets a `SyncConnection` (server/sync.py), which holds the client's
live queries and runs its calls. This module only carries messages: one JSON object per text
frame each way, sent on the socket's own event loop whichever thread produced them, a `Ping`
message when the socket has been quiet for 15 s (clients reconnect after 30-60 s of silence),
and a `FatalError` then a close for anything that is not a protocol message (other sockets
carry on).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

import orjson
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..errors import AppClosedError
from .sync import SyncConnection

if TYPE_CHECKING:  # pragma: no cover
    from ..app import App

log = logging.getLogger("convex_lab")

PING_AFTER = 15.0  # seconds without a message sent before a Ping (Convex's server: 15 s)
CHECK_EVERY_MS = 5000  # how often the keepalive looks
CLOSE_WAIT = 1.0  # seconds a stopping server waits for clients to answer its close frames
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # function arguments may be 16 MiB of Convex values, in JSON

# The open sockets of each App (touched on the server's loop only), so a stopping server can
# close them: once upgraded, a connection is no longer the HTTPServer's to close.
_sockets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class SyncHandler(WebSocketHandler):
    """One client socket speaking Convex's sync protocol (tornado handler; see `sync_routes`).

    Frames are parsed here and handed to the connection's `receive` on the socket's loop; the
    connection's answers come from worker threads and the notifier and are written on the loop,
    in the order they were produced.
    """

    def initialize(self, app: "App") -> None:
        self.app = app
        self.connection: SyncConnection | None = None
        self._loop: IOLoop | None = None
        self._keepalive: PeriodicCallback | None = None
        self._last_sent = time.monotonic()

    # Convex deployments accept sockets from any origin (browser apps are served from elsewhere);
    # what a socket may do is decided by its identity, as over HTTP.
    def check_origin(self, origin: str) -> bool:
        return True

    @property
    def ping_interval(self) -> float:
        """WebSocket-level pings, which the PyPI/Rust client counts as signs of life."""
        return PING_AFTER

    @property
    def max_message_size(self) -> int:
        return MAX_MESSAGE_BYTES

    def open(self, version: str | None = None) -> None:  # type: ignore[override]
        self._loop = IOLoop.current()
        client = self.request.headers.get("Convex-Client") or (f"npm-{version}" if version else None)
        try:
            self.connection = SyncConnection(self.app, self._send_soon, self._close_soon, client=client)
        except AppClosedError:
            self.close(1001, "The app was closed")
            return
        _sockets.setdefault(self.app, set()).add(self)
        self._keepalive = PeriodicCallback(self._check_quiet, CHECK_EVERY_MS)
        self._keepalive.start()

    def on_message(self, message: str | bytes) -> None:
        connection = self.connection
        if connection is None:
            return
        if isinstance(message, bytes):
            connection.fail("Invalid client message: binary frames are not supported, send JSON text frames")
            return
        try:
            parsed: Any = orjson.loads(message)
        except orjson.JSONDecodeError as error:
            connection.fail(f"Invalid client message: not JSON ({error})")
            return
        connection.receive(parsed)

    def on_close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.stop()
        _sockets.get(self.app, set()).discard(self)
        if self.connection is not None:
            self.connection.close()

    # -- from any thread ---------------------------------------------------------------------
    def _send_soon(self, message: dict) -> None:
        """Write `message` on the socket's loop (called in order by the connection, any thread)."""
        text = orjson.dumps(message, option=orjson.OPT_SORT_KEYS).decode()  # object fields sorted, as Convex sends them
        try:
            self._loop.add_callback(self._write, text)  # type: ignore[union-attr]
        except RuntimeError:  # the loop is closed: the server stopped, the socket with it
            pass

    def _close_soon(self, code: int | None, reason: str | None) -> None:
        """Close after the messages already queued (a FatalError goes out first)."""
        try:
            self._loop.add_callback(self.close, code, reason)  # type: ignore[union-attr]
        except RuntimeError:
            pass

    # -- on the loop -------------------------------------------------------------------------
    def _write(self, text: str) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        try:
            self.write_message(text)
        except WebSocketClosedError:
            return
        self._last_sent = time.monotonic()

    def _check_quiet(self) -> None:
        if self.connection is not None and time.monotonic() - self._last_sent >= PING_AFTER:
            self.connection.ping()


async def close_sockets(app: "App", code: int = 1001, reason: str = "The server stopped") -> None:
    """Close every open sync socket of `app` ("going away": clients reconnect later), drop their
    connections, and wait until each socket is closed. Run on the server's loop.

    A WebSocket close ends when the client answers with its own close frame; the server's loop
    stops right after this, so a client slow to answer (up to `CLOSE_WAIT` s) is cut off rather
    than left with a half-closed socket that looks open to it until its keepalive gives up."""
    protocols = []
    for handler in list(_sockets.pop(app, ())):
        if handler._keepalive is not None:
            handler._keepalive.stop()
        if handler.ws_connection is not None:
            protocols.append(handler.ws_connection)
        handler.close(code, reason)
        if handler.connection is not None:
            handler.connection.close()
    deadline = time.monotonic() + CLOSE_WAIT
    while any(not p.stream.closed() for p in protocols) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    for protocol in protocols:
        protocol.stream.close()  # no-op once closed


def sync_routes(app: "App") -> list:
    """The tornado routes of Convex's sync endpoint for `app`: `/api/<client version>/sync` and
    `/api/sync`, each a `SyncHandler`. Include them in a `tornado.web.Application`."""
    return [
        (r"/api/([0-9][0-9A-Za-z.+\-]*)/sync", SyncHandler, {"app": app}),
        (r"/api/sync", SyncHandler, {"app": app}),
    ]
