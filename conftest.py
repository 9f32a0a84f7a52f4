"""Every code example in the documentation runs as a test (Sybil).

In `docs/**/*.md` and `README.md` (and the `>>>` examples in docstrings under `convex_lab/`, which
the reference pages show):

- ```python blocks run in order, in one namespace per page; a block written as a doctest
  (`>>> ` prompts) also checks the output it shows.
- ```ipython blocks are notebook cells: they run in a real IPython shell (magics included) that
  shares the page's namespace, and fail when the cell raises.
- `<!-- skip: next -->` before a block leaves it out (used only for commands that need a browser or a
  server, each said so in the text).

Each page runs in a fresh temporary directory, so files the examples create stay out of the
project; Apps a page opened are closed when it ends.
"""

from __future__ import annotations

import doctest
import os
import tempfile

from sybil import Sybil
from sybil.sybil import SybilCollection
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser, SkipParser
from sybil.parsers.rest import DocTestParser

_DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


class IPythonCellParser(CodeBlockParser):
    """```ipython blocks: one notebook cell each, run by IPython with the page's namespace."""

    language = "ipython"

    def evaluate(self, example):  # noqa: ANN001, ANN201 - Sybil's interface
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance()
        namespace = example.namespace
        shell.user_ns.update(namespace)
        result = shell.run_cell(example.parsed, store_history=True)
        namespace.update({k: v for k, v in shell.user_ns.items() if not k.startswith("_")})
        if not result.success:
            error = result.error_in_exec or result.error_before_exec
            raise AssertionError(f"the cell raised {type(error).__name__}: {error}") from error


def _setup(namespace: dict) -> None:
    namespace["__name__"] = "docs_example"
    namespace["_previous_directory"] = os.getcwd()
    namespace["_directory"] = tempfile.TemporaryDirectory(prefix="convex_lab_docs_")
    os.chdir(namespace["_directory"].name)


def _setup_docstring(namespace: dict) -> None:
    """Docstring examples start as the reference says: `from convex_lab import *`, `app = App()`."""
    import convex_lab

    _setup(namespace)
    namespace.update({name: getattr(convex_lab, name) for name in convex_lab.__all__})
    namespace["app"] = convex_lab.App()


def _teardown(namespace: dict) -> None:
    from convex_lab import App, interrupts

    try:
        for value in list(namespace.values()):
            if isinstance(value, App):
                value.close()
        _reset_ipython()
        interrupts._check()
    finally:
        os.chdir(namespace["_previous_directory"])
        namespace["_directory"].cleanup()


def _reset_ipython() -> None:
    """The next page starts from a fresh shell (no `app` or extension state left over)."""
    from IPython.core.interactiveshell import InteractiveShell

    if InteractiveShell.initialized():
        shell = InteractiveShell.instance()
        if "convex_lab" in shell.extension_manager.loaded:
            shell.extension_manager.unload_extension("convex_lab")
        shell.reset(new_session=False)
        for value in list(shell.user_ns.values()):
            if type(value).__name__ == "App":
                value.close()


_PARSERS = [
    PythonCodeBlockParser(doctest_optionflags=_DOCTEST_FLAGS),
    IPythonCellParser(),
    SkipParser(),
]

pytest_collect_file = SybilCollection([
    Sybil(parsers=_PARSERS, path="docs", patterns=["*.md"], excludes=["architecture.md"],
          setup=_setup, teardown=_teardown),
    Sybil(parsers=_PARSERS, path=".", patterns=["README.md"], setup=_setup, teardown=_teardown),
    # The reference is built from the docstrings: their `>>>` examples run too, with the module's
    # names in scope.
    Sybil(parsers=[DocTestParser(optionflags=_DOCTEST_FLAGS)], path="convex_lab", patterns=["*.py"],
          setup=_setup_docstring, teardown=_teardown),
]).pytest()
