"""Ctrl-C at every line of the commit path: every write is all or nothing under KeyboardInterrupt.

For each scenario (a mutation with live queries, imports, a schema change, a SQL flush, a
subscription, a session's queries), a first run records every line the operation executes in the main thread; then,
for each distinct line, a fresh app runs the operation with a simulated Ctrl-C arriving while that
line runs, handled at the next point where CPython handles signals (`interrupt_harness.Injector`),
and the invariants are checked:

- the caller's outcome matches the data: a plain KeyboardInterrupt raised inside the engine means
  nothing was applied; a return or `InterruptedAfterCommit` means all of it was (a Ctrl-C handled
  in the thin API layer, before the engine ran or after it returned, may find either state);
- memory holds the state from before or after the operation, never a mix, and the engine's
  `_check()`s pass (store, indexes, id prefixes, the live-query registry);
- the SQL surface shows exactly the documents in memory; a file reopened shows them too;
- every live query's last delivery equals a fresh run of its query (after `app.flush()`);
- no Ctrl-C section is left open, and the app goes on working (a mutation called directly).
"""

from __future__ import annotations

import faulthandler
import gc
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest

from convex_lab import App, define_schema, define_table, interrupts, v
from convex_lab.values import dumps_export, loads_export, values_equal

from .interrupt_harness import Injector, Outcome, Report, call_with_interrupt, distinct_lines


# -- scenarios -----------------------------------------------------------------------------------


def _functions(app: App) -> dict[str, Any]:
    @app.mutation
    def seed(ctx):
        for i in range(3):
            ctx.db.insert("notes", {"n": float(i), "s": f"note {i}"})
        ctx.storage.store(b"seeded file", "text/plain")
        ctx.storage.store(b"shared bytes")

    @app.mutation
    def file_work(ctx):
        seeded = ctx.db.system.query("_storage").collect()
        ctx.storage.delete(seeded[0]["_id"])
        new_id = ctx.storage.store(b"a new file", "text/plain")
        ctx.storage.store(b"shared bytes")  # the same bytes as a seeded file: one file on disk
        ctx.db.insert("notes", {"n": 20.0, "s": "with a file", "tags": [str(len(new_id))]})

    @app.mutation
    def work(ctx):
        notes = ctx.db.query("notes").collect()
        ctx.db.insert("notes", {"n": 10.0, "s": "new a"})
        ctx.db.insert("notes", {"n": 11.0, "s": "new b", "tags": ["x", "y"]})
        ctx.db.patch(notes[0]["_id"], {"n": notes[0]["n"] + 100})
        ctx.db.delete(notes[1]["_id"])
        ctx.db.insert("tags", {"name": "fresh"})
        # Scheduling is part of the transaction too (a time that is the same in every trial).
        ctx.scheduler.run_at((ctx.now // 86_400_000 + 2) * 86_400_000, touch)
        return len(notes)

    @app.mutation
    def touch(ctx):
        return ctx.db.insert("after", {"ok": True})

    @app.query
    def all_notes(ctx):
        return ctx.db.query("notes").collect()

    @app.query
    def all_tags(ctx):
        return ctx.db.query("tags").collect()

    @app.query
    def count_notes(ctx):
        return len(ctx.db.query("notes").collect())

    @app.query
    def notes_above(ctx, n):
        return [d["s"] for d in ctx.db.query("notes").collect() if d["n"] > n]

    return {"seed": seed, "work": work, "file_work": file_work, "touch": touch, "all_notes": all_notes, "all_tags": all_tags,
            "count_notes": count_notes, "notes_above": notes_above}


@dataclass
class Scenario:
    name: str
    operation: Callable[[App, dict], Any]
    kinds: tuple[str, ...] = ("memory", "file")
    changes_data: bool = True


SCHEMA = define_schema({
    "notes": define_table({"n": v.number(), "s": v.string(), "tags": v.optional(v.array(v.string()))})
    .index("by_n", ["n"]),
    "labels": define_table({"name": v.string()}),
})

SCENARIOS = {
    "mutation": Scenario("mutation", lambda app, fns: fns["work"]()),
    # A sync client's mutation: its result recorded for replays in the same commit as its writes.
    "recorded_mutation": Scenario("recorded_mutation", lambda app, fns: app._runtime.execute(
        "notebook:work", {}, replay_key="7@session")),
    "import_rows": Scenario("import_rows", lambda app, fns: app.import_rows(
        "notes", [{"n": float(i), "s": f"row {i}"} for i in range(20)])),
    "import_frame": Scenario("import_frame", lambda app, fns: app.import_rows(
        "frame", pd.DataFrame({"x": [float(i) for i in range(20)], "name": [f"r{i}" for i in range(20)]}))),
    "set_schema": Scenario("set_schema", lambda app, fns: app.set_schema(SCHEMA)),
    "storage": Scenario("storage", lambda app, fns: fns["file_work"]()),
    "env_set": Scenario("env_set", lambda app, fns: app.env.set("API_KEY", "secret")),
    "sql": Scenario("sql", lambda app, fns: app.sql("select count(*) as c from notes"), changes_data=False),
    "subscribe": Scenario("subscribe", lambda app, fns: app.subscribe(fns["count_notes"], {}, lambda r: None),
                          changes_data=False),
    "session": Scenario("session", lambda app, fns: _session_add(app, fns), changes_data=False),
}


def _session_add(app: App, fns: dict) -> None:
    """A session adds a query already live (shared run) and a new one (first run)."""
    session = app._reactor.open_session(lambda transition: None)
    session.add(1, fns["count_notes"], {})
    session.add(2, fns["notes_above"], {"n": 0.0})


# -- state and invariants ------------------------------------------------------------------------


def _user_fields(doc: dict) -> str:
    return dumps_export({k: val for k, val in doc.items() if not k.startswith("_")})


RECORDS = "(records)"  # memory_state's entry of the records stored with commits (not a table)


def memory_state(app: App) -> dict[str, list[str]]:
    """Every table (empty ones too) and its documents' fields, order-independent, and the records
    stored with commits (engine/records.py)."""
    state = {name: sorted(_user_fields(doc) for doc in table.docs.values())
             for name, table in app._db.store.tables.items()}
    state[RECORDS] = sorted(f"{kind} {key} {body}" for kind, key, _, body in app._db.records.rows())
    return state


def sql_state(app: App) -> dict[str, list[str]]:
    """What the SQL surface holds, read from the DuckDB documents table after a flush."""
    persistence = app._persistence
    persistence.materialize()
    out: dict[str, list[str]] = {}
    numbers = {table.number: name for name, table in app._db.store.tables.items()}
    rows = persistence._cursor().execute("SELECT table_number, body FROM _convex.documents").fetchall()
    for number, body in rows:
        out.setdefault(numbers.get(number, f"#{number}"), []).append(_user_fields(loads_export(body)))
    return {name: sorted(docs) for name, docs in out.items()}


def files_problems(app: App) -> list[str]:
    """Stored files: every `_storage` row's bytes on disk, no other file, nothing left pending."""
    blobs = app._storage.blobs
    problems = []
    try:
        blobs._check()
    except AssertionError as exc:
        problems.append(f"files left behind: {exc}")
    if blobs.pending:
        problems.append(f"staged files never released: {dict(blobs.pending)}")
    for row in app.storage.list():
        if app.storage.get(row["_id"]) is None:
            problems.append(f"the row {row['_id']} points at missing bytes")
    return problems


def nonempty(state: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: docs for name, docs in state.items() if docs}


class Trial:
    """A fresh app with seeded data, two plain live queries and a widget-style one."""

    def __init__(self, kind: str, path: Path | None) -> None:
        self.kind = kind
        self.path = path
        self.app = App(path) if kind == "file" else App()
        self.fns = _functions(self.app)
        self.fns["seed"]()
        self.deliveries: dict[str, Any] = {}
        self.subs = [
            self.app.subscribe(self.fns["all_notes"], {}, lambda r: None),
            self.app.subscribe(self.fns["all_tags"], {}, lambda r: None),
            self.app._reactor.subscribe(self.fns["count_notes"], {}, lambda r: None, notifier_only=True,
                                        own_copy=False),
        ]
        self.app.flush()
        self.before = memory_state(self.app)

    def check(self, outcome: Outcome, after: dict[str, list[str]] | None, scenario: Scenario) -> list[str]:
        app = self.app
        problems = []
        where = f"{outcome.kind} at {outcome.where}"
        try:
            interrupts._check()
        except AssertionError as exc:
            problems.append(f"{where}: a Ctrl-C section was left open or an interrupt pending ({exc})")
        try:
            assert app._db.lock.acquire(timeout=5), "the commit lock was left held"
            app._db.lock.release()
            app._db._check()
            app._reactor._check()
        except AssertionError as exc:
            problems.append(f"{where}: structural invariant broken: {exc!r}")
            return problems
        problems += [f"{where}: {problem}" for problem in files_problems(app)]
        state = memory_state(app)
        if scenario.changes_data:
            if outcome.kind == "interrupted" and state != self.before:
                problems.append(f"{where}: KeyboardInterrupt (nothing applied) but memory changed")
            if outcome.kind in ("returned", "committed") and state != after:
                problems.append(f"{where}: the call {outcome.kind} but memory is not the state after it")
            if state not in (self.before, after):
                problems.append(f"{where}: memory is neither the state before nor after")
        elif state != self.before:
            problems.append(f"{where}: a read-only operation changed memory")
        if nonempty(sql_state(app)) != nonempty({name: docs for name, docs in state.items() if name != RECORDS}):
            problems.append(f"{where}: the SQL surface differs from memory")
        app.flush()
        for sub in self.subs:
            fresh = app.run_query(sub.path)
            if not values_equal(sub.result, fresh):
                problems.append(f"{where}: live query {sub.path} last delivered a stale result")
        try:
            self.fns["touch"]()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{where}: the app no longer works: {type(exc).__name__}: {exc}")
            return problems
        state = memory_state(app)
        if self.kind == "file":
            app.close()
            reopened = App(self.path)
            try:
                if memory_state(reopened) != state:
                    problems.append(f"{where}: the file, reopened, differs from memory")
                problems += [f"{where}: reopened, {problem}" for problem in files_problems(reopened)]
            finally:
                reopened.close()
        return problems

    def close(self) -> None:
        self.app.close()


def _reference_after(scenario: Scenario, kind: str, path: Path | None) -> dict[str, list[str]]:
    trial = Trial(kind, path)
    try:
        scenario.operation(trial.app, trial.fns)
        trial.app.flush()
        return memory_state(trial.app)
    finally:
        trial.close()


def run_scenario(scenario: Scenario, kind: str, tmp_path: Path, every: int = 1) -> Report:
    """Interrupt `scenario` at every distinct line (or every `every`-th), checking each trial."""
    report = Report()
    counter = 0

    def fresh_path() -> Path | None:
        nonlocal counter
        counter += 1
        return tmp_path / f"{scenario.name}-{counter}.duckdb" if kind == "file" else None

    after = _reference_after(scenario, kind, fresh_path())
    trial = Trial(kind, fresh_path())
    recorder = Injector(record=True)
    try:
        recorder.run(lambda: scenario.operation(trial.app, trial.fns))
    finally:
        trial.close()
    lines = distinct_lines(recorder.points)
    targets = lines[::every]
    report.points = len(lines)
    for target in targets:
        trial = Trial(kind, fresh_path())
        # A hang (a lock left held) fails the run with every thread's stack instead of stalling CI.
        faulthandler.dump_traceback_later(120, exit=True)
        try:
            outcome = call_with_interrupt(lambda: scenario.operation(trial.app, trial.fns), target)
            report.trials += 1
            report.outcomes[outcome.kind] = report.outcomes.get(outcome.kind, 0) + 1
            report.failures += trial.check(outcome, after, scenario)
        finally:
            faulthandler.cancel_dump_traceback_later()
            trial.close()
        if report.trials % 50 == 0:
            gc.collect()
    return report


# -- the tests -----------------------------------------------------------------------------------


CASES = [(name, kind) for name, scenario in SCENARIOS.items() for kind in scenario.kinds
         if not (name == "sql" and kind == "file")]


@pytest.mark.parametrize("name,kind", CASES)
def test_interrupt_at_sampled_lines(name, kind, tmp_path):
    """A quick pass: every 25th distinct line (the slow test below takes them all)."""
    report = run_scenario(SCENARIOS[name], kind, tmp_path, every=25)
    assert report.trials > 0
    assert report.failures == [], "\n".join(report.failures[:20])


@pytest.mark.slow
@pytest.mark.parametrize("name,kind", CASES)
def test_interrupt_at_every_line(name, kind, tmp_path):
    report = run_scenario(SCENARIOS[name], kind, tmp_path)
    print(f"{name}/{kind}: {report.points} lines, outcomes {report.outcomes}")
    assert report.trials == report.points
    assert "interrupted" in report.outcomes  # the harness really interrupted something
    assert report.failures == [], "\n".join(report.failures[:20])


@pytest.mark.slow
def test_real_sigint_at_random_moments(tmp_path):
    """bench/interrupts.py: real SIGINTs to the main thread during imports, a big mutation with a
    live query, and file commits; every trial must be all or nothing."""
    out = tmp_path / "trials.json"
    script = Path(__file__).resolve().parent.parent / "bench" / "interrupts.py"
    done = subprocess.run([sys.executable, str(script), "--trials", "8", "--rows", "50000", "--docs", "5000",
                           "--json", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert {r["scenario"] for r in results} == {"import", "mutation", "file commit"}
    for r in results:
        assert r["failures"] == 0, r["problems"]
        assert r["trials"] == 8
    assert sum(r["outcomes"].get("interrupted", 0) for r in results) > 0


# -- the crons' own writes -------------------------------------------------------------------------


def _cron_trial(operation: str, target: tuple[str, int] | None) -> tuple[Outcome | None, list[str]]:
    """A fresh app with a cron "old"; `operation` ("define" a cron "new", or "remove" "old") runs
    with a Ctrl-C at `target` (None: recorded, not interrupted). The cron rows and the crons the
    App runs must agree: both changed or neither."""
    from convex_lab import ManualClock

    app = App(clock=ManualClock("2025-01-01T00:00:00Z"))
    problems: list[str] = []
    try:
        @app.mutation
        def tick(ctx, label):
            ctx.db.insert("ticks", {"label": label})

        app.crons.interval("old", tick, minutes=1, args={"label": "old"})
        app.clock.advance()  # its first run

        def operate():
            if operation == "define":
                app.crons.interval("new", tick, minutes=1, args={"label": "new"})
            else:
                app.crons.remove("old")

        if target is None:
            recorder = Injector(record=True)
            recorder.run(operate)
            return None, [str(p) for p in distinct_lines(recorder.points)]  # type: ignore[misc]
        outcome = call_with_interrupt(operate, target)
        where = f"{outcome.kind} at {outcome.where}"
        try:
            interrupts._check()
        except AssertionError as exc:
            problems.append(f"{where}: a Ctrl-C section was left open ({exc})")
        rows = {row["name"] for row in app._db.store.tables["_cron_jobs"].docs.values()}
        defined = {c["name"] for c in app.crons.list()}
        if rows != defined:
            problems.append(f"{where}: the rows {sorted(rows)} and the crons defined {sorted(defined)} differ")
        changed = rows != {"old"}
        if outcome.kind in ("returned", "committed") and not changed:
            problems.append(f"{where}: the call {outcome.kind} but nothing changed")
        if outcome.kind == "interrupted" and changed:
            problems.append(f"{where}: KeyboardInterrupt (nothing applied) but the crons changed")
        app.clock.advance(minutes=1)  # every cron defined runs (at once and a minute later)
        ticks = app._db.store.tables.get("ticks")
        labels = sorted(d["label"] for d in ticks.docs.values()) if ticks is not None else []
        expected = sorted(["old"] * (1 + ("old" in rows)) + ["new"] * 2 * ("new" in rows))
        if labels != expected:
            problems.append(f"{where}: the crons ran {labels}, expected {expected}")
        return outcome, problems
    finally:
        app.close()


@pytest.mark.parametrize("operation", ["define", "remove"])
def test_interrupting_a_cron_definition_changes_its_row_and_its_run_together(operation):
    _, recorded = _cron_trial(operation, None)
    lines = [tuple(eval(p)) for p in recorded]  # (file, line) pairs, as recorded
    report = Report(points=len(lines))
    for target in lines[::3]:
        outcome, problems = _cron_trial(operation, target)
        report.trials += 1
        report.outcomes[outcome.kind] = report.outcomes.get(outcome.kind, 0) + 1
        report.failures += problems
    assert "interrupted" in report.outcomes or "committed" in report.outcomes
    assert report.failures == [], "\n".join(report.failures[:20])


def test_interrupting_a_manual_clock_leaves_the_timers_working():
    """Ctrl-C while `clock.advance` wakes and waits for the services: the next advance still runs
    what is due and returns (a wake counted but never queued would leave it waiting)."""
    from convex_lab import ManualClock

    def trial(target: tuple[str, int] | None) -> tuple[Outcome | None, list, list[str]]:
        clock = ManualClock("2025-01-01T00:00:00Z")
        app = App(clock=clock)
        try:
            @app.mutation
            def tick(ctx):
                ctx.db.insert("ticks", {})

            @app.mutation
            def later(ctx):
                ctx.scheduler.run_after(90_000, tick)

            app.crons.interval("every minute", tick, minutes=1)
            later()
            clock.advance()
            if target is None:
                recorder = Injector(record=True)
                recorder.run(lambda: clock.advance(minutes=1))
                return None, distinct_lines(recorder.points), []
            outcome = call_with_interrupt(lambda: clock.advance(minutes=1), target)
            problems = []
            try:
                interrupts._check()
            except AssertionError as exc:
                problems.append(f"{outcome.where}: a Ctrl-C section was left open ({exc})")
            try:
                clock.advance(minutes=2)  # due by now: the cron at 1, 2 (3) min and the job at 1.5 min
            except TimeoutError as exc:
                problems.append(f"{outcome.where}: the next advance did not finish: {exc}")
            [cron] = app.crons.list()
            if cron["nextRun"] <= clock.now_ms():
                problems.append(f"{outcome.where}: the cron is overdue after advance()")
            [job] = app._db.store.tables["_scheduled_functions"].docs.values()
            if job["state"]["kind"] != "success":
                problems.append(f"{outcome.where}: the job due is {job['state']['kind']}")
            return outcome, [], problems
        finally:
            app.close()

    _, lines, _ = trial(None)
    kinds: dict[str, int] = {}
    failures: list[str] = []
    for target in lines[::3]:
        outcome, _, problems = trial(target)
        kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
        failures += problems
    assert kinds.get("interrupted", 0) + kinds.get("around", 0) > 0
    assert failures == [], "\n".join(failures[:20])
