"""The example app of notebooks/04_files_crons_auth.ipynb keeps each user's notes private.

The notebook runs top to bottom in a real kernel (nbclient), which stays alive: its App goes on
serving, and the tests call the URL it printed over HTTP, as a client would: anonymously, with
Alice's and Bob's dev tokens (signed in that kernel), and with tokens that must not verify.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import jwt
import nbformat
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from nbclient import NotebookClient

from convex_lab import App

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "04_files_crons_auth.ipynb"
ALICE_NOTES = {"Buy film for the camera", "Sunset from the roof"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The notebook's server URL and tokens made in its kernel, while the kernel runs."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    path = tmp_path_factory.mktemp("nb04")
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path)}})
    with client.setup_kernel():
        client.reset_execution_trackers()
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
        url = re.search(r"Serving at (http://127\.0\.0\.1:\d+)", printed).group(1)
        extra = nbformat.v4.new_code_cell(
            'print(json.dumps({"alice": app.auth.dev_token("alice", name="Alice"),'
            ' "bob": app.auth.dev_token("bob", name="Bob"),'
            ' "expired": app.auth.dev_token("alice", expires_in=-60)}))')
        notebook.cells.append(extra)
        client.execute_cell(extra, len(notebook.cells) - 1)
        tokens = json.loads("".join(o.get("text", "") for o in extra.outputs if o.get("name") == "stdout"))
        yield url, tokens


def call(url, kind, path, args=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{url}/api/{kind}", method="POST", headers=headers,
                                     data=json.dumps({"path": path, "args": args or {}}).encode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def value(answer):
    status, body = answer
    assert status == 200 and body["status"] == "success", answer
    return body["value"]


def refusal(answer):
    """The ConvexError data of a function that ran and refused."""
    status, body = answer
    assert status == 200 and body["status"] == "error", answer
    return body.get("errorData")


def alice_note_ids(url, tokens):
    return {note["body"]: note["_id"] for note in value(call(url, "query", "notebook:my_notes", token=tokens["alice"]))}


def test_an_anonymous_caller_reads_and_writes_nothing(served):
    url, tokens = served
    note_id = alice_note_ids(url, tokens)["Buy film for the camera"]
    assert refusal(call(url, "query", "notebook:my_notes")) == "Sign in to use your notes"
    assert refusal(call(url, "query", "notebook:get_note", {"note_id": note_id})) == "Sign in to use your notes"
    assert refusal(call(url, "query", "notebook:greeting")) == "Sign in to use your notes"
    assert refusal(call(url, "mutation", "notebook:add_note", {"body": "anonymous"})) == "Sign in to use your notes"
    assert refusal(call(url, "mutation", "notebook:generate_upload_url")) == "Sign in to use your notes"
    assert refusal(call(url, "mutation", "notebook:delete_later", {"note_id": note_id, "seconds": 0})) \
        == "Sign in to use your notes"
    # the deletion itself is an internal function: not part of the public API
    status, body = call(url, "mutation", "notebook:delete_note", {"note_id": note_id})
    assert status == 200 and "Could not find public function for 'notebook:delete_note'" in body["errorMessage"]
    assert set(alice_note_ids(url, tokens)) == ALICE_NOTES


def test_a_user_reads_only_their_own_notes(served):
    url, tokens = served
    assert set(alice_note_ids(url, tokens)) == ALICE_NOTES
    bobs = value(call(url, "query", "notebook:my_notes", token=tokens["bob"]))
    assert {note["body"] for note in bobs} == {"Bob's secret recipe", "Written from a Python process"}
    for note_id in alice_note_ids(url, tokens).values():
        note = value(call(url, "query", "notebook:get_note", {"note_id": note_id}, token=tokens["alice"]))
        assert note["owner"] == "https://dev.convex-lab.invalid|alice"


def test_another_user_cannot_read_or_delete_a_note_by_its_id(served):
    url, tokens = served
    for note_id in alice_note_ids(url, tokens).values():
        assert refusal(call(url, "query", "notebook:get_note", {"note_id": note_id}, token=tokens["bob"])) == "No such note"
        assert refusal(call(url, "mutation", "notebook:delete_later", {"note_id": note_id, "seconds": 0},
                            token=tokens["bob"])) == "No such note"
    assert set(alice_note_ids(url, tokens)) == ALICE_NOTES  # nothing was scheduled for deletion


def forged_tokens(alice_token):
    """Tokens claiming to be Alice (or Bob) that the notebook's App never signed."""
    header, payload, signature = alice_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    as_bob = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "bob"}).encode()).rstrip(b"=").decode()
    other_app = App()  # another App's dev provider: same issuer and audience, another key
    try:
        from_other_app = other_app.auth.dev_token("alice")
    finally:
        other_app.close()
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(alice_token).get("kid")
    self_signed = jwt.encode(claims, own_key, algorithm="RS256", headers={"kid": kid} if kid else None)
    unsigned = jwt.encode(claims, None, algorithm="none")
    return {"edited claims": f"{header}.{as_bob}.{signature}", "another App's key": from_other_app,
            "a key of its own": self_signed, "alg none": unsigned, "not a JWT": "alice"}


def test_forged_and_expired_tokens_are_refused(served):
    url, tokens = served
    note_id = alice_note_ids(url, tokens)["Buy film for the camera"]
    for name, token in {**forged_tokens(tokens["alice"]), "expired": tokens["expired"]}.items():
        for kind, path, args in [("query", "notebook:my_notes", {}), ("query", "notebook:get_note", {"note_id": note_id}),
                                 ("mutation", "notebook:add_note", {"body": "forged"})]:
            status, body = call(url, kind, path, args, token=token)
            assert status == 401 and body["code"] in ("Unauthenticated", "InvalidAuthHeader"), (name, path, body)
    assert set(alice_note_ids(url, tokens)) == ALICE_NOTES
