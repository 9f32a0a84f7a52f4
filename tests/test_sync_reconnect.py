"""Clients that come back: a mutation re-sent after a reconnect (same session id and request id)
gets its first result and never runs twice, also after the App was closed and reopened, because
its result is recorded in the mutation's own commit (engine/records.py, runtime/replays.py); and
the official npm client reconnecting by itself after the server stopped and started again.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading

import pytest

from convex_lab import App, define_schema, define_table, v
from convex_lab.errors import DurabilityError
from convex_lab.engine.records import Records
from convex_lab.runtime import replays
from convex_lab.server.sync import decode_ts

from .npm_peer import JS, node_command, requires_node
from .test_sync_protocol import TIMEOUT, Client, said


def functions(app: App, runs: list) -> None:
    """A chat room whose `send` counts its runs in `runs` (shared by every App it is given to)."""
    app.set_schema(define_schema({
        "messages": define_table({"room": v.string(), "body": v.string()}).index("by_room", ["room"]),
    }))

    @app.mutation
    def send(ctx, room, body):
        runs.append(body)
        print(f"sending {body}")
        return ctx.db.insert("messages", {"room": room, "body": body})

    @app.mutation
    def shout(ctx, room, body):
        runs.append(body)
        ctx.db.insert("messages", {"room": room, "body": body})
        raise ValueError("too loud")

    @app.mutation
    def ping(ctx):  # writes nothing: its result is recorded all the same
        runs.append("ping")
        return "pong"

    @app.query
    def room(ctx, room):
        return [d["body"] for d in ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room)).collect()]


def connect(app: App, session: str, count: int = 0) -> Client:
    client = Client(app)
    client("Connect", sessionId=session, connectionCount=count)
    return client


def mutate(client: Client, request_id: int, path: str, **args) -> tuple[dict, dict | None]:
    """Send a Mutation; its response, and the Transition after it (None after a failure, which
    needs none but gets one all the same)."""
    client("Mutation", requestId=request_id, udfPath=path, args=[args])
    response, transition = client.take(2)
    assert response["type"] == "MutationResponse" and transition["type"] == "Transition"
    return response, transition


# -- the records, in the engine ---------------------------------------------------------------


def test_records_keep_the_newest_of_each_kind_in_commit_order():
    records = Records(limit=3)
    for ts, key in enumerate("abcd", start=1):
        puts = [("k", key, key.upper())]
        dropped = records.evictions([(kind, key) for kind, key, _ in puts])
        assert dropped == ([("k", "a")] if key == "d" else [])
        records.apply(ts, puts, dropped)
    records.apply(5, [("other", "a", "x")], [])  # kinds are counted apart
    assert [row[:3] for row in records.rows()] == [("k", "b", 2), ("k", "c", 3), ("k", "d", 4), ("other", "a", 5)]
    assert records.get("k", "d").body == "D" and records.get("k", "a") is None
    # A group storing more than the limit keeps its newest.
    assert records.evictions([("k", "x"), ("k", "y"), ("k", "z"), ("k", "w")]) == [
        ("k", "b"), ("k", "c"), ("k", "d"), ("k", "x")]
    records._check()


def test_a_record_is_stored_in_the_mutations_commit_and_undone_with_it(tmp_path):
    path = tmp_path / "lab.duckdb"
    runs: list = []
    with App(path) as app:
        functions(app, runs)
        execution = app._runtime.execute("notebook:send", {"room": "a", "body": "hi"}, replay_key="k1")
        assert execution.error is None and execution.ts == app._db.last_ts
        first = app._runtime.recorded_mutation("k1")
        assert first == replays.RecordedMutation(execution.value, ["[LOG] sending hi"], execution.ts)
        failed = app._runtime.execute("notebook:shout", {"room": "a", "body": "no"}, replay_key="k2")
        assert isinstance(failed.error, ValueError)
        assert app._runtime.recorded_mutation("k2") is None  # nothing committed: nothing recorded
        before = app._db.last_ts
        pong = app._runtime.execute("notebook:ping", {}, replay_key="k3")
        assert pong.ts > before  # the record alone is a commit
        assert app._runtime.recorded_mutation("k3").value == "pong"
    with App(path) as again:
        assert again._runtime.recorded_mutation("k1") == first
        assert again._runtime.recorded_mutation("k2") is None
        assert again._runtime.recorded_mutation("k3").value == "pong"


def test_a_record_whose_commit_fails_is_not_kept(tmp_path):
    path = tmp_path / "lab.duckdb"
    with App(path) as app:
        functions(app, [])
        real = app._persistence._execute_commit

        def broken(con, sql, params):
            raise OSError("disk full")  # the statement that would make the group durable fails

        app._persistence._execute_commit = broken
        execution = app._runtime.execute("notebook:ping", {}, replay_key="k")
        assert isinstance(execution.error, DurabilityError)
        assert app._runtime.recorded_mutation("k") is None
        app._persistence._execute_commit = real
        app._db._check()
    with App(path) as again:
        assert again._runtime.recorded_mutation("k") is None


def test_an_app_keeps_its_newest_records_in_memory_and_in_the_file(tmp_path):
    path = tmp_path / "lab.duckdb"
    with App(path) as app:
        functions(app, [])
        app._db.records.limit = 3
        for i in range(5):
            app._runtime.execute("notebook:send", {"room": "a", "body": str(i)}, replay_key=f"k{i}")
        kept = app._db.records.rows()
        assert [row[1] for row in kept] == ["k2", "k3", "k4"]
    with App(path) as again:
        assert again._db.records.rows() == kept


# -- over the protocol --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_a_replay_after_reopening_gets_the_first_result_and_does_not_run_again(kind, tmp_path):
    path = tmp_path / "lab.duckdb" if kind == "file" else None
    runs: list = []
    app = App(path)
    try:
        functions(app, runs)
        client = connect(app, "s-1")
        response, _ = mutate(client, 3, "notebook:send", room="a", body="once")
        assert response["success"] and response["logLines"] == ["[LOG] sending once"]
        client.connection.close()
        if kind == "file":  # the App closed and opened again (a restarted server)
            app.close()
            app = App(path)
            functions(app, runs)
        again = connect(app, "s-1", count=1)
        replayed, transition = mutate(again, 3, "notebook:send", room="a", body="once")
        assert replayed == response  # the same value, log lines and commit timestamp
        assert decode_ts(transition["endVersion"]["ts"]) >= decode_ts(response["ts"])
        assert runs == ["once"]
        assert app.run_query("notebook:room", {"room": "a"}) == ["once"]
        other, _ = mutate(connect(app, "s-2"), 3, "notebook:send", room="a", body="once")  # another session's
        assert other["success"] and other["result"] != response["result"]
        later, _ = mutate(again, 4, "notebook:send", room="a", body="later")
        assert decode_ts(later["ts"]) > decode_ts(response["ts"])  # timestamps keep increasing
        assert runs == ["once", "once", "later"]
    finally:
        app.close()


def test_a_failed_mutation_leaves_no_record_and_a_replay_runs_it_again(tmp_path):
    path = tmp_path / "lab.duckdb"
    runs: list = []
    with App(path) as app:
        functions(app, runs)
        client = connect(app, "s-1")
        failed, _ = mutate(client, 1, "notebook:shout", room="a", body="loud")
        assert not failed["success"] and said(failed["result"])[0] == "Uncaught ValueError: too loud"
        assert app._db.records.rows() == []
    with App(path) as again:
        functions(again, runs)
        assert again._db.records.rows() == []
        replayed, _ = mutate(connect(again, "s-1", count=1), 1, "notebook:shout", room="a", body="loud")
        assert not replayed["success"]
        assert runs == ["loud", "loud"]  # run again: only successes are kept
        assert again.run_query("notebook:room", {"room": "a"}) == []


def test_a_replay_while_the_first_run_is_running_waits_for_it(tmp_path):
    runs: list = []
    entered, release = threading.Event(), threading.Event()
    with App() as app:
        functions(app, runs)

        @app.mutation
        def slow(ctx):
            runs.append("slow")
            entered.set()
            assert release.wait(TIMEOUT)
            return ctx.db.insert("messages", {"room": "a", "body": "slow"})

        first = connect(app, "s-1")
        first("Mutation", requestId=9, udfPath="notebook:slow", args=[{}])
        assert entered.wait(TIMEOUT)
        second = connect(app, "s-1", count=1)  # the same session on a new socket, the first still running
        second("Mutation", requestId=9, udfPath="notebook:slow", args=[{}])
        release.set()
        response = first.one()
        replayed = second.one()
        assert replayed == response and response["success"]
        assert runs == ["slow"]


# -- the official npm client reconnecting by itself ----------------------------------------------


class Node:
    """tests/js/reconnect_client.mjs in a child process: `tell(line)` writes a line to it,
    `expect(event)` reads its JSON lines until one of that event."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(node_command("reconnect_client.mjs", url), cwd=JS, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)  # it exited

    def expect(self, event: str) -> dict:
        while True:
            message = self.lines.get(timeout=TIMEOUT)
            if message is None:
                self.process.wait(TIMEOUT)
                raise AssertionError(f"the node client exited before {event!r}: {self.process.stderr.read()}")
            if message["event"] == event:
                return message

    def tell(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def close(self) -> str:
        self.process.stdin.close()
        try:
            self.process.wait(TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        return self.process.stderr.read()


@requires_node
@pytest.mark.parametrize("kind", ["memory", "file"])
def test_the_npm_client_reconnects_after_a_restart_and_its_mutations_run_once(kind, tmp_path):
    path = tmp_path / "lab.duckdb" if kind == "file" else None
    runs: list = []
    entered, release = threading.Event(), threading.Event()

    def install(app: App) -> None:
        functions(app, runs)

        @app.mutation
        def gated(ctx, room):  # still running when the server stops: its response never reaches the client
            runs.append("gated")
            entered.set()
            assert release.wait(TIMEOUT)
            return ctx.db.insert("messages", {"room": room, "body": "gated"})

    app = App(path)
    node = None
    try:
        install(app)
        url = app.serve()
        port = int(url.rsplit(":", 1)[1])
        node = Node(url)
        assert node.expect("update")["bodies"] == []
        node.tell("gate")  # the client sends `gated`; the server runs it...
        assert entered.wait(TIMEOUT)
        app.stop_serving()  # ...and stops before it answers
        release.set()  # `gated` commits, its result recorded, while the client is away
        node.tell("down")  # once the client knows the socket is gone, it queues `send`
        node.expect("queued")
        if kind == "file":  # the server restarted: the App closed and reopened on its file
            app.close()
            app = App(path)
            install(app)
        app.serve(port=port)
        settled = node.expect("settled")  # reconnected by itself: `gated` re-sent, `send` sent
        app.run_mutation("notebook:send", {"room": "a", "body": "after"})  # another client writes
        node.tell(json.dumps(["gated", "while down", "after"]))
        finished = node.expect("finished")
    finally:
        if node is not None:
            errors = node.close()
        app.close()
    assert finished["bodies"] == ["gated", "while down", "after"]
    gated_sends = [m for m in finished["mutations"] if m["udfPath"] == "notebook:gated"]
    assert len(gated_sends) == 2 and gated_sends[0]["requestId"] == gated_sends[1]["requestId"]  # re-sent...
    assert runs == ["gated", "while down", "after"]  # ...but run once; `send` while down ran once too
    assert isinstance(settled["gated"], str) and isinstance(settled["whileDown"], str)
    assert finished["backwards"] is None, finished["backwards"]  # transition timestamps never went back
    assert finished["connections"] >= 2, errors
