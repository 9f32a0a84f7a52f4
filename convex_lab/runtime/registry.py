"""The registry of functions: paths, definitions, the handles decorators return, lookup.

`Registry` maps normalised paths (`notebook:send`) to `FunctionDef`s and their `FunctionHandle`s;
`resolve` applies Convex's path rules, then a bare name (`"send"`) matches the one function of that
name (`_by_bare_name`, which also writes the "did you mean" suggestions). Running functions is
`execution.py`'s (its `Runtime` is a `Registry`); a handle passes its calls on to it.
"""

from __future__ import annotations

import contextvars
import difflib
import inspect
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import FunctionNotFound, InvalidFunctionCall, InvalidFunctionPath, WrongFunctionKind
from ..validators import args_validator
from .auth import python_caller_identity

if TYPE_CHECKING:  # pragma: no cover
    from .execution import Runtime

# The module of convex_lab's own functions (the CLI's and the dashboard's), internal and hidden
# from listings, as Convex's `_system/...` functions are.
SYSTEM_MODULE = "_system/"

_MODULE_RE = re.compile(r"^[A-Za-z0-9_\-.]+(/[A-Za-z0-9_\-.]+)*$")
_NAME_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


# ---------------------------------------------------------------------------------------------
# Paths


def normalize_path(path: str) -> str:
    """Convex's user-facing form: `mod` → `mod:default`, `mod.js:fn` → `mod:fn`."""
    if type(path) is not str or not path:
        raise InvalidFunctionPath(f"Invalid function path {path!r}: expected \"module:function\".")
    module, sep, name = path.partition(":")
    if not sep:
        name = "default"
    if module.endswith(".js"):
        module = module[:-3]
    if not module or not _MODULE_RE.match(module) or not _NAME_RE.match(name):
        raise InvalidFunctionPath(
            f"Invalid function path {path!r}: expected \"module:function\" such as \"messages:send\" "
            "(module path segments of letters, digits, _ - . separated by /; function name an identifier)."
        )
    return f"{module}:{name}"


def canonical_path(path: str) -> str:
    """Convex's stored form, with `.js`: `messages:send` → `messages.js:send`."""
    module, _, name = normalize_path(path).partition(":")
    return f"{module}.js:{name}"


# ---------------------------------------------------------------------------------------------
# Definitions and handles


@dataclass
class FunctionDef:
    kind: str  # "query" | "mutation" | "action"
    internal: bool
    path: str
    handler: Callable[..., Any]
    args: Any = None  # a v.object validator or None (anything goes)
    returns: Any = None
    is_async: bool = False
    unlimited: bool = False  # exempt from transaction and value limits (`%%live` cells)


# Set (by `execution.py`) while a query or mutation handler runs: (runtime, transaction, capture,
# depth). A handle called while it is set was called from inside a function, which is refused.
current_frame: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("convex_lab_frame", default=None)


class FunctionHandle:
    """A registered function, as `@app.query`, `@app.mutation` and `@app.action` return it.

    Call it like a client: `send(room="a", body="hi")` or `send({"room": "a", "body": "hi"})`.
    From synchronous code a call blocks and returns the result; from a coroutine (an `async def`,
    or a notebook cell using top-level `await`) it returns an awaitable. `call(args)` always
    blocks; `call_async(args)` always returns an awaitable. A handle can also be passed wherever
    a function is expected: `ctx.run_query`/`run_mutation`/`run_action`, `app.run`,
    `app.subscribe`, `app.live`. The handle keeps the handler's `__doc__` and `__name__`.

    Inside a Convex function, do not call a handle directly (that raises `RuntimeError`): use
    `ctx.run_query`, `ctx.run_mutation` or `ctx.run_action`.

    Attributes:
        definition (FunctionDef): The registration: kind, path, handler, validators.
    """

    def __init__(self, runtime: "Runtime", definition: FunctionDef) -> None:
        self._runtime = runtime
        self.definition = definition
        self.__wrapped__ = definition.handler
        self.__doc__ = definition.handler.__doc__
        self.__name__ = getattr(definition.handler, "__name__", definition.path)

    @property
    def path(self) -> str:
        """The function's path, such as `"notebook:send"`."""
        return self.definition.path

    @property
    def kind(self) -> str:
        """`"query"`, `"mutation"` or `"action"`."""
        return self.definition.kind

    def __repr__(self) -> str:
        internal = "internal " if self.definition.internal else ""
        return f"<convex_lab {internal}{self.definition.kind} {self.definition.path}>"

    @staticmethod
    def _gather(args: tuple, kwargs: dict) -> dict:
        if args:
            if len(args) > 1 or kwargs or not isinstance(args[0], dict):
                raise TypeError("Call a function with keyword arguments or with one dict of arguments, e.g. send(room='a') or send({'room': 'a'}).")
            return args[0]
        return kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function as a client call, with keyword arguments or one dict of arguments.

        Returns:
            The result (blocking), or an awaitable of it when called from a coroutine.

        Raises:
            TypeError: Positional arguments other than one dict.
            RuntimeError: Called from inside another Convex function.
            ArgumentValidationError: The arguments do not match the `args` validators.
            ReturnsValidationError: The result does not match the `returns` validator.
            InterruptedAfterCommit: Ctrl-C arrived after a mutation had committed.
        """
        arguments = self._gather(args, kwargs)
        _refuse_direct_call(self.definition.path)
        if _in_coroutine():
            return self.call_async(arguments)
        return self._runtime.call(self.definition.path, arguments, caller="notebook",
                                  identity=python_caller_identity(self._runtime))

    def call(self, args: dict | None = None) -> Any:
        """Run the function with `args` (a dict) and return its result; always blocks."""
        _refuse_direct_call(self.definition.path)
        return self._runtime.call(self.definition.path, args or {}, caller="notebook",
                                  identity=python_caller_identity(self._runtime))

    def call_async(self, args: dict | None = None) -> Any:
        """Run the function with `args` (a dict); returns an awaitable of its result.

        Call it from a running event loop. Queries, mutations and plain `def` actions run on a
        worker thread, `async def` actions on convex_lab's own loop, so the calling loop is
        never blocked.
        """
        _refuse_direct_call(self.definition.path)
        return self._runtime.call_async(self.definition.path, args or {}, caller="notebook",
                                        identity=python_caller_identity(self._runtime))


_COROUTINE_FLAGS = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _in_coroutine() -> bool:
    """True when the code calling the handle is a coroutine: an `async def`, or a notebook cell
    that uses top-level `await` (IPython compiles those as coroutine code). A plain cell runs
    inside the kernel's event loop too, so "is a loop running" cannot tell the two apart."""
    frame = sys._getframe(2)  # 0: here, 1: FunctionHandle.__call__, 2: the caller
    return bool(frame.f_code.co_flags & _COROUTINE_FLAGS)


def _refuse_direct_call(path: str) -> None:
    if current_frame.get() is not None:
        raise RuntimeError(
            f"Calling the function {path} directly from inside another Convex function is not supported. "
            "Use ctx.run_query, ctx.run_mutation or ctx.run_action instead."
        )


# ---------------------------------------------------------------------------------------------
# The registry


def _check_async(kind: str, handler: Callable[..., Any], name: str) -> bool:
    """Whether `handler` is `async def`; refused unless it is an action's."""
    is_async = inspect.iscoroutinefunction(handler)
    if is_async and kind != "action":
        raise TypeError(f"{name}: queries and mutations must be plain `def` functions; only actions may be `async def`.")
    return is_async


class FunctionSpec:
    """A function declared in a functions directory with a module-level decorator
    (`from convex_lab import query`): not yet registered on any App.

    `app.load_functions(dir)` registers it under its module's path and the name it is bound to
    (`messages.py`'s `send` becomes `messages:send`) and sets `path`. After that it can be passed
    wherever a function is expected (`ctx.run_mutation(send, ...)`, `app.run(send)`), as a handle
    can. Called directly, it says how to run it.

    Attributes:
        kind (str): `"query"`, `"mutation"` or `"action"`.
        internal (bool): Whether it is an internal function.
        handler: The decorated function.
        path (str | None): Its path once a directory holding it was loaded, else `None`.
    """

    def __init__(self, kind: str, internal: bool, handler: Callable[..., Any], args: Any, returns: Any) -> None:
        if not callable(handler):
            raise TypeError(f"@{kind} decorates a function, got {handler!r}.")
        _check_async(kind, handler, getattr(handler, "__name__", repr(handler)))
        self.kind = kind
        self.internal = internal
        self.handler = handler
        self.args = args_validator(args) if args is not None else None  # checked now: at import
        self.returns = returns
        self.path: str | None = None
        self.__wrapped__ = handler
        self.__doc__ = handler.__doc__
        self.__name__ = getattr(handler, "__name__", "default")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        where = f"app.run({self.path!r}, ...)" if self.path else "app.run(\"module:name\", ...)"
        raise InvalidFunctionCall(
            f"{self.__name__} is declared for a functions directory: load the directory with "
            f"app.load_functions(dir), then call it with {where}, or ctx.run_{self.kind}(...) inside a function."
        )

    def __repr__(self) -> str:
        internal = "internal " if self.internal else ""
        return f"<convex_lab {internal}{self.kind} {self.path or self.__name__} (declared, {'loaded' if self.path else 'not loaded'})>"


class Registry:
    """Registered functions by path: `functions` (path → `FunctionDef`) and `handles` (path →
    `FunctionHandle`), registration and lookup."""

    def __init__(self) -> None:
        self.functions: dict[str, FunctionDef] = {}
        self.handles: dict[str, FunctionHandle] = {}
        # Called with a path whose function was just replaced (reactivity re-runs its live queries).
        self.on_redefine: Callable[[str], None] | None = None
        # Called with the path of every function registered (a waiting scheduled job may run now).
        self.on_register: list[Callable[[str], None]] = []

    def user_paths(self) -> list[str]:
        """The paths of the app's own functions, sorted (convex_lab's `_system/` ones left out)."""
        return sorted(path for path in self.functions if not path.startswith(SYSTEM_MODULE))

    # -- registration -----------------------------------------------------------------------
    def unregister(self, path: str) -> None:
        """Forget the function at `path` (its module no longer declares it). Its live queries
        fail on their next run with `FunctionNotFound`."""
        self.functions.pop(path, None)
        self.handles.pop(path, None)

    def register(self, kind: str, internal: bool, handler: Callable[..., Any], *, args: Any = None,
                 returns: Any = None, name: str | None = None, module: str = "notebook",
                 unlimited: bool = False) -> FunctionHandle:
        if not callable(handler):
            raise TypeError(f"@{kind} decorates a function, got {handler!r}.")
        fn_name = getattr(handler, "__name__", None) or "default"
        if name is not None:
            path = normalize_path(name if ":" in name else f"{module}:{name}")
        else:
            path = normalize_path(f"{module}:{fn_name}")
        is_async = _check_async(kind, handler, path)
        definition = FunctionDef(kind=kind, internal=internal, path=path, handler=handler,
                                 args=args_validator(args) if args is not None else None,
                                 returns=returns, is_async=is_async, unlimited=unlimited)
        replaced = path in self.functions
        self.functions[path] = definition
        handle = FunctionHandle(self, definition)  # type: ignore[arg-type] - the Registry is a Runtime
        self.handles[path] = handle
        if replaced and self.on_redefine is not None:
            self.on_redefine(path)
        for listener in self.on_register:
            listener(path)
        return handle

    def resolve(self, fn: Any, expected_kind: str | None = None) -> FunctionDef:
        """A FunctionDef from a handle or a path, checking its kind when `expected_kind` is given."""
        if isinstance(fn, FunctionHandle):
            definition = self.functions.get(fn.path, fn.definition)
        elif isinstance(fn, FunctionSpec):
            definition = self.functions.get(fn.path) if fn.path is not None else None
            if definition is None:
                raise FunctionNotFound(
                    f"The function {fn.__name__} is declared for a functions directory that this App has not "
                    "loaded: call app.load_functions(dir) first."
                )
        elif isinstance(fn, str):
            definition = self.functions.get(fn)  # fast path: already a normalised path
            path = fn
            if definition is None:
                path = normalize_path(fn)
                definition = self.functions.get(path) or self._by_bare_name(fn, path, expected_kind)
        else:
            raise TypeError(f"Expected a convex_lab function or a path string, got {fn!r}.")
        if expected_kind is not None and definition.kind != expected_kind:
            raise WrongFunctionKind(
                f"Trying to execute {definition.path} as {_article(expected_kind)} {expected_kind.capitalize()}, "
                f"but it is defined as {_article(definition.kind)} {definition.kind.capitalize()}."
            )
        return definition

    def _by_bare_name(self, name: str, path: str, expected_kind: str | None) -> FunctionDef:
        """A notebook user writes `app.run("send")` for `notebook:send`. Convex reads a bare name
        as the module's default export (`send:default`); when no such function exists, the one
        function named `send` in any module is meant. Otherwise: FunctionNotFound, with the
        candidates (or the closest names) as suggestions."""
        named = [d for d in self.functions.values()
                 if ":" not in name and d.path.partition(":")[2] == name and not d.path.startswith(SYSTEM_MODULE)]
        if len(named) == 1:
            return named[0]
        message = f"Could not find function for '{path}'."
        if named:
            choices = " or ".join(f"'{d.path}'" for d in sorted(named, key=lambda d: d.path))
            message += f" Several functions are named '{name}': did you mean {choices}?"
        else:
            close = difflib.get_close_matches(path, self.user_paths(), n=3, cutoff=0.8)
            if close:
                message += f" Did you mean {' or '.join(repr(c) for c in close)}?"
            else:
                message += (f" Define it with @app.{expected_kind or 'query'} first "
                            f"(registered: {', '.join(self.user_paths()) or 'none'}).")
        raise FunctionNotFound(message)


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"
