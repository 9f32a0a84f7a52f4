"""Real Ctrl-C, repeated: SIGINT sent to the main thread at a random moment of a write.

    python bench/interrupts.py [--trials 30] [--rows 200000] [--docs 15000] [--json out.json]

Each trial opens a fresh app, starts a timer thread that sends SIGINT to the main thread (what
Ctrl-C in a terminal, or Interrupt in Jupyter, does) after a random delay within the write's
measured duration, runs the write, and checks that it was all or nothing:

- `import`: `import_rows` of ROWS rows into a table that already has a document (file app);
- `mutation`: one mutation inserting DOCS documents while a live query watches the table (memory
  app, which also feeds the SQL mirror);
- `file commit`: one mutation of 5,000 half-kilobyte documents on a file app, interrupted while it
  runs or while its group is written to DuckDB.

A trial fails if the caller's outcome and the data disagree (a plain KeyboardInterrupt raised
inside the call but the write applied, or the call returned / raised `InterruptedAfterCommit` but
the write is missing), if memory, the SQL surface and the file reopened disagree, or if the live
query's last delivery differs from a fresh run. Prints a table (and JSON with --json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from convex_lab import App, InterruptedAfterCommit, interrupts  # noqa: E402
from convex_lab.values import values_equal  # noqa: E402

MAIN = threading.main_thread().ident


def _sigint_after(delay: float) -> threading.Timer:
    timer = threading.Timer(delay, signal.pthread_kill, (MAIN, signal.SIGINT))
    timer.daemon = True
    timer.start()
    return timer


def _raised_inside_call(exc: BaseException) -> bool:
    """Whether the exception came out of the call (not raised in this frame after it returned)."""
    tb = exc.__traceback__
    return tb is not None and tb.tb_next is not None


class Scenario:
    """One kind of write: `setup(dir)` -> app, `write(app)`, `count(app)` documents written so far."""

    name = ""
    expected = 0  # documents the write adds

    def setup(self, directory: Path) -> App:
        raise NotImplementedError

    def write(self, app: App) -> object:
        raise NotImplementedError

    def reopen_path(self, app: App) -> str | None:
        return app.path


class ImportRows(Scenario):
    name = "import"

    def __init__(self, rows: int) -> None:
        self.rows = [{"n": float(i), "s": f"row {i}"} for i in range(rows)]
        self.expected = rows

    def setup(self, directory: Path) -> App:
        app = App(directory / "import.duckdb", limits="off")  # its live query reads every row
        app.import_rows("t", [{"n": -1.0, "s": "first"}], progress=False)
        _watch(app)
        return app

    def write(self, app: App) -> object:
        return app.import_rows("t", self.rows, progress=False)


class InsertMutation(Scenario):
    """One mutation inserting `docs` documents (fields `fields`) into a table that has one."""

    def __init__(self, name: str, docs: int, path: str | None, fields: dict) -> None:
        self.name = name
        self.expected = docs
        self.path = path
        self.fields = fields

    def setup(self, directory: Path) -> App:
        app = App(directory / self.path, limits="off") if self.path else App(limits="off")
        docs, fields = self.expected, self.fields

        @app.mutation
        def many(ctx):
            for i in range(docs):
                ctx.db.insert("t", {"n": float(i), **fields})
            return docs

        app.import_rows("t", [{"n": -1.0}], progress=False)
        _watch(app)
        return app

    def write(self, app: App) -> object:
        return app.functions["notebook:many"]()


def _watch(app: App) -> None:
    @app.query
    def count(ctx):
        return len(ctx.db.query("t").collect())

    app._bench_sub = app.subscribe(count, {}, lambda result: None)
    app.flush()


def _documents(app: App) -> int:
    return len(app._db.store.tables["t"].docs)


def trial(scenario: Scenario, directory: Path, duration: float, rng: random.Random) -> tuple[str, list[str]]:
    """One interrupted write; returns (outcome, problems)."""
    app = scenario.setup(directory)
    before = _documents(app)
    timer = _sigint_after(rng.uniform(0.0, duration))
    outcome = "returned"
    problems: list[str] = []
    try:
        try:
            scenario.write(app)
        except InterruptedAfterCommit:
            outcome = "committed"
        except KeyboardInterrupt as exc:
            outcome = "interrupted" if _raised_inside_call(exc) else "after return"
        timer.join()  # a signal still in flight lands here, not in the checks below
    except KeyboardInterrupt:
        pass
    try:
        interrupts._check()
    except AssertionError as exc:
        problems.append(f"interrupt state: {exc}")
    now = _documents(app)
    applied = now == before + scenario.expected
    if now not in (before, before + scenario.expected):
        problems.append(f"memory holds {now} documents: neither {before} nor {before + scenario.expected}")
    if outcome == "interrupted" and applied:
        problems.append("KeyboardInterrupt raised inside the call, but the write was applied")
    if outcome in ("returned", "committed") and not applied:
        problems.append(f"the call {outcome}, but the write is missing")
    sql = int(app.sql("select count(*) as c from t")["c"][0])
    if sql != now:
        problems.append(f"app.sql counts {sql}, memory {now}")
    app.flush()
    sub = app._bench_sub
    if not values_equal(sub.result, app.run_query(sub.path)):
        problems.append(f"the live query last delivered {sub.result}, a fresh run gives {app.run_query(sub.path)}")
    path = scenario.reopen_path(app)
    app.close()
    if path:
        with App(path) as again:
            if _documents(again) != now:
                problems.append(f"the file reopened holds {_documents(again)}, memory held {now}")
        for suffix in ("", ".wal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    return outcome, problems


def measure(scenario: Scenario, directory: Path) -> float:
    app = scenario.setup(directory)
    started = time.perf_counter()
    scenario.write(app)
    elapsed = time.perf_counter() - started
    path = app.path
    app.close()
    if path:
        for suffix in ("", ".wal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    return elapsed


def run(scenarios: list[Scenario], trials: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for scenario in scenarios:
            duration = measure(scenario, directory)
            outcomes: dict[str, int] = {}
            failures: list[str] = []
            for _ in range(trials):
                outcome, problems = trial(scenario, directory, duration, rng)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                failures += problems
            results.append({"scenario": scenario.name, "write_s": round(duration, 3), "trials": trials,
                            "outcomes": outcomes, "failures": len(failures), "problems": failures[:10]})
    return results


def print_table(results: list[dict]) -> str:
    lines = ["| write | duration | trials | interrupted (nothing applied) | committed (InterruptedAfterCommit) "
             "| returned | failures |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        o = r["outcomes"]
        lines.append(f"| {r['scenario']} | {r['write_s']:.2f} s | {r['trials']} | {o.get('interrupted', 0)} | "
                     f"{o.get('committed', 0)} | {o.get('returned', 0) + o.get('after return', 0)} | {r['failures']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30, help="interrupted writes per scenario")
    parser.add_argument("--rows", type=int, default=200_000, help="rows per import")
    parser.add_argument("--docs", type=int, default=15_000, help="documents the big mutation inserts")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args()
    scenarios = [
        ImportRows(args.rows),
        InsertMutation("mutation", args.docs, None, {}),  # memory: also feeds the SQL mirror
        InsertMutation("file commit", 5_000, "commits.duckdb", {"pad": "x" * 500}),
    ]
    results = run(scenarios, args.trials)
    print(print_table(results))
    for r in results:
        for problem in r["problems"]:
            print(f"  {r['scenario']}: {problem}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
