"""`Server`: one App's tornado application on its own thread, IOLoop and worker pool.

A request must not wait behind a busy notebook cell, so the server never uses the kernel's loop:
it runs its own asyncio loop on the `convex_lab-server` thread. Handlers never run a function on
that loop: queries, mutations and plain `def` actions hold the commit lock or block, so they run
on the worker pool (`convex_lab-http-*` threads); `async def` actions run on convex_lab's runtime
loop. The routes come from `http_api.routes` (the `/api` endpoints), `storage.routes` (file
uploads and downloads under `/api/storage`), `http_actions.routes` (`/http/...`),
`websocket.sync_routes` (the sync protocol's WebSocket) and `static.routes` (the
official client's bundle at `/static/convex_browser.js`, for the pages HTTP actions serve).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import tornado.httpserver
import tornado.netutil
import tornado.web

from . import http_actions, http_api, static, storage, websocket

if TYPE_CHECKING:  # pragma: no cover
    from ..app import App

WORKERS = 32  # threads running functions for requests (mutations still run one at a time)
# Bodies above Convex's limit are read and answered with Convex's error; beyond this the
# connection is closed instead.
MAX_BODY_BYTES = 256 * 1024 * 1024
STOP_TIMEOUT = 10.0  # s to wait for open connections to close on stop


def _quiet(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log, turned off: background threads never print into the notebook."""


class Server:
    """Serves one App over HTTP.

    Responsibilities: bind the socket (in the caller's thread, so a taken port raises there),
    run the tornado application on its own thread and loop, own the worker pool that runs
    functions for requests, and stop cleanly (`stop` closes the connections, ends the loop and
    joins the thread). Start and stop may alternate; each start makes a new thread and pool.

    Attributes:
        app: The App served.
        host (str): The interface it listens on.
        port (int | None): The port, once started.
        url (str | None): `http://host:port`, or None when not serving.
    """

    def __init__(self, app: "App") -> None:
        self.app = app
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.url: str | None = None
        self.executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._http: tornado.httpserver.HTTPServer | None = None

    def application(self) -> tornado.web.Application:
        routes = (storage.routes(self) + http_api.routes(self) + http_actions.routes(self)
                  + websocket.sync_routes(self.app) + static.routes(self))
        return tornado.web.Application(routes, log_function=_quiet, default_handler_class=http_api.NotFoundHandler,
                                       default_handler_args={"server": self})

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Bind `host:port` (0: a free port) and serve; returns the URL. Raises OSError when
        the address cannot be bound."""
        if self._thread is not None:
            raise RuntimeError(f"The server is already running at {self.url}.")
        sockets = tornado.netutil.bind_sockets(port, address=host, reuse_port=False)
        self.host = host
        self.port = sockets[0].getsockname()[1]
        self.executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="convex_lab-http")
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen(sockets))
            except BaseException as exc:  # noqa: BLE001 - reported to the caller of start
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="convex_lab-server", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            self._reset()
            for sock in sockets:
                sock.close()
            raise failure[0]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"
        return self.url

    async def _listen(self, sockets: list[socket.socket]) -> None:
        # Made on the loop's thread: tornado binds an HTTPServer to the current IOLoop.
        self._http = tornado.httpserver.HTTPServer(self.application(), max_body_size=MAX_BODY_BYTES)
        self._http.add_sockets(sockets)

    def stop(self) -> None:
        """Stop listening, close the open connections, end the loop and join its thread
        (idempotent). Functions already running finish on the worker pool."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if threading.current_thread() is thread:  # from the loop itself: it cannot wait for itself
            loop.call_soon(lambda: threading.Thread(target=self.stop, name="convex_lab-server-stop").start())
            return
        if thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                future.result(STOP_TIMEOUT + 5)
            except Exception:  # noqa: BLE001 - a connection that would not close: stop anyway
                pass
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self._reset()

    async def _shutdown(self) -> None:
        http = self._http
        if http is not None:
            http.stop()
            await websocket.close_sockets(self.app)  # upgraded connections are no longer the HTTPServer's
            try:
                await asyncio.wait_for(http.close_all_connections(), STOP_TIMEOUT)
            except asyncio.TimeoutError:
                pass

    def _reset(self) -> None:
        self._loop = self._thread = self._http = None
        self.executor = None
        self.url = None
        self.port = None

    def run_blocking(self, fn: Any, *args: Any) -> "asyncio.Future[Any]":
        """Run `fn(*args)` on the worker pool; an awaitable for the server's loop."""
        return asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
