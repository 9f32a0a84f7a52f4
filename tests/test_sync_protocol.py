"""Convex's WebSocket sync protocol: a `SyncConnection` fed client messages as dicts (exact
replies, version chaining, mutations, auth), then the real thing over a socket: the official PyPI
and npm `convex` clients against a tornado server built from `sync_routes(app)` and against
`app.serve()`, and garbage on a socket.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from convex_lab import App, ConvexError, define_schema, define_table, v
from convex_lab.server.sync import SyncConnection, decode_ts, encode_ts
from convex_lab.values import Int64

from .npm_peer import requires_node, run_node

TIMEOUT = 60.0  # generous: only ever reached when something is broken


def chat(app):
    app.set_schema(define_schema({
        "messages": define_table({"room": v.string(), "body": v.string()}).index("by_room", ["room"]),
    }))

    @app.mutation(args={"room": v.string(), "body": v.string()})
    def send(ctx, room, body):
        return ctx.db.insert("messages", {"room": room, "body": body})

    @app.query
    def room(ctx, room):
        return [d["body"] for d in ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room)).collect()]

    @app.query
    def busy(ctx, room):
        return ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room)).first() is not None

    @app.mutation
    def refuse(ctx, room):
        ctx.db.insert("messages", {"room": room, "body": "never"})
        raise ConvexError({"code": 42})

    @app.query
    def room_ids(ctx, room):
        return [d["_id"] for d in ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room)).collect()]

    @app.query
    def whoami(ctx):
        return ctx.auth.get_user_identity()

    @app.internal_query
    def secret(ctx):
        return "s3cret"

    @app.action
    def double(ctx, x):
        return x * 2

    return send


class Client:
    """A `SyncConnection` whose `send` records what it is sent; `take(n)` waits for the next n."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.messages: list[dict] = []
        self.closed_with: tuple | None = None
        self._seen = 0
        self._changed = threading.Condition()
        self.connection = SyncConnection(app, self._send, self._close)

    def _send(self, message: dict) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def _close(self, code, reason) -> None:
        with self._changed:
            self.closed_with = (code, reason)
            self._changed.notify_all()

    def __call__(self, type: str, **fields) -> None:
        self.connection.receive({"type": type, **fields})

    def take(self, n: int = 1) -> list[dict]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.messages) >= self._seen + n, TIMEOUT), self.messages[self._seen:]
            got = self.messages[self._seen:self._seen + n]
            self._seen += n
        return got

    def one(self) -> dict:
        return self.take(1)[0]

    def settle(self) -> list[dict]:
        """Every message still to come once the connection's work and the deliveries are done."""
        assert self.connection._lane.wait_idle(TIMEOUT)
        self.app.flush()
        with self._changed:
            rest = self.messages[self._seen:]
            self._seen = len(self.messages)
        return rest

    def add(self, base: int, *queries: tuple) -> None:
        self("ModifyQuerySet", baseVersion=base, newVersion=base + 1, modifications=[
            {"type": "Add", "queryId": qid, "udfPath": path, "args": [args], "journal": None} for qid, path, args in queries])


def transition_of(message: dict) -> dict:
    """A Transition without the fields that vary from run to run (clock skew, server time)."""
    assert message["type"] == "Transition", message
    return {k: val for k, val in message.items() if k not in ("clientClockSkew", "serverTs")}


def version(query_set: int, identity: int, ts: int) -> dict:
    return {"querySet": query_set, "identity": identity, "ts": encode_ts(ts)}


def said(text: str) -> list[str]:
    """An error message as Convex writes it, without its request id and the function's frames."""
    head, sep, rest = text.partition("] Server Error\n")
    assert head.startswith("[Request ID: ") and sep, text
    return [line for line in rest.splitlines() if not line.startswith("    at ")]


def updated(query_id: int, value) -> dict:
    return {"type": "QueryUpdated", "queryId": query_id, "value": value, "logLines": [], "journal": None}


@pytest.fixture
def app():
    instance = App()
    yield instance
    instance.close()


@pytest.fixture
def admin_key(app):
    return app.admin_key


# ---------------------------------------------------------------------------------------------
# Protocol level


def test_timestamps_are_base64_little_endian_u64():
    assert encode_ts(0) == "AAAAAAAAAAA="
    assert encode_ts(1) == "AQAAAAAAAAA="
    assert decode_ts(encode_ts(1_700_000_000_123_456_789)) == 1_700_000_000_123_456_789
    with pytest.raises(ValueError):
        decode_ts("AAAA")


def test_connect_alone_sends_nothing_then_the_first_transition_holds_every_added_query(app):
    chat(app)
    app.run_mutation("notebook:send", {"room": "a", "body": "hi"})
    client = Client(app)
    client("Connect", sessionId="7d2f6a2e-1111-4c7e-9a52-1d7c0f1b2a33", connectionCount=0,
           lastCloseReason="InitialConnect", clientTs=0)
    assert client.settle() == []
    client.add(0, (0, "notebook:room", {"room": "a"}), (1, "notebook.js:busy", {"room": "b"}))
    assert transition_of(client.one()) == {
        "type": "Transition",
        "startVersion": version(0, 0, 0),
        "endVersion": version(1, 0, app._db.last_ts),
        "modifications": [updated(0, ["hi"]), updated(1, False)],
    }
    assert client.settle() == []


def test_an_empty_query_set_change_is_answered_with_its_version(app):
    chat(app)
    client = Client(app)
    client("ModifyQuerySet", baseVersion=0, newVersion=1, modifications=[])
    assert transition_of(client.one()) == {  # at the newest commit (the schema's)
        "type": "Transition", "startVersion": version(0, 0, 0), "endVersion": version(1, 0, app._db.last_ts),
        "modifications": []}


def test_versions_chain_and_removal_sends_query_removed(app):
    send = chat(app)
    client = Client(app)
    client.add(0, (0, "notebook:room", {"room": "a"}))
    messages = client.take(1)
    client.add(1, (1, "notebook:room", {"room": "b"}))
    messages += client.take(1)
    send(room="a", body="x")
    messages += client.take(1)
    client("ModifyQuerySet", baseVersion=2, newVersion=3, modifications=[{"type": "Remove", "queryId": 0}])
    messages += client.take(1)
    assert client.settle() == []
    for before, after in zip(messages, messages[1:]):
        assert after["startVersion"] == before["endVersion"]  # each starts where the last ended
    assert [m["endVersion"]["querySet"] for m in messages] == [1, 2, 2, 3]
    assert messages[2]["modifications"] == [updated(0, ["x"])]
    assert messages[3]["modifications"] == [{"type": "QueryRemoved", "queryId": 0}]
    assert decode_ts(messages[3]["endVersion"]["ts"]) == app._db.last_ts
    send(room="a", body="y")  # query 0 is gone
    assert client.settle() == []


def test_a_commit_touching_no_query_of_the_client_sends_nothing(app):
    send = chat(app)
    client = Client(app)
    client.add(0, (0, "notebook:room", {"room": "a"}))
    client.one()
    runs = [live.runs for live in app._reactor.live.values()]
    send(room="b", body="elsewhere")
    assert client.settle() == []
    assert [live.runs for live in app._reactor.live.values()] == runs  # not even re-run
    send(room="a", body="here")
    assert transition_of(client.one())["modifications"] == [updated(0, ["here"])]


def test_an_unchanged_result_is_not_sent_again(app):
    send = chat(app)
    client = Client(app)
    client.add(0, (0, "notebook:busy", {"room": "a"}))
    assert client.one()["modifications"] == [updated(0, False)]
    send(room="a", body="first")
    assert client.one()["modifications"] == [updated(0, True)]
    send(room="a", body="second")  # re-runs the query: still True
    assert client.settle() == []


def test_clients_watching_one_query_get_each_change_without_comparing_it_each(app, monkeypatch):
    from convex_lab.server import sync

    send = chat(app)
    clients = [Client(app) for _ in range(3)]
    for client in clients:
        client.add(0, (0, "notebook:room", {"room": "a"}))
        assert client.one()["modifications"] == [updated(0, [])]
    compared = []
    real_same = sync._same
    monkeypatch.setattr(sync, "_same", lambda a, b: compared.append(1) or real_same(a, b))
    send(room="a", body="one")
    send(room="a", body="two")
    for client in clients:
        values = [m["modifications"] for m in client.take(1)]
        values += [m["modifications"] for m in client.settle()]
        assert values[-1] == [updated(0, ["one", "two"])]
    assert compared == []  # each client held the session's previous value: known to differ


def test_a_mutation_is_answered_then_a_transition_reaches_its_timestamp(app):
    chat(app)
    client = Client(app)
    client("Connect", sessionId="s-1", connectionCount=0)
    client.add(0, (0, "notebook:room", {"room": "a"}))
    first = client.one()
    client("Mutation", requestId=0, udfPath="notebook:send", args=[{"room": "a", "body": "hi"}])
    response, transition = client.take(2)
    assert response["type"] == "MutationResponse"
    ts = decode_ts(response["ts"])
    assert ts == app._db.last_ts
    new_id = app.run_query("room_ids", {"room": "a"})[0]
    assert response == {"type": "MutationResponse", "requestId": 0, "success": True, "result": new_id,
                        "ts": encode_ts(ts), "logLines": []}
    assert transition_of(transition) == {
        "type": "Transition", "startVersion": first["endVersion"], "endVersion": version(1, 0, ts),
        "modifications": [updated(0, ["hi"])],  # the write is in the results that come with it
    }
    assert client.settle() == []


def test_a_mutation_touching_none_of_the_clients_queries_still_gets_its_transition(app):
    chat(app)
    client = Client(app)
    client.add(0, (0, "notebook:room", {"room": "a"}))
    first = client.one()
    client("Mutation", requestId=1, udfPath="notebook:send", args=[{"room": "b", "body": "x"}])
    response, transition = client.take(2)
    assert transition_of(transition) == {"type": "Transition", "startVersion": first["endVersion"],
                                         "endVersion": version(1, 0, decode_ts(response["ts"])), "modifications": []}


def test_a_failed_mutation_is_answered_with_its_error_then_a_transition(app):
    chat(app)
    client = Client(app)
    client.add(0, (0, "notebook:room", {"room": "a"}))
    first = client.one()
    client("Mutation", requestId=3, udfPath="notebook:refuse", args=[{"room": "a"}])
    response, transition = client.take(2)
    assert response["success"] is False and response["ts"] is None and response["requestId"] == 3
    assert response["errorData"] == {"code": 42.0}
    assert said(response["result"]) == ['Uncaught ConvexError: {"code":42}']
    assert "    at refuse (" in response["result"]  # where it was raised
    assert transition_of(transition) == {"type": "Transition", "startVersion": first["endVersion"],
                                         "endVersion": first["endVersion"], "modifications": []}
    assert app.run_query("notebook:room", {"room": "a"}) == []  # nothing of it was written
    client("Mutation", requestId=4, udfPath="notebook:room", args=[{"room": "a"}])
    wrong, _ = client.take(2)
    assert said(wrong["result"]) == ["Trying to execute notebook.js:room as Mutation, but it is defined as Query."]
    client("Mutation", requestId=5, udfPath="notebook:send", args=[{"room": 1}])
    invalid, _ = client.take(2)
    (line, *_) = said(invalid["result"])
    assert line.startswith("ArgumentValidationError: ") and "[CONVEX" not in invalid["result"]


def test_a_replayed_mutation_is_not_run_twice(app):
    send = chat(app)
    first = Client(app)
    first("Connect", sessionId="s-replay", connectionCount=0)
    first("Mutation", requestId=7, udfPath="notebook:send", args=[{"room": "a", "body": "once"}])
    response, _ = first.take(2)
    first.connection.close()  # the socket dropped; the client reconnects with the same session
    again = Client(app)
    again("Connect", sessionId="s-replay", connectionCount=1, lastCloseReason="Reconnect")
    again("Mutation", requestId=7, udfPath="notebook:send", args=[{"room": "a", "body": "once"}])
    replayed, transition = again.take(2)
    assert replayed == response
    assert decode_ts(transition["endVersion"]["ts"]) >= decode_ts(response["ts"])
    assert app.run_query("notebook:room", {"room": "a"}) == ["once"]
    other = Client(app)  # another session's request 7 is its own
    other("Connect", sessionId="s-other", connectionCount=0)
    other("Mutation", requestId=7, udfPath="notebook:send", args=[{"room": "a", "body": "once"}])
    assert other.take(2)[0]["result"] != response["result"]
    assert app.run_query("notebook:room", {"room": "a"}) == ["once", "once"]


def test_a_failing_query_is_query_failed_with_convex_error_data(app):
    send = chat(app)

    @app.query
    def fragile(ctx, room):
        found = [d["body"] for d in ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room)).collect()]
        if "boom" in found:
            raise ValueError("boom")
        if "data" in found:
            raise ConvexError({"bad": Int64(1)})
        return found

    client = Client(app)
    client.add(0, (0, "notebook:fragile", {"room": "a"}))
    client.one()
    send(room="a", body="boom")
    ((failed,),) = [m["modifications"] for m in client.take(1)]
    assert failed["type"] == "QueryFailed" and failed["queryId"] == 0
    assert said(failed["errorMessage"]) == ["Uncaught ValueError: boom"]
    assert failed["logLines"] == [] and failed["journal"] is None and "errorData" not in failed
    client.add(1, (1, "notebook:fragile", {"room": "b"}), (2, "nope:missing", {}), (3, "room", {}))
    (added,) = [m["modifications"] for m in client.take(1)]
    send(room="b", body="data")
    (changed,) = [m["modifications"] for m in client.take(1)]
    assert added[0] == updated(1, [])
    assert [m["type"] for m in added[1:]] == ["QueryFailed", "QueryFailed"]
    assert said(added[1]["errorMessage"]) == ["Could not find public function for 'nope:missing'."]
    # a path names a function exactly, as in Convex: "room" is the default export of module `room`
    assert said(added[2]["errorMessage"]) == ["Could not find public function for 'room:default'."]
    assert changed[0]["errorData"] == {"bad": {"$integer": "AQAAAAAAAAA="}}


def test_internal_functions_need_the_admin_key(app, admin_key):
    chat(app)
    client = Client(app)
    client.add(0, (0, "notebook:secret", {}))
    (refused,) = client.one()["modifications"]
    assert said(refused["errorMessage"]) == ["Could not find public function for 'notebook:secret'."]
    client("Authenticate", tokenType="Admin", value=admin_key, baseVersion=0)
    assert transition_of(client.one()) == {
        "type": "Transition", "startVersion": version(1, 0, app._db.last_ts), "endVersion": version(1, 1, app._db.last_ts),
        "modifications": [updated(0, "s3cret")],  # its queries re-run as the admin
    }
    client("Mutation", requestId=0, udfPath="notebook:secret", args=[{}])
    assert "as Mutation, but it is defined as Query" in client.take(2)[0]["result"]  # found (admin), but a query


def test_an_identity_change_reruns_the_queries_as_the_new_identity(app, admin_key):
    chat(app)
    client = Client(app)
    client.add(0, (0, "notebook:whoami", {}), (1, "notebook:room", {"room": "a"}))
    client.one()
    client("Authenticate", tokenType="Admin", value=admin_key, baseVersion=0,
           impersonating={"issuer": "https://issuer.example.com", "subject": "u1"})
    transition = transition_of(client.one())
    assert transition["endVersion"]["identity"] == 1
    assert transition["modifications"] == [updated(0, {"issuer": "https://issuer.example.com", "subject": "u1",
                                                       "tokenIdentifier": "https://issuer.example.com|u1"})]
    client("Authenticate", tokenType="None", baseVersion=1)
    transition = transition_of(client.one())
    assert transition["endVersion"]["identity"] == 2 and transition["modifications"] == [updated(0, None)]


def test_a_token_no_provider_accepts_is_an_auth_error_and_the_connection_ends(app, admin_key):
    chat(app)
    payload = base64.urlsafe_b64encode(b'{"iss":"https://issuer.example.com","sub":"u1"}').decode().rstrip("=")
    client = Client(app)
    client("Authenticate", tokenType="User", value=f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln", baseVersion=0)
    refused = client.one()
    assert refused == {"type": "AuthError", "error": refused["error"], "baseVersion": 0, "authUpdateAttempted": True}
    assert refused["error"].startswith("No auth provider found matching the given token")
    assert client.closed_with == (None, None) and client.connection.closed
    not_a_jwt = Client(app)
    not_a_jwt("Authenticate", tokenType="User", value="not-a-jwt", baseVersion=0)
    assert not_a_jwt.one()["error"].startswith("Could not parse JWT payload.")
    bad_key = Client(app)
    bad_key("Authenticate", tokenType="Admin", value=admin_key + "x", baseVersion=0)
    assert bad_key.one()["error"] == "The provided admin key was invalid for this instance"


def test_out_of_step_and_malformed_messages_are_fatal(app):
    chat(app)
    cases = [
        ({"type": "ModifyQuerySet", "baseVersion": 1, "newVersion": 2, "modifications": []},
         "Base version 1 passed up doesn't match the current version 0"),
        ({"type": "Authenticate", "tokenType": "None", "baseVersion": 3}, "Identity base version 3"),
        ({"type": "Nonsense"}, "Unsupported client message type 'Nonsense'"),
        ({"type": "Mutation", "requestId": -1, "udfPath": "send", "args": [{}]}, "`requestId` must be an integer"),
        ({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
          "modifications": [{"type": "Remove", "queryId": 4}]}, "Nonexistent query id: 4"),
        (["not", "an", "object"], "expected a JSON object"),
    ]
    for message, text in cases:
        client = Client(app)
        client.connection.receive(message)
        fatal = client.one()
        assert fatal["type"] == "FatalError" and text in fatal["error"], (message, fatal)
        assert client.closed_with == (None, None)
        client("Mutation", requestId=0, udfPath="notebook:send", args=[{"room": "a", "body": "x"}])  # ignored from now on
        assert client.settle() == []
    duplicate = Client(app)
    duplicate.add(0, (0, "notebook:room", {"room": "a"}), (0, "notebook:room", {"room": "b"}))
    assert duplicate.one() == {"type": "FatalError", "error": "Duplicate query ID: 0"}


def test_actions_answer_with_their_result_or_error(app):
    chat(app)

    @app.action
    def fails(ctx):
        print("about to fail")
        raise ConvexError("nope")

    client = Client(app)
    client("Action", requestId=0, udfPath="notebook:double", args=[{"x": 21}])
    assert client.one() == {"type": "ActionResponse", "requestId": 0, "success": True, "result": 42.0, "logLines": []}
    client("Action", requestId=1, udfPath="notebook:fails", args=[{}])
    response = client.one()
    assert response["success"] is False and response["errorData"] == "nope"
    assert said(response["result"]) == ["Uncaught ConvexError: nope"] and response["logLines"] == ["[LOG] about to fail"]
    assert client.settle() == []  # actions need no Transition


def test_ping_and_events(app):
    client = Client(app)
    client("Event", eventType="ClientConnect", event={"marks": []})
    client.connection.ping()
    assert client.one() == {"type": "Ping"}
    assert client.settle() == []


def test_the_app_closing_ends_the_connection_as_going_away(app):
    chat(app)
    client = Client(app)
    client.add(0, (0, "notebook:room", {"room": "a"}))
    client.one()
    app.close()
    assert client.closed_with == (1001, "The app was closed")
    assert client.connection.closed


def test_timestamps_keep_increasing_across_reopening_a_database_file(tmp_path):
    path = tmp_path / "lab.duckdb"
    first = App(path)
    send = chat(first)
    send(room="a", body="before")
    client = Client(first)
    client.add(0, (0, "notebook:room", {"room": "a"}))
    before = decode_ts(client.one()["endVersion"]["ts"])
    first.close()
    again = App(path)
    try:
        chat(again)  # the same functions, registered again; the data and clock are the file's
        client = Client(again)
        client.add(0, (0, "notebook:room", {"room": "a"}))
        transition = client.one()
        assert transition["modifications"] == [updated(0, ["before"])]
        assert decode_ts(transition["endVersion"]["ts"]) >= before > 0
        client("Mutation", requestId=0, udfPath="notebook:send", args=[{"room": "a", "body": "after"}])
        response, _ = client.take(2)
        assert decode_ts(response["ts"]) > before
    finally:
        again.close()


# ---------------------------------------------------------------------------------------------
# Journals (a paginated query's page keeps its end) and log lines


def catalog(app):
    """Items by `n`, a paginated query of them, and a query that logs."""
    app.set_schema(define_schema({"items": define_table({"n": v.number()}).index("by_n", ["n"])}))

    @app.mutation
    def put(ctx, n):
        return ctx.db.insert("items", {"n": n})

    @app.query
    def page(ctx, cursor=None):
        result = ctx.db.query("items").with_index("by_n").paginate({"numItems": 2, "cursor": cursor})
        return {"ns": [d["n"] for d in result["page"]], "continueCursor": result["continueCursor"]}

    @app.query
    def counted(ctx, below):
        ns = [d["n"] for d in ctx.db.query("items").collect()]
        print(f"{len(ns)} items")
        return [n for n in ns if n < below]

    return put


def add_with_journal(client: Client, base: int, query_id: int, path: str, args: dict, journal) -> None:
    client("ModifyQuerySet", baseVersion=base, newVersion=base + 1, modifications=[
        {"type": "Add", "queryId": query_id, "udfPath": path, "args": [args], "journal": journal}])


def test_a_paginated_query_keeps_its_page_end_across_reruns_and_reconnects(app):
    put = catalog(app)
    for n in (1.0, 2.0, 3.0, 4.0):
        put(n=n)
    client = Client(app)
    client.add(0, (0, "notebook:page", {}))
    (first,) = client.one()["modifications"]
    journal = first["journal"]
    assert first["value"]["ns"] == [1.0, 2.0] and isinstance(journal, str)
    put(n=1.5)  # inside the page: the page grows, its end stays (no gap before the next page)
    (grown,) = client.one()["modifications"]
    assert grown["value"] == {"ns": [1.0, 1.5, 2.0], "continueCursor": first["value"]["continueCursor"]}
    assert grown["journal"] == journal
    put(n=3.5)  # after the page's end: nothing to tell
    assert client.settle() == []
    # A client reconnecting sends the journal back: the same page boundary, the same journal.
    again = Client(app)
    add_with_journal(again, 0, 0, "notebook:page", {}, journal)
    (resumed,) = again.one()["modifications"]
    assert resumed == grown
    # A new subscription (no journal) gets a first page of its own, of `numItems` items.
    fresh = Client(app)
    add_with_journal(fresh, 0, 0, "notebook:page", {}, None)
    (own,) = fresh.one()["modifications"]
    assert own["value"]["ns"] == [1.0, 1.5] and own["journal"] != journal
    put(n=0.5)
    assert client.one()["modifications"][0]["value"]["ns"] == [0.5, 1.0, 1.5, 2.0]
    assert fresh.one()["modifications"][0]["value"]["ns"] == [0.5, 1.0, 1.5]


def test_a_journal_survives_an_identity_change(app, admin_key):
    put = catalog(app)
    for n in (1.0, 2.0, 3.0):
        put(n=n)
    client = Client(app)
    client.add(0, (0, "notebook:page", {}))
    journal = client.one()["modifications"][0]["journal"]
    put(n=1.5)
    assert client.one()["modifications"][0]["value"]["ns"] == [1.0, 1.5, 2.0]
    client("Authenticate", tokenType="Admin", value=admin_key, baseVersion=0)
    transition = client.one()  # re-run as the admin, from the journal: the same page, not sent again
    assert transition["endVersion"]["identity"] == 1 and transition["modifications"] == []
    put(n=1.7)
    (update,) = client.one()["modifications"]
    assert update["value"]["ns"] == [1.0, 1.5, 1.7, 2.0] and update["journal"] == journal


def test_queries_that_do_not_paginate_have_no_journal_and_a_bad_journal_fails_the_query(app):
    catalog(app)
    client = Client(app)
    client("ModifyQuerySet", baseVersion=0, newVersion=1, modifications=[
        {"type": "Add", "queryId": 0, "udfPath": "notebook:page", "args": [{}], "journal": "not a journal"},
        {"type": "Add", "queryId": 1, "udfPath": "notebook:counted", "args": [{"below": 10.0}], "journal": None}])
    client.take(1)
    changes = [change for message in client.messages for change in message["modifications"]]
    failed, plain = sorted(changes, key=lambda change: change["queryId"])
    assert failed["type"] == "QueryFailed" and failed["journal"] is None
    assert "Invalid query journal 'not a journal'" in failed["errorMessage"]
    assert plain["type"] == "QueryUpdated" and plain["journal"] is None


def test_log_lines_of_a_query_come_with_each_result_and_are_replaced_by_a_reruns(app):
    put = catalog(app)
    put(n=1.0)
    client = Client(app)
    client.add(0, (0, "notebook:counted", {"below": 5.0}))
    assert client.one()["modifications"] == [
        {"type": "QueryUpdated", "queryId": 0, "value": [1.0], "logLines": ["[LOG] 1 items"], "journal": None}]
    put(n=2.0)
    (update,) = client.one()["modifications"]
    assert update["value"] == [1.0, 2.0] and update["logLines"] == ["[LOG] 2 items"]
    put(n=9.0)  # the same value, other log lines: a result is its value and its log lines
    (update,) = client.one()["modifications"]
    assert update["value"] == [1.0, 2.0] and update["logLines"] == ["[LOG] 3 items"]


def test_a_failing_query_sends_the_lines_it_logged(app):
    app.set_schema(define_schema({"items": define_table({"n": v.number()})}))

    @app.query
    def fussy(ctx):
        print("looking")
        raise ValueError("nothing here")

    client = Client(app)
    client.add(0, (0, "notebook:fussy", {}))
    (failed,) = client.one()["modifications"]
    assert failed["type"] == "QueryFailed" and failed["logLines"] == ["[LOG] looking"]
    assert said(failed["errorMessage"])[0] == "Uncaught ValueError: nothing here"


# ---------------------------------------------------------------------------------------------
# Over a socket: a tornado Application of `sync_routes(app)` on a thread, and `app.serve()`; the
# official PyPI client in a child process (it holds the GIL while it waits for the server, so it
# cannot share a process with one).


class Server:
    """A tornado Application of `sync_routes(app)` on its own thread and loop, at 127.0.0.1."""

    def __init__(self, app: App) -> None:
        import tornado.httpserver
        import tornado.netutil
        import tornado.web

        from convex_lab.server.websocket import sync_routes

        started = threading.Event()

        def serve() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.http = tornado.httpserver.HTTPServer(tornado.web.Application(sync_routes(app)))
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
            self.http.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]
            started.set()
            self.loop.run_forever()
            self.loop.close()

        self.thread = threading.Thread(target=serve, name="test-sync-server", daemon=True)
        self.thread.start()
        assert started.wait(TIMEOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        async def shutdown() -> None:
            self.http.stop()
            await self.http.close_all_connections()
            self.loop.stop()

        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(shutdown()))
        self.thread.join(TIMEOUT)


class Served:
    """The App's own server (`app.serve()`), which includes the sync routes."""

    def __init__(self, app: App) -> None:
        self.url = app.serve()
        self.port = int(self.url.rsplit(":", 1)[1])
        self.stop = app.stop_serving


@pytest.fixture(params=["sync_routes", "App.serve"])
def server(request, app, admin_key):
    chat(app)
    instance = Server(app) if request.param == "sync_routes" else Served(app)
    yield instance
    instance.stop()


def run_client(url: str, body: str) -> list:
    """Run `body` with the official client (`client = ConvexClient(url)`) in a child process;
    each `out(value)` it calls is one item of the list returned."""
    script = "import json, sys\nimport convex\nfrom convex import ConvexClient, ConvexError\n" \
             "def out(value): print(json.dumps(value), flush=True)\n" \
             f"url = {url!r}\nclient = ConvexClient(url)\n" + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_official_client_queries_mutates_and_runs_actions(server):
    out = run_client(server.url, """
        out(client.query("notebook:room", {"room": "a"}))
        out(isinstance(client.mutation("notebook:send", {"room": "a", "body": "hi"}), str))
        out(client.query("notebook:room", {"room": "a"}))
        out(client.action("notebook:double", {"x": 21}))
        try:
            client.mutation("notebook:refuse", {"room": "a"})
        except ConvexError as error:
            out(["ConvexError", error.data, str(error).splitlines()[1]])
        try:
            client.query("notebook:secret")
        except Exception as error:
            out(str(error).splitlines()[1])
    """)
    assert out == [
        [], True, ["hi"], 42.0,
        ["ConvexError", {"code": 42.0}, 'Uncaught ConvexError: {"code":42}'],
        "Could not find public function for 'notebook:secret'.",
    ]


def test_the_official_client_as_the_admin_may_call_internal_functions(server, admin_key):
    out = run_client(server.url, f"""
        client.set_admin_auth({admin_key!r})
        out(client.query("notebook:secret"))
    """)
    assert out == ["s3cret"]


def test_a_subscriber_gets_the_writes_of_another_client_to_its_room_only(server, app):
    out = run_client(server.url, """
        updates = iter(client.subscribe("notebook:room", {"room": "a"}))
        out(next(updates))
        other = ConvexClient(url)
        other.mutation("notebook:send", {"room": "b", "body": "elsewhere"})
        other.mutation("notebook:send", {"room": "a", "body": "hello"})
        out(next(updates))
        other.mutation("notebook:send", {"room": "a", "body": "again"})
        out(next(updates))
    """)
    assert out == [[], ["hello"], ["hello", "again"]]  # room b's write delivered nothing
    assert app.run_query("notebook:room", {"room": "b"}) == ["elsewhere"]


# ---------------------------------------------------------------------------------------------
# Garbage on a socket


def test_garbage_on_a_socket_closes_only_that_socket(server):
    from tornado.websocket import websocket_connect

    async def scenario() -> dict:
        good = await websocket_connect(f"ws://127.0.0.1:{server.port}/api/1.48.0/sync")
        await good.write_message(json.dumps({"type": "Connect", "sessionId": "good", "connectionCount": 0}))
        results = {}
        for name, frame, binary in [("not json", "{nope", False), ("unknown type", '{"type": "Hello"}', False),
                                    ("binary", b"\x00\x01", True)]:
            bad = await websocket_connect(f"ws://127.0.0.1:{server.port}/api/sync")
            await bad.write_message(frame, binary=binary)
            results[name] = (json.loads(await bad.read_message()), await bad.read_message())
        await good.write_message(json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
            {"type": "Add", "queryId": 0, "udfPath": "notebook:room", "args": [{"room": "a"}]}]}))
        results["good"] = json.loads(await good.read_message())
        good.close()
        return results

    results = asyncio.run(scenario())
    for name in ("not json", "unknown type", "binary"):
        fatal, after = results[name]
        assert fatal["type"] == "FatalError", name
        assert after is None, name  # then closed
    assert "not JSON" in results["not json"][0]["error"]
    assert "Unsupported client message type 'Hello'" in results["unknown type"][0]["error"]
    assert results["good"]["type"] == "Transition"
    assert results["good"]["modifications"] == [updated(0, [])]


def test_a_quiet_socket_gets_a_ping(server, monkeypatch):
    from tornado.websocket import websocket_connect

    from convex_lab.server import websocket

    monkeypatch.setattr(websocket, "PING_AFTER", 0.0)  # quiet for no time at all: ping at the first look
    monkeypatch.setattr(websocket, "CHECK_EVERY_MS", 10)

    async def scenario() -> dict:
        socket = await websocket_connect(f"ws://127.0.0.1:{server.port}/api/sync")
        message = json.loads(await socket.read_message())
        socket.close()
        return message

    assert asyncio.run(scenario()) == {"type": "Ping"}


def test_stopping_the_server_closes_its_sync_sockets(app):
    from tornado.websocket import websocket_connect

    chat(app)
    url = app.serve()

    async def scenario() -> tuple:
        socket = await websocket_connect(url.replace("http", "ws") + "/api/sync")
        await socket.write_message(json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
            {"type": "Add", "queryId": 0, "udfPath": "notebook:room", "args": [{"room": "a"}]}]}))
        first = json.loads(await socket.read_message())
        await asyncio.get_running_loop().run_in_executor(None, app.stop_serving)
        return first, await socket.read_message(), socket.close_code

    first, after, code = asyncio.run(scenario())
    assert first["type"] == "Transition"
    assert after is None and code == 1001  # going away: the client reconnects later
    assert app._reactor.sessions() == []  # its session is gone with it


@requires_node
def test_the_npm_client_gets_live_updates(server):
    done = run_node("sync_client.mjs", server.url)
    out = json.loads(done.stdout)
    assert out["seen"] == [[], ["hello"]]  # the write to room b sent the watcher nothing
    assert isinstance(out["sent"], str) and out["query"] == ["elsewhere"] and out["action"] == 42
    assert out["refused"] == {"name": "ConvexError", "data": {"code": 42}}
