"""Functions directories: module-level decorators, and loading a directory of modules into an App.

A functions directory is the Python form of a Convex project's `convex/` folder. Each `.py` file is
a module; its functions are declared with the module-level decorators (`from convex_lab import
query, mutation, ...`), which only describe a function (`FunctionSpec`). `load_directory` imports
every module and registers each declared function under `<module path>:<the name it is bound to>`,
as Convex names a function by its module and export name: `admin/users.py`'s `list` is
`admin/users:list`. `schema.py` holds the schema (`schema = define_schema(...)`), `http.py` the
HTTP routes (`http = http_router()`, runtime/http.py; an `http_action` is not a function path),
`crons.py` the crons (`crons = cron_jobs()`, runtime/crons.py).

Modules are imported as one package per directory, so they can import each other relatively
(`from .messages import send`). Loading again (after an edit) imports fresh copies: changed
functions replace the old ones (their live queries re-run), functions no longer declared are
removed, and the data stays. Loading is all or nothing: a module that fails to import, or a schema
the data breaks, leaves the App as it was.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import types
from pathlib import Path
from typing import Any, Callable

from .crons import CronJobs
from .http import HttpRouter
from .registry import FunctionSpec, normalize_path

# Files and folders that are not modules: private (`_x.py`), hidden, caches, the CLI's state.
_SKIPPED_PREFIXES = ("_", ".")
SCHEMA_MODULE = "schema"
HTTP_MODULE = "http"
CRONS_MODULE = "crons"


def _declare(kind: str, internal: bool, fn: Callable | None, args: Any, returns: Any) -> Any:
    if fn is not None:
        return FunctionSpec(kind, internal, fn, args, returns)
    return lambda handler: FunctionSpec(kind, internal, handler, args, returns)


def query(fn: Callable | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """Declare a query in a functions directory module: `@query` or `@query(args={...}, returns=...)`.

    The options are those of `App.query`. `app.load_functions(dir)` registers it as
    `<module>:<name>`; until then it is a `FunctionSpec`.

    Examples:
        >>> @query(args={"room": v.string()})
        ... def list_messages(ctx, room):
        ...     return ctx.db.query("messages").collect()
        >>> list_messages
        <convex_lab query list_messages (declared, not loaded)>
    """
    return _declare("query", False, fn, args, returns)


def mutation(fn: Callable | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """Declare a mutation in a functions directory module (as `query`; options of `App.mutation`)."""
    return _declare("mutation", False, fn, args, returns)


def action(fn: Callable | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """Declare an action in a functions directory module (as `query`; options of `App.action`)."""
    return _declare("action", False, fn, args, returns)


def internal_query(fn: Callable | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """Declare an internal query in a functions directory module (callable only by other functions,
    the notebook and the admin)."""
    return _declare("query", True, fn, args, returns)


def internal_mutation(fn: Callable | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """Declare an internal mutation in a functions directory module."""
    return _declare("mutation", True, fn, args, returns)


def internal_action(fn: Callable | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """Declare an internal action in a functions directory module."""
    return _declare("action", True, fn, args, returns)


class LoadedDirectory:
    """What one load of a directory found: `functions` (path → FunctionSpec), the `schema`,
    `http`, the router of `http.py`, and `crons`, the `cron_jobs()` of `crons.py` (None without
    one)."""

    def __init__(self, directory: Path, functions: dict[str, FunctionSpec], schema: Any, has_schema: bool,
                 http: HttpRouter | None = None, crons: CronJobs | None = None) -> None:
        self.directory = directory
        self.functions = functions
        self.schema = schema
        self.has_schema = has_schema
        self.http = http
        self.crons = crons


def module_files(directory: Path) -> list[tuple[str, Path]]:
    """`(module path, file)` for every module of `directory`, sorted: `admin/users.py` →
    `("admin/users", ...)`."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(_SKIPPED_PREFIXES))
        for name in sorted(files):
            if name.endswith(".py") and not name.startswith(_SKIPPED_PREFIXES):
                file = Path(root) / name
                module = file.relative_to(directory).with_suffix("").as_posix()
                found.append((module, file))
    return found


def package_name(directory: Path) -> str:
    """The name the directory's modules are imported under (one per directory)."""
    digest = hashlib.sha1(str(directory).encode()).hexdigest()[:10]
    return f"convex_lab_functions_{digest}"


def _declared(module: Any, file: Path, name: str, kind: type, maker: str, purpose: str) -> Any:
    """The object a special module (`http.py`, `crons.py`) must set under `name`, of type `kind`."""
    value = getattr(module, name, None)
    if not isinstance(value, kind):
        found = "does not set it" if not hasattr(module, name) else f"sets it to {value!r}"
        raise TypeError(f"{file} must set `{name} = {maker}` (from convex_lab) and {purpose}; it {found}.")
    return value


def read_directory(directory: str | os.PathLike) -> LoadedDirectory:
    """Import every module of `directory` afresh and collect its declared functions and schema.

    Raises:
        FileNotFoundError: `directory` is not a directory.
        ImportError (or what the module raised): a module failed to import; the message names
            its file. Nothing is registered then.
        TypeError: `http.py` does not set `http` to an `http_router()`.
    """
    root = Path(directory).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"The functions directory {str(directory)!r} does not exist (or is not a directory).")
    package = package_name(root)
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]  # import fresh copies: the files may have changed
    importlib.invalidate_caches()
    module = types.ModuleType(package, f"The functions directory {root}")
    module.__path__ = [str(root)]  # a package: its modules import each other relatively
    sys.modules[package] = module
    functions: dict[str, FunctionSpec] = {}
    schema, has_schema = None, False
    http = crons = None
    for module_path, file in module_files(root):
        dotted = f"{package}.{module_path.replace('/', '.')}"
        try:
            loaded = importlib.import_module(dotted)
        except Exception as exc:
            exc.add_note(f"(while loading the functions module {file})")
            raise
        if module_path == SCHEMA_MODULE:
            has_schema = hasattr(loaded, "schema")
            schema = getattr(loaded, "schema", None)
            continue
        if module_path == HTTP_MODULE:
            http = _declared(loaded, file, "http", HttpRouter, "http_router()", "route its HTTP actions there")
        if module_path == CRONS_MODULE:
            crons = _declared(loaded, file, "crons", CronJobs, "cron_jobs()", "define its crons there")
        for name, value in vars(loaded).items():
            # Only what the module itself declares: an imported spec belongs to its own module.
            if isinstance(value, FunctionSpec) and getattr(value.handler, "__module__", None) == dotted:
                functions[normalize_path(f"{module_path}:{name}")] = value
    return LoadedDirectory(root, functions, schema, has_schema, http, crons)
