"""Reactivity benchmark: precise invalidation against a naive re-run-everything loop.

    python bench/reactivity.py [--subs 10000] [--commits 2000] [--json out.json]

Each subscription watches its own key (`with_index("by_key", eq key)`); each mutation patches one
key's document, so exactly one subscription is affected. Reported: the cost of a mutation (called
from Python, returning after its deliveries) with 200 and with N live subscriptions, and a naive
loop that re-runs every subscribed query after each commit and compares results.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from convex_lab import App, define_schema, define_table, v  # noqa: E402


def build(subs: int):
    app = App()
    app.set_schema(define_schema({"items": define_table({"key": v.string(), "n": v.number()}).index("by_key", ["key"])}))
    app.import_rows("items", [{"key": f"k{i}", "n": 0.0} for i in range(subs)], progress=False)
    app._persistence.materialize()
    ids = {d["key"]: d["_id"] for d in app._db.store.tables["items"].docs.values()}

    @app.query
    def item(ctx, key):
        return ctx.db.query("items").with_index("by_key", lambda q: q.eq("key", key)).unique()

    @app.mutation
    def bump(ctx, id):
        doc = ctx.db.get(id)
        ctx.db.patch(id, {"n": doc["n"] + 1})

    deliveries = [0]

    def on_change(_result):
        deliveries[0] += 1

    subscriptions = [app.subscribe(item, {"key": f"k{i}"}, on_change) for i in range(subs)]
    deliveries[0] = 0
    return app, ids, item, bump, subscriptions, deliveries


def commit_cost(subs: int, commits: int) -> tuple[float, int, int]:
    app, ids, _, bump, subscriptions, deliveries = build(subs)
    keys = [f"k{i % subs}" for i in range(commits)]
    runs_before = sum(s.runs for s in subscriptions)
    samples = []
    for key in keys:
        t0 = time.perf_counter_ns()
        bump(id=ids[key])
        samples.append(time.perf_counter_ns() - t0)
    reruns = sum(s.runs for s in subscriptions) - runs_before
    app.close()
    return statistics.median(samples) / 1000, reruns, deliveries[0]


def naive_cost(subs: int, commits: int) -> float:
    """Re-run every subscribed query after each commit and compare with its last result."""
    app, ids, item, bump, subscriptions, _ = build(200)
    for s in subscriptions:
        s.unsubscribe()
    last = {f"k{i}": None for i in range(subs)}
    samples = []
    for c in range(commits):
        t0 = time.perf_counter_ns()
        bump(id=ids[f"k{c % 200}"])
        for key in last:
            result = item(key=key)
            if result != last[key]:
                last[key] = result
        samples.append(time.perf_counter_ns() - t0)
    app.close()
    return statistics.median(samples) / 1000


LATENCY_SETUP = """
%load_ext convex_lab
from convex_lab import v, define_schema, define_table
app.set_schema(define_schema({"m": define_table({"room": v.string(), "body": v.string()}).index("by_room", ["room"])}))

@app.mutation
def send(ctx, room, body):
    return ctx.db.insert("m", {"room": room, "body": body})
"""

LATENCY_LIVE = """%%live
[d["body"] for d in db.query("m").with_index("by_room", lambda q: q.eq("room", "a")).order("desc").take(1)]
"""

LATENCY_DRIVE = """
import threading, time
def drive(n):
    for i in range(n):
        send(room="a", body=f"{i}|{time.time()!r}")
        time.sleep(0.02)
threading.Thread(target=drive, args=(N_SAMPLES,), daemon=True).start()
"""


def widget_latency(samples: int = 200) -> list[float]:
    """Commit-to-comm-message latency of a live widget in a real kernel, in ms: a thread in the
    kernel commits, stamping the wall clock into the document; this process timestamps the comm
    message that carries it (same machine, same clock)."""
    import queue

    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        for code in (LATENCY_SETUP, LATENCY_LIVE):
            client.execute_interactive(code, timeout=60, output_hook=lambda msg: None)
        client.execute(LATENCY_DRIVE.replace("N_SAMPLES", str(samples)))
        latencies: list[float] = []
        deadline = time.monotonic() + samples * 0.1 + 30
        while len(latencies) < samples and time.monotonic() < deadline:
            try:
                msg = client.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            received = time.time()
            if msg["msg_type"] != "comm_msg":
                continue
            text = msg["content"]["data"].get("state", {}).get("value_repr", "")
            if "|" in text:
                stamp = float(text.strip("[]'\" ").split("|")[1])
                latencies.append((received - stamp) * 1000)
        return latencies
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


# The scaling targets are set for 10,000 subscriptions; under other settings a figure is shown
# without a verdict (it would compare unlike things).
TARGET_SUBS = 10_000


def verdict(subs: int, met: bool, target: str) -> str:
    if subs != TARGET_SUBS:
        return f" (the {target} is set at {TARGET_SUBS:,} subscriptions: no verdict at {subs:,})"
    return f" ({target} {'✓' if met else '✗'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subs", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=2_000)
    parser.add_argument("--json")
    args = parser.parse_args()
    small_us, small_reruns, _ = commit_cost(200, args.commits)
    large_us, large_reruns, large_deliveries = commit_cost(args.subs, args.commits)
    naive_us = naive_cost(args.subs, 5)
    rows = [
        ("mutation + delivery, 200 live subscriptions", small_us, f"{small_reruns} re-runs for {args.commits} commits"),
        (f"mutation + delivery, {args.subs:,} live subscriptions", large_us,
         f"{large_reruns} re-runs, {large_deliveries} deliveries for {args.commits} commits"),
        (f"naive re-run-all loop, {args.subs:,} queries per commit", naive_us, "5 commits"),
    ]
    print("| measurement | median per commit | note |\n|---|---:|---|")
    for name, us, note in rows:
        print(f"| {name} | {us:,.1f} µs | {note} |")
    ratio_scale = large_us / small_us
    speedup = naive_us / large_us
    print(f"\ncost with {args.subs:,} vs 200 subscriptions: {ratio_scale:.2f}×"
          f"{verdict(args.subs, ratio_scale <= 1.3, 'target ≤ 1.3×')}")
    print(f"precise vs naive at {args.subs:,} subscriptions: {speedup:,.0f}× faster"
          f"{verdict(args.subs, speedup >= 1000, 'target ≥ 1000×')}")
    print(f"exactly the affected query re-ran: {large_reruns == args.commits}")
    latencies = sorted(widget_latency())
    p50 = statistics.median(latencies)
    p90 = latencies[int(len(latencies) * 0.9)]
    print(f"commit → live widget comm message (real kernel, {len(latencies)} commits): p50 {p50:.2f} ms, "
          f"p90 {p90:.2f} ms (target p50 ≤ 5 ms {'✓' if p50 <= 5 else '✗'})")
    payload = {"small_us": small_us, "large_us": large_us, "naive_us": naive_us, "scale_ratio": ratio_scale,
               "speedup": speedup, "reruns": large_reruns, "commits": args.commits,
               "widget_latency_p50_ms": p50, "widget_latency_p90_ms": p90}
    print(json.dumps(payload))
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
