"""%load_ext / %%live through a real ipykernel (jupyter_client): the live widget's comm messages
carry new results after relevant commits — from a later cell, a background thread, or while another
cell is busy — and unrelated writes send nothing."""

from __future__ import annotations

import json
import queue
import socket
import time
import urllib.request

import pytest
from jupyter_client.manager import start_new_kernel

SETUP = '''
%load_ext convex_lab
from convex_lab import v, define_schema, define_table
app.set_schema(define_schema({"messages": define_table({"room": v.string(), "body": v.string()}).index("by_room", ["room"])}))

@app.mutation
def send(ctx, room, body):
    return ctx.db.insert("messages", {"room": room, "body": body})
'''

LIVE = '''%%live
[m["body"] for m in db.query("messages").with_index("by_room", lambda q: q.eq("room", "a")).collect()]
'''


@pytest.fixture
def kernel():
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def execute(client, code, timeout=60, cell_id=None):
    """Run code (as JupyterLab does when `cell_id` is given: the cell's id in the request metadata);
    return (msg_id, iopub messages up to its idle status)."""
    if cell_id is None:
        msg_id = client.execute(code)
    else:
        request = client.session.msg("execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
            "stop_on_error": True}, metadata={"cellId": cell_id})
        client.shell_channel.send(request)
        msg_id = request["header"]["msg_id"]

    def finished(msg):
        if msg["msg_type"] == "error" and msg["parent_header"].get("msg_id") == msg_id:
            raise AssertionError(f"cell failed: {msg['content']['ename']}: {msg['content']['evalue']}")
        return (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
                and msg["parent_header"].get("msg_id") == msg_id)

    return msg_id, iopub_until(client, finished, timeout, f"timed out running {code!r}")


def iopub_until(client, stop, timeout, failure):
    """IOPub messages up to and including the first for which `stop(msg)` is true."""
    messages = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        messages.append(msg)
        if stop(msg):
            return messages
    raise AssertionError(failure)


def printed(client, code, **kwargs):
    """What running `code` printed (its stdout), stripped."""
    _, messages = execute(client, code, **kwargs)
    return "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream").strip()


def live_comm_id(messages):
    for msg in messages:
        if msg["msg_type"] == "comm_open":
            state = msg["content"]["data"].get("state", {})
            if "value_repr" in state and state.get("path", "").startswith("notebook:_live_"):
                return msg["content"]["comm_id"]
    raise AssertionError("no LiveView comm was opened")


def updates(messages, comm_id):
    return [m["content"]["data"]["state"] for m in messages
            if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id
            and m["content"]["data"].get("method") == "update"]


def wait_for_update(client, comm_id, predicate, timeout=30):
    return iopub_until(client, lambda msg: any(predicate(state) for state in updates([msg], comm_id)), timeout,
                       "the live widget never received the expected update")


def test_live_cell_updates_from_cells_threads_and_while_busy(kernel):
    execute(kernel, SETUP)
    _, messages = execute(kernel, LIVE)
    comm = live_comm_id(messages)

    # (1) a mutation in a later cell
    _, messages = execute(kernel, 'send(room="a", body="from a cell")')
    assert any("from a cell" in str(state.get("value_repr", "")) for state in updates(messages, comm))

    # (2) an unrelated write sends nothing to this widget
    _, messages = execute(kernel, 'send(room="b", body="elsewhere")')
    assert updates(messages, comm) == []

    # (3) a background thread, kernel idle
    execute(kernel, 'import threading, time\n'
                    'threading.Thread(target=lambda: (time.sleep(0.3), send(room="a", body="from a thread"))).start()')
    wait_for_update(kernel, comm, lambda s: "from a thread" in str(s.get("value_repr", "")))

    # (4) a background thread while another cell is busy: the update arrives before that cell ends
    busy_id = kernel.execute('threading.Thread(target=lambda: (time.sleep(0.3), send(room="a", body="while busy"))).start()\n'
                             'time.sleep(3)')
    seen = wait_for_update(kernel, comm, lambda s: "while busy" in str(s.get("value_repr", "")))
    finished = [m for m in seen if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                and m["parent_header"].get("msg_id") == busy_id]
    assert finished == []  # the busy cell had not finished when the update came


def test_rerunning_a_live_cell_keeps_one_subscription_and_reload_is_clean(kernel):
    execute(kernel, SETUP)
    execute(kernel, LIVE)
    execute(kernel, LIVE)
    out = printed(kernel, "print(len(app._reactor.subscriptions()))")
    assert out == "1"
    execute(kernel, "%reload_ext convex_lab")
    out = printed(kernel, "import threading\n"
                          "print(sorted(t.name for t in threading.enumerate() if t.name.startswith('convex_lab-notifier')))\n"
                          "print(type(app).__name__)")
    assert out.splitlines() == ["['convex_lab-notifier']", "App"]


def test_load_ext_binds_convex_app_when_app_is_taken(kernel):
    execute(kernel, "app = 'something else'")
    out = printed(kernel, "%load_ext convex_lab")
    assert "convex_app" in out
    out = printed(kernel, "print(type(convex_app).__name__, app)")
    assert out == "App something else"


def test_convex_line_magic(kernel, tmp_path):
    execute(kernel, SETUP)
    execute(kernel, 'send(room="a", body="x")')
    out = printed(kernel, "t = %convex tables\nprint(t)")
    assert "messages" in out and "1" in out
    out = printed(kernel, "d = %convex data messages\nprint(list(d['body']))")
    assert out == "['x']"
    out = printed(kernel, "q = %convex sql select count(*) as c from messages\nprint(q['c'][0])")
    assert out == "1"
    out = printed(kernel, "logs = %convex logs\nprint(list(logs['path']), list(logs.columns))")
    assert out == ("['notebook:send'] ['time', 'kind', 'path', 'caller', 'duration', 'status', 'error', 'lines']")
    execute(kernel, '@app.query\ndef shout(ctx):\n    print("one")\n    print("two")\n    raise ValueError("boom\\nmore")')
    execute(kernel, 'try:\n    shout()\nexcept ValueError:\n    pass')
    out = printed(kernel, "logs = %convex logs 1\nprint(logs.iloc[0].to_dict())")
    assert "'path': 'notebook:shout'" in out and "'status': 'failure'" in out
    assert "'error': 'ValueError: boom'" in out and "'lines': '[LOG] one\\n[LOG] two'" in out
    assert printed(kernel, '%convex env set GREETING "hello there"') == "Set GREETING."
    assert printed(kernel, "%convex env set MODE=fast") == "Set MODE."
    assert printed(kernel, "env = %convex env list\nprint(env)") == "{'GREETING': 'hello there', 'MODE': 'fast'}"
    assert printed(kernel, "mode = %convex env get MODE\nprint(mode)") == "fast"
    assert printed(kernel, "%convex env remove MODE") == "Removed MODE."
    assert printed(kernel, "print(app.env.list())") == "{'GREETING': 'hello there'}"
    out = printed(kernel, "from convex_lab import App\nother = App()\nt = %convex --app other tables\nprint(len(t))")
    assert out == "0"
    path = tmp_path / "opened.duckdb"
    out = printed(kernel, f"%convex open {path}\nprint(app.path)")
    assert out == str(path)
    other_path = tmp_path / "other.duckdb"
    out = printed(kernel, f"%convex --app other open {other_path}\nprint(other.path, app.path)")
    assert out == f"{other_path} {path}"  # --app names the variable that is rebound


def test_convex_serve_prints_the_url_and_serves_while_a_cell_is_busy(kernel):
    execute(kernel, SETUP)
    url = printed(kernel, "%convex serve")
    assert url.startswith("http://127.0.0.1:")
    # The server has its own thread: a busy cell does not hold up a request.
    busy = kernel.execute("import time\nwhile not app.tables().get('messages'): time.sleep(0.01)")
    request = urllib.request.Request(
        f"{url}/api/mutation", data=json.dumps({"path": "notebook:send", "args": {"room": "a", "body": "hi"}}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.loads(response.read())["status"] == "success"
    iopub_until(kernel, lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                and m["parent_header"].get("msg_id") == busy, 60, "the busy cell did not end")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert printed(kernel, f"%convex serve --port {port}") == f"http://127.0.0.1:{port}"


def test_live_cell_with_pandas_stays_live_and_widgets_display_as_themselves(kernel):
    execute(kernel, SETUP)
    _, messages = execute(kernel, '%%live\nimport pandas as pd\npd.DataFrame([{"body": m["body"]} for m in db.query("messages").collect()])')
    comm = live_comm_id(messages)
    _, messages = execute(kernel, 'send(room="a", body="in a frame")')
    assert any("in a frame" in state.get("html", "") for state in updates(messages, comm))
    _, messages = execute(kernel, '%%live\nimport ipywidgets\nipywidgets.IntSlider(value=len(db.query("messages").collect()))')
    opened = [m["content"]["data"]["state"] for m in messages if m["msg_type"] == "comm_open"]
    assert any(state.get("_model_name") == "IntSliderModel" and state.get("value") == 1 for state in opened)


def test_live_cell_errors_show_and_clear_and_views_can_be_named(kernel):
    execute(kernel, SETUP)
    _, messages = execute(kernel, '%%live per_message\n1 / len(db.query("messages").collect())')
    comm = live_comm_id(messages)
    opened = [m["content"]["data"]["state"] for m in messages if m["msg_type"] == "comm_open"]
    states = opened + updates(messages, comm)
    assert any("ZeroDivisionError" in state.get("error", "") for state in states)
    _, messages = execute(kernel, 'send(room="a", body="now there is one")\nprint(per_message.kind, per_message.runs)')
    assert any(state.get("error") == "" and state.get("value_repr") == "1.0" for state in updates(messages, comm))
    out = "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
    assert out.split() == ["value", "2"]


def test_unload_removes_magics_and_subscriptions(kernel):
    execute(kernel, SETUP)
    execute(kernel, LIVE)
    execute(kernel, "%unload_ext convex_lab")
    out = printed(kernel, "print(len(app._reactor.subscriptions()), 'live' in get_ipython().magics_manager.magics['cell'])")
    assert out.split() == ["0", "False"]
    _, messages = execute(kernel, 'send(room="a", body="after unload")')
    assert not [m for m in messages if m["msg_type"] == "comm_msg"]


def test_a_live_cell_edited_and_rerun_replaces_its_subscription_by_cell_id(kernel):
    def count():
        return int(printed(kernel, "print(len(app._reactor.subscriptions()))"))

    execute(kernel, SETUP)
    execute(kernel, LIVE, cell_id="cell-1")
    execute(kernel, LIVE.replace('"a"', '"b"'), cell_id="cell-1")  # the same cell, edited and re-run
    assert count() == 1
    execute(kernel, LIVE.replace('"a"', '"b"'), cell_id="cell-2")  # another cell with the same source
    assert count() == 2


def test_a_live_cell_body_runs_once_per_run(kernel):
    execute(kernel, SETUP + "\nbody_runs = []")
    execute(kernel, '%%live\nbody_runs.append(1)\nlen(db.query("messages").collect())')
    assert printed(kernel, "print(len(body_runs))") == "1"
    execute(kernel, 'send(room="a", body="x")')
    assert printed(kernel, "print(len(body_runs))") == "2"


def test_live_cells_are_exempt_from_limits_but_app_live_queries_are_not(kernel):
    execute(kernel, SETUP + '\napp.import_rows("messages", [{"room": "a", "body": str(i)} for i in range(33_000)])')
    execute(kernel, '%%live whole\ndb.query("messages").collect()')  # > 32,000 read, > 8,192 returned
    assert printed(kernel, "print(whole.kind, whole.total, len(whole.rows))") == "table 33000 50"
    execute(kernel, '@app.query\ndef everything(ctx):\n    return ctx.db.query("messages").collect()\n'
                    'limited = app.live(everything)')
    assert "Too many documents read" in printed(kernel, "print(limited.error)")


def test_rerunning_the_cell_that_defines_a_query_updates_its_live_widget(kernel):
    execute(kernel, SETUP)
    define = '@app.query\ndef count(ctx):\n    return {label!r} + str(len(db_rows(ctx)))'
    execute(kernel, 'def db_rows(ctx):\n    return ctx.db.query("messages").collect()\n' + define.format(label="v1:"))
    _, messages = execute(kernel, "app.live(count)")
    comm = next(m["content"]["comm_id"] for m in messages if m["msg_type"] == "comm_open"
                and m["content"]["data"]["state"].get("path") == "notebook:count")
    _, messages = execute(kernel, define.format(label="v2:"))
    assert any(state.get("value_repr") == "'v2:0'" for state in updates(messages, comm))


def test_what_callbacks_print_goes_under_the_subscribing_cell(kernel):
    execute(kernel, SETUP)
    subscribing, _ = execute(kernel, '@app.query\ndef room_a(ctx):\n'
                                     '    return ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", "a")).collect()\n'
                                     'sub = app.subscribe(room_a, {}, lambda r: print("delivered", len(r)))')
    _, seen = execute(kernel, 'send(room="a", body="from a cell")')  # delivered on the main thread
    _, later = execute(kernel, 'import threading\n'  # delivered by the notifier
                               't = threading.Thread(target=send, kwargs={"room": "a", "body": "from a thread"})\n'
                               't.start(); t.join(); app.flush()')
    seen += later
    streams = [m for m in seen if m["msg_type"] == "stream" and "delivered" in m["content"]["text"]]
    assert sorted(line for m in streams for line in m["content"]["text"].splitlines()) == ["delivered 1", "delivered 2"]
    assert {m["parent_header"]["msg_id"] for m in streams} == {subscribing}


def test_live_cell_on_another_app(kernel):
    execute(kernel, SETUP + "\nfrom convex_lab import App\nother = App()\n"
                    '@other.mutation\ndef put(ctx):\n    return ctx.db.insert("things", {"n": 1.0})')
    execute(kernel, '%%live things --app other\nlen(db.query("things").collect())')
    execute(kernel, 'send(room="a", body="not in other")\nput()')
    assert printed(kernel, "print(things.value_repr, things.runs)") == "1.0 2"
    with pytest.raises(AssertionError, match="not a convex_lab App"):
        execute(kernel, "%%live --app nowhere\n1")


def test_interrupting_the_kernel_rolls_a_mutation_back():
    """Interrupt the kernel (what JupyterLab's stop button and Ctrl-C send) while a mutation runs:
    the cell ends in KeyboardInterrupt, nothing of the mutation is anywhere, and the app goes on."""
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        execute(client, '''
%load_ext convex_lab
seen = []

@app.query
def count(ctx):
    return len(ctx.db.query("t").collect())

@app.mutation
def forever(ctx):
    i = 0.0
    while True:  # only an interrupt ends it
        ctx.db.insert("t", {"i": i})
        i += 1

@app.mutation
def one(ctx):
    return ctx.db.insert("t", {"i": -1.0})

one()
sub = app.subscribe(count, {}, seen.append)
''')
        msg_id = client.execute('print("started", flush=True)\nforever()')
        iopub_until(client, lambda m: m["msg_type"] == "stream" and "started" in m["content"].get("text", ""),
                    60, "the cell did not start")
        manager.interrupt_kernel()
        errors = []

        def finished(msg):
            if msg["msg_type"] == "error" and msg["parent_header"].get("msg_id") == msg_id:
                errors.append(msg["content"]["ename"])
            return (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
                    and msg["parent_header"].get("msg_id") == msg_id)

        iopub_until(client, finished, 60, "the interrupted cell did not end")
        assert errors == ["KeyboardInterrupt"]
        state = printed(client, 'one(); app.flush()\n'
                                'print(len(app.table("t")), int(app.sql("select count(*) c from t")["c"][0]), sub.result)')
        assert state == "2 2 2.0"  # (a count is a float64 in Convex)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_live_cell_rerenders_when_a_network_clients_mutation_commits(kernel):
    execute(kernel, SETUP)
    url = printed(kernel, "print(app.serve())")
    _, messages = execute(kernel, LIVE)
    comm = live_comm_id(messages)
    # The kernel is idle: nothing but the server's thread and the notifier can bring the update.
    request = urllib.request.Request(
        f"{url}/api/mutation", data=json.dumps({"path": "notebook:send", "args": {"room": "a", "body": "over HTTP"}}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.loads(response.read())["status"] == "success"
    seen = wait_for_update(kernel, comm, lambda s: "over HTTP" in str(s.get("value_repr", "")))
    assert [s for s in updates(seen, comm) if "runs" in s][-1]["runs"] == 2


def test_live_cells_run_as_a_user_with_as_or_inside_an_as_user_block(kernel):
    execute(kernel, SETUP)
    who = '%%live {}\nidentity = ctx.auth.get_user_identity()\n[identity and identity["subject"], len(db.query("messages").collect())]\n'
    _, messages = execute(kernel, who.format("--as ada"))
    by_option = live_comm_id(messages)
    _, messages = execute(kernel, 'with app.as_user("grace"):\n'
                                  f'    get_ipython().run_cell_magic("live", "", {"# in a block" + chr(10) + who.split(chr(10), 1)[1]!r})')
    in_block = live_comm_id(messages)
    _, messages = execute(kernel, 'send(room="a", body="hi")')  # outside any block: the re-runs keep their user
    assert "['ada', 1.0]" in [state.get("value_repr") for state in updates(messages, by_option)]
    assert "['grace', 1.0]" in [state.get("value_repr") for state in updates(messages, in_block)]


def test_a_live_cell_re_renders_when_a_scheduled_function_or_a_cron_commits(kernel):
    execute(kernel, SETUP)
    _, messages = execute(kernel, LIVE)
    comm = live_comm_id(messages)

    def shows(text, messages):  # the update may come while the cell runs, or after it
        if not any(text in str(state.get("value_repr", "")) for state in updates(messages, comm)):
            wait_for_update(kernel, comm, lambda s: text in str(s.get("value_repr", "")))

    _, messages = execute(kernel, '@app.mutation\n'
                                  'def later(ctx):\n'
                                  '    ctx.scheduler.run_after(100, send, {"room": "a", "body": "scheduled"})\n'
                                  'later()')
    shows("scheduled", messages)
    _, messages = execute(kernel, 'app.crons.interval("greet", send, seconds=1, args={"room": "a", "body": "from a cron"})')
    shows("from a cron", messages)
    assert printed(kernel, 'app.crons.pause()\nprint(app.crons.list()[0]["function"])') == "notebook:send"
