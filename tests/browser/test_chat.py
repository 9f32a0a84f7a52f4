"""03_chat_app in a real JupyterLab, with its chat page open in a second tab (Debian Chromium via
Playwright): a message typed in the page shows in the notebook's live cell, one sent from a
notebook cell shows in the page without a reload, and so does the PyPI client's bot."""

from __future__ import annotations

import re

import pytest

from .test_lab import code_cell_indexes, open_notebook, outputs, run_cell

pytestmark = pytest.mark.slow

LIVE_TABLE = "() => document.querySelector('.convex-lab-live-table')?.innerText ?? ''"
CHAT = "() => document.getElementById('messages')?.innerText ?? ''"


def wait_for_text(page, getter, text, what, timeout=60_000):
    try:
        page.wait_for_function(f"(text) => ({getter})().includes(text)", arg=text, timeout=timeout)
    except Exception as exc:
        raise AssertionError(f"{text!r} never showed in {what}; it shows: {page.evaluate(getter)!r}") from exc


def test_chat_page_and_notebook_see_each_others_messages(lab, page):
    open_notebook(page, lab, "03_chat_app.ipynb")
    count = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
    send_index = code_cell_indexes(page, 'send(author="notebook"')[0]
    for index in range(send_index):  # up to the live cell; the notebook has sent nothing yet
        run_cell(page, index)
    found = re.search(r"http://127\.0\.0\.1:\d+/http/chat", " ".join(text for _, text in outputs(page)))
    assert found, f"no chat page link in the outputs: {outputs(page)!r}"
    page.locator(".convex-lab-live").first.wait_for(timeout=60_000)

    chat = page.context.new_page()
    problems: list[str] = []
    chat.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    # (the browser asks for /favicon.ico on its own; the App has none, and that 404 is no problem)
    chat.on("console", lambda msg: problems.append(f"console: {msg.text} ({msg.location.get('url')})")
            if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico") else None)
    chat.goto(found.group(0))
    chat.evaluate("() => { window.loadedOnce = true; }")  # gone if the page reloads

    # The page → the notebook's live cell
    chat.fill("#body", "typed in the page")
    chat.press("#body", "Enter")
    wait_for_text(page, LIVE_TABLE, "typed in the page", "the notebook's live cell")
    wait_for_text(chat, CHAT, "typed in the page", "the chat page")
    assert chat.input_value("#body") == ""  # the form cleared once the mutation returned

    # A notebook cell → the page, over its WebSocket
    run_cell(page, send_index)
    wait_for_text(chat, CHAT, "Hello from the notebook!", "the chat page")
    wait_for_text(page, LIVE_TABLE, "Hello from the notebook!", "the notebook's live cell")

    # The PyPI client, in its own process → both
    for index in range(send_index + 1, count):
        run_cell(page, index)
    bot = "Hi, I am a Python process. The last message I read said: Hello from the notebook!"
    wait_for_text(page, LIVE_TABLE, bot, "the notebook's live cell")
    wait_for_text(chat, CHAT, bot, "the chat page")
    assert any("bot: my answer is in the chat" in text for _, text in outputs(page)), outputs(page)

    assert chat.evaluate("() => window.loadedOnce === true")  # every message came without a reload
    assert chat.locator("#messages li").all_inner_texts() == [
        "webtyped in the page", "notebookHello from the notebook!", f"bot{bot}"]
    assert not problems, problems
