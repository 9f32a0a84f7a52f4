"""Reactivity: app.subscribe re-runs exactly the queries a commit touched and delivers changes."""

from __future__ import annotations

import threading

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from convex_lab import App, Int64, define_schema, define_table, v
from convex_lab.engine.subscriptions import SubscriptionIndex
from convex_lab.runtime.sessions import QueryFailed, QueryRemoved, QueryUpdated
from convex_lab.keys import encode_value, prefix_end


def chat_app(app):
    app.set_schema(define_schema({
        "messages": define_table({"room": v.string(), "body": v.string(), "n": v.number()})
        .index("by_room", ["room"]),
    }))

    @app.mutation
    def send(ctx, room, body, n=0.0):
        return ctx.db.insert("messages", {"room": room, "body": body, "n": n})

    @app.mutation
    def edit(ctx, id, body):
        ctx.db.patch(id, {"body": body})

    @app.query
    def room_messages(ctx, room):
        return [d["body"] for d in ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room)).collect()]

    @app.query
    def latest(ctx, room):
        return [d["body"] for d in ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room))
                .order("desc").take(2)]

    return send, edit, room_messages, latest


def test_callback_runs_at_once_then_on_change(app):
    send, edit, room_messages, _ = chat_app(app)
    seen = []
    sub = app.subscribe(room_messages, {"room": "a"}, seen.append)
    assert seen == [[]]
    first = send(room="a", body="hi")
    assert seen == [[], ["hi"]]  # delivered before the mutation returned
    edit(id=first, body="hello")
    assert seen[-1] == ["hello"] and sub.result == ["hello"]
    sub.unsubscribe()
    send(room="a", body="after")
    assert len(seen) == 3


def test_writes_elsewhere_do_not_rerun(app):
    send, _, room_messages, _ = chat_app(app)
    a, b = [], []
    sub_a = app.subscribe(room_messages, {"room": "a"}, a.append)
    sub_b = app.subscribe(room_messages, {"room": "b"}, b.append)
    runs_before = sub_b.runs
    send(room="a", body="x")
    assert a == [[], ["x"]] and b == [[]]
    assert sub_b.runs == runs_before
    assert sub_a.runs == 2


def test_take_reruns_only_when_write_lands_in_scanned_range(memory_app):
    send, edit, _, latest = chat_app(memory_app)
    ids = [send(room="a", body=f"m{i}") for i in range(5)]
    seen = []
    sub = memory_app.subscribe(latest, {"room": "a"}, seen.append)
    assert seen == [["m4", "m3"]]
    edit(id=ids[0], body="old edit")  # outside the two newest documents: not in the read set
    assert sub.runs == 1
    edit(id=ids[4], body="new edit")
    assert sub.runs == 2 and seen[-1] == ["new edit", "m3"]
    send(room="a", body="m5")
    assert seen[-1] == ["m5", "new edit"]


def test_unchanged_result_is_not_delivered(memory_app):
    send, edit, room_messages, _ = chat_app(memory_app)
    doc = send(room="a", body="same")
    seen = []
    sub = memory_app.subscribe(room_messages, {"room": "a"}, seen.append)

    @memory_app.mutation
    def mark(ctx, id):
        ctx.db.patch(id, {"n": 1.0})

    mark(id=doc)  # a write in range that leaves the result (the bodies) equal
    assert sub.runs == 2 and seen == [["same"]]


def test_identical_queries_share_a_run(memory_app):
    send, _, room_messages, _ = chat_app(memory_app)
    one, two = [], []
    s1 = memory_app.subscribe(room_messages, {"room": "a"}, one.append)
    s2 = memory_app.subscribe(room_messages, {"room": "a"}, two.append)
    send(room="a", body="x")
    assert one == two == [[], ["x"]]
    assert s1.runs == s2.runs == 2


def test_errors_go_to_on_error_and_clear(memory_app):
    chat_app(memory_app)

    @memory_app.query
    def fragile(ctx):
        docs = ctx.db.query("messages").collect()
        if any(d["body"] == "boom" for d in docs):
            raise ValueError("boom found")
        return len(docs)

    @memory_app.mutation
    def put(ctx, body):
        return ctx.db.insert("messages", {"room": "r", "body": body, "n": 0.0})

    @memory_app.mutation
    def remove(ctx, id):
        ctx.db.delete(id)

    results, errors = [], []
    memory_app.subscribe(fragile, {}, results.append, errors.append)
    bad = put(body="boom")
    assert isinstance(errors[-1], ValueError)
    remove(id=bad)
    assert results == [0.0, 0.0] and len(errors) == 1  # the fix re-delivers


def test_commits_from_other_threads_are_delivered_in_order(memory_app):
    send, _, room_messages, _ = chat_app(memory_app)
    seen = []
    delivered_on = set()

    def record(result):
        seen.append(len(result))
        delivered_on.add(threading.current_thread().name)

    memory_app.subscribe(room_messages, {"room": "a"}, record)
    threads = [threading.Thread(target=lambda: [send(room="a", body="t") for _ in range(10)]) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    memory_app.flush()
    assert seen[-1] == 30
    assert seen == sorted(seen)  # never an older result after a newer one
    assert delivered_on <= {"convex_lab-notifier", threading.current_thread().name}


def test_redefining_a_function_reruns_its_live_queries_at_once(memory_app):
    send, _, _, _ = chat_app(memory_app)

    @memory_app.query
    def count(ctx):
        return len(ctx.db.query("messages").collect())

    seen = []
    sub = memory_app.subscribe(count, {}, seen.append)

    @memory_app.query
    def count(ctx):  # noqa: F811 - a re-run cell
        return 100 + len(ctx.db.query("messages").collect())

    assert seen == [0.0, 100.0]  # re-ran with the new code when it was defined
    assert sub.reruns[-1].change == "redefined" and sub.reruns[-1].doc_id == "notebook:count"
    send(room="a", body="x")
    assert seen == [0.0, 100.0, 101.0]

    @memory_app.query
    def unrelated(ctx):
        return 1

    @memory_app.query
    def unrelated(ctx):  # noqa: F811
        return 2

    assert sub.runs == 3  # redefining another function re-runs nothing here


# -- the index on its own ---------------------------------------------------------------------

def test_subscription_index_buckets_and_wide_intervals():
    index = SubscriptionIndex()
    a = encode_value("a")
    index.add("room a", [("m", "by_room", a, prefix_end(a))])
    index.add("all", [("m", "by_creation_time", b"", None)])
    index.add("range", [("m", "by_room", encode_value("b"), encode_value("d"))])
    index._check()
    key_a = a + encode_value(1.0) + encode_value("id1")
    key_c = encode_value("c") + encode_value(1.0) + encode_value("id2")
    assert index.touched("m", "by_room", [key_a]) == {"room a"}
    assert index.touched("m", "by_room", [key_c]) == {"range"}
    assert index.touched("m", "by_creation_time", [encode_value(5.0)]) == {"all"}
    index.remove("room a")
    index._check()
    assert index.touched("m", "by_room", [key_a]) == set()


rooms = st.sampled_from(["a", "b", "c", "d"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(["send", "edit", "delete"]), rooms, st.integers(0, 20)), max_size=25),
       watched=st.lists(st.tuples(rooms, st.sampled_from(["all", "latest"])), min_size=1, max_size=6))
def test_property_exactly_the_changed_subscriptions_are_notified(ops, watched):
    app = App()
    try:
        send, edit, room_messages, latest = chat_app(app)

        @app.mutation
        def delete(ctx, id):
            ctx.db.delete(id)

        ids: list[str] = []
        room_of: dict[str, str] = {}
        subs = []
        for room, kind in watched:
            fn = room_messages if kind == "all" else latest
            seen: list = []
            sub = app.subscribe(fn, {"room": room}, seen.append)
            subs.append((fn, room, sub, seen))
        for op, room, k in ops:
            before = {id(sub): app.run(fn, {"room": r}) for fn, r, sub, _ in subs}
            runs = {id(sub): sub.runs for _, _, sub, _ in subs}
            delivered = {id(sub): len(seen) for _, _, sub, seen in subs}
            if op == "send" or not ids:
                ids.append(send(room=room, body=f"b{k}"))
                room_of[ids[-1]] = room
                written_room = room
            elif op == "edit":
                target = ids[k % len(ids)]
                edit(id=target, body=f"e{k}")
                written_room = room_of[target]
            else:
                target = ids.pop(k % len(ids))
                delete(id=target)
                written_room = room_of[target]
            for fn, r, sub, seen in subs:
                now = app.run(fn, {"room": r})
                assert sub.result == now  # every subscription holds the current result
                if now != before[id(sub)]:
                    assert seen[-1] == now and len(seen) == delivered[id(sub)] + 1
                else:
                    assert len(seen) == delivered[id(sub)]  # an equal result is not delivered again
                if r != written_room:
                    assert sub.runs == runs[id(sub)]  # untouched read sets never re-run
                elif now != before[id(sub)]:
                    assert sub.runs == runs[id(sub)] + 1  # a changed result: exactly one re-run
            app._reactor._check()  # the registry, its read-set index and the notifier
    finally:
        app.close()


def test_read_set_is_readable_and_reruns_say_why(memory_app):
    send, edit, room_messages, latest = chat_app(memory_app)
    first = send(room="a", body="x")
    sub = memory_app.subscribe(room_messages, {"room": "a"}, lambda r: None)
    assert sub.read_set == ['messages.by_room: room == "a"']
    edit(id=first, body="y")
    (why,) = sub.reruns
    assert (why.table, why.index, why.doc_id, why.change) == ("messages", "by_room", first, "update")


def test_paginated_live_query_keeps_its_page_boundary(memory_app):
    send, _, _, _ = chat_app(memory_app)
    for i in range(6):
        send(room="a", body=f"m{i}")

    @memory_app.query
    def page(ctx, cursor):
        return ctx.db.query("messages").paginate({"numItems": 3, "cursor": cursor})

    first_pages = []
    memory_app.subscribe(page, {"cursor": None}, first_pages.append)
    second_pages = []
    memory_app.subscribe(page, {"cursor": first_pages[0]["continueCursor"]}, second_pages.append)
    assert [d["body"] for d in first_pages[-1]["page"]] == ["m0", "m1", "m2"]

    @memory_app.mutation
    def insert_between(ctx, id):
        # Delete the first page's last document: the first page shrinks, the second keeps its start.
        ctx.db.delete(id)

    insert_between(id=first_pages[0]["page"][2]["_id"])
    assert [d["body"] for d in first_pages[-1]["page"]] == ["m0", "m1"]
    assert first_pages[-1]["continueCursor"] == first_pages[0]["continueCursor"]  # same end boundary
    assert [d["body"] for d in second_pages[-1]["page"]] == ["m3", "m4", "m5"]
    send(room="b", body="m6")  # lands after the second page's end: the second page must not grow
    assert [d["body"] for d in second_pages[-1]["page"]] == ["m3", "m4", "m5"]


def test_results_are_never_shared_across_identities(memory_app):
    send, _, _, _ = chat_app(memory_app)

    @memory_app.query
    def mine(ctx):
        who = ctx.auth.get_user_identity()
        name = who["subject"] if who else "anonymous"
        return [m["body"] for m in ctx.db.query("messages").collect() if m["room"] == name]

    reactor = memory_app._reactor
    seen = {"ada": [], "bob": [], None: []}
    subs = [reactor.subscribe(mine, {}, seen[who].append, identity={"subject": who} if who else None)
            for who in ("ada", "bob", None)]
    shared = reactor.subscribe(mine, {}, lambda r: None, identity={"subject": "ada"})
    assert len(reactor.live) == 3 and shared._live is subs[0]._live  # same identity: one run
    send(room="ada", body="for ada")
    assert seen == {"ada": [[], ["for ada"]], "bob": [[]], None: [[]]}


def test_callbacks_may_subscribe_mutate_and_flush(memory_app):
    send, _, room_messages, _ = chat_app(memory_app)
    nested, sizes = [], []

    def on_a(result):
        if result and not nested:  # first change: subscribe to room b, write there, flush
            nested.append(memory_app.subscribe(room_messages, {"room": "b"}, lambda r: sizes.append(len(r))))
            send(room="b", body="from a callback")
            memory_app.flush()

    memory_app.subscribe(room_messages, {"room": "a"}, on_a)
    send(room="a", body="on the main thread")  # delivered inline on this thread
    memory_app.flush()
    assert sizes == [0, 1]
    worker = threading.Thread(target=send, kwargs={"room": "a", "body": "from a thread"})  # via the notifier
    worker.start()
    worker.join()
    memory_app.flush()
    assert len(nested) == 1 and len(nested[0].result) == 1


def test_an_interrupted_delivery_is_finished_by_the_notifier(memory_app):
    send, _, room_messages, _ = chat_app(memory_app)
    seen = {"a": [], "b": []}
    interrupts = [KeyboardInterrupt]  # as if the user pressed Ctrl-C during the first change

    def on_a(result):
        if result and interrupts:
            raise interrupts.pop()
        seen["a"].append(len(result))

    memory_app.subscribe(room_messages, {"room": "a"}, on_a)
    memory_app.subscribe(room_messages, {"room": "b"}, lambda r: seen["b"].append(len(r)))

    @memory_app.mutation
    def both(ctx):
        ctx.db.insert("messages", {"room": "a", "body": "x", "n": 0.0})
        ctx.db.insert("messages", {"room": "b", "body": "y", "n": 0.0})

    with pytest.raises(KeyboardInterrupt):
        both()
    memory_app.flush()  # does not hang: the notifier delivers what the interrupt left
    assert seen["b"] == [0, 1]
    send(room="a", body="z")
    assert seen["a"][-1] == 2


def test_the_notifier_outlives_a_callback_that_exits(memory_app):
    send, _, room_messages, _ = chat_app(memory_app)
    seen = []

    def leave(result):
        if result:
            raise SystemExit(1)

    memory_app.subscribe(room_messages, {"room": "a"}, leave)
    memory_app.subscribe(room_messages, {"room": "a"}, lambda r: seen.append(len(r)))
    worker = threading.Thread(target=send, kwargs={"room": "a", "body": "x"})  # delivered by the notifier
    worker.start()
    worker.join()
    memory_app.flush()
    worker = threading.Thread(target=send, kwargs={"room": "a", "body": "y"})
    worker.start()
    worker.join()
    memory_app.flush()
    assert seen == [0, 1, 2]


def test_a_first_callback_on_another_thread_may_mutate(memory_app):
    send, _, room_messages, _ = chat_app(memory_app)
    seen = []

    def on_first(result):
        if not result:
            send(room="a", body="written by the first callback")  # waits for nothing it blocks
        seen.append(len(result))

    worker = threading.Thread(target=memory_app.subscribe, args=(room_messages, {"room": "a"}, on_first))
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    memory_app.flush()
    assert seen == [0, 1]


def test_each_subscriber_gets_its_own_result(memory_app):
    send, edit, room_messages, latest = chat_app(memory_app)
    send(room="a", body="hi")
    first, second = [], []

    def vandal(result):
        first.append(result)
        result.append("scribbled")  # a callback that changes what it got

    sub_a = memory_app.subscribe(room_messages, {"room": "a"}, vandal)
    sub_b = memory_app.subscribe(room_messages, {"room": "a"}, second.append)
    assert second[-1] == ["hi"] and sub_b.result == ["hi"]
    send(room="a", body="there")
    memory_app.flush()
    assert second[-1] == ["hi", "there"] and sub_b.result == ["hi", "there"]
    assert first[-1] == ["hi", "there", "scribbled"]  # its own copy
    assert sub_a.result is first[-1] and sub_b.result is second[-1]
    send(room="b", body="elsewhere")  # a commit that does not change room a: nothing re-sent
    memory_app.flush()
    assert len(first) == 2 and len(second) == 2


def test_a_patch_or_replace_that_changes_nothing_is_no_write(app):
    """Convex: no commit, no live query re-run. A document changed and changed back in one
    mutation is no write either; a change of type (1.0 -> Int64(1), 0.0 -> -0.0) is one."""
    @app.mutation
    def seed(ctx):
        return ctx.db.insert("notes", {"body": "hi", "n": 0.0, "tags": ["a"]})

    @app.mutation
    def patch(ctx, id, value):
        ctx.db.patch(id, value)

    @app.mutation
    def replace(ctx, id, value):
        ctx.db.replace(id, value)

    @app.mutation
    def change_and_restore(ctx, id):
        ctx.db.patch(id, {"body": "changed"})
        ctx.db.patch(id, {"body": "hi"})

    @app.query
    def note(ctx, id):
        return ctx.db.get(id)

    doc_id = seed()
    seen = []
    sub = app.subscribe(note, {"id": doc_id}, seen.append)
    ts = app._db.last_ts
    patch(id=doc_id, value={"body": "hi"})
    patch(id=doc_id, value={"tags": ["a"], "n": 0.0})
    replace(id=doc_id, value={"n": 0.0, "tags": ["a"], "body": "hi"})
    change_and_restore(id=doc_id)
    app.flush()
    assert app._db.last_ts == ts and sub.runs == 1 and len(seen) == 1

    patch(id=doc_id, value={"n": Int64(0)})
    app.flush()
    assert app._db.last_ts > ts and sub.runs == 2 and type(seen[-1]["n"]) is Int64
    ts = app._db.last_ts
    replace(id=doc_id, value={"n": -0.0, "tags": ["a"], "body": "hi"})
    app.flush()
    assert app._db.last_ts > ts and sub.runs == 3 and str(seen[-1]["n"]) == "-0.0"
    sub.unsubscribe()
    app._db._check()


def test_a_failing_live_query_without_on_error_is_reported_on_stderr():
    """In a plain interpreter (no logging configured), the default warning reaches stderr: the
    capture handler convex_lab installs on the root logger does not swallow it."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import logging
        from convex_lab import App
        app = App()

        @app.query
        def broken(ctx):
            raise ValueError("no such thing")

        sub = app.subscribe(broken, {}, print)
        logging.getLogger("someone.else").warning("other warnings still show")
        logging.getLogger("someone.else").info("and info stays quiet, as before")
        app.close()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "convex_lab: live query notebook:broken failed: ValueError: no such thing" in done.stderr
    assert "other warnings still show" in done.stderr
    assert "info stays quiet" not in done.stderr + done.stdout


def test_subscribe_on_the_notifier_thread_only_and_without_copies(memory_app):
    """What widgets use: every call on the notifier thread (commits from this thread too), and
    the shared result rather than a copy per subscriber."""
    app = memory_app
    send, _, room_messages, _ = chat_app(app)
    threads, results = [], []

    def seen(result):
        threads.append(threading.current_thread())
        results.append(result)

    sub = app.subscribe(room_messages, {"room": "a"}, seen, notifier_only=True, copy=False)
    app.flush()
    send(room="a", body="x")
    app.flush()
    assert results == [[], ["x"]]
    assert threading.main_thread() not in threads
    assert results[-1] is sub.result  # shared, not copied
    copied = []
    app.subscribe(room_messages, {"room": "a"}, copied.append)
    assert copied == [["x"]] and copied[0] is not sub.result  # the default: a copy each


def test_tables_lists_every_table_with_its_count(app):
    assert app.tables() == {}
    app.import_rows("b", [{"n": 1.0}, {"n": 2.0}])
    app.import_rows("a", [{"n": 1.0}])
    assert app.tables() == {"b": 2, "a": 1}
    assert len(app.table("b")) == 2 and len(app.table("missing")) == 0


# -- the reactor as a state machine: subscriptions and sessions ------------------------------

class ReactorModel(RuleBasedStateMachine):
    """Subscribe, unsubscribe, open sessions, add and remove their queries, write (from this
    thread and others): after every step the reactor's `_check()` holds (registry, read-set index,
    sessions, notifier); after a flush every subscriber holds what a fresh run returns, and each
    session's transitions, applied in order, give exactly its queries' fresh results."""

    subscriptions = Bundle("subscriptions")
    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.app = App()
        send, edit, room_messages, latest = chat_app(self.app)

        @self.app.query
        def fragile(ctx, room):
            bodies = [d["body"] for d in ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room))
                      .collect()]
            if "boom" in bodies:
                raise ValueError(f"boom in {room}")
            return bodies

        @self.app.mutation
        def delete(ctx, id):
            ctx.db.delete(id)

        self.send, self.edit, self.delete = send, edit, delete
        self.queries = {"all": room_messages, "latest": latest, "fragile": fragile}
        self.ids: list[str] = []
        self.next_query_id = 0
        self.session_states: list[dict] = []

    def teardown(self) -> None:
        self.app.close()

    def _fresh(self, kind: str, room: str):
        try:
            return ("ok", self.app.run(self.queries[kind], {"room": room}))
        except ValueError as exc:
            return ("error", str(exc))

    # -- writes ----------------------------------------------------------------------------
    @rule(room=rooms, body=st.sampled_from(["x", "y", "boom"]), elsewhere=st.booleans())
    def send_message(self, room, body, elsewhere):
        if elsewhere:  # a commit delivered by the notifier
            worker = threading.Thread(target=lambda: self.ids.append(self.send(room=room, body=body)))
            worker.start()
            worker.join()
        else:
            self.ids.append(self.send(room=room, body=body))

    @rule(k=st.integers(0, 50), body=st.sampled_from(["x", "z", "boom"]))
    def edit_message(self, k, body):
        if self.ids:
            self.edit(id=self.ids[k % len(self.ids)], body=body)

    @rule(k=st.integers(0, 50))
    def delete_message(self, k):
        if self.ids:
            self.delete(id=self.ids.pop(k % len(self.ids)))

    # -- subscribers -------------------------------------------------------------------------
    @rule(target=subscriptions, room=rooms, kind=st.sampled_from(["all", "latest", "fragile"]),
          notifier_only=st.booleans())
    def subscribe(self, room, kind, notifier_only):
        errors: list = []
        sub = self.app.subscribe(self.queries[kind], {"room": room}, lambda r: None, errors.append,
                                 notifier_only=notifier_only)
        return (sub, kind, room, errors)

    @rule(entry=consumes(subscriptions))
    def unsubscribe(self, entry):
        entry[0].unsubscribe()

    @rule(target=sessions)
    def open_session(self):
        state = {"transitions": [], "applied": {}, "queries": {}}

        def on_transition(transition):
            state["transitions"].append(transition)
            applied = state["applied"]
            for change in transition.modifications:
                if isinstance(change, QueryRemoved):
                    applied.pop(change.query_id, None)
                    continue
                now = ("ok", change.value) if isinstance(change, QueryUpdated) else ("error", str(change.error))
                assert isinstance(change, (QueryUpdated, QueryFailed))
                assert applied.get(change.query_id) != now, change  # nothing unchanged is sent again
                applied[change.query_id] = now

        state["session"] = self.app._reactor.open_session(on_transition)
        self.session_states.append(state)
        return state

    @rule(state=sessions, room=rooms, kind=st.sampled_from(["all", "latest", "fragile"]))
    def session_add(self, state, room, kind):
        if state["session"].closed:
            return
        self.next_query_id += 1
        state["session"].add(self.next_query_id, self.queries[kind], {"room": room})
        state["queries"][self.next_query_id] = (kind, room)

    @rule(state=sessions, k=st.integers(0, 20))
    def session_remove(self, state, k):
        if state["session"].closed or not state["queries"]:
            return
        query_id = list(state["queries"])[k % len(state["queries"])]
        state["session"].remove(query_id)
        del state["queries"][query_id]

    @rule(state=consumes(sessions))
    def session_close(self, state):
        state["session"].close()

    # -- checks ------------------------------------------------------------------------------
    @rule()
    def flush_and_compare(self):
        self.app.flush()
        reactor = self.app._reactor
        for sub in reactor.subscriptions():
            live = sub._live
            fresh = self._fresh("fragile" if live.path.endswith("fragile") else
                                "latest" if live.path.endswith("latest") else "all", live.args["room"])
            if fresh[0] == "ok":
                assert sub.error is None and sub.result == fresh[1]
            else:
                assert str(sub.error) == fresh[1]
        for session in reactor.sessions():
            state = next(s for s in self.session_states if s["session"] is session)
            expected = {query_id: self._fresh(kind, room) for query_id, (kind, room) in state["queries"].items()}
            assert state["applied"] == expected
            stamps = [t.ts for t in state["transitions"]]
            assert stamps == sorted(stamps) and (not stamps or stamps[-1] <= self.app._db.last_ts)

    @invariant()
    def reactor_invariants(self):
        self.app._reactor._check()  # includes SubscriptionIndex._check() and Notifier._check()


ReactorModel.TestCase.settings = settings(max_examples=30, stateful_step_count=30, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
test_reactor_model = ReactorModel.TestCase
