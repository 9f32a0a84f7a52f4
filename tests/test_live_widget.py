"""LiveView in process: tables vs values vs errors, paging, changed rows, pandas HTML, and
which thread writes the traits."""

from __future__ import annotations

import threading

from convex_lab import Int64


def chat(app):
    @app.mutation
    def send(ctx, room, body):
        return ctx.db.insert("messages", {"room": room, "body": body, "big": Int64(2**40), "raw": b"\x01"})

    @app.mutation
    def edit(ctx, id, body):
        ctx.db.patch(id, {"body": body})

    @app.query
    def room(ctx, name):
        return ctx.db.query("messages").filter(lambda q: q.eq(q.field("room"), name)).collect()

    @app.query
    def count(ctx):
        return len(ctx.db.query("messages").collect())

    @app.query
    def broken(ctx):
        if ctx.db.query("messages").first() is not None:
            raise ValueError("no messages allowed")
        return "empty"

    return send, edit, room, count, broken


def test_document_lists_render_as_a_table_with_changed_rows(memory_app):
    send, edit, room, _, _ = chat(memory_app)
    first = send(room="a", body="one")
    view = memory_app.live(room, name="a")
    assert view.kind == "table" and view.total == 1
    assert view.columns[-2:] == ["_id", "_creationTime"]  # system fields last, de-emphasised
    assert view.rows[0]["body"] == "one" and view.rows[0]["big"] == 2**40 and view.rows[0]["raw"] == 'b"AQ=="'
    second = send(room="a", body="two")
    assert view.total == 2 and view.changed_ids == [second]
    edit(id=first, body="ONE")
    assert view.changed_ids == [first]
    assert view.runs == 3 and view.read_set and "insert" not in view.last_reason
    assert view.last_ms > 0 and view.last_ms == view.subscription.last_ms  # how long the last run took


def test_values_errors_and_paging(memory_app):
    send, _, room, count, broken = chat(memory_app)
    value = memory_app.live(count)
    assert value.kind == "value" and value.value_repr == "0.0"
    err = memory_app.live(broken)
    assert err.kind == "value"
    send(room="a", body="x")
    assert value.value_repr == "1.0"
    assert err.kind == "error" and "no messages allowed" in err.error
    for i in range(120):
        send(room="p", body=str(i))
    table = memory_app.live(room, name="p")
    assert table.total == 120 and len(table.rows) == 50
    table.page = 2
    memory_app.flush()  # the page's rows are written by the notifier
    assert [r["body"] for r in table.rows] == [str(i) for i in range(100, 120)]


def test_pandas_results_of_a_live_cell_render_as_live_html(memory_app):
    from convex_lab.notebook import _compile_cell, live_view

    send, *_ = chat(memory_app)
    for source, marker in (('pd.DataFrame([m["body"] for m in db.query("messages").collect()])', "<table"),
                           ('pd.Series([m["body"] for m in db.query("messages").collect()], name="bodies")', "bodies")):
        handler = _compile_cell("import pandas as pd\n" + source, {})
        path = f"notebook:_live_{abs(hash(source))}"
        memory_app._runtime.register("query", True, handler, name=path)
        view = live_view(memory_app, path)
        assert view.kind == "html" and marker in view.html
        send(room="a", body="framed")
        memory_app.flush()
        assert view.kind == "html" and "framed" in view.html


def test_widget_traits_are_written_only_by_the_notifier_thread(memory_app):
    send, _, room, _, _ = chat(memory_app)
    writers = []
    from convex_lab.notebook.live import LiveView

    original = LiveView._notify_trait

    def spy(self, name, old, new):
        if name != "page" or threading.current_thread().name == "convex_lab-notifier":
            writers.append((name, threading.current_thread().name))
        return original(self, name, old, new)

    LiveView._notify_trait = spy
    try:
        for i in range(60):
            send(room="p", body=str(i))
        view = memory_app.live(room, name="p")
        writers_after_first = list(writers)
        send(room="p", body="later")  # from the main thread
        worker = threading.Thread(target=send, kwargs={"room": "p", "body": "from a thread"})
        worker.start()
        worker.join()
        view.page = 1  # as the frontend would
        memory_app.flush()
    finally:
        LiveView._notify_trait = original
    assert view.total == 62 and [r["body"] for r in view.rows][-1] == "from a thread"
    assert {"rows", "kind", "runs"} <= {name for name, _ in writers_after_first}
    constructor = {"path", "comm"}  # set by LiveView(...) itself, before anyone can see the widget
    assert [w for w in writers if w[1] != "convex_lab-notifier" and w[0] not in constructor] == []


def test_one_document_and_a_paginated_page_render_as_tables(memory_app):
    send, edit, _, _, _ = chat(memory_app)
    first = send(room="a", body="one")

    @memory_app.query
    def one(ctx, id):
        return ctx.db.get(id)

    @memory_app.query
    def paged(ctx):
        return ctx.db.query("messages").paginate({"numItems": 2, "cursor": None})

    single = memory_app.live(one, id=first)
    assert single.kind == "table" and single.note == "one document" and single.rows[0]["body"] == "one"
    page = memory_app.live(paged)
    assert page.kind == "table" and page.total == 1 and page.note == "paginated: 1 on this page, last page"
    send(room="a", body="two")
    send(room="a", body="three")
    # The page keeps its end (Convex's query journal): the last page grows rather than splitting.
    assert page.total == 3 and page.note == "paginated: 3 on this page, last page"
    edit(id=first, body="ONE")
    assert single.rows[0]["body"] == "ONE" and single.changed_ids == [first]

    @memory_app.query
    def first_page(ctx):
        return ctx.db.query("messages").paginate({"numItems": 1, "cursor": None})

    assert memory_app.live(first_page).note == "paginated: 1 on this page, more pages follow"


def test_an_empty_result_is_an_empty_table_that_fills(memory_app):
    send, _, room, _, _ = chat(memory_app)
    view = memory_app.live(room, name="z")
    assert view.kind == "table" and view.total == 0 and view.rows == []
    send(room="z", body="first")
    assert view.kind == "table" and view.total == 1


def test_a_live_view_follows_a_redefined_query(memory_app):
    send, _, _, count, _ = chat(memory_app)
    view = memory_app.live(count)
    assert view.value_repr == "0.0"

    @memory_app.query
    def count(ctx):  # noqa: F811 - the cell that defines it, edited and re-run
        return "none yet" if ctx.db.query("messages").first() is None else "some"

    assert view.value_repr == "'none yet'" and view.last_reason == "notebook:count was redefined"



def test_int64_beyond_javascript_precision_is_sent_as_digits():
    from convex_lab.notebook.live import json_safe

    assert json_safe({"a": Int64(2**53), "b": Int64(2**60 + 1), "c": Int64(-(2**62))}) == {
        "a": 2**53, "b": str(2**60 + 1), "c": str(-(2**62))}


def test_a_huge_value_is_sent_as_a_preview(memory_app):
    from convex_lab.notebook.live import MAX_VALUE_CHARS

    @memory_app.query
    def numbers(ctx, n):
        return [float(i) for i in range(int(n))]

    small = memory_app.live(numbers, n=5)
    assert small.value_repr == "[0.0, 1.0, 2.0, 3.0, 4.0]"
    big = memory_app.live(numbers, n=8_000)
    assert len(big.value_repr) < MAX_VALUE_CHARS + 100 and big.value_repr.endswith("(cut for display: 8,000 items)")
