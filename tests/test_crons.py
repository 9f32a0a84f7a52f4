"""Crons: `app.crons` and `cron_jobs()` in `crons.py`; specs, exact times, state across reopening,
no overlap, skipped runs, pause/resume, functions directories."""

from __future__ import annotations

import asyncio
import logging
import textwrap
import threading

import pytest

from convex_lab import App, ManualClock, cron_jobs
from convex_lab.errors import InvalidScheduledFunction
from convex_lab.runtime.crons import stable_minute

START = "2025-01-01T00:00:00Z"  # a Wednesday
T0 = 1735689600000.0
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


@pytest.fixture
def lab():
    app = App(clock=ManualClock(START))
    yield app
    app.close()


def define(app: App):
    @app.mutation
    def tick(ctx, label="tick"):
        ctx.db.insert("ticks", {"label": label, "who": ctx.auth.get_user_identity()})

    @app.query
    def ticks(ctx):
        return [d["label"] for d in ctx.db.query("ticks").collect()]

    return tick, ticks


def test_specs_and_exact_next_runs(lab):
    tick, ticks = define(lab)
    lab.crons.interval("clear presence", tick, seconds=30)
    lab.crons.hourly("aggregate", tick, minute_utc=15)
    lab.crons.daily("reset scores", tick, hour_utc=17, minute_utc=30)
    lab.crons.weekly("digest", tick, day_of_week="tuesday", hour_utc=17, minute_utc=30)
    lab.crons.monthly("invoice", tick, day=1, hour_utc=16, minute_utc=0, args={"label": "bill"})
    lab.crons.cron("custom", "0 16 1 * *", "tick")
    lab.crons.hourly("no minute", tick)
    listed = {c["name"]: c for c in lab.crons.list()}
    assert [c["name"] for c in lab.crons.list()] == sorted(listed)
    assert {name: c["schedule"] for name, c in listed.items()} == {
        "clear presence": {"type": "interval", "seconds": 30},
        "aggregate": {"type": "hourly", "minuteUTC": 15},
        "reset scores": {"type": "daily", "hourUTC": 17, "minuteUTC": 30},
        "digest": {"type": "weekly", "dayOfWeek": "tuesday", "hourUTC": 17, "minuteUTC": 30},
        "invoice": {"type": "monthly", "day": 1, "hourUTC": 16, "minuteUTC": 0},
        "custom": {"type": "cron", "cron": "0 16 1 * *"},
        "no minute": {"type": "hourly"},
    }
    assert listed["invoice"]["function"] == "notebook:tick" and listed["invoice"]["args"] == {"label": "bill"}
    lab.clock.advance()
    next_runs = {name: c["nextRun"] for name, c in ((c["name"], c) for c in lab.crons.list())}
    assert next_runs == {
        "clear presence": T0 + 30_000,  # ran at once (at definition), next 30 s later
        "aggregate": T0 + 15 * MINUTE,
        "reset scores": T0 + 17 * HOUR + 30 * MINUTE,
        "digest": T0 + 6 * DAY + 17 * HOUR + 30 * MINUTE,  # Tuesday Jan 7
        "invoice": T0 + 16 * HOUR,
        "custom": T0 + 16 * HOUR,
        "no minute": T0 + (stable_minute("no minute") * MINUTE or HOUR),  # strictly after now
    }
    assert {c["name"]: c["lastRun"] for c in lab.crons.list()}["clear presence"] == T0


def test_runs_are_logged_with_caller_cron_and_no_identity(lab):
    tick, ticks = define(lab)
    with lab.as_user("ada"):
        lab.crons.interval("every minute", tick, minutes=1, args={"label": "m"})
    lab.clock.advance(minutes=3)  # the clock steps through 0, 1, 2 and 3 minutes
    assert ticks() == ["m"] * 4
    assert all(doc["who"] is None for doc in lab._db.store.tables["ticks"].docs.values())
    logs = lab.logs()
    assert list(logs[logs.path == "notebook:tick"].caller) == ["cron"] * 4
    [entry] = lab.crons.list()
    assert entry["lastRun"] == T0 + 3 * MINUTE and entry["nextRun"] == T0 + 4 * MINUTE


def test_checks_as_convex(lab):
    tick, ticks = define(lab)

    @lab.query
    def a_query(ctx):
        return 1

    crons = lab.crons
    for call, error, text in [
        (lambda: crons.interval("x", tick), ValueError, "Must specify one of seconds, minutes, or hours"),
        (lambda: crons.interval("x", tick, seconds=1, minutes=1), ValueError, "Must specify one of"),
        (lambda: crons.interval("x", tick, seconds=0), ValueError, "Interval must be an integer greater than 0"),
        (lambda: crons.interval("x", tick, seconds=1.5), ValueError, "Interval must be an integer"),
        (lambda: crons.daily("x", tick, hour_utc=24), ValueError, "Hour of day must be an integer from 0 to 23"),
        (lambda: crons.hourly("x", tick, minute_utc=60), ValueError, "Minute of hour must be an integer from 0 to 59"),
        (lambda: crons.monthly("x", tick, day=0, hour_utc=1), ValueError, "Day of month must be an integer from 1 to 31"),
        (lambda: crons.weekly("x", tick, day_of_week="Tuesday", hour_utc=1), ValueError, 'like "monday"'),
        (lambda: crons.cron("x", "0 16 1 *", tick), ValueError, "expected 5 fields"),
        (lambda: crons.cron("x", "0 0 31 2 *", tick), ValueError, "never matches"),
        (lambda: crons.interval("tab\there", tick, seconds=1), ValueError, "Invalid cron identifier"),
        (lambda: crons.interval("x", a_query, seconds=1), InvalidScheduledFunction, "only mutations and actions"),
        (lambda: crons.interval("x", "nowhere:fn", seconds=1), InvalidScheduledFunction, "does not exist"),
    ]:
        with pytest.raises(error, match=text):
            call()
    assert crons.list() == []
    jobs = cron_jobs()
    jobs.interval("twice", "tick", seconds=1)
    with pytest.raises(ValueError, match="Cron identifier registered twice: twice"):
        jobs.interval("twice", "tick", seconds=2)


def test_defining_a_name_again_replaces_it_and_the_same_spec_keeps_its_state(lab):
    tick, ticks = define(lab)
    lab.crons.interval("a", tick, minutes=10)
    lab.clock.advance(minutes=3)
    before = lab.crons.list()[0]
    lab.crons.interval("a", tick, minutes=10)  # a re-run cell: same spec, same state
    assert lab.crons.list() == [before]
    lab.crons.interval("a", tick, minutes=5)  # a new spec: a new schedule, from now
    lab.clock.advance()
    [entry] = lab.crons.list()
    assert entry["schedule"] == {"type": "interval", "minutes": 5} and entry["nextRun"] == T0 + 8 * MINUTE
    assert ticks() == ["tick", "tick"]
    lab.crons.remove("a")
    assert lab.crons.list() == [] and "_cron_jobs" not in {n for n, c in lab.tables(system=True).items() if c}
    with pytest.raises(KeyError, match="No cron named 'a'"):
        lab.crons.remove("a")


def test_runs_never_overlap_and_past_times_are_skipped_and_logged(lab, caplog):
    started, release = threading.Event(), threading.Event()
    runs = []

    @lab.action
    def slow(ctx):
        runs.append(lab.clock.now_ms())
        started.set()
        release.wait(30)

    caplog.set_level(logging.WARNING, logger="convex_lab")
    lab.crons.interval("slow", slow, seconds=30)
    assert started.wait(30)
    lab.clock.advance(seconds=100, wait=False)  # 30, 60 and 90 s pass while the first run goes on
    lab.clock.advance(wait=False)
    release.set()
    lab.clock.advance()
    assert runs == [T0]  # never a second run at once
    assert "Skipping 3 runs of cron 'slow' because multiple scheduled runs are in the past" in caplog.text
    [entry] = lab.crons.list()
    assert entry["nextRun"] == T0 + 120_000 and entry["lastRun"] == T0
    lab.clock.advance(seconds=20)
    assert runs == [T0, T0 + 120_000]


def test_pause_and_resume(lab):
    tick, ticks = define(lab)
    lab.crons.interval("a", tick, minutes=1)
    lab.crons.interval("b", tick, minutes=1, args={"label": "b"})
    lab.clock.advance()
    lab.crons.pause("a")
    lab.clock.advance(minutes=2)
    assert ticks().count("tick") == 1 and ticks().count("b") == 3
    lab.crons.pause()
    lab.clock.advance(minutes=2)
    assert ticks().count("b") == 3 and all(c["paused"] for c in lab.crons.list())
    lab.crons.resume()
    lab.clock.advance()
    assert ticks().count("tick") == 2 and ticks().count("b") == 4  # missed runs are not replayed
    with pytest.raises(KeyError):
        lab.crons.pause("nope")


def test_state_survives_reopening_and_missed_runs_are_skipped_and_logged(tmp_path, caplog):
    clock = ManualClock(START)
    path = tmp_path / "lab.duckdb"
    with App(path, clock=clock) as app:
        tick, ticks = define(app)
        app.crons.interval("every hour", tick, hours=1)
        app.crons.daily("daily", tick, hour_utc=0, minute_utc=30, args={"label": "daily"})
        app.crons.pause("daily")
        clock.advance(hours=1)
        state = {c["name"]: c for c in app.crons.list()}
        assert state["every hour"]["lastRun"] == T0 + HOUR
    clock.advance(hours=5, minutes=30)  # closed: the runs at 2, 3, 4, 5 and 6 h are missed
    caplog.set_level(logging.WARNING, logger="convex_lab")
    with App(path, clock=clock) as app:
        tick, ticks = define(app)
        assert app.crons.list() == []  # definitions are code: they come back when it runs
        clock.advance()
        assert ticks() == ["tick", "tick"]  # nothing ran before the cron was defined again
        app.crons.daily("daily", tick, hour_utc=0, minute_utc=30, args={"label": "daily"})
        [daily] = app.crons.list()
        assert daily["paused"] is True and daily["nextRun"] == T0 + 30 * MINUTE  # its state came back
        app.crons.interval("every hour", tick, hours=1)  # overdue since 2 h: it runs at once
        clock.advance()
        # the overdue run happens once; the other missed times are skipped and logged
        assert ticks() == ["tick"] * 3
        assert "Skipping 4 runs of cron 'every hour'" in caplog.text
        [hourly] = [c for c in app.crons.list() if c["name"] == "every hour"]
        assert hourly["nextRun"] == T0 + 7 * HOUR and hourly["lastRun"] == T0 + 6.5 * HOUR


@pytest.mark.parametrize("flavour", ["def", "async def"])
def test_a_running_action_cut_off_by_closing_is_not_run_again(tmp_path, flavour):
    clock = ManualClock(START)
    path = tmp_path / "lab.duckdb"
    started, release = threading.Event(), threading.Event()
    runs = []
    app = App(path, clock=clock)

    if flavour == "def":
        @app.action
        def slow(ctx):
            runs.append(1)
            started.set()
            release.wait(30)
    else:
        @app.action
        async def slow(ctx):
            runs.append(1)
            started.set()
            await asyncio.to_thread(release.wait, 30)

    app.crons.interval("slow", slow, hours=1)
    assert started.wait(30)
    closing = threading.Thread(target=app.close)
    closing.start()
    closing.join(30)
    assert not closing.is_alive()  # close() does not wait for the run
    release.set()
    with App(path, clock=clock) as reopened:
        reopened.action(slow)
        reopened.crons.interval("slow", slow, hours=1)
        clock.advance(minutes=30)
        assert runs == [1]
        assert reopened.crons.list()[0]["nextRun"] == T0 + HOUR


def test_crons_py_in_a_functions_directory_with_reload(tmp_path):
    fns = tmp_path / "convex"
    fns.mkdir()
    (fns / "jobs.py").write_text(textwrap.dedent('''
        from convex_lab import mutation, internal_mutation

        @internal_mutation
        def tick(ctx, label="tick"):
            ctx.db.insert("ticks", {"label": label})
    '''))
    (fns / "crons.py").write_text(textwrap.dedent('''
        from convex_lab import cron_jobs
        from .jobs import tick

        crons = cron_jobs()
        crons.interval("fast", tick, minutes=1, args={"label": "fast"})
        crons.daily("nightly", "jobs:tick", hour_utc=3)
    '''))
    with App(clock=ManualClock(START)) as app:
        app.load_functions(fns)
        app.crons.interval("mine", "jobs:tick", hours=1, args={"label": "mine"})
        app.clock.advance(minutes=2)
        assert sorted(c["name"] for c in app.crons.list()) == ["fast", "mine", "nightly"]
        fast = next(c for c in app.crons.list() if c["name"] == "fast")
        app.load_functions(fns)  # unchanged: the state stays
        assert next(c for c in app.crons.list() if c["name"] == "fast") == fast
        (fns / "crons.py").write_text(textwrap.dedent('''
            from convex_lab import cron_jobs

            crons = cron_jobs()
            crons.interval("fast", "jobs:tick", minutes=1, args={"label": "fast"})
        '''))
        app.load_functions(fns)  # "nightly" is gone; "mine" (the notebook's) stays
        assert sorted(c["name"] for c in app.crons.list()) == ["fast", "mine"]
        assert next(c for c in app.crons.list() if c["name"] == "fast") == fast
        (fns / "crons.py").write_text("crons = 'not a cron_jobs()'\n")
        with pytest.raises(TypeError, match="must set `crons = cron_jobs\\(\\)`"):
            app.load_functions(fns)


BAD_CRONS = {
    "a function that does not exist": ("crons.interval('bad', 'jobs:nope', minutes=1)",
                                       InvalidScheduledFunction, "does not exist"),
    "a query": ("crons.interval('bad', 'jobs:count', minutes=1)", InvalidScheduledFunction,
                "jobs:count is a query"),
    "a function this load removes": ("crons.interval('bad', 'jobs:old', minutes=1)",
                                     InvalidScheduledFunction, "no longer declared"),
    "args that are not a dict": ("crons.interval('bad', 'jobs:tick', minutes=1, args=[1])", TypeError,
                                 "must be a dict"),
}


@pytest.mark.parametrize("kind", ["memory", "file"])
@pytest.mark.parametrize("case", list(BAD_CRONS))
def test_a_bad_crons_py_leaves_functions_routes_schema_and_crons_as_they_were(tmp_path, kind, case):
    fns = tmp_path / "convex"
    fns.mkdir()
    jobs = textwrap.dedent('''
        from convex_lab import mutation, query

        @mutation
        def tick(ctx, label="tick"):
            ctx.db.insert("ticks", {"label": label})

        @query
        def count(ctx):
            return len(ctx.db.query("ticks").collect())
    ''')
    (fns / "jobs.py").write_text(jobs + "\n@mutation\ndef old(ctx):\n    pass\n")
    (fns / "schema.py").write_text("from convex_lab import define_schema, define_table, v\n"
                                   "schema = define_schema({'ticks': define_table({'label': v.string()})})\n")
    (fns / "http.py").write_text("from convex_lab import Response, http_router\nhttp = http_router()\n"
                                 "http.route(path='/a', method='GET', handler=lambda ctx, request: Response('a'))\n")
    (fns / "crons.py").write_text("from convex_lab import cron_jobs\ncrons = cron_jobs()\n"
                                  "crons.interval('good', 'jobs:old', minutes=1)\n")
    clock = ManualClock(START)
    app = App(clock=clock) if kind == "memory" else App(tmp_path / "lab.duckdb", clock=clock)
    try:
        app.load_functions(fns)
        clock.advance(minutes=1)

        def state():
            return (sorted(app.functions), [(r.method, r.pattern) for r in app.http.routes], repr(app.schema),
                    app.crons.list(), app.table("ticks").df().to_dict("records") if len(app.table("ticks")) else [])

        before = state()
        # Every part of the directory changes, and crons.py is bad: nothing changes at all.
        line, error, text = BAD_CRONS[case]
        (fns / "jobs.py").write_text(jobs + "\n@mutation\ndef new(ctx):\n    pass\n")
        (fns / "schema.py").write_text("from convex_lab import define_schema, define_table, v\n"
                                       "schema = define_schema({'ticks': define_table({'label': v.any()})})\n")
        (fns / "http.py").write_text("from convex_lab import Response, http_router\nhttp = http_router()\n"
                                     "http.route(path='/b', method='GET', handler=lambda ctx, request: Response('b'))\n")
        (fns / "crons.py").write_text("from convex_lab import cron_jobs\ncrons = cron_jobs()\n"
                                      "crons.interval('fresh', 'jobs:new', minutes=1)\n" + line + "\n")
        with pytest.raises(error, match=text) as raised:
            app.load_functions(fns)
        assert f"{fns / 'crons.py'}: cron 'bad': " in str(raised.value)
        assert state() == before
        clock.advance(minutes=2)  # the crons as before go on
        assert len(app.table("ticks")) == 0 and app.crons.list()[0]["lastRun"] == T0 + 3 * MINUTE
        # Fixed, the directory loads, and the crons.py cron can name a function new in this load.
        (fns / "crons.py").write_text("from convex_lab import cron_jobs\ncrons = cron_jobs()\n"
                                      "crons.interval('fresh', 'jobs:new', minutes=1)\n")
        assert "jobs:new" in app.load_functions(fns)
        assert [c["name"] for c in app.crons.list()] == ["fresh"] and "jobs:old" not in app.functions
    finally:
        app.close()


def test_real_timers_run_a_cron():
    with App() as app:
        done = threading.Event()
        tick, ticks = define(app)
        sub = app.subscribe(ticks, {}, lambda result: done.set() if len(result) >= 2 else None)
        app.crons.interval("fast", tick, seconds=1)  # at once, then a second later
        assert done.wait(30)
        sub.unsubscribe()
