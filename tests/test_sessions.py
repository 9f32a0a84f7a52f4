"""Sessions: a query set per subscriber, one Transition per commit with every changed result.

What a sync-protocol server session needs (Convex's Transition): `reactor.open_session(on_transition)`,
`session.add(query_id, fn, args)`, `session.remove(query_id)`, `session.close()`.
"""

from __future__ import annotations

import threading

import pytest

from convex_lab import AppClosedError, ConvexError
from convex_lab.runtime.sessions import QueryFailed, QueryRemoved, QueryUpdated, Transition

from .test_subscriptions import chat_app


class Recorder:
    """An `on_transition` that keeps every transition and the thread it came on."""

    def __init__(self) -> None:
        self.transitions: list[Transition] = []
        self.threads: set[str] = set()

    def __call__(self, transition: Transition) -> None:
        self.transitions.append(transition)
        self.threads.add(threading.current_thread().name)

    def take(self) -> list[Transition]:
        out, self.transitions = self.transitions, []
        return out


def open_session(app, recorder):
    return app._reactor.open_session(recorder)


def test_adding_queries_sends_their_first_results(memory_app):
    app = memory_app
    send, _, room_messages, latest = chat_app(app)
    send(room="a", body="hi")
    got = Recorder()
    session = open_session(app, got)
    session.add(1, room_messages, {"room": "a"})
    session.add(2, latest, {"room": "b"})
    app.flush()
    updates = [m for t in got.transitions for m in t.modifications]
    assert updates == [QueryUpdated(1, ["hi"]), QueryUpdated(2, [])]
    assert all(t.ts == app._db.last_ts for t in got.transitions)
    assert got.threads == {"convex_lab-notifier"}
    assert session.query_ids == [1, 2]
    app._reactor._check()


def test_one_commit_touching_two_queries_is_one_transition(app):
    send, _, room_messages, latest = chat_app(app)
    got = Recorder()
    session = open_session(app, got)
    session.add("all", room_messages, {"room": "a"})
    session.add("latest", latest, {"room": "a"})
    app.flush()
    got.take()
    send(room="a", body="x")
    app.flush()
    (transition,) = got.take()
    assert transition.ts == app._db.last_ts  # the commit's timestamp
    assert sorted(transition.modifications) == sorted([QueryUpdated("all", ["x"]), QueryUpdated("latest", ["x"])])
    assert got.threads == {"convex_lab-notifier"}
    app._reactor._check()


def test_a_commit_touching_no_query_of_the_session_sends_nothing(memory_app):
    app = memory_app
    send, _, room_messages, _ = chat_app(app)
    got = Recorder()
    session = open_session(app, got)
    session.add(1, room_messages, {"room": "a"})
    app.flush()
    got.take()
    runs = app._reactor.live[next(iter(app._reactor.live))].runs
    send(room="b", body="elsewhere")
    app.flush()
    assert got.take() == []
    assert app._reactor.live[next(iter(app._reactor.live))].runs == runs  # not even re-run


def test_a_commit_that_changes_no_result_sends_nothing(memory_app):
    app = memory_app
    send, _, room_messages, latest = chat_app(app)
    doc = send(room="a", body="same")

    @app.mutation
    def mark(ctx, id):
        ctx.db.patch(id, {"n": 1.0})  # in the read set, but the bodies stay equal

    got = Recorder()
    session = open_session(app, got)
    session.add(1, room_messages, {"room": "a"})
    session.add(2, latest, {"room": "a"})
    app.flush()
    got.take()
    mark(id=doc)
    app.flush()
    assert got.take() == []
    assert all(live.runs == 2 for live in app._reactor.live.values())  # re-ran, compared, not sent


def test_only_the_changed_queries_are_in_the_transition(memory_app):
    app = memory_app
    send, _, room_messages, _ = chat_app(app)

    @app.query
    def count(ctx):
        return len(ctx.db.query("messages").collect())

    got = Recorder()
    session = open_session(app, got)
    session.add("a", room_messages, {"room": "a"})
    session.add("b", room_messages, {"room": "b"})
    session.add("count", count, {})
    app.flush()
    got.take()
    send(room="b", body="y")
    app.flush()
    (transition,) = got.take()
    assert transition.modifications == [QueryUpdated("b", ["y"]), QueryUpdated("count", 1.0)]


def test_a_failing_query_is_query_failed_until_fixed(memory_app):
    app = memory_app
    send, edit, _, _ = chat_app(app)

    @app.query
    def fragile(ctx, room):
        bodies = [d["body"] for d in ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room))
                  .collect()]
        if "boom" in bodies:
            raise ConvexError({"bad": "boom"})
        return bodies

    got = Recorder()
    session = open_session(app, got)
    session.add(7, fragile, {"room": "a"})
    app.flush()
    got.take()
    bad = send(room="a", body="boom")
    app.flush()
    ((failed,),) = [t.modifications for t in got.take()]
    assert isinstance(failed, QueryFailed) and failed.query_id == 7
    assert isinstance(failed.error, ConvexError) and failed.error.data == {"bad": "boom"}
    send(room="a", body="more")  # fails again the same way: nothing new to say
    app.flush()
    assert got.take() == []
    edit(id=bad, body="fine")
    app.flush()
    ((fixed,),) = [t.modifications for t in got.take()]
    assert fixed == QueryUpdated(7, ["fine", "more"])


def test_remove_sends_query_removed_and_stops_updates(memory_app):
    app = memory_app
    send, _, room_messages, latest = chat_app(app)
    got = Recorder()
    session = open_session(app, got)
    session.add(1, room_messages, {"room": "a"})
    session.add(2, latest, {"room": "a"})
    app.flush()
    got.take()
    session.remove(1)
    app.flush()
    (removed,) = got.take()
    assert removed.modifications == [QueryRemoved(1)]
    send(room="a", body="x")
    app.flush()
    (after,) = got.take()
    assert after.modifications == [QueryUpdated(2, ["x"])]  # query 1 is gone
    assert session.query_ids == [2]
    with pytest.raises(KeyError):
        session.remove(1)
    session.add(1, room_messages, {"room": "a"})  # the id may be used again
    app.flush()
    assert [t.modifications for t in got.take()] == [[QueryUpdated(1, ["x"])]]
    app._reactor._check()


def test_a_query_id_is_unique_in_its_session(memory_app):
    app = memory_app
    _, _, room_messages, _ = chat_app(app)
    session = open_session(app, Recorder())
    session.add(1, room_messages, {"room": "a"})
    with pytest.raises(ValueError, match="in use"):
        session.add(1, room_messages, {"room": "b"})
    with pytest.raises(Exception, match="nope"):
        session.add(2, "nope", {})
    assert session.query_ids == [1]
    app._reactor._check()


def test_close_stops_everything_and_leaves_nothing_behind(memory_app):
    app = memory_app
    send, _, room_messages, latest = chat_app(app)
    got = Recorder()
    session = open_session(app, got)
    session.add(1, room_messages, {"room": "a"})
    session.add(2, latest, {"room": "a"})
    app.flush()
    got.take()
    session.close()
    session.close()  # idempotent
    send(room="a", body="x")
    app.flush()
    assert got.take() == []
    reactor = app._reactor
    assert session.closed and reactor.live == {} and len(reactor.index) == 0 and reactor.sessions() == []
    reactor._check()
    with pytest.raises(RuntimeError, match="closed"):
        session.add(3, room_messages, {"room": "a"})


def test_sessions_and_subscriptions_share_one_run(memory_app):
    app = memory_app
    send, _, room_messages, _ = chat_app(app)
    seen = []
    sub = app.subscribe(room_messages, {"room": "a"}, seen.append)
    got_1, got_2 = Recorder(), Recorder()
    one, two = open_session(app, got_1), open_session(app, got_2)
    one.add(1, room_messages, {"room": "a"})
    two.add("x", room_messages, {"room": "a"})
    app.flush()
    assert len(app._reactor.live) == 1 and sub.runs == 1  # the sessions joined the subscription's run
    send(room="a", body="hi")
    app.flush()
    assert sub.runs == 2 and seen == [[], ["hi"]]
    assert got_1.transitions[-1].modifications == [QueryUpdated(1, ["hi"])]
    assert got_2.transitions[-1].modifications == [QueryUpdated("x", ["hi"])]
    one.close()
    sub.unsubscribe()
    assert len(app._reactor.live) == 1  # the second session still holds it
    two.close()
    assert app._reactor.live == {}
    app._reactor._check()


def test_many_subscribers_of_one_query_share_one_comparison_per_rerun(memory_app, monkeypatch):
    """A re-run's result is compared with the previous one once, for every subscriber: a change
    reaches each session and callback without a comparison of its own, a change back is a change
    again, and an equal re-run keeps the previous object and sends nothing."""
    from convex_lab.runtime import reactivity, sessions

    app = memory_app
    send, edit, room_messages, _ = chat_app(app)
    doc = send(room="a", body="x")

    @app.mutation
    def mark(ctx, id):
        ctx.db.patch(id, {"n": 1.0})  # in the read set, but the bodies stay equal

    recorders = [Recorder() for _ in range(3)]
    for recorder in recorders:
        open_session(app, recorder).add(1, room_messages, {"room": "a"})
    seen = []
    app.subscribe(room_messages, {"room": "a"}, seen.append)
    app.flush()
    for recorder in recorders:
        recorder.take()
    compared = {"reactor": 0, "subscribers": 0}

    def counting(where, real):
        def values_equal(a, b):
            compared[where] += 1
            return real(a, b)
        return values_equal

    monkeypatch.setattr(reactivity, "values_equal", counting("reactor", reactivity.values_equal))
    monkeypatch.setattr(sessions, "values_equal", counting("subscribers", sessions.values_equal))
    for body in ("y", "x"):
        edit(id=doc, body=body)
        app.flush()
        for recorder in recorders:
            assert [t.modifications for t in recorder.take()] == [[QueryUpdated(1, [body])]]
    assert seen == [["x"], ["y"], ["x"]]
    (live,) = app._reactor.live.values()
    before = live.result
    mark(id=doc)
    app.flush()
    assert all(recorder.take() == [] for recorder in recorders) and seen == [["x"], ["y"], ["x"]]
    assert live.runs == 4 and live.result is before  # re-ran, compared once, kept
    assert compared == {"reactor": 3, "subscribers": 0}  # one comparison per re-run, none per subscriber
    app._reactor._check()


def test_identities_are_never_shared(memory_app):
    app = memory_app
    send, _, _, _ = chat_app(app)

    @app.query
    def mine(ctx):
        who = ctx.auth.get_user_identity()
        return [m["body"] for m in ctx.db.query("messages").collect() if who and m["room"] == who["subject"]]

    got = Recorder()
    session = open_session(app, got)
    session.add("ada", mine, {}, identity={"subject": "ada"})
    session.add("bob", mine, {}, identity={"subject": "bob"})
    app.flush()
    got.take()
    send(room="ada", body="for ada")
    app.flush()
    (transition,) = got.take()
    assert transition.modifications == [QueryUpdated("ada", ["for ada"])]


def test_commits_from_other_threads_arrive_in_order_with_rising_timestamps(memory_app):
    app = memory_app
    send, _, room_messages, _ = chat_app(app)

    @app.query
    def count(ctx):
        return len(ctx.db.query("messages").collect())

    got = Recorder()
    session = open_session(app, got)
    session.add("a", room_messages, {"room": "a"})
    session.add("count", count, {})
    threads = [threading.Thread(target=lambda: [send(room="a", body="t") for _ in range(10)]) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    app.flush()
    state: dict = {}
    stamps = []
    for transition in got.transitions:
        stamps.append(transition.ts)
        for change in transition.modifications:
            assert state.get(change.query_id) != change.value  # an equal result is never sent again
            state[change.query_id] = change.value
            if change.query_id == "count":
                assert change.value == len(state.get("a", ()))  # one consistent snapshot per transition
    assert stamps == sorted(stamps) and stamps[-1] == app._db.last_ts
    assert state == {"a": ["t"] * 30, "count": 30.0}


def test_a_raising_on_transition_is_logged_and_sessions_go_on(memory_app, caplog):
    app = memory_app
    send, _, room_messages, _ = chat_app(app)

    def bad(transition):
        raise RuntimeError("handler bug")

    got = Recorder()
    open_session(app, bad).add(1, room_messages, {"room": "a"})
    open_session(app, got).add(1, room_messages, {"room": "a"})
    send(room="a", body="x")
    app.flush()
    assert got.transitions[-1].modifications == [QueryUpdated(1, ["x"])]
    assert "on_transition of a session raised" in caplog.text


def test_closing_the_app_tells_sessions(tmp_path):
    from convex_lab import App

    app = App()
    _, _, room_messages, _ = chat_app(app)
    errors = []
    session = app._reactor.open_session(lambda t: None, errors.append)
    session.add(1, room_messages, {"room": "a"})
    app.close()
    assert len(errors) == 1 and isinstance(errors[0], AppClosedError)
    assert session.closed
    with pytest.raises(AppClosedError):
        app._reactor.open_session(lambda t: None)


def test_a_requested_transition_comes_even_when_nothing_changed(memory_app):
    app = memory_app
    send, _, room_messages, _ = chat_app(app)
    got = Recorder()
    session = open_session(app, got)
    session.add(1, room_messages, {"room": "a"})
    app.flush()
    got.take()
    send(room="b", body="elsewhere")  # touches no query of the session
    app.flush()
    assert got.take() == []
    session.request_transition()
    app.flush()
    assert got.take() == [Transition(app._db.last_ts, [])]  # at the newest commit, with nothing in it
    app.flush()
    assert got.take() == []  # one request, one transition
    session.close()
    session.request_transition()  # a closed session sends nothing
    app.flush()
    assert got.take() == []
    app._reactor._check()
