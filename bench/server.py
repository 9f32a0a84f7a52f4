"""Server benchmark: convex_lab's HTTP API and WebSocket sync, against bare tornado peers run side by side.

    python bench/server.py [--quick] [--clients 1,4,16] [--seconds 3] [--subscribers 100]
                           [--mutations 200] [--json out.json]

Every server runs in a child process of its own (`--serve convex|peers`); this process is only the
clients, so the servers' work and the clients' never share a GIL, and every timestamp is taken
here, on one clock.

- convex_lab: an in-memory `App` with a chat-like mutation `send(room, body)` (one insert) and a
  query `list(room)` (the room's newest 20 messages, through the `by_room` index), served by
  `app.serve()`.
- The peers, in another process: a bare tornado handler that parses the same JSON body and
  answers (the floor of "HTTP" with this client), the same with a raw DuckDB `INSERT` (the floor
  of "HTTP + a write" without convex_lab), and a naive broadcast: a bare tornado WebSocket
  server whose POST handler keeps the room's newest 20 messages and writes them, encoded once,
  to every socket.

HTTP: N keep-alive clients (threads, each with a raw socket and a minimal HTTP/1.1 parser, so
the client costs little next to the server) each send mutations in a loop for `--seconds`;
reported: p50 and p99 of the round trip, and mutations per second for all N together.

Fan-out: `--subscribers` raw WebSocket clients (one asyncio loop, a minimal frame parser) each
subscribe to `list(room)` with the sync protocol's Connect and ModifyQuerySet; a writer sends
`--mutations` mutations over a keep-alive HTTP connection, one at a time. For each: the time
from the mutation's HTTP response to the last subscriber's frame containing the new message (a
Transition for convex_lab), and from sending the mutation to that frame.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LIST_LIMIT = 20  # list(room) returns the room's newest LIST_LIMIT messages; the broadcast peer sends as many

# Targets (from the project's issue), judged only under the settings they are set for.
TARGET_HTTP_P50_MS = 2.0  # HTTP mutation round trip p50, one client
TARGET_FANOUT_P50_MS = 10.0  # mutation response → last of 100 subscribers, p50
TARGET_CLIENTS = 1
TARGET_SUBSCRIBERS = 100

# Published figures, quoted for comparison: NOT measured here, and not on this machine.
PUBLISHED = [
    ("Convex", "function round trip, client co-located with the deployment", "1–5 ms",
     "Convex's own published latency figure for a query or mutation round trip"),
    ("Supabase Realtime", "median Broadcast latency", "6 ms",
     "Supabase's published Realtime benchmarks (median broadcast latency)"),
]


# =============================================================================================
# Servers (child processes)


def announce(port: int) -> None:
    print(f"PORT {port}", flush=True)


def serve_convex() -> None:
    from convex_lab import App, define_schema, define_table, v

    app = App()
    app.set_schema(define_schema({
        "messages": define_table({"room": v.string(), "body": v.string()}).index("by_room", ["room"]),
    }))

    @app.mutation(args={"room": v.string(), "body": v.string()})
    def send(ctx, room, body):
        return ctx.db.insert("messages", {"room": room, "body": body})

    @app.query(args={"room": v.string()}, name="list")
    def list_messages(ctx, room):
        return ctx.db.query("messages").with_index("by_room", lambda q: q.eq("room", room)).order("desc").take(LIST_LIMIT)

    url = app.serve()
    announce(int(url.rsplit(":", 1)[1]))
    sys.stdin.read()  # until the parent closes our stdin
    app.close()


def serve_peers() -> None:
    import duckdb
    import orjson
    import tornado.httpserver
    import tornado.netutil
    import tornado.web
    import tornado.websocket

    db = duckdb.connect()
    db.execute("CREATE TABLE messages(id VARCHAR, room VARCHAR, body VARCHAR, creation_time DOUBLE)")
    sockets: set = set()
    recent: deque = deque(maxlen=LIST_LIMIT)
    counter = iter(range(1 << 62))

    class Bare(tornado.web.RequestHandler):
        """Parse the body as convex_lab's endpoint would, answer in its envelope: no write."""

        def post(self) -> None:
            orjson.loads(self.request.body)
            self.set_header("Content-Type", "application/json")
            self.finish(orjson.dumps({"status": "success", "value": None}))

    class DuckInsert(tornado.web.RequestHandler):
        """The same, plus one raw DuckDB INSERT (in memory) before answering."""

        def post(self) -> None:
            args = orjson.loads(self.request.body)["args"]
            doc_id = f"doc{next(counter)}"
            db.execute("INSERT INTO messages VALUES (?, ?, ?, ?)", [doc_id, args["room"], args["body"], time.time() * 1000])
            self.set_header("Content-Type", "application/json")
            self.finish(orjson.dumps({"status": "success", "value": doc_id}))

    class Broadcast(tornado.web.RequestHandler):
        """Keep the room's newest messages, answer, then write them to every socket."""

        def post(self) -> None:
            args = orjson.loads(self.request.body)["args"]
            n = next(counter)
            recent.appendleft({"_id": f"doc{n}", "_creationTime": time.time() * 1000, "room": args["room"],
                               "body": args["body"]})
            self.set_header("Content-Type", "application/json")
            self.finish(orjson.dumps({"status": "success", "value": f"doc{n}"}))
            payload = orjson.dumps(list(recent)).decode()
            for ws in list(sockets):
                ws.write_message(payload)

    class Subscriber(tornado.websocket.WebSocketHandler):
        def check_origin(self, origin: str) -> bool:
            return True

        def open(self) -> None:
            sockets.add(self)
            self.write_message(orjson.dumps(list(recent)).decode())  # "subscribed"

        def on_message(self, message) -> None:  # the sync protocol's messages: ignored
            pass

        def on_close(self) -> None:
            sockets.discard(self)

    async def main() -> None:
        application = tornado.web.Application([
            (r"/bare/mutation", Bare), (r"/duckdb/mutation", DuckInsert),
            (r"/broadcast/mutation", Broadcast), (r"/broadcast/ws", Subscriber),
        ])
        bound = tornado.netutil.bind_sockets(0, address="127.0.0.1")
        server = tornado.httpserver.HTTPServer(application)
        server.add_sockets(bound)
        announce(bound[0].getsockname()[1])
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        server.stop()

    asyncio.run(main())


class ServerProcess:
    """A `--serve` child: started on enter, told to stop (stdin closed) on exit."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __enter__(self) -> "ServerProcess":
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", self.kind],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the {self.kind} server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# =============================================================================================
# HTTP: keep-alive clients


class HttpClient:
    """One keep-alive connection with a minimal HTTP/1.1 client: a POST written in one send, the
    response read by its Content-Length."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                     "Content-Length: ").encode()
        self.buf = b""

    def post(self, body: bytes) -> bytes:
        sock = self.sock
        sock.sendall(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += self._recv()
        header = buf[:end]
        at = header.lower().find(b"content-length:")
        length = int(header[at + 15:header.find(b"\r\n", at) if header.find(b"\r\n", at) > 0 else None])
        total = end + 4 + length
        while len(buf) < total:
            buf += self._recv()
        self.buf = buf[total:]
        if not header.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"HTTP error: {header[:200]!r} {buf[end + 4:total][:300]!r}")
        return buf[end + 4:total]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def mutation_body(room: str, body: str) -> bytes:
    return json.dumps({"path": "notebook:send", "args": {"room": room, "body": body}, "format": "json"}).encode()


def http_run(port: int, path: str, clients: int, seconds: float, warmup: int = 30) -> tuple[list[int], float]:
    """`clients` threads, each on its own keep-alive connection, send mutations for `seconds`.
    Returns every round trip (ns) and the mutations per second of all clients together."""
    samples: list[list[int]] = [[] for _ in range(clients)]
    failures: list[BaseException] = []
    stop_at = [0, 0]  # start and deadline (ns), set as the barrier opens, before any client passes it

    def start() -> None:
        stop_at[0] = time.perf_counter_ns()
        stop_at[1] = stop_at[0] + int(seconds * 1e9)

    barrier = threading.Barrier(clients + 1, action=start)

    def client(k: int) -> None:
        conn = None
        try:
            conn = HttpClient(port, path)
            for i in range(warmup):
                reply = conn.post(mutation_body("bench", f"warm {k} {i}"))
                if b'"success"' not in reply:
                    raise RuntimeError(f"the mutation failed: {reply[:300]!r}")
            barrier.wait()
            mine, i, clock = samples[k], 0, time.perf_counter_ns
            deadline = stop_at[1]
            while True:
                body = mutation_body("bench", f"c{k} m{i}")
                t0 = clock()
                conn.post(body)
                t1 = clock()
                mine.append(t1 - t0)
                i += 1
                if t1 >= deadline:
                    break
        except BaseException as error:  # noqa: BLE001 - reported by the caller
            failures.append(error)
            barrier.abort()
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    elapsed = (time.perf_counter_ns() - stop_at[0]) / 1e9
    every = [s for mine in samples for s in mine]
    return every, len(every) / elapsed


# =============================================================================================
# Fan-out: raw WebSocket subscribers on one asyncio loop


def ws_frame(payload: bytes) -> bytes:
    """A client text frame: FIN, opcode 1, masked with a zero key (so the payload goes as is)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 65536:
        head = bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0xFF)) + n.to_bytes(8, "big")
    return head + b"\x00\x00\x00\x00" + payload


class WsClient(asyncio.Protocol):
    """A minimal WebSocket client: the handshake, unmasked server frames parsed as they come,
    each text message handed to `on_text(self, payload, received_at)`; pings answered."""

    def __init__(self, path: str, on_text) -> None:
        self.path = path
        self.on_text = on_text
        self.buf = b""
        self.upgraded = asyncio.get_running_loop().create_future()
        self.first = asyncio.get_running_loop().create_future()  # the first text message
        self.seen: object = None  # the marker this client last saw
        self.fragments: list[bytes] = []

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())

    def send_text(self, text: str) -> None:
        self.transport.write(ws_frame(text.encode()))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buf = self.buf + data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(RuntimeError(f"no upgrade: {buf[:300]!r}"))
                return
            self.upgraded.set_result(None)
            buf = buf[end + 4:]
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1] & 0x7F
            at = 2
            if b1 == 126:
                if len(buf) < 4:
                    break
                b1, at = int.from_bytes(buf[2:4], "big"), 4
            elif b1 == 127:
                if len(buf) < 10:
                    break
                b1, at = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < at + b1:
                break
            payload, buf = buf[at:at + b1], buf[at + b1:]
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping → pong
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\x00\x00\x00\x00" + payload)
                continue
            if opcode in (0x1, 0x0):
                if not b0 & 0x80:
                    self.fragments.append(payload)
                    continue
                if self.fragments:
                    payload = b"".join(self.fragments) + payload
                    self.fragments = []
                if not self.first.done():
                    self.first.set_result(payload)
                self.on_text(self, payload, now)
        self.buf = buf

    def connection_lost(self, exc) -> None:
        for future in (self.upgraded, self.first):
            if not future.done():
                future.set_exception(ConnectionError("closed"))


class HttpWriter(asyncio.Protocol):
    """One keep-alive HTTP connection on the loop; `post` resolves to (received_at, body)."""

    def __init__(self, port: int, path: str) -> None:
        self.head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                     "Content-Length: ").encode()
        self.buf = b""
        self.waiting: asyncio.Future | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def post(self, body: bytes) -> asyncio.Future:
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        return self.waiting

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        header = self.buf[:end].lower()
        at = header.find(b"content-length:")
        stop = header.find(b"\r\n", at)
        length = int(header[at + 15:stop if stop > 0 else None])
        if len(self.buf) < end + 4 + length:
            return
        body = self.buf[end + 4:end + 4 + length]
        ok = self.buf.startswith(b"HTTP/1.1 200")
        self.buf = self.buf[end + 4 + length:]
        if self.waiting is not None and not self.waiting.done():
            if ok:
                self.waiting.set_result((now, body))
            else:
                self.waiting.set_exception(RuntimeError(f"HTTP error: {body[:300]!r}"))


def sync_subscribe(room: str) -> list[str]:
    """The sync protocol's first messages of a client subscribing to `list(room)`."""
    return [
        json.dumps({"type": "Connect", "sessionId": str(uuid.uuid4()), "connectionCount": 0,
                    "lastCloseReason": "InitialConnect", "clientTs": int(time.time() * 1000)}),
        json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
            {"type": "Add", "queryId": 0, "udfPath": "notebook:list", "args": [{"room": room}]}]}),
    ]


async def fanout_run(port: int, ws_path: str, write_path: str, subscribe, subscribers: int, mutations: int,
                     warmup: int = 10) -> dict:
    loop = asyncio.get_running_loop()
    state = {"marker": None, "times": [], "done": None, "bytes": 0}

    def on_text(client: WsClient, payload: bytes, now: float) -> None:
        marker = state["marker"]
        if marker is not None and client.seen is not marker and marker in payload:
            client.seen = marker
            times = state["times"]
            times.append(now)
            state["bytes"] = len(payload)
            if len(times) == subscribers:
                state["done"].set_result(None)

    clients = []
    for _ in range(subscribers):
        _, client = await loop.create_connection(lambda: WsClient(ws_path, on_text), "127.0.0.1", port)
        await client.upgraded
        for message in subscribe():
            client.send_text(message)
        clients.append(client)
    await asyncio.wait_for(asyncio.gather(*(c.first for c in clients)), 60)
    _, writer = await loop.create_connection(lambda: HttpWriter(port, write_path), "127.0.0.1", port)
    rows = []
    try:
        for i in range(warmup + mutations):
            marker = f"fan{i:06d}|{uuid.uuid4().hex[:8]}"
            state["marker"], state["times"], state["done"] = marker.encode(), [], loop.create_future()
            body = mutation_body("fan", marker)
            t0 = time.perf_counter()
            responded, reply = await asyncio.wait_for(writer.post(body), 30)
            if b'"success"' not in reply:
                raise RuntimeError(f"the mutation failed: {reply[:300]!r}")
            await asyncio.wait_for(state["done"], 30)
            times = state["times"]
            if i >= warmup:
                rows.append((responded - t0, max(times) - responded, max(times) - t0, min(times) - responded))
            await asyncio.sleep(0.005)  # let both processes settle between mutations
    finally:
        writer.transport.close()
        for client in clients:
            client.transport.close()
        await asyncio.sleep(0.05)
    ms = lambda k: [row[k] * 1000 for row in rows]  # noqa: E731
    return {"round_trip": ms(0), "response_to_last": ms(1), "send_to_last": ms(2), "response_to_first": ms(3),
            "bytes": state["bytes"]}


# =============================================================================================
# Reporting


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def verdict(at_target: bool, met: bool, target: str, setting: str) -> str:
    if not at_target:
        return f"(the {target} is set for {setting}: no verdict under these settings)"
    return f"({target} {'✓' if met else '✗ TARGET MISSED'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", choices=["convex", "peers"], help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="tiny counts (a smoke run)")
    parser.add_argument("--clients", default="1,4,16", help="concurrent HTTP clients, comma-separated")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each HTTP measurement")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--mutations", type=int, default=200)
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args()
    if args.serve == "convex":
        return serve_convex()
    if args.serve == "peers":
        return serve_peers()
    if args.quick:
        args.clients, args.seconds, args.subscribers, args.mutations = "1,2", 0.3, 5, 10
    counts = [int(c) for c in args.clients.split(",")]

    http_subjects = [("convex_lab `send` (POST /api/mutation)", "convex", "/api/mutation"),
                     ("peer: bare tornado handler, no write", "peers", "/bare/mutation"),
                     ("peer: bare tornado handler + DuckDB INSERT", "peers", "/duckdb/mutation")]
    http_rows = []
    fan_rows = []
    with ServerProcess("convex") as convex, ServerProcess("peers") as peers:
        ports = {"convex": convex.port, "peers": peers.port}
        for n in counts:  # subjects interleaved per N, so the shared machine's noise falls on all
            for name, server, path in http_subjects:
                samples, rate = http_run(ports[server], path, n, args.seconds, warmup=10 if args.quick else 30)
                http_rows.append({"subject": name, "clients": n, "p50_ms": pct(samples, 0.5) / 1e6,
                                  "p99_ms": pct(samples, 0.99) / 1e6, "per_s": rate, "n": len(samples)})
        fan_subjects = [("convex_lab: list(room) over the sync protocol", ports["convex"], "/api/sync", "/api/mutation",
                         lambda: sync_subscribe("fan")),
                        ("peer: naive tornado broadcast", ports["peers"], "/broadcast/ws", "/broadcast/mutation",
                         lambda: [])]
        for name, port, ws_path, write_path, subscribe in fan_subjects:
            result = asyncio.run(fanout_run(port, ws_path, write_path, subscribe, args.subscribers, args.mutations,
                                            warmup=2 if args.quick else 10))
            fan_rows.append({"subject": name, "subscribers": args.subscribers, "mutations": args.mutations,
                             **{f"{k}_{q}_ms": pct(result[k], p) for k in ("round_trip", "response_to_last",
                                                                           "send_to_last", "response_to_first")
                                for q, p in (("p50", 0.5), ("p99", 0.99))},
                             "frame_bytes": result["bytes"]})

    print(f"## HTTP mutation round trip (keep-alive clients in another process; {args.seconds:g} s per row)\n")
    print("| subject | clients | p50 | p99 | mutations/s |\n|---|---:|---:|---:|---:|")
    for r in http_rows:
        print(f"| {r['subject']} | {r['clients']} | {r['p50_ms']:.3f} ms | {r['p99_ms']:.3f} ms | {r['per_s']:,.0f} |")
    print()
    for n in counts:
        ours, bare, duck = (next(r for r in http_rows if r["clients"] == n and r["subject"] == s[0]) for s in http_subjects)
        print(f"{n} client(s): convex_lab / bare handler p50 {ours['p50_ms'] / bare['p50_ms']:.2f}×, "
              f"/ bare + DuckDB p50 {ours['p50_ms'] / duck['p50_ms']:.2f}×; "
              f"throughput {ours['per_s'] / duck['per_s']:.2f}× bare + DuckDB's")
    one = next((r for r in http_rows if r["clients"] == TARGET_CLIENTS and r["subject"] == http_subjects[0][0]), None)
    if one is not None:
        print(f"convex_lab HTTP round trip p50 at 1 client: {one['p50_ms']:.2f} ms "
              + verdict(not args.quick, one["p50_ms"] <= TARGET_HTTP_P50_MS, f"target p50 ≤ {TARGET_HTTP_P50_MS:g} ms",
                        "the default run"))

    print(f"\n## WebSocket fan-out ({args.subscribers} subscribers, {args.mutations} mutations, one at a time)\n")
    print("| subject | response → last subscriber p50 | p99 | send → last p50 | p99 | "
          "response → first p50 | mutation round trip p50 | frame bytes |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in fan_rows:
        print(f"| {r['subject']} | {r['response_to_last_p50_ms']:.2f} ms | {r['response_to_last_p99_ms']:.2f} ms | "
              f"{r['send_to_last_p50_ms']:.2f} ms | {r['send_to_last_p99_ms']:.2f} ms | "
              f"{r['response_to_first_p50_ms']:.2f} ms | {r['round_trip_p50_ms']:.2f} ms | {r['frame_bytes']:,} |")
    ours, naive = fan_rows
    print(f"\nconvex_lab / naive broadcast, send → last subscriber p50: "
          f"{ours['send_to_last_p50_ms'] / naive['send_to_last_p50_ms']:.2f}×")
    print("convex_lab answers a mutation only once its Transitions are handed to the sockets, so its "
          "response → last subscriber is near zero or negative; send → last subscriber is the end-to-end figure.")
    at_target = args.subscribers == TARGET_SUBSCRIBERS and not args.quick
    setting = f"{TARGET_SUBSCRIBERS} subscribers in the default run"
    target = f"target p50 ≤ {TARGET_FANOUT_P50_MS:g} ms"
    print(f"convex_lab fan-out p50, response → last of {args.subscribers}: {ours['response_to_last_p50_ms']:.2f} ms "
          + verdict(at_target, ours["response_to_last_p50_ms"] <= TARGET_FANOUT_P50_MS, target, setting))
    print(f"convex_lab fan-out p50, send → last of {args.subscribers} (stricter): {ours['send_to_last_p50_ms']:.2f} ms "
          + verdict(at_target, ours["send_to_last_p50_ms"] <= TARGET_FANOUT_P50_MS, target, setting))

    print("\n## Published figures (quoted, NOT measured here; other machines, other networks)\n")
    for system, what, figure, source in PUBLISHED:
        print(f"- {system}: {what} {figure} — {source}")
    if one is not None:
        print(f"- here, on loopback: convex_lab HTTP mutation round trip p50 {one['p50_ms']:.2f} ms (1 client); "
              f"mutation sent → the last of {args.subscribers} subscribers p50 {ours['send_to_last_p50_ms']:.2f} ms")

    payload = {"http": http_rows, "fanout": fan_rows}
    print(json.dumps(payload))
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
