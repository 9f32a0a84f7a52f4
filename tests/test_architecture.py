"""The shape docs/architecture.md promises: dependencies point one way, and the layers below never
import the layers above. Read from the source: the imports a module runs when it is imported.
Imports under `if TYPE_CHECKING:` are for type hints only; imports inside a function run when it is
called and are the few deliberate late ones (`App.live` builds the notebook's widget, an error
message formats a value)."""

from __future__ import annotations

import ast
from pathlib import Path

import convex_lab

PACKAGE = Path(convex_lab.__file__).parent

# Each layer may import only from itself and the layers listed after it; every other module
# (values, keys, ids, validators, schema, errors, interrupts) is the core, below them all. The
# package's `__init__` sits above everything.
LAYERS = ["cli", "notebook", "app", "server", "data_io", "runtime", "engine"]
CORE = len(LAYERS)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """The convex_lab modules `path` imports at run time (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("convex_lab"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("convex_lab"):
                    continue
                for alias in node.names:  # `from . import logs` imports a module
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if candidate in MODULES else target)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue  # imported when called: the deliberate late imports (see below)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    visit([child])

    visit(tree.body)
    return {name for name in found if name in MODULES}


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else CORE


def test_the_import_graph_is_read():
    assert "convex_lab.engine.catalog" in GRAPH["convex_lab.engine.transaction"]
    assert "convex_lab.engine.database" in GRAPH["convex_lab.app"]


def test_no_module_imports_a_layer_above_it():
    wrong = []
    for module, imported in GRAPH.items():
        mine = layer_of(module)
        if mine is None:
            continue
        for target in imported:
            theirs = layer_of(target)
            if theirs is not None and theirs < mine:
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong


def test_no_import_cycles():
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if target.startswith(module + "."):
                continue  # a package importing its own submodules is not a cycle
            if state.get(target) == 1 and not module.startswith(target + "."):
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                walk(target, path + [target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            walk(module, [module])
    assert not cycles, cycles
