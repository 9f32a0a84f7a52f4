"""Convex's HTTP API: the function endpoints under `/api`, `/version`, and CORS.

Each endpoint reads its request in Convex's order (auth header shape, client version, body,
function path, then the credentials themselves), runs the function on the server's worker pool
(or an `async def` action on the runtime loop) and answers in Convex's envelopes: HTTP 200 with
`{"status": "success" | "error", ...}` for whatever the function did, a non-2xx status with
`{"code", "message"}` for protocol errors. Formats live in `wire.py`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

import orjson
import tornado.web

from ..errors import ConvexSystemError, InvalidFunctionPath
from ..runtime.registry import FunctionDef, canonical_path, normalize_path
from ..values import display_value
from . import wire
from .wire import HttpError, bad_request

if TYPE_CHECKING:  # pragma: no cover
    from .server import Server

log = logging.getLogger("convex_lab")

_CORS_METHODS = "GET,POST,OPTIONS,PATCH,DELETE,PUT"
_VARY = "origin, access-control-request-method, access-control-request-headers"


@dataclass(frozen=True)
class Caller:
    """Who is calling: the admin (may call internal functions) and/or a user identity."""

    admin: bool
    identity: dict | None


class Refused(Exception):
    """A function error found before the function runs (unknown path, wrong kind, bad args):
    answered with 200 and `status: "error"`, as Convex answers them."""


# ---------------------------------------------------------------------------------------------
# Handlers


class BaseHandler(tornado.web.RequestHandler):
    """JSON errors (`{"code", "message"}`) for every failure; no access log, no HTML."""

    def initialize(self, server: "Server") -> None:
        self.server = server
        self.app = server.app

    def check_xsrf_cookie(self) -> None:  # an API: no cookies, no forms
        pass

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, HttpError):
            error = exc
        elif isinstance(exc, tornado.web.HTTPError):
            error = HttpError(exc.status_code, exc.reason or self._reason, exc.log_message or self._reason)
        elif status_code >= 500:
            error = HttpError(500, "InternalServerError", "Your request couldn't be completed. Try again later.")
        else:
            error = HttpError(status_code, self._reason.replace(" ", ""), self._reason)
        self.set_status(error.status)
        self.set_header("Content-Type", "application/json")
        self.finish(error.body())

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, (HttpError, tornado.web.HTTPError)):
            return  # an answer, not a failure of the server
        log.error("convex_lab server: %s %s failed", self.request.method, self.request.path,
                  exc_info=(typ, value, tb))

    def reply(self, body: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps(body))


class NotFoundHandler(BaseHandler):
    """Every path no route serves: 404 with Convex's error shape."""

    def prepare(self) -> None:
        raise HttpError(404, "NotFound", f"No route for {self.request.method} {self.request.path}.")


class TextHandler(BaseHandler):
    """`GET /version`, `/instance_version`, `/instance_name`: one line of text."""

    def initialize(self, server: "Server", text: str) -> None:  # type: ignore[override]
        super().initialize(server)
        self.text = text

    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(self.text)


@tornado.web.stream_request_body
class ApiHandler(BaseHandler):
    """Base of the `/api` endpoints: CORS as Convex sets it (the request's origin and headers
    mirrored, credentials allowed), the body read up to Convex's size limit, auth and format.

    The body is streamed so that an oversized one is read to its end and answered with a 400
    (closing early would leave a client that is still sending without an answer)."""

    def set_default_headers(self) -> None:
        # Also after `clear()` (error responses): every answer carries the CORS headers.
        origin = self.request.headers.get("Origin")
        if origin is not None:
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Access-Control-Allow-Credentials", "true")
        self.set_header("Vary", _VARY)

    def prepare(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= wire.MAX_REQUEST_BYTES:
            self._chunks.append(chunk)
        else:
            self._chunks = []  # over the limit: read on, keep nothing

    def options(self, *_: Any) -> None:
        """A CORS preflight: any method, any requested header, from any origin."""
        self.set_header("Access-Control-Allow-Methods", _CORS_METHODS)
        requested = self.request.headers.get("Access-Control-Request-Headers")
        if requested is not None:
            self.set_header("Access-Control-Allow-Headers", requested)
        self.set_header("Access-Control-Max-Age", "86400")
        self.set_status(200)
        self.finish()

    # -- reading the request ------------------------------------------------------------------
    def auth_header(self) -> tuple[str, str | None, str | None]:
        return wire.parse_authorization(self.request.headers.get("Authorization"),
                                        self.get_query_argument("adminKey", None))

    def client_format(self) -> str:
        return wire.default_format(self.request.headers.get("Convex-Client"))

    def json_body(self, what: str) -> dict:
        if self._size > wire.MAX_REQUEST_BYTES:
            raise wire.too_large()
        body = wire.parse_json(b"".join(self._chunks), self.request.headers.get("Content-Type"))
        return wire.body_object(body, what)

    async def authenticate(self, auth: tuple[str, str | None, str | None]) -> Caller:
        """Who is calling. A JWT is verified on the worker pool: that may fetch a provider's keys."""
        scheme, credential, acting = auth
        if scheme == "admin":
            identity = wire.acting_identity(acting) if acting is not None else None
            if not self.app._is_admin_key(credential or ""):
                raise HttpError(401, "BadAdminKey", "The provided admin key was invalid for this instance")
            return Caller(True, identity)
        if scheme == "user":
            return Caller(False, await self.server.run_blocking(self.app._identity_for_token, credential or ""))
        return Caller(False, None)

    # -- running ------------------------------------------------------------------------------
    async def call(self, path: str, kind: str | None, args: Any, caller: Caller, fmt: str) -> dict:
        """Run one function for this request; the response body (success or function error)."""
        request = wire.request_id()
        runtime = self.app._runtime
        try:
            definition, arguments = prepare_call(runtime, path, kind, args, caller)
        except Refused as refused:
            return wire.failure(f"{refused}\n", request, [], fmt)
        if definition.kind == "action" and definition.is_async:
            execution = await asyncio.wrap_future(runtime.start_async_action(
                definition.path, arguments, identity=caller.identity, caller="http", allow_internal=caller.admin))
        else:
            execution = await self.server.run_blocking(execute, runtime, definition, arguments, caller)
        return response(execution, fmt, request)


def parse_path(path: Any) -> str:
    """A request's function path, normalised (`messages` → `messages:default`); 400 otherwise."""
    try:
        return normalize_path(path)
    except InvalidFunctionPath as exc:
        raise bad_request("BadConvexFunctionIdentifier",
                          f"{path} is not a valid path to a Convex function. {exc}") from None


def prepare_call(runtime: Any, path: str, kind: str | None, args: Any, caller: Caller) -> tuple[FunctionDef, dict]:
    """Find the function and decode its arguments, in Convex's order (access, kind, arguments).
    Raises `Refused` with Convex's message. `path` is normalised; lookups are exact (a bare
    name is `name:default` here, as in Convex)."""
    definition = runtime.functions.get(path)
    if definition is None or (definition.internal and not caller.admin):
        # An internal function looks exactly like a missing one to a caller without the key.
        raise Refused(f"Could not find public function for '{path}'.")
    if kind is not None and definition.kind != kind:
        raise Refused(f"Trying to execute {canonical_path(path)} as {kind.capitalize()}, "
                      f"but it is defined as {definition.kind.capitalize()}.")
    try:
        values = wire.loads_args(wire.positional_args(args))
    except (ValueError, TypeError, ConvexSystemError) as exc:  # a bad encoding, nesting too deep, ...
        raise Refused(f"Invalid arguments for {canonical_path(path)}: {exc}") from None
    if len(values) != 1:
        raise Refused("ArgumentValidationError: Expected to receive a single object as the function's argument. "
                      f"Instead received {len(values)} arguments: {display_value(values)}")
    if type(values[0]) is not dict:
        raise Refused("ArgumentValidationError: Expected to receive an object as the function's argument. "
                      f"Instead received: {display_value(values[0])}")
    return definition, values[0]


def execute(runtime: Any, definition: FunctionDef, arguments: dict, caller: Caller) -> Any:
    """Run a function as the HTTP caller (on a worker thread); its `Execution`, or the error
    that kept it from running (it was unregistered in the meantime)."""
    try:
        return runtime.execute(definition.path, arguments, identity=caller.identity, caller="http",
                               allow_internal=caller.admin)
    except Exception as exc:  # noqa: BLE001 - answered as a function error
        return exc


def response(execution: Any, fmt: str, request: str) -> dict:
    if isinstance(execution, BaseException):
        message, data, has_data = wire.plain_message(str(execution))
        return wire.failure(message, request, [], fmt, data, has_data)
    if execution.error is None:
        return wire.success(execution.value, fmt, execution.lines)
    message, data, has_data = wire.error_text(execution.error)
    return wire.failure(message, request, execution.lines, fmt, data, has_data)


# ---------------------------------------------------------------------------------------------
# Endpoints


class KindHandler(ApiHandler):
    """`POST /api/query`, `/api/mutation`, `/api/action` (and `GET /api/query`): `{path, args,
    format?}`; the function must be of the endpoint's kind."""

    def initialize(self, server: "Server", kind: str) -> None:  # type: ignore[override]
        super().initialize(server)
        self.kind = kind

    async def post(self) -> None:
        auth = self.auth_header()
        default = self.client_format()
        body = self.json_body("struct UdfPostRequest")
        path = parse_path(wire.field(body, "path"))
        args = wire.field(body, "args", kind=None)
        fmt = wire.parse_format(wire.field(body, "format", required=False)) or default
        caller = await self.authenticate(auth)
        self.reply(await self.call(path, self.kind, args, caller, fmt))

    async def get(self) -> None:
        if self.kind != "query":
            raise HttpError(405, "MethodNotAllowed", f"Use POST for /api/{self.kind}.")
        auth = self.auth_header()
        default = self.client_format()
        path_text = self.get_query_argument("path", None)
        args_text = self.get_query_argument("args", None)
        for name, value in (("path", path_text), ("args", args_text)):
            if value is None:
                raise bad_request("BadQueryArgs", f"Failed to deserialize query string: missing field `{name}`")
        try:
            args = orjson.loads(args_text)
        except orjson.JSONDecodeError as exc:
            raise bad_request("BadQueryArgs", f"Failed to deserialize query string: args is not JSON: {exc}") from None
        path = parse_path(path_text)
        fmt = wire.parse_format(self.get_query_argument("format", None)) or default
        caller = await self.authenticate(auth)
        self.reply(await self.call(path, "query", args, caller, fmt))


class FunctionHandler(ApiHandler):
    """`POST /api/function`: any kind of function, for the admin (Convex's `client.function()`,
    which may name a component: convex_lab has none, so only the root)."""

    async def post(self) -> None:
        auth = self.auth_header()
        default = self.client_format()
        body = self.json_body("struct UdfPostRequestWithComponent")
        caller = await self.authenticate(auth)
        if not caller.admin:
            raise HttpError(403, "BadDeployKey",
                            "The provided deploy key was invalid for this deployment. Double check that the "
                            "environment this key was generated for matches the desired deployment.")
        component = wire.field(body, "componentPath", required=False)
        if component not in (None, ""):
            raise bad_request("InvalidComponentPath",
                              f"convex_lab has no components: componentPath must be empty, got {component!r}.")
        path = parse_path(wire.field(body, "path"))
        args = wire.field(body, "args", kind=None)
        fmt = wire.parse_format(wire.field(body, "format", required=False)) or default
        self.reply(await self.call(path, None, args, caller, fmt))


class RunHandler(ApiHandler):
    """`POST /api/run/<module path>/<function>`: `{args, format?}`; the format defaults to
    clean `json` whatever the client."""

    async def post(self, _: str) -> None:
        auth = self.auth_header()
        self.client_format()
        body = self.json_body("struct UdfPostRequestArgsOnly")
        caller = await self.authenticate(auth)
        missing = bad_request("MissingIdentifier", "Path or function name not provided in path, e.g. /api/run/messages/list")
        raw = self.request.path[len("/api/run/"):]
        try:
            parts = [unquote_to_bytes(part).decode("utf-8") for part in raw.split("/")]
        except UnicodeDecodeError:
            raise missing from None
        if len(parts) < 2:
            raise missing
        path = parse_path(f"{'/'.join(parts[:-1])}:{parts[-1]}")
        args = wire.field(body, "args", kind=None)
        fmt = wire.parse_format(wire.field(body, "format", required=False)) or wire.CLEAN
        self.reply(await self.call(path, None, args, caller, fmt))


class QueryTsHandler(ApiHandler):
    """`POST /api/query_ts`: the newest timestamp, `{"ts": base64 of 8 bytes LE}`."""

    async def post(self) -> None:
        self.reply({"ts": wire.encode_ts(self.app._db.last_ts)})


class QueryAtTsHandler(ApiHandler):
    """`POST /api/query_at_ts`: `{path, args, ts, format?}`, a query at timestamp `ts`.

    Deliberate difference: convex_lab keeps no past snapshots for queries, so only the newest
    timestamp can be served; an older one gets the answer Convex gives for a timestamp out of
    its retention window (503)."""

    async def post(self) -> None:
        auth = self.auth_header()
        default = self.client_format()
        body = self.json_body("struct UdfPostWithTsRequest")
        path = parse_path(wire.field(body, "path"))
        args = wire.field(body, "args", kind=None)
        ts = wire.decode_ts(wire.field(body, "ts", kind=None))
        fmt = wire.parse_format(wire.field(body, "format", required=False)) or default
        caller = await self.authenticate(auth)
        request = wire.request_id()
        runtime = self.app._runtime
        try:
            definition, arguments = prepare_call(runtime, path, "query", args, caller)
        except Refused as refused:
            self.reply(wire.failure(f"{refused}\n", request, [], fmt))
            return
        execution = await self.server.run_blocking(self._at, ts, definition, arguments, caller)
        self.reply(response(execution, fmt, request))

    def _at(self, ts: int, definition: FunctionDef, arguments: dict, caller: Caller) -> Any:
        database = self.app._db
        with database.lock:  # no commit between the check and the run
            newest = database.last_ts
            if ts != newest:
                raise HttpError(
                    503, "InternalServerError",
                    "Your request couldn't be completed. Try again later. (convex_lab runs queries at the "
                    f"newest timestamp only: {wire.encode_ts(newest)} ({newest}); this request asked for "
                    f"{wire.encode_ts(ts)} ({ts}).)",
                )
            return execute(self.app._runtime, definition, arguments, caller)


class QueryBatchHandler(ApiHandler):
    """`POST /api/query_batch`: `{queries: [{path, args, format?}, ...]}` → `{results: [...]}`,
    every query at the same timestamp."""

    async def post(self) -> None:
        auth = self.auth_header()
        default = self.client_format()
        body = self.json_body("struct QueryBatchArgs")
        queries = wire.field(body, "queries", kind=list)
        caller = await self.authenticate(auth)
        # Every format and path is checked before any query runs (a bad one is a 400 for the
        # whole batch, as in Convex, which would have run the queries before it for nothing).
        items = []
        for index, item in enumerate(queries):
            item = wire.body_object(item, f"struct UdfPostRequest at queries[{index}]")
            fmt = wire.parse_format(wire.field(item, "format", required=False)) or default
            items.append((parse_path(wire.field(item, "path")), wire.field(item, "args", kind=None), fmt))
        results = await self.server.run_blocking(self._batch, items, caller)
        self.reply({"results": results})

    def _batch(self, items: list, caller: Caller) -> list:
        runtime = self.app._runtime
        results = []
        with self.app._db.lock:  # one snapshot for the whole batch
            for path, args, fmt in items:
                request = wire.request_id()
                try:
                    definition, arguments = prepare_call(runtime, path, "query", args, caller)
                except Refused as refused:
                    results.append(wire.failure(f"{refused}\n", request, [], fmt))
                    continue
                results.append(response(execute(runtime, definition, arguments, caller), fmt, request))
        return results


def routes(server: "Server") -> list:
    """The tornado routes of the HTTP API."""
    from .. import __version__

    options = {"server": server}
    return [
        (r"/api/query", KindHandler, {**options, "kind": "query"}),
        (r"/api/mutation", KindHandler, {**options, "kind": "mutation"}),
        (r"/api/action", KindHandler, {**options, "kind": "action"}),
        (r"/api/function", FunctionHandler, options),
        (r"/api/run/(.*)", RunHandler, options),
        (r"/api/query_ts", QueryTsHandler, options),
        (r"/api/query_at_ts", QueryAtTsHandler, options),
        (r"/api/query_batch", QueryBatchHandler, options),
        (r"/version", TextHandler, {**options, "text": f"convex_lab-{__version__}"}),
        (r"/instance_version", TextHandler, {**options, "text": f"convex_lab-{__version__}"}),
        (r"/instance_name", TextHandler, {**options, "text": "convex-lab"}),
    ]
