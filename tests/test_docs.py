"""The documentation site: it builds with `mkdocs build --strict`, and nothing user-facing points
outside the repository. (The examples on every page run as tests through Sybil: see conftest.py at
the project root.)"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import convex_lab
import convex_lab.errors

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"

_DIRECTIVE = re.compile(r"^::: *([\w.]+) *$", re.M)
# A directive and its indented options block (up to the next line that is not indented).
_DIRECTIVE_BLOCK = re.compile(r"^::: *([\w.]+) *\n((?:[ \t]+.*\n|[ \t]*\n(?=[ \t]))*)", re.M)
_MEMBER = re.compile(r"^\s+- *[\"']?([\w]+)[\"']? *$", re.M)


def test_site_builds_strict(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}\n{result.stdout}"


def _resolve(path: str) -> object:
    """The object a dotted path such as `convex_lab.app.App.run` names (module, then attributes)."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def _documented() -> tuple[set[str], list[object]]:
    """The `:::` targets of the reference pages (and their listed members), as dotted paths and
    as the objects they name."""
    paths: set[str] = set()
    for page in sorted(REFERENCE.glob("*.md")):
        text = page.read_text()
        for target, options in _DIRECTIVE_BLOCK.findall(text + "\n"):
            paths.add(target)
            members = options.split("members:", 1)[1] if "members:" in options else ""
            for member in _MEMBER.findall(members):
                paths.add(f"{target}.{member}")
    return paths, [_resolve(path) for path in sorted(paths)]


def test_reference_covers_every_public_name():
    assert REFERENCE.is_dir() and list(REFERENCE.glob("*.md")), "docs/reference/ has no pages"
    paths, objects = _documented()
    documented = {id(obj) for obj in objects}
    public = {name: getattr(convex_lab, name) for name in convex_lab.__all__}
    public.update({name: getattr(convex_lab.errors, name) for name in convex_lab.errors.__all__})
    missing = sorted(name for name, obj in public.items() if id(obj) not in documented)
    assert not missing, (
        f"public names with no `::: ...` directive (or members entry) in docs/reference/*.md: {missing}"
    )


def test_reference_targets_exist():
    # Every directive names something importable (a typo would otherwise only fail the build).
    for page in sorted(REFERENCE.glob("*.md")):
        for target in _DIRECTIVE.findall(page.read_text()):
            _resolve(target)


_OUTSIDE = ("API.md", "DESIGN.md", "STYLE.md", "../shared", "/work/shared", "convex-semantics.md",
            "notebook-tech.md")


def _user_facing_files() -> list[Path]:
    files = list((ROOT / "convex_lab").rglob("*.py"))
    files += [p for p in (ROOT / "docs").rglob("*.md") if p != ROOT / "docs" / "architecture.md"]
    files += [ROOT / "README.md", ROOT / "bench" / "README.md"]
    files += sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "bench").glob("*.py"))
    # Tests too: a test reading a file outside the repository fails on a clean machine.
    files += [p for p in (ROOT / "tests").rglob("*.py") if p.name != "test_docs.py"]
    return [p for p in files if p.is_file()]


def test_nothing_user_facing_points_outside_the_repository():
    found = []
    for path in _user_facing_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for needle in _OUTSIDE:
                if needle in line:
                    found.append(f"{path.relative_to(ROOT)}:{number}: {needle}")
    assert not found, "references to files outside the repository:\n" + "\n".join(found)
