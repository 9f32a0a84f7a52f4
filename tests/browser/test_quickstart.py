"""The quickstart notebook in a real JupyterLab: it runs, and its live table changes in the DOM
after the mutation cell runs."""

from __future__ import annotations

import time

KERNEL_STATUS = "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status ?? null"


def wait_idle(page, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(KERNEL_STATUS) == "idle":
            return
        time.sleep(0.1)
    raise AssertionError("the kernel never became idle")


def run_cell(page, index):
    page.evaluate("""async (i) => {
        const app = window.jupyterapp; const panel = app.shell.currentWidget;
        panel.content.activeCellIndex = i;
        await app.commands.execute('notebook:run-cell');
    }""", index)
    wait_idle(page)


def code_cell_indexes(page, needle):
    return page.evaluate("""(needle) => {
        const cells = window.jupyterapp.shell.currentWidget.content.widgets;
        return cells.map((c, i) => [i, c.model.sharedModel.getSource()]).filter(([i, s]) => s.includes(needle)).map(([i]) => i);
    }""", needle)


def outputs(page):
    return page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
        .map((c, i) => [i, c.node.querySelector('.jp-OutputArea')?.innerText ?? ''])""")


def test_quickstart_live_table_follows_mutations(lab, page):
    base, token, _ = lab
    page.goto(f"{base}/lab/tree/01_quickstart.ipynb?token={token}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext", timeout=90_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.sessionContext.ready; }")
    wait_idle(page)
    count = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
    live_index = code_cell_indexes(page, "%%live")[0]
    mutation_index = code_cell_indexes(page, "Live update!")[0]
    for index in range(count):
        if index == mutation_index:
            continue
        run_cell(page, index)
    live_table = page.locator(".convex-lab-live-table")
    try:
        live_table.first.wait_for(timeout=60_000)
    except Exception as exc:
        page.screenshot(path=str(lab[2] / "failure.png"))
        raise AssertionError(f"no live table; cell outputs: {outputs(page)!r}") from exc
    assert "Hello!" in live_table.first.inner_text() and "Live update!" not in live_table.first.inner_text()
    run_cell(page, mutation_index)
    page.wait_for_function("() => document.querySelector('.convex-lab-live-table')?.innerText.includes('Live update!')",
                           timeout=30_000)
    # the row the mutation added is the one highlighted, so the change is visible
    changed = page.locator(".convex-lab-live-table tr.convex-lab-changed")
    assert changed.count() == 1 and "Live update!" in changed.first.inner_text()
    assert live_index < mutation_index
