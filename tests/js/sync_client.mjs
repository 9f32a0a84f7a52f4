// Talks to a served convex_lab App over the sync protocol (WebSocket) with the official npm
// client's ConvexClient and prints one JSON object: what it saw. tests/test_sync_protocol.py
// defines the functions, runs this script and checks its output.
//
// Usage: node sync_client.mjs <url>   (Node < 22: node --experimental-websocket ...)
import { ConvexClient } from "convex/browser";

const [url] = process.argv.slice(2);
const quiet = { log: () => {}, warn: () => {}, error: () => {}, logVerbose: () => {} };
const options = { unsavedChangesWarning: false, logger: quiet };
const watcher = new ConvexClient(url, options);
const writer = new ConvexClient(url, options);
const out = {};

// Every result the watcher is sent for room "a", until it has seen `count` of them.
const seen = [];
let wanted = null;
function waitFor(count) {
  return new Promise((resolve) => {
    wanted = { count, resolve };
    if (seen.length >= count) resolve();
  });
}
const unsubscribe = watcher.onUpdate("notebook:room", { room: "a" }, (bodies) => {
  seen.push(bodies);
  if (wanted && seen.length >= wanted.count) wanted.resolve();
});

await waitFor(1);
await writer.mutation("notebook:send", { room: "b", body: "elsewhere" });
out.sent = await writer.mutation("notebook:send", { room: "a", body: "hello" });
await waitFor(2);
out.seen = seen.slice();
out.query = await writer.query("notebook:room", { room: "b" });
out.action = await writer.action("notebook:double", { x: 21 });
try {
  await writer.mutation("notebook:refuse", { room: "a" });
} catch (error) {
  out.refused = { name: error.constructor.name, data: error.data };
}
unsubscribe();
await watcher.close();
await writer.close();
console.log(JSON.stringify(out));
