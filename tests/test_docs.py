"""The examples in docs/ run: every ```python block of a page, in order, in one namespace, in a
fresh directory (so files the examples create stay out of the project)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from convex_lab import interrupts

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["safety.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = (DOCS / page).read_text()
    blocks = _BLOCK.findall(text)
    assert blocks, f"{page} has no python examples"
    namespace: dict = {"__name__": f"docs_{page}"}
    try:
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"{page} example {number}", "exec"), namespace)
    finally:
        for value in list(namespace.values()):
            if type(value).__name__ == "App":
                value.close()
    interrupts._check()
