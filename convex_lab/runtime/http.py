"""HTTP actions: the router (`app.http`, `http_router()`), `http_action`, and the `Request` and
`Response` a handler sees.

`HttpRouter` holds routes by exact path or path prefix and method, and finds the handler for a
request as Convex's router does (exact first, then the longest prefix; HEAD as GET). A functions
directory's `http.py` builds one with `http_router()`, which `App.load_functions` installs on
`app.http`. `http_action` marks a handler declared at module level, as Convex's `httpAction`: it
is reachable through routes only, never as a function path. Running a handler is
`execution.py`'s (`Runtime.execute_http_action`); serving them is `server/`'s.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import InvalidFunctionCall
from .registry import FunctionHandle, FunctionSpec

ROUTABLE_METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")


@dataclass
class HttpRoute:
    """One route: `path` (exact) or `path_prefix`, its method, and the handler."""

    method: str
    handler: Callable[..., Any]
    path: str | None = None
    path_prefix: str | None = None
    is_async: bool = False

    @property
    def pattern(self) -> str:
        """How Convex names the route in logs: `/hello`, or `/files/*` for a prefix."""
        return self.path if self.path is not None else f"{self.path_prefix}*"


class HttpAction:
    """An HTTP action declared with `http_action`: a handler to route, not a function to call.

    Attributes:
        handler: The decorated `def|async def handler(ctx, request) -> Response`.
    """

    def __init__(self, handler: Callable[..., Any]) -> None:
        if isinstance(handler, (FunctionSpec, FunctionHandle, HttpAction)):
            raise TypeError(f"@http_action decorates a plain handler function (ctx, request), got {handler!r}.")
        if not callable(handler):
            raise TypeError(f"@http_action decorates a function, got {handler!r}.")
        self.handler = handler
        self.__wrapped__ = handler
        self.__doc__ = handler.__doc__
        self.__name__ = getattr(handler, "__name__", "handler")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise InvalidFunctionCall(
            f"{self.__name__} is an HTTP action: route it (http.route(path=..., method=..., handler={self.__name__}) "
            "in http.py, or app.http.route(...)) and send an HTTP request to <url>/http/<path>."
        )

    def __repr__(self) -> str:
        return f"<convex_lab http_action {self.__name__}>"


def http_action(fn: Callable[..., Any]) -> HttpAction:
    """Declare an HTTP action's handler at module level, as Convex's `httpAction`.

    `def|async def handler(ctx, request) -> Response`: `ctx` is an `ActionCtx`, `request` a
    `Request`. An HTTP action is reached only through a route (`http.route(..., handler=...)` in
    a functions directory's `http.py`, or `app.http.route`), never as a function path: it is not
    registered as a query, mutation or action, and calling it directly raises.

    Raises:
        TypeError: `fn` is not a plain function (a query, mutation or action is refused).

    Examples:
        >>> @http_action
        ... def hello(ctx, request):
        ...     return Response("hello")
        >>> hello
        <convex_lab http_action hello>
        >>> router = http_router()
        >>> router.route(path="/hello", method="GET", handler=hello)
        >>> [(r.method, r.pattern, r.handler.__name__) for r in router.routes]
        [('GET', '/hello', 'hello')]
    """
    return HttpAction(fn)


def http_router() -> HttpRouter:
    """A new router for a functions directory's `http.py`: `http = http_router()`, then
    `http.route(...)` as on `app.http`.

    `app.load_functions(dir)` installs the routes of `http.py`'s `http` on `app.http`; loading
    the directory again replaces them. See the guide's Functions directories section.
    """
    return HttpRouter()


class HttpRouter:
    """The HTTP routes of an App (`app.http`): handlers served at `<url>/http/<path>`.

    A handler is `def handler(ctx, request)` or `async def handler(ctx, request)`, where `ctx`
    is an `ActionCtx` (`ctx.run_query`, `ctx.run_mutation`, `ctx.run_action`, `ctx.auth`) and
    `request` a `Request`; it returns a `Response`. Routing follows Convex's `httpRouter`: an
    exact `path` wins, else the longest `path_prefix` for the request's method; a HEAD request
    runs the GET route without sending the body. See the guide's Server page.

    Examples:
        >>> @app.http.route(path="/hello", method="GET")
        ... def hello(ctx, request):
        ...     return Response({"hello": request.query.get("name", "world")})
        >>> [(r.method, r.pattern) for r in app.http.routes]
        [('GET', '/hello')]
    """

    def __init__(self, url_source: Callable[[], str] | None = None) -> None:
        self._exact: dict[tuple[str, str], HttpRoute] = {}
        self._prefixes: dict[tuple[str, str], HttpRoute] = {}
        self._url_source = url_source  # the App's `url`, for `url(path)`; None for http_router()

    @property
    def routes(self) -> list[HttpRoute]:
        """Every route, exact paths first, in the order they were defined."""
        return [*self._exact.values(), *self._prefixes.values()]

    def route(self, *, path: str | None = None, path_prefix: str | None = None, method: str,
              handler: Callable[..., Any] | None = None, pathPrefix: str | None = None) -> Any:
        """Route requests for `path` (exact) or under `path_prefix` with `method` to `handler`.

        Without `handler`, it is a decorator (`@app.http.route(path="/x", method="POST")`), which
        returns the function unchanged. Defining a route again for the same path (or prefix) and
        method replaces it, so re-running a cell works (Convex refuses a duplicate, since its
        routes are defined once per deploy).

        Args:
            path: The exact path, starting with `/` (`/hello` is served at `<url>/http/hello`).
            path_prefix: A prefix starting and ending with `/` (`/files/` matches
                `/files/a.png`); also accepted as `pathPrefix`, Convex's name.
            method: `GET`, `POST`, `PUT`, `DELETE`, `OPTIONS` or `PATCH`.
            handler: `def|async def handler(ctx, request) -> Response`, or an `http_action`.

        Raises:
            ValueError: The route breaks one of Convex's rules (both or neither of path and
                prefix, a path not starting with `/`, a prefix not ending with `/`, a reserved
                `/.files/` path, a method Convex does not route).
            TypeError: `handler` is not callable, or is a query, mutation or action (those are
                called by path, not routed).
        """
        if pathPrefix is not None:
            if path_prefix is not None:
                raise ValueError("Give the prefix once: path_prefix= (or pathPrefix=, Convex's name).")
            path_prefix = pathPrefix
        if method not in ROUTABLE_METHODS:
            raise ValueError(f"'{method}' is not an allowed HTTP method (like GET, POST, PUT etc.)")
        if path is not None and path_prefix is not None:
            raise ValueError("Invalid httpRouter route: cannot contain both 'path' and 'pathPrefix'")
        if path is not None:
            if not path.startswith("/"):
                raise ValueError(f"path '{path}' does not start with a /")
            if path.startswith("/.files/") or path == "/.files":
                raise ValueError(f"path '{path}' is reserved")
        elif path_prefix is not None:
            if not path_prefix.startswith("/"):
                raise ValueError(f"pathPrefix '{path_prefix}' does not start with a /")
            if not path_prefix.endswith("/"):
                raise ValueError(f"pathPrefix {path_prefix} must end with a /")
            if path_prefix.startswith("/.files/"):
                raise ValueError(f"pathPrefix '{path_prefix}' is reserved")
        else:
            raise ValueError("Invalid httpRouter route entry: must contain either field 'path' or 'pathPrefix'")

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if isinstance(fn, (FunctionSpec, FunctionHandle)):
                raise TypeError(f"An HTTP route's handler is a function (ctx, request) or an http_action, "
                                f"not {fn!r}: call that from the handler with ctx.run_query/run_mutation/run_action.")
            if not callable(fn):
                raise TypeError(f"An HTTP route's handler must be a function, got {fn!r}.")
            handler_fn = fn.handler if isinstance(fn, HttpAction) else fn
            self._put(HttpRoute(method=method, handler=handler_fn, path=path, path_prefix=path_prefix,
                                is_async=inspect.iscoroutinefunction(handler_fn)))
            return fn

        if handler is not None:
            register(handler)
            return None
        return register

    def _put(self, route: HttpRoute) -> None:
        if route.path is not None:
            self._exact[(route.path, route.method)] = route
        else:
            self._prefixes[(route.path_prefix, route.method)] = route  # type: ignore[index]

    def _replace(self, old: list[HttpRoute], new: list[HttpRoute]) -> None:
        """Remove the routes of `old` that are still in place (a route defined since over the
        same path and method stays), then add `new`: a functions directory's routes, reloaded."""
        for route in old:
            table = self._exact if route.path is not None else self._prefixes
            key = (route.path if route.path is not None else route.path_prefix, route.method)
            if table.get(key) is route:  # type: ignore[arg-type]
                del table[key]  # type: ignore[arg-type]
        for route in new:
            self._put(route)

    def url(self, path: str) -> str:
        """The URL a request for `path` goes to: `<app.url>/http<path>`, starting the server
        (as `app.url` does) if the App is not serving.

        Examples:
            >>> app.http.url("/hello?name=Ada")
            'http://127.0.0.1:.../http/hello?name=Ada'

        Raises:
            ValueError: `path` does not start with `/`.
            RuntimeError: This router belongs to no App (an `http_router()` of a functions
                directory): ask `app.http.url(...)` of the App that loaded it.
        """
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"An HTTP action's path starts with a /, got {path!r}.")
        if self._url_source is None:
            raise RuntimeError("This router belongs to no App: once app.load_functions(dir) installed its routes, "
                               "use app.http.url(path).")
        return f"{self._url_source()}/http{path}"

    def lookup(self, path: str, method: str) -> HttpRoute | None:
        """The route for a request: exact `path` first, else the longest prefix; HEAD is GET.
        O(number of prefix routes)."""
        if method == "HEAD":
            method = "GET"
        route = self._exact.get((path, method))
        if route is not None:
            return route
        best = None
        for (prefix, prefix_method), candidate in self._prefixes.items():
            if prefix_method == method and path.startswith(prefix) and (best is None or len(prefix) > len(best.path_prefix)):
                best = candidate
        return best

    def __bool__(self) -> bool:
        return bool(self._exact or self._prefixes)

    def __repr__(self) -> str:
        return f"<convex_lab.HttpRouter: {len(self._exact) + len(self._prefixes)} routes>"


@dataclass
class Request:
    """The HTTP request an HTTP action's handler receives.

    Attributes:
        method (str): `GET`, `POST`, ... (a HEAD request shows as `GET`, as in Convex).
        url (str): The full URL the client asked for, query string included.
        path (str): The path the route matched, without the `/http` the server serves under
            (`/hello` for `<url>/http/hello`).
        query (dict[str, str]): The query string's parameters (the first value of each).
        headers (dict[str, str]): The request headers, names in lower case.
        body (bytes): The body as sent.
    """

    method: str
    url: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises `ValueError` when it is not JSON)."""
        return json.loads(self.body)


class Response:
    """What an HTTP action's handler returns.

    Args:
        body: `bytes` (sent as they are), `str` (UTF-8, `text/plain` unless `headers` say
            otherwise), a `dict` or `list` (JSON, `application/json`), or `None` (no body).
        status: The HTTP status code.
        headers: Response headers.

    Examples:
        >>> Response({"ok": True}).headers
        {'Content-Type': 'application/json'}
        >>> Response("not here", status=404).status
        404
    """

    def __init__(self, body: bytes | str | dict | list | None = None, status: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status code (100-599), got {status!r}.")
        self.status = status
        self.headers = dict(headers or {})
        has_type = any(name.lower() == "content-type" for name in self.headers)
        if body is None:
            self.body = b""
        elif isinstance(body, (bytes, bytearray, memoryview)):
            self.body = bytes(body)
        elif isinstance(body, str):
            self.body = body.encode("utf-8")
            if not has_type:
                self.headers["Content-Type"] = "text/plain;charset=UTF-8"
        elif isinstance(body, (dict, list)):
            self.body = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            if not has_type:
                self.headers["Content-Type"] = "application/json"
        else:
            raise TypeError(f"A Response body is bytes, str, a dict, a list or None, got {type(body).__name__}.")

    def __repr__(self) -> str:
        return f"<convex_lab.Response {self.status}, {len(self.body)} bytes>"
