"""The notebook integration: `%load_ext convex_lab`, the `%%live` cell magic and `%convex`.

Loading binds `app` to a new in-memory App unless `app` already names one (if `app` is something
else, it binds `convex_app` and says so). State lives on the shell, so `%reload_ext` and unloading
leave no duplicate magics or subscriptions. Live cells render into `LiveView` widgets (`live.py`).
"""

from __future__ import annotations

import ast
import hashlib
import shlex
import sys
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from .live import HTML_KEY, LiveView

__all__ = ["LiveView", "live_view", "load_ipython_extension", "unload_ipython_extension"]


def live_view(app: Any, fn: Any, args: dict | None = None) -> LiveView:
    """A LiveView subscribed to query `fn` with `args` (what `app.live` returns)."""
    # Every trait write happens on the notifier thread (the first result included): traitlets
    # state is not thread-safe, and the notifier also writes while a cell is busy.
    # The view only reads its results, so it shares them rather than copying each.
    view = LiveView(app.function(fn, "query").path)
    view.subscription = app.subscribe(fn, args or {}, view.show_result, view.show_error,
                                      notifier_only=True, copy=False)
    # The first delivery may run before `view.subscription` is set (and skip the header): redo it.
    view.subscription.call_soon(view._update_meta)
    app.flush()  # the first result is in place before the cell displays the view
    return view


class _State:
    """Per-shell state that survives `%reload_ext`: the live cells' subscriptions."""

    def __init__(self) -> None:
        self.cells: dict[str, tuple[Any, LiveView]] = {}  # cell key -> (app, view)


def _state(shell: Any) -> _State:
    state = getattr(shell, "_convex_lab_state", None)
    if state is None:
        state = shell._convex_lab_state = _State()
    return state


def _compile_cell(source: str, user_ns: dict, widgets: list | None = None):
    """A query handler running the cell body with `db` and `ctx` in scope; the last expression is
    the result (as in an IPython cell). A pandas result becomes its HTML; an ipywidget result is
    appended to `widgets` (it cannot travel as a Convex value) and the query returns None."""
    tree = ast.parse(source)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, "<%%live>", "exec")
    tail = compile(last, "<%%live>", "eval") if last is not None else None

    def run(ctx: Any) -> Any:
        namespace = dict(user_ns)
        namespace["db"] = ctx.db
        namespace["ctx"] = ctx
        exec(body, namespace)
        return eval(tail, namespace) if tail is not None else None

    def handler(ctx: Any) -> Any:
        result = run(ctx)
        if _is_pandas(result):
            # A pandas result stays live: it travels as its HTML rendering (a Convex string).
            frame = result.to_frame() if result.ndim == 1 else result
            return {HTML_KEY: frame.to_html(max_rows=200)}
        if widgets is not None and _is_widget(result):
            widgets.append(result)
            return None
        return result

    return handler


def _is_pandas(value: Any) -> bool:
    # Never import pandas just to ask; and another thread may be halfway through importing it.
    pandas = sys.modules.get("pandas")
    kinds = tuple(k for k in (getattr(pandas, "DataFrame", None), getattr(pandas, "Series", None)) if k is not None)
    return bool(kinds) and isinstance(value, kinds)


def _is_widget(value: Any) -> bool:
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, ipywidgets.DOMWidget)


def _app_option(line: str) -> tuple[str | None, list[str]]:
    """Split `--app NAME` out of a magic's arguments: (NAME or None, the other words)."""
    return _option(shlex.split(line), "--app", "the name of an App variable: --app NAME")


def _option(words: list[str], name: str, needs: str) -> tuple[str | None, list[str]]:
    """Split `name VALUE` out of `words`: (VALUE or None, the other words)."""
    if name not in words:
        return None, words
    at = words.index(name)
    if at + 1 >= len(words):
        raise ValueError(f"{name} needs {needs}")
    return words[at + 1], words[:at] + words[at + 2:]


_USAGE = ("%convex [--app NAME] tables | data TABLE | sql QUERY | logs [N] | env list|get NAME|set NAME VALUE|"
          "remove NAME | open PATH | serve [--port N]")
_ENV_USAGE = "%convex env list | get NAME | set NAME VALUE | remove NAME"
RECENT_LOGS = 20  # how many executions `%convex logs` shows without N


def recent_logs(app: Any, count: int = RECENT_LOGS) -> Any:
    """The last `count` executions as a DataFrame made for reading (oldest first): local time,
    kind, path, caller, duration, status, the error's first line, and the printed lines."""
    import pandas as pd

    from ..runtime.logs import format_duration

    entries = app._execution_log.entries()[-count:] if count > 0 else []
    rows = [{
        "time": pd.Timestamp(e["timestamp"], unit="ms", tz="UTC").tz_convert(_local_zone()).strftime("%H:%M:%S.%f")[:-3],
        "kind": e["kind"],
        "path": e["path"],
        "caller": e["caller"],
        "duration": format_duration(e["duration_ms"]),
        "status": e["status"],
        "error": (e["error"] or "").split("\n", 1)[0],
        "lines": "\n".join(e["lines"]),
    } for e in entries]
    columns = ["time", "kind", "path", "caller", "duration", "status", "error", "lines"]
    return pd.DataFrame(rows, columns=columns, index=[int(e["id"]) for e in entries])


def _local_zone() -> Any:
    import datetime

    return datetime.datetime.now().astimezone().tzinfo


def _env_command(app: Any, rest: str) -> Any:
    """`%convex env ...`: list (a dict, as app.env.list()), get NAME (the value or None),
    set NAME VALUE (or NAME=VALUE), remove NAME."""
    words = shlex.split(rest)
    if not words:
        raise ValueError(f"Usage: {_ENV_USAGE}")
    command, args = words[0], words[1:]
    if command == "list" and not args:
        return app.env.list()
    if command == "get" and len(args) == 1:
        return app.env.get(args[0])
    if command == "set" and len(args) in (1, 2):
        name, value = (args[0], args[1]) if len(args) == 2 else (args[0].partition("=")[0], args[0].partition("=")[2])
        if len(args) == 1 and "=" not in args[0]:
            raise ValueError(f"Usage: %convex env set NAME VALUE (or NAME=VALUE); got {rest!r}.")
        app.env.set(name, value)
        print(f"Set {name}.")
        return None
    if command in ("remove", "rm", "unset") and len(args) == 1:
        app.env.remove(args[0])
        print(f"Removed {args[0]}.")
        return None
    raise ValueError(f"Usage: {_ENV_USAGE}; got {rest!r}.")


def _port_option(rest: str) -> int:
    """The port of `%convex serve [--port N]` (0, a free port, without the option)."""
    words = shlex.split(rest)
    if not words:
        return 0
    if len(words) == 2 and words[0] == "--port" and words[1].isdigit():
        return int(words[1])
    raise ValueError(f"Usage: %convex serve [--port N]; got {rest!r}.")


@magics_class
class ConvexMagics(Magics):
    def _app(self, name: str | None) -> Any:
        from ..app import App

        target = name or ("app" if isinstance(self.shell.user_ns.get("app"), App) else "convex_app")
        app = self.shell.user_ns.get(target)
        if not isinstance(app, App):
            raise NameError(f"`{target}` is not a convex_lab App; create one (app = App()) or pass --app NAME.")
        return app

    @cell_magic
    def live(self, line: str, cell: str) -> Any:
        """%%live [VIEW] [--app NAME] [--as SUBJECT]: run the cell as a query and keep its output live.

        With VIEW, the live widget is also bound to that variable (`view.subscription.runs`, ...).
        With `--as SUBJECT`, the query runs as that user (as in `with app.as_user(SUBJECT):`);
        a `%%live` run inside an `as_user` block runs as that block's user."""
        app_name, words = _app_option(line)
        subject, words = _option(words, "--as", "a user's subject: --as SUBJECT")
        if len(words) > 1 or (words and not words[0].isidentifier()):
            raise ValueError(f"Usage: %%live [VIEW] [--app NAME] [--as SUBJECT]; got {line!r}.")
        app = self._app(app_name)
        state = _state(self.shell)
        parent = self.shell.get_parent() if hasattr(self.shell, "get_parent") else {}
        cell_id = (parent or {}).get("metadata", {}).get("cellId")
        key = cell_id or hashlib.sha1(cell.encode()).hexdigest()
        previous = state.cells.pop(key, None)
        if previous is not None and previous[1].subscription is not None:
            previous[1].subscription.unsubscribe()
        path = f"notebook:_live_{hashlib.sha1(key.encode()).hexdigest()[:10]}"
        widgets: list = []
        handler = _compile_cell(cell, self.shell.user_ns, widgets)
        # Exempt from Convex's transaction limits: a notebook may inspect a whole table.
        app._runtime.register("query", True, handler, name=path, unlimited=True)
        if subject is not None:
            with app.as_user(subject):
                view = live_view(app, path)  # runs the cell once, here
        else:
            view = live_view(app, path)
        if widgets:
            # The cell built an ipywidget: show it as itself, not live.
            view.subscription.unsubscribe()
            view.close()
            return widgets[0]
        state.cells[key] = (app, view)
        if words:
            self.shell.user_ns[words[0]] = view
        return view

    @line_magic
    def convex(self, line: str) -> Any:
        """%convex [--app NAME] tables | data TABLE | sql QUERY | logs [N] | env ... | open PATH | serve [--port N]

        `logs [N]` shows the last N executions (20 without N); `env list | get NAME | set NAME
        VALUE | remove NAME` reads and changes the environment variables (as `app.env`)."""
        app_name = None
        if line.lstrip().startswith("--app"):
            _, app_name, line = (line.strip().split(None, 2) + ["", ""])[:3]
        words = line.strip().split(None, 1)
        if not words:
            raise ValueError(f"Usage: {_USAGE}")
        command, rest = words[0], (words[1] if len(words) > 1 else "")
        if command == "open":
            from ..app import App

            path = rest.strip()
            ns = self.shell.user_ns
            # The variable the other commands would use: --app NAME, else `app` (or `convex_app`
            # when `app` names something else, as %load_ext binds it).
            target = app_name or ("convex_app" if "app" in ns and not isinstance(ns["app"], App) else "app")
            old = ns.get(target)
            if isinstance(old, App):
                old.close()
            ns[target] = App(path)
            return ns[target]
        app = self._app(app_name or None)
        if command == "tables":
            import pandas as pd

            tables = app.tables()
            return pd.DataFrame({"table": list(tables), "documents": list(tables.values())})
        if command == "data":
            return app.table(rest.strip()).df()
        if command == "sql":
            return app.sql(rest)
        if command == "logs":
            count = rest.strip()
            if count and not count.isdigit():
                raise ValueError(f"Usage: %convex logs [N]; got {rest!r}.")
            return recent_logs(app, int(count) if count else RECENT_LOGS)
        if command == "env":
            return _env_command(app, rest)
        if command == "serve":
            print(app.serve(port=_port_option(rest)))
            return None
        raise ValueError(f"Unknown %convex command {command!r}: use tables, data TABLE, sql QUERY, logs [N], "
                         "env ..., open PATH or serve [--port N].")


def load_ipython_extension(shell: Any) -> None:
    from ..app import App

    ns = shell.user_ns
    existing = ns.get("app")
    if not isinstance(existing, App):
        if "app" not in ns:
            ns["app"] = App()
        elif not isinstance(ns.get("convex_app"), App):
            ns["convex_app"] = App()
            print("convex_lab: `app` is already used for something else, so the App is `convex_app`.")
    shell.register_magics(ConvexMagics)  # replaces an earlier registration of the same names
    _state(shell)


def unload_ipython_extension(shell: Any) -> None:
    state = getattr(shell, "_convex_lab_state", None)
    if state is not None:
        for _, view in state.cells.values():
            if view.subscription is not None:
                view.subscription.unsubscribe()
        state.cells.clear()
    for kind, name in (("cell", "live"), ("line", "convex")):
        shell.magics_manager.magics[kind].pop(name, None)
