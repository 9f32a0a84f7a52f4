"""Engine benchmark: convex_lab against peers run side by side in the same process.

    pip install -e '.[bench]'     # the peers (TinyDB) and the benchmarks' other needs
    python bench/engine.py [--n 100000] [--quick] [--no-big] [--json out.json]

Data: N documents {room: str, author: str, n: float} (100 rooms, 1,000 authors, fixed seed) with
indexes by_room [room] and by_author_n [author, n]. TinyDB runs at 10,000 documents and is reported
as such. Ratios are convex_lab / peer: lower is better.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from convex_lab import App, define_schema, define_table, v  # noqa: E402


@dataclass
class Result:
    name: str
    subject: str
    n: int
    median_us: float
    p90_us: float
    peer: str = ""
    peer_median_us: float = 0.0
    target: str = ""

    @property
    def ratio(self) -> float | None:
        return self.median_us / self.peer_median_us if self.peer_median_us else None

    def ok(self) -> str:
        if not self.target:
            return ""
        limit = float(self.target.strip("≤× s"))
        if self.target.endswith(" s"):  # an absolute target in seconds
            return "✓" if self.median_us / 1e6 <= limit else "✗"
        if self.ratio is None:
            return ""
        return "✓" if self.ratio <= limit else "✗"


def stats(samples_ns: list[int]) -> tuple[float, float]:
    samples = sorted(samples_ns)
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.9)] / 1000


def dataset(n: int, seed: int = 7) -> pd.DataFrame:
    rnd = random.Random(seed)
    return pd.DataFrame({
        "room": [f"room{rnd.randrange(100)}" for _ in range(n)],
        "author": [f"user{rnd.randrange(1000)}" for _ in range(n)],
        "n": [rnd.random() * 1000 for _ in range(n)],
    })


SCHEMA = lambda: define_schema({  # noqa: E731
    "messages": define_table({"room": v.string(), "author": v.string(), "n": v.number()})
    .index("by_room", ["room"]).index("by_author_n", ["author", "n"]),
})


def make_app(path: str | None, frame: pd.DataFrame) -> App:
    app = App(path) if path else App()
    app.set_schema(SCHEMA())
    if len(frame):
        app.import_rows("messages", frame, progress=False)
    # Let the in-memory app's background DuckDB feed catch up, so it does not compete with the
    # first measurements (steady state, not the import's after-effects).
    app._persistence.materialize()
    return app


def sqlite_peer(frame: pd.DataFrame, path: str = ":memory:") -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("CREATE TABLE docs (id TEXT PRIMARY KEY, body TEXT) WITHOUT ROWID")
    con.execute("CREATE INDEX by_room ON docs (json_extract(body, '$.room'), id)")
    con.execute("CREATE INDEX by_author_n ON docs (json_extract(body, '$.author'), json_extract(body, '$.n'), id)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO docs VALUES (?, ?)",
                    ((uuid.uuid4().hex, json.dumps(row)) for row in frame.to_dict("records")))
    con.execute("COMMIT")
    return con


def timed(fn, count: int) -> list[int]:
    out = []
    for i in range(count):
        t0 = time.perf_counter_ns()
        fn(i)
        out.append(time.perf_counter_ns() - t0)
    return out


# -- measurements --------------------------------------------------------------------------------

def bench_memory_mutation(frame: pd.DataFrame, count: int) -> list[Result]:
    app = make_app(None, frame)

    @app.mutation
    def add(ctx, room, author, n):
        return ctx.db.insert("messages", {"room": room, "author": author, "n": n})

    rows = frame.head(count).to_dict("records")
    timed(lambda i: add(**rows[i % len(rows)]), 500)  # warm-up
    ours = stats(timed(lambda i: add(**rows[i % len(rows)]), count))
    app.close()

    con = sqlite_peer(frame)

    def sqlite_insert(i: int) -> None:
        con.execute("BEGIN")
        con.execute("INSERT INTO docs VALUES (?, ?)", (uuid.uuid4().hex, json.dumps(rows[i % len(rows)])))
        con.execute("COMMIT")

    timed(sqlite_insert, 500)
    peer = stats(timed(sqlite_insert, count))
    results = [Result("mutation insert (memory)", "convex_lab App()", len(frame), *ours,
                      "SQLite :memory: BEGIN/INSERT/COMMIT", peer[0], "≤ 3×")]

    from tinydb import TinyDB
    from tinydb.storages import MemoryStorage

    tiny = TinyDB(storage=MemoryStorage)
    tiny.insert_multiple(frame.head(10_000).to_dict("records"))
    tiny_stats = stats(timed(lambda i: tiny.insert(dict(rows[i % len(rows)])), min(count, 2000)))
    results.append(Result("mutation insert (memory)", "TinyDB MemoryStorage (10k docs)", 10_000, *tiny_stats))
    return results


def bench_file_mutation(frame: pd.DataFrame, count: int, workdir: str) -> list[Result]:
    app = make_app(os.path.join(workdir, "bench.duckdb"), frame.head(10_000))

    @app.mutation
    def add(ctx, room, author, n):
        return ctx.db.insert("messages", {"room": room, "author": author, "n": n})

    rows = frame.head(count).to_dict("records")
    timed(lambda i: add(**rows[i % len(rows)]), 100)
    ours = stats(timed(lambda i: add(**rows[i % len(rows)]), count))
    app.close()
    con = duckdb.connect(os.path.join(workdir, "peer.duckdb"))
    con.execute("CREATE TABLE docs (id VARCHAR PRIMARY KEY, body VARCHAR)")

    def duck_insert(i: int) -> None:
        con.execute("BEGIN")
        con.execute("INSERT INTO docs(id, body) VALUES (?, ?)", [uuid.uuid4().hex, json.dumps(rows[i % len(rows)])])
        con.execute("COMMIT")

    timed(duck_insert, 100)
    peer = stats(timed(duck_insert, count))
    con.close()
    return [Result("mutation insert (file)", "convex_lab App(path)", 10_000, *ours,
                   "DuckDB file BEGIN/INSERT/COMMIT", peer[0], "≤ 1.1×")]


def bench_reads(frame: pd.DataFrame) -> list[Result]:
    app = make_app(None, frame)
    ids = [d["_id"] for d in app._db.store.tables["messages"].docs.values()]
    sample = random.Random(3).sample(ids, 1000)
    rooms = [f"room{i % 100}" for i in range(1000)]

    @app.query
    def gets(ctx, ids):
        t0 = time.perf_counter_ns()
        for doc_id in ids:
            ctx.db.get(doc_id)
        return (time.perf_counter_ns() - t0) / len(ids)

    @app.query
    def takes(ctx, rooms):
        t0 = time.perf_counter_ns()
        for room in rooms:
            ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room)).order("desc").take(10)
        return (time.perf_counter_ns() - t0) / len(rooms)

    get_runs = [gets(ids=sample) for _ in range(7)]
    take_runs = [takes(rooms=rooms) for _ in range(7)]

    con = sqlite_peer(frame)
    peer_ids = [row[0] for row in con.execute("SELECT id FROM docs")]
    peer_sample = random.Random(3).sample(peer_ids, 1000)

    def sqlite_gets() -> float:
        t0 = time.perf_counter_ns()
        for doc_id in peer_sample:
            json.loads(con.execute("SELECT body FROM docs WHERE id = ?", (doc_id,)).fetchone()[0])
        return (time.perf_counter_ns() - t0) / 1000

    # With the room fixed by equality, ORDER BY id DESC walks the (room, id) index backwards.
    take_sql = "SELECT body FROM docs WHERE json_extract(body, '$.room') = ? ORDER BY id DESC LIMIT 10"
    plan = " ".join(str(r) for r in con.execute("EXPLAIN QUERY PLAN " + take_sql, ("room1",)))
    assert "by_room" in plan and "TEMP B-TREE" not in plan, plan

    def sqlite_takes() -> float:
        t0 = time.perf_counter_ns()
        for room in rooms:
            [json.loads(r[0]) for r in con.execute(take_sql, (room,))]
        return (time.perf_counter_ns() - t0) / 1000

    peer_get = [sqlite_gets() for _ in range(7)]
    peer_take = [sqlite_takes() for _ in range(7)]
    med = lambda xs: statistics.median(xs) / 1000  # noqa: E731
    p90 = lambda xs: sorted(xs)[int(len(xs) * 0.9)] / 1000  # noqa: E731

    from tinydb import Query, TinyDB
    from tinydb.storages import MemoryStorage

    tiny = TinyDB(storage=MemoryStorage)
    tiny_ids = tiny.insert_multiple(frame.head(10_000).to_dict("records"))
    t0 = time.perf_counter_ns()
    for doc_id in tiny_ids[:1000]:
        tiny.get(doc_id=doc_id)
    tiny_get = (time.perf_counter_ns() - t0) / 1000 / 1000
    t0 = time.perf_counter_ns()
    q = Query()
    for room in rooms[:100]:
        sorted(tiny.search(q.room == room), key=lambda d: d.doc_id, reverse=True)[:10]
    tiny_take = (time.perf_counter_ns() - t0) / 100 / 1000
    app.close()
    return [
        Result("db.get (per call)", "convex_lab", len(frame), med(get_runs), p90(get_runs),
               "SQLite SELECT by id + json.loads", med(peer_get), "≤ 1×"),
        Result("db.get (per call)", "TinyDB get(doc_id) (10k docs)", 10_000, tiny_get, tiny_get),
        Result("with_index eq desc take(10)", "convex_lab", len(frame), med(take_runs), p90(take_runs),
               "SQLite index range LIMIT 10 + json.loads", med(peer_take), "≤ 1×"),
        Result("with_index eq desc take(10)", "TinyDB search + sort (10k docs)", 10_000, tiny_take, tiny_take),
    ]


def bench_paginate(frame: pd.DataFrame) -> list[Result]:
    app = make_app(None, frame)

    @app.query
    def page(ctx, cursor):
        return ctx.db.query("messages").paginate({"numItems": 1000, "cursor": cursor})

    t0 = time.perf_counter_ns()
    cursor, total = None, 0
    while True:
        result = page(cursor=cursor)
        total += len(result["page"])
        cursor = result["continueCursor"]
        if result["isDone"]:
            break
    ours = (time.perf_counter_ns() - t0) / total / 1000
    assert total == len(frame)
    app.close()
    con = sqlite_peer(frame)
    t0 = time.perf_counter_ns()
    last, seen = "", 0
    while True:
        rows = con.execute("SELECT id, body FROM docs WHERE id > ? ORDER BY id LIMIT 1000", (last,)).fetchall()
        if not rows:
            break
        [json.loads(r[1]) for r in rows]
        seen += len(rows)
        last = rows[-1][0]
    peer = (time.perf_counter_ns() - t0) / seen / 1000
    return [Result("paginate 1000/page, whole table (per doc)", "convex_lab", len(frame), ours, ours,
                   "SQLite keyset pages + json.loads", peer)]


def bench_big(workdir: str, size: int) -> list[Result]:
    frame = dataset(size, seed=11)
    path = os.path.join(workdir, "big.duckdb")
    app = App(path)
    app.set_schema(SCHEMA())
    t0 = time.perf_counter()
    app.import_rows("messages", frame, progress=False)
    import_s = time.perf_counter() - t0
    app.close()
    gc.collect()
    t0 = time.perf_counter()
    app = App(path)

    @app.query
    def first(ctx):
        return ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", "room5")).first()

    first()
    reopen_s = time.perf_counter() - t0
    count = len(app._db.store.tables["messages"].docs)
    app.close()
    assert count == size

    peer_path = os.path.join(workdir, "peer_big.duckdb")
    t0 = time.perf_counter()
    con = duckdb.connect(peer_path)
    con.execute("CREATE TABLE messages AS SELECT * FROM frame")
    con.close()
    duck_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    con = duckdb.connect(peer_path)
    con.execute("SELECT count(*) FROM messages").fetchone()
    con.close()
    duck_reopen = time.perf_counter() - t0
    sqlite_path = os.path.join(workdir, "peer_big.sqlite")
    t0 = time.perf_counter()
    sqlite_peer(frame, sqlite_path).close()
    sqlite_import = time.perf_counter() - t0
    return [
        Result(f"import {size:,} rows (file)", "convex_lab import_rows", size, import_s * 1e6, import_s * 1e6,
               "DuckDB CREATE TABLE AS SELECT (no indexes)", duck_import * 1e6, "≤ 10 s"),
        Result(f"import {size:,} rows (file)", "SQLite executemany + 2 json indexes", size, sqlite_import * 1e6, sqlite_import * 1e6),
        Result(f"reopen {size:,} docs + first query", "convex_lab App(path)", size, reopen_s * 1e6, reopen_s * 1e6,
               "DuckDB reopen + count", duck_reopen * 1e6, "≤ 10 s"),
    ]


_MEMORY_SCRIPT = """
import gc, os, sys
sys.path.insert(0, {root!r})
from bench.engine import dataset, make_app, sqlite_peer

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

frame = dataset({n})
gc.collect()
base = rss_mb()
if {which!r} == "convex_lab":
    keep = make_app(None, frame)
    keep._persistence.materialize()
else:
    keep = sqlite_peer(frame)
gc.collect()
print(rss_mb() - base)
"""


def peak_memory(n: int) -> list[Result]:
    """Resident memory added by loading n documents (data set already in memory), each subject in
    a fresh process."""
    import subprocess

    root = str(Path(__file__).resolve().parent.parent)
    growth = {}
    for which in ("convex_lab", "sqlite"):
        out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT.format(root=root, n=n, which=which)],
                             capture_output=True, text=True, check=True)
        growth[which] = float(out.stdout.strip().splitlines()[-1])
    return [Result(f"RSS added by {n:,} docs (MB)", "convex_lab App() (+ DuckDB mirror)", n,
                   growth["convex_lab"], growth["convex_lab"], "SQLite :memory: with 2 indexes", growth["sqlite"])]


# -- output --------------------------------------------------------------------------------------

def print_table(results: list[Result]) -> str:
    lines = [
        "| measurement | subject | docs | median | p90 | peer | peer median | ratio | target |",
        "|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in results:
        unit = "s" if r.median_us >= 1e6 else "µs"
        scale = 1e6 if unit == "s" else 1
        if "MB" in r.name:
            unit, scale = "MB", 1
        fmt = lambda x: f"{x / scale:,.2f} {unit}" if x else ""  # noqa: E731
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else ""
        lines.append(f"| {r.name} | {r.subject} | {r.n:,} | {fmt(r.median_us)} | {fmt(r.p90_us)} | {r.peer} | "
                     f"{fmt(r.peer_median_us)} | {ratio} | {r.target} {r.ok()} |")
    text = "\n".join(lines)
    print(text)
    return text


def require_bench_extra() -> None:
    """Fail at once, saying what to install, rather than minutes into a run."""
    try:
        import tinydb  # noqa: F401
    except ImportError:
        sys.exit("bench/engine.py compares against TinyDB: install the benchmarks' extra first, "
                 "pip install -e '.[bench]'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="documents in the main data set")
    parser.add_argument("--quick", action="store_true", help="small sizes, no 1M import (a smoke run)")
    parser.add_argument("--no-big", action="store_true", help="skip the 1,000,000-document import and reopen")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args()
    require_bench_extra()
    n = 5_000 if args.quick else args.n
    count = 1_000 if args.quick else 5_000
    frame = dataset(n)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as workdir:
        results += bench_memory_mutation(frame, count)
        results += bench_file_mutation(frame, 300 if args.quick else 2_000, workdir)
        results += bench_reads(frame)
        results += bench_paginate(frame)
        results += peak_memory(n)
        if not args.quick and not args.no_big:
            results += bench_big(workdir, 1_000_000)
    print_table(results)
    payload = [dict(asdict(r), ratio=r.ratio) for r in results]
    print(json.dumps(payload))
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
