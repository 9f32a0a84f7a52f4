"""The teaching notebooks run top to bottom in a real kernel (nbclient), without errors."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert code_cells and all(c.execution_count for c in code_cells)
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_reactivity_notebook_shows_precise_reruns(tmp_path):
    path = next(p for p in NOTEBOOKS if p.name == "02_reactivity.ipynb")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    texts = ["".join(o.get("data", {}).get("text/plain", "")) for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert any("'runs b': 1" in t for t in texts)
    assert any("'live a runs': 2,\n 'live b runs': 1" in t for t in texts)  # the two live cells
    assert any("'runs after old edit': 1" in t and "'runs now': 2" in t for t in texts)


def test_chat_notebook_hears_the_python_process(tmp_path):
    """03_chat_app starts a bot with the PyPI client in another process; it ends on its own, and
    its answer, sent over the sync protocol, is in the chat."""
    path = next(p for p in NOTEBOOKS if p.name == "03_chat_app.ipynb")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    texts = ["".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
             for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert any(t.startswith("bot: my answer is in the chat (2 messages)") for t in texts), texts
    assert any("'Hi, I am a Python process. The last message I read said: Hello from the notebook!'" in t
               for t in texts), texts


def test_notes_notebook_shows_each_platform_service(tmp_path):
    """04_files_crons_auth: refusals for the anonymous caller and for another user, the uploaded
    photo served back by its URL, a scheduled job that succeeds and one cancelled, the cron that
    removes the unused upload, a live greeting that follows its environment variable, and logs
    from every kind of caller."""
    path = next(p for p in NOTEBOOKS if p.name == "04_files_crons_auth.ipynb")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    outputs = [o for c in code_cells for o in c.outputs]
    # what each cell printed, whole (the kernel may send one cell's prints in several messages)
    printed = ["".join(o.get("text", "") for o in c.outputs if o.get("name") == "stdout") for c in code_cells]
    results = ["".join(o.get("data", {}).get("text/plain", "")) for o in outputs if o.output_type != "stream"]
    assert "anonymous: Sign in to use your notes\nbob: No such note\n" in printed, printed
    images = [base64.b64decode(o["data"]["image/png"]) for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1 and images[0].startswith(b"\x89PNG\r\n\x1a\n")
    assert "True" in results  # the bytes the photo's URL served are the uploaded ones
    assert "(200, ['Buy film for the camera', 'Sunset from the roof'])" in results  # Alice's token, over HTTP
    assert any(t.startswith("no token: 200 error Sign in to use your notes\nexpired token: (401, {'code': 'Unauthenticated'")
               for t in printed), printed
    assert "'success'" in results and "'canceled'" in results  # the scheduled deletion, the cancelled one
    assert "['Buy film for the camera', 'Sunset from the roof']\n" in printed  # the reminder deleted itself
    assert "1.0" in results  # the cron removed Bob's unused upload: one file left
    assert "paused: [True]\nresumed: [False]\n" in printed
    assert "(2, 'Good morning, Alice! You have 2 notes.')" in results  # the live greeting re-ran once
    assert "Good morning, Bob! You have 2 notes.\n\n" in printed  # the PyPI client, signed in as Bob
    callers = next(t for t in results if t.startswith("caller\n"))
    assert all(f"\n{caller} " in callers for caller in ("cron", "http", "notebook", "scheduler", "websocket")), callers
