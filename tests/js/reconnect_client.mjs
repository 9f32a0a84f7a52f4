// The official npm ConvexClient across a server restart: it subscribes, keeps a mutation in
// flight while the server stops, queues another while it is down, and must reconnect by itself.
// tests/test_sync_reconnect.py drives it line by line: this script prints one JSON object per
// line ({"event": ...}) and waits for the test's lines on stdin between steps.
//
// Usage: node reconnect_client.mjs <url>   (Node < 22: node --experimental-websocket ...)
import readline from "node:readline";
import { ConvexClient } from "convex/browser";

const [url] = process.argv.slice(2);
const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function command() {
  const { value, done } = await input.next();
  if (done) throw new Error("the test closed stdin before the next step");
  return value.trim();
}
function say(event, fields = {}) {
  console.log(JSON.stringify({ event, ...fields }));
}

// What crosses the sockets: every Mutation sent (re-sends included), and a check that the end
// timestamp of every Transition, on every socket, is at least that of every earlier one.
const mutations = [];
let newestTs = -1n;
let backwards = null;
let connections = 0;
class WatchedWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    connections += 1;
    this.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type !== "Transition") return;
      const ts = Buffer.from(message.endVersion.ts, "base64").readBigUInt64LE();
      if (ts < newestTs && backwards === null) backwards = `${ts} after ${newestTs}`;
      if (ts > newestTs) newestTs = ts;
    });
  }
  send(data) {
    const message = JSON.parse(data);
    if (message.type === "Mutation") mutations.push({ requestId: message.requestId, udfPath: message.udfPath });
    super.send(data);
  }
}

const quiet = { log: () => {}, warn: () => {}, error: () => {}, logVerbose: () => {} };
const client = new ConvexClient(url, {
  unsavedChangesWarning: false,
  logger: quiet,
  webSocketConstructor: WatchedWebSocket,
});

// Every result of room "a", and a way to wait for one.
let latest = null;
const waiters = [];
client.onUpdate("notebook:room", { room: "a" }, (bodies) => {
  latest = bodies;
  say("update", { bodies });
  for (const waiter of waiters.splice(0)) waiter();
});
function until(test) {
  return new Promise((resolve) => {
    const check = () => (test() ? resolve() : waiters.push(check));
    check();
  });
}
function connected(wanted) {
  return new Promise((resolve) => {
    const check = (state) => {
      if (state.isWebSocketConnected === wanted) {
        unsubscribe();
        resolve();
      }
    };
    const unsubscribe = client.subscribeToConnectionState(check);
    check(client.connectionState());
  });
}

await until(() => latest !== null);
if ((await command()) !== "gate") throw new Error("expected gate");
const gated = client.mutation("notebook:gated", { room: "a" });
if ((await command()) !== "down") throw new Error("expected down");
await connected(false);
const whileDown = client.mutation("notebook:send", { room: "a", body: "while down" });
say("queued");
const results = { gated: await gated, whileDown: await whileDown };
say("settled", results);
const expected = JSON.parse(await command());
await until(() => JSON.stringify(latest) === JSON.stringify(expected));
say("finished", { bodies: latest, mutations, backwards, connections });
await client.close();
