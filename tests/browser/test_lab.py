"""Live widgets in a real JupyterLab (Debian Chromium via Playwright): the quickstart's live table
follows a mutation, 02_reactivity re-renders only the room written, a large table pages."""

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


def open_notebook(page, lab, name):
    base, token, _ = lab
    # A workspace of its own, so JupyterLab does not restore the previous test's open notebook.
    page.goto(f"{base}/lab/workspaces/{name.split('.')[0]}/tree/{name}?token={token}&reset")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext", timeout=90_000)
    page.evaluate("""async (name) => {
        const panel = window.jupyterapp.shell.currentWidget;
        await panel.context.ready; await panel.revealed; await panel.sessionContext.ready;
        if (!panel.context.path.endsWith(name)) throw new Error(`opened ${panel.context.path}, not ${name}`);
    }""", name)
    page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached", timeout=90_000)
    wait_idle(page)


def test_quickstart_live_table_follows_mutations(lab, page):
    open_notebook(page, lab, "01_quickstart.ipynb")
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
    created = changed.first.locator("td").last.get_attribute("title")
    assert created.startswith("20") and created.endswith("Z")  # the creation time as a date, on hover
    assert live_index < mutation_index


def test_reactivity_notebook_rerenders_only_the_room_written(lab, page):
    open_notebook(page, lab, "02_reactivity.ipynb")
    count = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
    for index in range(count):
        run_cell(page, index)
    try:
        page.wait_for_function("() => document.querySelectorAll('.convex-lab-live-header').length >= 2", timeout=60_000)
    except Exception as exc:
        raise AssertionError(f"no live cells; cell outputs: {outputs(page)!r}") from exc
    headers = page.locator(".convex-lab-live-header").all_inner_texts()
    assert "runs: 2" in headers[0] and "runs: 1" in headers[1], headers
    room_a = page.locator(".convex-lab-live").nth(0)
    assert "another message in a" in room_a.locator(".convex-lab-live-table").inner_text()
    assert room_a.locator("tr.convex-lab-changed").count() == 1
    assert page.locator(".convex-lab-live").nth(1).locator(".convex-lab-live-empty").inner_text() == "no results"


def test_a_large_live_table_is_paged_by_the_kernel(lab, page):
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext convex_lab\n"
                                  'app.import_rows("t", [{"n": float(i)} for i in range(120)])'),
        nbformat.v4.new_code_cell('%%live\ndb.query("t").collect()'),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, lab[2] / "paging.ipynb")
    open_notebook(page, lab, "paging.ipynb")
    for index in range(2):
        run_cell(page, index)
    pager = page.locator(".convex-lab-live-pager")
    pager.wait_for(timeout=60_000)
    assert "page 1 of 3 (120 rows)" in pager.inner_text()
    first_column = ".convex-lab-live-table tbody tr td:first-child"
    assert page.locator(first_column).count() == 50  # one page is sent, not the whole result
    pager.locator("button").last.click()  # next page: the kernel sends rows 50-99
    page.wait_for_function(f"() => document.querySelector('{first_column}')?.innerText === '50'", timeout=30_000)
    assert "page 2 of 3" in pager.inner_text()
