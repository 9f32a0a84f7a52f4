"""Serving HTTP actions: `<url>/http/<path>` routed through `app.http` (runtime/http.py).

A request becomes a `Request`, its route's handler runs as an action (a `def` handler on the
worker pool, an `async def` one on the runtime loop) and its `Response` is sent as it is. As in
Convex: no route → 404 `No HttpAction routed for <path>`, no routes at all → 404 saying HTTP
actions are not enabled, an uncaught error → 500 with `{"code", "trace", "data"}`. Unlike the
`/api` endpoints, no CORS headers are added: the handler decides.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from ..runtime.http import Request, Response
from ..runtime.registry import FunctionDef
from . import wire
from .http_api import BaseHandler
from .wire import HttpError

if TYPE_CHECKING:  # pragma: no cover
    from .server import Server

MAX_RESPONSE_BYTES = 20 * 1024 * 1024  # Convex's limit on an HTTP action's response


class HttpActionHandler(BaseHandler):
    """Every method on `/http/...`: the route's handler, or Convex's 404."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")

    async def _serve(self, *_: Any) -> None:
        router = self.app.http
        raw = self.request.path[len("/http"):] or "/"
        if not router:
            return self._text(404, "This Convex deployment does not have HTTP actions enabled.")
        route = router.lookup(raw, self.request.method)
        if route is None:
            return self._text(404, f"No HttpAction routed for {raw}")
        request = Request(
            method="GET" if self.request.method == "HEAD" else self.request.method,
            url=self.request.full_url(),
            path=raw,
            query=dict(reversed(parse_qsl(self.request.query, keep_blank_values=True))),
            headers={name.lower(): value for name, value in self.request.headers.get_all()},
            body=self.request.body or b"",
        )
        definition = FunctionDef(kind="http_action", internal=False, path=f"{route.method} {route.pattern}",
                                 handler=route.handler, is_async=route.is_async)
        identity = await self._identity()
        runtime = self.app._runtime
        if route.is_async:
            execution = await asyncio.wrap_future(runtime.start_http_action(definition, request, identity))
        else:
            execution = await self.server.run_blocking(runtime.execute_http_action, definition, request, identity)
        error = execution.error
        response = execution.value
        if error is None and not isinstance(response, Response):
            error = TypeError(f"The HTTP action {definition.path} returned {type(response).__name__}, "
                              "not a convex_lab.Response.")
        if error is None and len(response.body) > MAX_RESPONSE_BYTES:
            error = ValueError(f"The HTTP action {definition.path} returned {len(response.body):,} bytes: "
                               f"responses are limited to {MAX_RESPONSE_BYTES:,} bytes.")
        if error is not None:
            return self._failed(error)
        self.set_status(response.status)
        for name, value in response.headers.items():
            self.set_header(name, value)
        if self.request.method == "HEAD":
            self.set_header("Content-Length", str(len(response.body)))
            return self.finish()
        if response.status in (204, 304) or response.status < 200:
            return self.finish()  # statuses that carry no body
        self.finish(response.body)

    async def _identity(self) -> dict | None:
        """The caller's identity from a bearer token, if it is one Convex auth accepts. The
        `Authorization` header may be the handler's own business, so a token that does not verify
        is not an error here (as in Convex): the identity is then None."""
        header = self.request.headers.get("Authorization")
        if header is None or header[:7].lower() != "bearer ":
            return None
        try:
            return await self.server.run_blocking(self.app._identity_for_token, header[7:].strip())
        except HttpError:
            return None

    def _text(self, status: int, text: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain;charset=UTF-8")
        self.finish(text)

    def _failed(self, error: BaseException) -> None:
        message, data, has_data = wire.error_text(error)
        body: dict = {"code": f"[Request ID: {wire.request_id()}] Server Error: {message.splitlines()[0]}",
                      "trace": message}
        if has_data:
            body["data"] = wire.export_value(data, wire.ENCODED)
        self.set_status(500)
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps(body))

    get = head = post = put = delete = options = patch = _serve

    def check_xsrf_cookie(self) -> None:
        pass


def routes(server: "Server") -> list:
    return [(r"/http(/.*)?", HttpActionHandler, {"server": server})]
