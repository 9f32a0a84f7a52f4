"""`convex-lab`: serve a functions directory, run its functions and look at its data from a terminal.

`dev` opens the directory's database, loads its modules, serves them (HTTP API and sync protocol),
writes `DIR/.convex_lab/deployment.json` (URL, admin key, process id; readable by its owner only)
and reloads modules when their files change. `run`, `data`, `env` and `logs` talk to that server
over HTTP with the admin key (through convex_lab's `_system/cli:*` functions), or, when no app
runs, open the database file themselves (`logs` excepted: the execution log lives in the running
app's memory). A database file has one writer: when a running app holds it, the CLI says so and
uses that app's server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

STATE_DIR = ".convex_lab"
DEPLOYMENT_FILE = "deployment.json"
DEFAULT_DB = "data.duckdb"
POLL_SECONDS = 0.5  # how often `dev` looks for changed modules
LOG_POLL_SECONDS = 0.5  # how often `logs` asks the app for new executions


class CliError(Exception):
    """A failure to report as `error: ...` (no traceback)."""


def _describe(exc: BaseException) -> str:
    """An exception as people read it: its message, named by its type unless it names itself."""
    message = str(exc)
    name = type(exc).__name__
    return message if name in message.split("\n", 1)[0] else f"{name}: {message}"


# ---------------------------------------------------------------------------------------------
# Output for people


def _colour(code: str, text: str, stream: Any = None) -> str:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") or not getattr(stream, "isatty", lambda: False)():
        return text
    return f"\033[{code}m{text}\033[0m"


def _cell(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows of dicts as an aligned text table (system fields last)."""
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            for key in row:
                seen.setdefault(key, None)
        columns = [c for c in seen if not c.startswith("_")] + [c for c in ("_id", "_creationTime") if c in seen]
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    header = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    lines = [_colour("1", header), "  ".join("─" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


# ---------------------------------------------------------------------------------------------
# Where the app is: a running server, or the database file


class Target:
    """How to reach the app: `url` + `admin_key` (a running server) or `db` (open the file)."""

    def __init__(self, url: str | None = None, admin_key: str | None = None, db: str | None = None,
                 directory: Path | None = None) -> None:
        self.url = url
        self.admin_key = admin_key
        self.db = db
        self.directory = directory


def read_deployment(directory: Path) -> dict | None:
    """The deployment file `dev` wrote in `directory`, if its process still runs."""
    path = directory / STATE_DIR / DEPLOYMENT_FILE
    try:
        deployment = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = deployment.get("pid")
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return None  # left behind by a process that is gone
    return deployment


def find_target(args: argparse.Namespace) -> Target:
    directory = Path(args.dir or ".").resolve()
    if args.url:
        return Target(url=args.url.rstrip("/"), admin_key=args.admin_key or os.environ.get("CONVEX_LAB_ADMIN_KEY"))
    deployment = read_deployment(directory)
    db = args.db
    if deployment is not None and (db is None or Path(db).resolve() == Path(deployment.get("db", "")).resolve()):
        if db is not None:
            print(f"{db} is held by the running app (process {deployment['pid']}): using its server "
                  f"{deployment['url']}.", file=sys.stderr)
        return Target(url=deployment["url"], admin_key=deployment.get("adminKey"))
    if db is None and os.environ.get("CONVEX_LAB_URL"):
        return Target(url=os.environ["CONVEX_LAB_URL"].rstrip("/"), admin_key=os.environ.get("CONVEX_LAB_ADMIN_KEY"))
    if db is None:
        default = directory / STATE_DIR / DEFAULT_DB
        if not default.exists():
            raise CliError(f"No running app and no database found for {directory}: start one with "
                           f"`convex-lab dev {args.dir or '.'}`, or pass --url or --db.")
        db = str(default)
    return Target(db=db, directory=directory)


def call_over_http(target: Target, path: str, args: dict) -> Any:
    """`POST /api/function` as the admin; returns the value (plain JSON) or raises CliError."""
    body = json.dumps({"path": path, "args": args, "format": "json"}).encode()
    headers = {"Content-Type": "application/json"}
    if target.admin_key:
        headers["Authorization"] = f"Convex {target.admin_key}"
    request = urllib.request.Request(f"{target.url}/api/function", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read())
        except ValueError:
            raise CliError(f"{target.url} answered {exc.code} {exc.reason}.") from None
    except urllib.error.URLError as exc:
        raise CliError(f"Could not reach {target.url}: {exc.reason}. Is `convex-lab dev` running?") from None
    for line in answer.get("logLines", []):
        print(_colour("2", line), file=sys.stderr)
    if answer.get("status") == "success":
        return answer.get("value")
    message = answer.get("errorMessage") or json.dumps(answer)
    if answer.get("errorData") is not None:
        message += f" (data: {json.dumps(answer['errorData'])})"
    raise CliError(message)


def _open_app(target: Target, load: bool = True) -> Any:
    from .app import App
    from .errors import DatabaseFileError

    try:
        app = App(target.db)
    except DatabaseFileError as exc:
        raise CliError(str(exc)) from None
    if load and target.directory is not None and target.directory.is_dir():
        app.load_functions(target.directory)
    return app


def _one_line(message: str) -> str:
    """A server's error message without its request id line, frames and `Uncaught `."""
    lines = [line for line in message.splitlines() if line.strip() and not line.startswith("[Request ID")]
    return (lines[0] if lines else message).removeprefix("Uncaught ")


# ---------------------------------------------------------------------------------------------
# Commands


def cmd_run(args: argparse.Namespace) -> int:
    try:
        fn_args = json.loads(args.args_json) if args.args_json else {}
    except ValueError as exc:
        raise CliError(f"ARGS_JSON is not JSON: {exc}") from None
    if not isinstance(fn_args, dict):
        raise CliError("ARGS_JSON must be a JSON object, such as '{\"room\": \"a\"}'.")
    target = find_target(args)
    if target.url:
        value = call_over_http(target, args.path, fn_args)
    else:
        from .values import to_export_json

        app = _open_app(target)
        try:
            value = to_export_json(app.run(args.path, fn_args))
        except Exception as exc:  # noqa: BLE001 - one line for people
            raise CliError(_describe(exc)) from None
        finally:
            app.close()
    print(json.dumps(value, indent=2, ensure_ascii=False))
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    target = find_target(args)
    if target.url:
        if args.table is None:
            tables = call_over_http(target, "_system/cli:tables", {})
        else:
            docs = call_over_http(target, "_system/cli:documents",
                                  {"table": args.table, "limit": args.limit, "order": args.order})
    else:
        from .values import to_export_json

        app = _open_app(target)
        try:
            if args.table is None:
                tables = app.tables()
            else:
                docs = to_export_json(app.run("_system/cli:documents",
                                              {"table": args.table, "limit": args.limit, "order": args.order}))
        except Exception as exc:  # noqa: BLE001
            raise CliError(_describe(exc)) from None
        finally:
            app.close()
    if args.table is None:
        if not tables:
            print("No tables yet.")
        else:
            print(format_table([{"table": name, "documents": count} for name, count in tables.items()]))
    elif not docs:
        print(f'No documents in table "{args.table}".')
    else:
        print(format_table(docs))
    return 0


def _dotenv_value(value: str) -> str:
    """A value as a dotenv line writes it: bare when safe, else quoted (JSON escapes)."""
    safe = value and all(c.isalnum() or c in "_-./:@+,%=" for c in value)
    return value if safe else json.dumps(value, ensure_ascii=False)


def cmd_env(args: argparse.Namespace) -> int:
    from .engine import env_vars

    command = args.env_command
    name, value = getattr(args, "name", None), getattr(args, "value", None)
    if command == "set" and value is None:
        if name is None or "=" not in name:
            raise CliError("set needs a value: convex-lab env set NAME VALUE (or NAME=VALUE).")
        name, value = name.split("=", 1)
    try:  # checked here too, so a bad name is refused before anything is contacted
        if name is not None:
            env_vars.check_name(name)
        if value is not None:
            env_vars.check_value(value)
    except Exception as exc:  # noqa: BLE001 - Convex's error, on one line
        raise CliError(_describe(exc)) from None
    target = find_target(args)
    if target.url:
        def call(path: str, fn_args: dict) -> Any:
            try:
                return call_over_http(target, path, fn_args)
            except CliError as exc:
                raise CliError(_one_line(str(exc))) from None

        if command == "list":
            result = call("_system/cli:envList", {})
        elif command == "get":
            result = call("_system/cli:envGet", {"name": name})
        elif command == "set":
            result = call("_system/cli:envSet", {"name": name, "value": value})
        else:
            result = call("_system/cli:envRemove", {"name": name})
    else:
        app = _open_app(target, load=False)
        try:
            if command == "list":
                result = app.env.list()
            elif command == "get":
                result = app.env.get(name)
            elif command == "set":
                result = app.env.set(name, value)
            else:
                result = app.env.remove(name)
        except Exception as exc:  # noqa: BLE001
            raise CliError(_describe(exc)) from None
        finally:
            app.close()
    if command == "list":
        if not result:
            print("No environment variables set.")
        for key, text in result.items():
            print(f"{key}={_dotenv_value(text)}")
    elif command == "get":
        if result is None:  # as `npx convex env get`: said on stderr, exit status 0
            print(_colour("31", f'Environment variable "{name}" not found.', sys.stderr), file=sys.stderr)
        else:
            print(result)
    elif command == "set":
        print(_colour("32", "✔") + f" Successfully set {name}")
    else:
        print(_colour("32", "✔") + f" Successfully unset {name}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from .runtime.logs import format_entry

    target = find_target(args)
    if not target.url:
        raise CliError(f"No app is running for {target.db}: the execution log lives in the memory of the app "
                       "that runs the functions, and a database file keeps none, so there is nothing to "
                       "follow. Start it (`convex-lab dev DIR`) and run `convex-lab logs` again.")

    def paint(code: str, text: str) -> str:
        return _colour(code, text)

    cursor: float | None = None
    try:
        while True:
            answer = call_over_http(target, "_system/cli:logs", {"cursor": cursor, "history": args.history})
            for entry in answer["entries"]:
                print(format_entry(entry, paint), flush=True)
            if cursor is None:
                print(_colour("2", f"Watching the executions of {target.url} (Ctrl-C to stop).", sys.stderr),
                      file=sys.stderr, flush=True)
            cursor = answer["cursor"]
            time.sleep(LOG_POLL_SECONDS)
    except KeyboardInterrupt:
        return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from .app import App
    from .errors import DatabaseFileError

    directory = Path(args.directory).resolve()
    if not directory.is_dir():
        raise CliError(f"{args.directory} is not a directory.")
    state = directory / STATE_DIR
    state.mkdir(exist_ok=True)
    db = args.db or str(state / DEFAULT_DB)
    try:
        app = App(db)
    except DatabaseFileError as exc:
        raise CliError(str(exc)) from None
    try:
        paths = _load(app, directory)
        url = app.serve(port=args.port, host=args.host)
        deployment = state / DEPLOYMENT_FILE
        fd = os.open(deployment, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"url": url, "adminKey": app.admin_key, "pid": os.getpid(), "db": str(Path(db).resolve())}, out)
        print(_colour("32", f"Serving {directory} at {url}") + f" ({_counts(app, paths)}; database {db}).")
        print("Edit the modules: they reload on save. Ctrl-C stops.", flush=True)
        seen = _snapshot(directory)
        while True:
            time.sleep(POLL_SECONDS)
            now = _snapshot(directory)
            if now != seen:
                seen = now
                paths = _load(app, directory)
                if paths is not None:
                    print(_colour("32", f"Reloaded: {_counts(app, paths)}."), flush=True)
    except KeyboardInterrupt:
        print("Stopped.")
        return 0
    finally:
        try:
            (state / DEPLOYMENT_FILE).unlink()
        except OSError:
            pass
        app.close()


def _load(app: Any, directory: Path) -> list[str] | None:
    """Load the directory; on an error, say it on one line and keep what was loaded before."""
    try:
        return app.load_functions(directory)
    except Exception as exc:  # noqa: BLE001 - a typo in a module must not stop the server
        notes = " ".join(getattr(exc, "__notes__", []))
        print(_colour("31", f"error: {type(exc).__name__}: {exc} {notes}".rstrip(), sys.stderr), file=sys.stderr, flush=True)
        return None


def _counts(app: Any, paths: list[str] | None) -> str:
    """`3 functions`, then `, 2 HTTP routes under /http/` when the App has routes."""
    text = f"{len(paths or [])} functions"
    routes = len(app.http.routes)
    return text + (f", {routes} HTTP route{'s' if routes != 1 else ''} under /http/" if routes else "")


def _snapshot(directory: Path) -> dict[str, float]:
    out = {}
    for path in directory.rglob("*.py"):
        if STATE_DIR not in path.parts and "__pycache__" not in path.parts:
            try:
                out[str(path)] = path.stat().st_mtime_ns
            except OSError:
                pass
    return out


# ---------------------------------------------------------------------------------------------
# The parser


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", help="the functions directory whose running app (or database) to use (default: .)")
    parser.add_argument("--url", help="a running app's URL (default: $CONVEX_LAB_URL, or the deployment file of --dir)")
    parser.add_argument("--admin-key", help="its admin key (default: $CONVEX_LAB_ADMIN_KEY, or the deployment file)")
    parser.add_argument("--db", help="open this database file directly when no app runs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convex-lab",
        description="Serve a convex_lab functions directory, run its functions, look at its data.",
        epilog="Example: convex-lab dev chat/   then   convex-lab run --dir chat messages:list '{\"room\": \"a\"}'"
               "   or   convex-lab logs --dir chat",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dev = commands.add_parser(
        "dev", help="serve a functions directory, reloading modules on save",
        description="Open DIR's database, load its modules, serve them, and reload them when they change.",
        epilog="Example: convex-lab dev chat/ --port 3210",
    )
    dev.add_argument("directory", nargs="?", default=".", metavar="DIR", help="the functions directory (default: .)")
    dev.add_argument("--db", help="the database file (default: DIR/.convex_lab/data.duckdb)")
    dev.add_argument("--port", type=int, default=0, help="the port (default: a free one)")
    dev.add_argument("--host", default="127.0.0.1", help="the address to bind (default: 127.0.0.1, this machine only)")
    dev.set_defaults(handler=cmd_dev)
    run = commands.add_parser(
        "run", help="run a function and print its result as JSON",
        description="Run the function at PATH with ARGS_JSON (a JSON object) as the admin, and print its result.",
        epilog="Example: convex-lab run messages:send '{\"room\": \"a\", \"body\": \"hi\"}'",
    )
    run.add_argument("path", metavar="PATH", help="the function, such as messages:send")
    run.add_argument("args_json", nargs="?", metavar="ARGS_JSON", help="its arguments as a JSON object (default: {})")
    _connection_options(run)
    run.set_defaults(handler=cmd_run)
    data = commands.add_parser(
        "data", help="list the tables, or a table's documents",
        description="Without TABLE: every table and its number of documents. With TABLE: its documents, newest first.",
        epilog="Example: convex-lab data messages --limit 20",
    )
    data.add_argument("table", nargs="?", metavar="TABLE", help="the table to show")
    data.add_argument("--limit", type=int, default=100, help="how many documents (default: 100)")
    data.add_argument("--order", choices=["asc", "desc"], default="desc", help="by creation time (default: desc)")
    _connection_options(data)
    data.set_defaults(handler=cmd_data)
    logs = commands.add_parser(
        "logs", help="follow the function executions of a running app",
        description="Print each function execution of the running app as it happens: its time, kind, path, "
                    "caller, duration and outcome, then what it printed, indented. Ctrl-C stops. The log lives "
                    "in the app's memory, so a database file alone (--db, no app running) has none to follow.",
        epilog="Example: convex-lab logs --dir chat/ --history 20",
    )
    logs.add_argument("--history", type=int, nargs="?", const=10_000, default=0, metavar="N",
                      help="first show the last N executions (all that are kept without N; default: none)")
    _connection_options(logs)
    logs.set_defaults(handler=cmd_logs)
    env = commands.add_parser(
        "env", help="list, get, set or remove environment variables",
        description="The environment variables functions read with ctx.env, in a running app or a database file.",
        epilog="Example: convex-lab env set OPENAI_API_KEY sk-...   then   convex-lab env list",
    )
    env_commands = env.add_subparsers(dest="env_command", required=True, metavar="ENV_COMMAND")
    env_list = env_commands.add_parser(
        "list", help="every variable, as NAME=value lines",
        description="Print every environment variable as a NAME=value line (quoted when needed), in name order.",
        epilog="Example: convex-lab env list --dir chat/")
    env_get = env_commands.add_parser(
        "get", help="print one variable's value",
        description="Print the value of variable NAME (a missing one is said on stderr).",
        epilog="Example: convex-lab env get OPENAI_API_KEY")
    env_get.add_argument("name", metavar="NAME")
    env_set = env_commands.add_parser(
        "set", help="set a variable",
        description="Set variable NAME to VALUE (also written NAME=VALUE).",
        epilog="Example: convex-lab env set GREETING 'hello there'")
    env_set.add_argument("name", metavar="NAME")
    env_set.add_argument("value", nargs="?", metavar="VALUE")
    env_remove = env_commands.add_parser(
        "remove", aliases=["rm", "unset"], help="remove a variable",
        description="Remove variable NAME (nothing happens when it is not set).",
        epilog="Example: convex-lab env remove GREETING")
    env_remove.add_argument("name", metavar="NAME")
    for sub, command in ((env_list, "list"), (env_get, "get"), (env_set, "set"), (env_remove, "remove")):
        _connection_options(sub)
        sub.set_defaults(handler=cmd_env, env_command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CliError as exc:
        print(_colour("31", f"error: {exc}", sys.stderr), file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
