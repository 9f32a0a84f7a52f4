"""Scheduled functions: `ctx.scheduler`, the `_scheduled_functions` rows, when and how jobs run.

Most tests move a `ManualClock`; one runs on the wall clock with real timers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading

import pytest

from convex_lab import App, ConvexError, ManualClock, v
from convex_lab.errors import (
    ArgumentValidationError,
    InvalidArgument,
    InvalidScheduledFunction,
    InvalidScheduledFunctionDelay,
)

from .conftest import check

START = "2025-01-01T00:00:00Z"
T0 = 1735689600000.0  # START in epoch ms


@pytest.fixture(params=["memory", "file"])
def lab(request, tmp_path):
    clock = ManualClock(START)
    app = App(clock=clock) if request.param == "memory" else App(tmp_path / "lab.duckdb", clock=clock)
    yield app
    app.close()


def define(app: App):
    @app.mutation
    def add(ctx, body):
        ctx.db.insert("notes", {"body": body, "who": ctx.auth.get_user_identity(),
                                "thread": threading.current_thread().name})

    @app.mutation
    def later(ctx, delay, body="later"):
        return ctx.scheduler.run_after(delay, add, {"body": body})

    @app.query
    def jobs(ctx):
        return ctx.db.system.query("_scheduled_functions").collect()

    @app.query
    def bodies(ctx):
        return [d["body"] for d in ctx.db.query("notes").collect()]

    return add, later, jobs, bodies


def test_run_after_writes_convex_row_and_runs_when_due(lab):
    add, later, jobs, bodies = define(lab)
    job_id = later(delay=5000, body="x")
    [job] = jobs()
    assert job["_id"] == job_id and lab._db.catalog.name_of(539) == "_scheduled_functions"
    assert {k: val for k, val in job.items() if not k.startswith("_")} == {
        "name": "notebook.js:add", "args": [{"body": "x"}], "scheduledTime": T0 + 5000, "state": {"kind": "pending"}}
    lab.clock.advance(seconds=4.999)
    assert bodies() == [] and jobs()[0]["state"] == {"kind": "pending"}
    lab.clock.advance(ms=1)
    assert bodies() == ["x"]
    [job] = jobs()
    assert job["state"] == {"kind": "success"} and job["completedTime"] == T0 + 5000
    logs = lab.logs()
    assert list(logs[logs.path == "notebook:add"].caller) == ["scheduler"]
    check(lab)


def test_run_at_takes_epoch_ms_or_datetime_and_past_times_run_at_once(lab):
    add, later, jobs, bodies = define(lab)

    @lab.mutation
    def at(ctx, when, body):
        return ctx.scheduler.run_at(when, add, {"body": body})

    at(when=T0 + 60_000, body="ms")
    lab.clock.advance()
    assert bodies() == []

    @lab.mutation
    def at_datetime(ctx):
        ctx.scheduler.run_at(dt.datetime(2025, 1, 1, 0, 0, 30, tzinfo=dt.timezone.utc), add, {"body": "datetime"})
        ctx.scheduler.run_at(dt.datetime(2024, 12, 31), "add", {"body": "past"})  # naive = UTC

    at_datetime()
    lab.clock.advance()  # nothing moves: what is due now has run
    assert bodies() == ["past"]
    lab.clock.advance(seconds=30)
    assert bodies() == ["past", "datetime"]
    lab.clock.advance(seconds=30)
    assert bodies() == ["past", "datetime", "ms"]
    assert sorted(j["scheduledTime"] for j in jobs()) == [1735603200000.0, T0 + 30_000, T0 + 60_000]


def test_a_mutation_that_fails_schedules_nothing(lab):
    add, later, jobs, bodies = define(lab)

    @lab.mutation
    def schedule_then_fail(ctx):
        ctx.scheduler.run_after(0, add, {"body": "never"})
        raise ConvexError("changed my mind")

    @lab.mutation
    def nested_fails(ctx):
        try:
            ctx.run_mutation(schedule_then_fail)
        except ConvexError:
            pass
        ctx.scheduler.run_after(0, add, {"body": "kept"})

    with pytest.raises(ConvexError):
        schedule_then_fail()
    assert jobs() == []
    nested_fails()  # the sub-transaction's job rolled back with it
    lab.clock.advance()
    assert [j["args"] for j in jobs()] == [[{"body": "kept"}]]
    assert bodies() == ["kept"]


def test_run_after_zero_runs_right_after_commit_on_a_worker_thread_without_identity(lab):
    add, later, jobs, bodies = define(lab)
    with lab.as_user("ada", name="Ada"):
        later(delay=0)
    lab.clock.advance()
    [note] = _notes(lab)
    assert note["who"] is None  # scheduled calls never carry an identity
    assert note["thread"].startswith("convex_lab-scheduler")  # never the caller's (kernel's) thread


def _notes(app: App) -> list[dict]:
    return list(app._db.store.tables["notes"].docs.values())


def test_the_job_success_commits_with_the_mutation_writes(lab):
    add, later, jobs, bodies = define(lab)
    later(delay=10)
    commits = []
    lab._db.listeners.append(lambda commit: commits.append({w.table.name for w in commit.writes}))
    lab.clock.advance(ms=10)
    assert commits == [{"notes", "_scheduled_functions"}]


def test_a_failing_job_records_its_error_and_its_writes_roll_back(lab):
    @lab.mutation
    def boom(ctx):
        ctx.db.insert("notes", {"body": "rolled back"})
        raise ValueError("boom")

    @lab.mutation(args={"n": v.number()})
    def typed(ctx, n):
        return n

    @lab.action
    def action_boom(ctx):
        raise ConvexError("action failed")

    @lab.mutation
    def schedule(ctx):
        ctx.scheduler.run_after(0, boom)
        ctx.scheduler.run_after(0, typed, {"n": "not a number"})  # args are checked when it runs
        ctx.scheduler.run_after(0, action_boom)

    schedule()
    lab.clock.advance()
    jobs = {j["name"]: j for j in lab._db.store.tables["_scheduled_functions"].docs.values()}
    assert jobs["notebook.js:boom"]["state"] == {"kind": "failed", "error": "Uncaught ValueError: boom"}
    assert jobs["notebook.js:boom"]["completedTime"] == T0
    assert jobs["notebook.js:typed"]["state"]["kind"] == "failed"
    assert "ArgumentValidationError" in jobs["notebook.js:typed"]["state"]["error"]
    assert "Path: .n" in jobs["notebook.js:typed"]["state"]["error"]
    assert jobs["notebook.js:action_boom"]["state"] == {"kind": "failed", "error": "Uncaught ConvexError: action failed"}
    assert "notes" not in lab.tables()
    failures = lab.logs()
    assert set(failures[failures.status == "failure"].caller) == {"scheduler"}


def test_cancel(lab):
    add, later, jobs, bodies = define(lab)

    @lab.mutation
    def cancel(ctx, id):
        ctx.scheduler.cancel(id)

    job_id = later(delay=1000)
    cancel(id=job_id)
    lab.clock.advance(seconds=2)
    [job] = jobs()
    assert job["state"] == {"kind": "canceled"} and job["completedTime"] == T0 and bodies() == []
    done = later(delay=0)
    lab.clock.advance()
    cancel(id=done)  # a finished job stays as it is
    cancel(id=job_id)
    assert {j["_id"]: j["state"]["kind"] for j in jobs()} == {job_id: "canceled", done: "success"}
    with pytest.raises(InvalidArgument, match="scheduler.cancel takes the id of a scheduled function"):
        cancel(id="not an id")


def test_actions_schedule_and_cancel_in_their_own_commits(lab):
    add, later, jobs, bodies = define(lab)

    @lab.action
    def sync_action(ctx):
        ctx.scheduler.run_after(1000, add, {"body": "from def"})
        doomed = ctx.scheduler.run_after(1000, add, {"body": "canceled"})
        ctx.scheduler.cancel(doomed)
        raise ConvexError("the action fails afterwards")  # what it scheduled stays scheduled

    @lab.action
    async def async_action(ctx):
        return await ctx.scheduler.run_at(T0 + 1000, "add", {"body": "from async def"})

    with pytest.raises(ConvexError):
        sync_action()
    job_id = async_action()
    assert job_id in {j["_id"] for j in jobs()}
    lab.clock.advance(seconds=1)
    assert sorted(bodies()) == ["from async def", "from def"]


def test_scheduling_checks_as_convex(lab):
    add, later, jobs, bodies = define(lab)

    @lab.query
    def a_query(ctx):
        return 1

    @lab.mutation
    def schedule(ctx, how):
        s = ctx.scheduler
        if how == "negative":
            s.run_after(-1, add)
        elif how == "nan":
            s.run_after(float("nan"), add)
        elif how == "string":
            s.run_after("10", add)
        elif how == "query":
            s.run_after(0, a_query)
        elif how == "missing":
            s.run_after(0, "nowhere:fn")
        elif how == "far":
            s.run_after(5 * 366 * 86_400_000 + 1, add)
        elif how == "far past":
            s.run_at(T0 - 6 * 366 * 86_400_000, add)
        elif how == "when":
            s.run_at("tomorrow", add)
        elif how == "args":
            s.run_after(0, add, ["not", "a", "dict"])
        elif how == "value":
            s.run_after(0, add, {"body": {1, 2}})

    for how, error, text in [
        ("negative", ValueError, "`delay_ms` must be non-negative"),
        ("nan", ValueError, "`delay_ms` must be a finite number"),
        ("string", TypeError, "`delay_ms` must be a number"),
        ("query", InvalidScheduledFunction, "notebook:a_query is a query: only mutations and actions can be scheduled"),
        ("missing", InvalidScheduledFunction, "Cannot schedule a function that does not exist"),
        ("far", InvalidScheduledFunctionDelay, "more than 5 years in the future"),
        ("far past", InvalidScheduledFunctionDelay, "more than 5 years in the past"),
        ("when", TypeError, "epoch milliseconds"),
        ("args", TypeError, "must be a dict"),
        ("value", TypeError, "not a supported Convex type"),
    ]:
        with pytest.raises(error, match=text):
            schedule(how=how)
    assert jobs() == []
    with pytest.raises(AttributeError):
        @lab.query
        def from_a_query(ctx):
            return ctx.scheduler
        from_a_query()


def test_int64_args_keep_the_validator_int_rule(lab):
    seen = []

    @lab.mutation(args={"n": v.int64()})
    def count(ctx, n):
        seen.append(n)

    @lab.mutation
    def schedule(ctx):
        ctx.scheduler.run_after(0, count, {"n": 5})

    schedule()
    lab.clock.advance()
    assert seen == [5] and type(seen[0]).__name__ == "Int64"


def test_an_action_job_is_in_progress_while_it_runs_and_cancel_leaves_it_running(lab):
    started, release = threading.Event(), threading.Event()

    @lab.action
    def slow(ctx):
        started.set()
        release.wait(30)

    @lab.mutation
    def schedule(ctx):
        return ctx.scheduler.run_after(0, slow)

    @lab.mutation
    def cancel(ctx, id):
        ctx.scheduler.cancel(id)

    job_id = schedule()
    lab.clock.advance(wait=False)
    assert started.wait(30)
    assert lab._db.store.tables["_scheduled_functions"].docs[job_id]["state"] == {"kind": "inProgress"}
    cancel(id=job_id)
    release.set()
    lab.clock.advance()
    assert lab._db.store.tables["_scheduled_functions"].docs[job_id]["state"] == {"kind": "canceled"}


@pytest.mark.parametrize("flavour", ["def", "async def"])
def test_what_a_canceled_running_action_schedules_afterwards_is_canceled(lab, flavour):
    add, later, jobs, bodies = define(lab)
    started, release = threading.Event(), threading.Event()
    scheduled = {}

    def body(ctx, wait):
        scheduled["before"] = ctx.scheduler.run_after(0, add, {"body": "before the cancel"})
        started.set()
        wait()
        scheduled["direct"] = ctx.scheduler.run_after(0, add, {"body": "direct"})
        scheduled["via mutation"] = ctx.run_mutation(later, {"delay": 0, "body": "via mutation"})
        scheduled["via action"] = ctx.run_action(other)

    @lab.action
    def other(ctx):
        return ctx.scheduler.run_after(0, add, {"body": "via action"})

    if flavour == "def":
        @lab.action
        def slow(ctx):
            body(ctx, lambda: release.wait(30))
    else:
        @lab.action
        async def slow(ctx):
            scheduled["before"] = await ctx.scheduler.run_after(0, add, {"body": "before the cancel"})
            started.set()
            await asyncio.to_thread(release.wait, 30)
            scheduled["direct"] = await ctx.scheduler.run_after(0, add, {"body": "direct"})
            scheduled["via mutation"] = await ctx.run_mutation(later, {"delay": 0, "body": "via mutation"})
            scheduled["via action"] = await ctx.run_action(other)

    @lab.mutation
    def schedule(ctx):
        return ctx.scheduler.run_after(0, slow)

    @lab.mutation
    def cancel(ctx, id):
        ctx.scheduler.cancel(id)

    job_id = schedule()
    lab.clock.advance(wait=False)
    assert started.wait(30)
    cancel(id=job_id)
    release.set()
    lab.clock.advance(seconds=10)
    docs = lab._db.store.tables["_scheduled_functions"].docs
    assert docs[job_id]["state"] == {"kind": "canceled"}  # it finished, and stays canceled
    assert docs[scheduled["before"]]["state"] == {"kind": "success"}  # scheduled before the cancel: it ran
    for how in ("direct", "via mutation", "via action"):
        assert docs[scheduled[how]]["state"] == {"kind": "canceled"}, how
        assert docs[scheduled[how]]["completedTime"] == T0
    assert bodies() == ["before the cancel"]
    # An action run by the notebook, or a scheduled one not canceled, schedules as usual.
    assert docs[other()]["state"] == {"kind": "pending"}
    lab.clock.advance()
    assert bodies() == ["before the cancel", "via action"]
    check(lab)


def test_pending_jobs_survive_reopening_and_wait_for_their_function(tmp_path, caplog):
    clock = ManualClock(START)
    path = tmp_path / "lab.duckdb"
    with App(path, clock=clock) as app:
        define(app)
        app.run_mutation("later", {"delay": 60_000, "body": "after reopening"})
    clock.advance(minutes=5)  # due while closed: nothing runs
    with App(path, clock=clock) as app:
        caplog.set_level(logging.WARNING, logger="convex_lab")
        clock.advance()
        [job] = app._db.store.tables["_scheduled_functions"].docs.values()
        assert job["state"] == {"kind": "pending"}  # its function is not registered yet
        assert "notebook:add is not registered" in caplog.text
        add, later, jobs, bodies = define(app)  # the code runs again: the job runs, once
        clock.advance()
        assert bodies() == ["after reopening"] and jobs()[0]["state"]["kind"] == "success"
    with App(path, clock=clock) as app:
        add, later, jobs, bodies = define(app)
        clock.advance(minutes=5)
        assert bodies() == ["after reopening"]


def test_an_action_cut_off_by_closing_is_failed_on_reopening_not_run_again(tmp_path):
    clock = ManualClock(START)
    path = tmp_path / "lab.duckdb"
    started, release = threading.Event(), threading.Event()
    runs = []
    app = App(path, clock=clock)

    @app.action
    def slow(ctx):
        runs.append(1)
        started.set()
        release.wait(30)

    @app.mutation
    def schedule(ctx):
        return ctx.scheduler.run_after(0, slow)

    job_id = schedule()
    clock.advance(wait=False)
    assert started.wait(30)
    app.close()  # the action is still running: its job stays inProgress in the file
    release.set()
    with App(path, clock=clock) as reopened:
        reopened.action(slow)
        clock.advance(minutes=1)
        job = reopened._db.store.tables["_scheduled_functions"].docs[job_id]
        assert job["state"] == {"kind": "failed", "error": "Transient error while executing action"}
    assert runs == [1]


@pytest.mark.parametrize("kind", ["memory", "file"])
@pytest.mark.parametrize("flavour", ["def", "async def"])
def test_closing_while_a_scheduled_action_runs_returns_and_the_next_open_fails_the_job(tmp_path, kind, flavour):
    clock = ManualClock(START)
    path = tmp_path / "lab.duckdb" if kind == "file" else None
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    outcome = []
    app = App(path, clock=clock)
    add, later, jobs, bodies = define(app)

    if flavour == "def":
        @app.action
        def slow(ctx):
            started.set()
            release.wait(30)
            try:
                ctx.run_mutation(add, {"body": "after closing"})
            except Exception as exc:  # noqa: BLE001 - what the action meets on a closed App
                outcome.append(type(exc).__name__)
            finished.set()
    else:
        @app.action
        async def slow(ctx):
            started.set()
            await asyncio.to_thread(release.wait, 30)
            try:
                await ctx.run_mutation(add, {"body": "after closing"})
            except Exception as exc:  # noqa: BLE001
                outcome.append(type(exc).__name__)
            finished.set()

    @app.mutation
    def schedule(ctx):
        return ctx.scheduler.run_after(0, slow)

    job_id = schedule()
    clock.advance(wait=False)
    assert started.wait(30)
    closing = threading.Thread(target=app.close)
    closing.start()
    closing.join(30)
    assert not closing.is_alive()  # close() does not wait for the action
    release.set()
    assert finished.wait(30)
    assert outcome == ["AppClosedError"]  # it ran on, and met the closed App
    if kind == "file":
        with App(path, clock=clock) as reopened:
            add, later, jobs, bodies = define(reopened)
            reopened.action(slow)
            clock.advance(minutes=1)
            job = reopened._db.store.tables["_scheduled_functions"].docs[job_id]
            assert job["state"] == {"kind": "failed", "error": "Transient error while executing action"}
            assert bodies() == []


def test_closing_stops_the_timers(tmp_path):
    clock = ManualClock(START)
    app = App(clock=clock)
    add, later, jobs, bodies = define(app)
    later(delay=1000)
    app.close()
    clock.advance(seconds=5)  # a closed App's services are left out
    assert "notes" not in app._db.store.tables


def test_real_timers_run_a_job_on_the_wall_clock():
    with App() as app:  # the wall clock and the runtime loop's timers
        done = threading.Event()
        add, later, jobs, bodies = define(app)
        sub = app.subscribe(bodies, {}, lambda result: done.set() if result else None)
        later(delay=50, body="on time")
        assert done.wait(30)
        assert bodies() == ["on time"]
        sub.unsubscribe()
