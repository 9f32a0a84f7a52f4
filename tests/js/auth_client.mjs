// Signs in to a served convex_lab App with the official npm client and prints one JSON object:
// what `notebook:whoami` (a query returning ctx.auth.getUserIdentity()) gave. ConvexClient sends
// the token over the WebSocket (setAuth), ConvexHttpClient as a Bearer header. tests/test_auth.py
// defines the functions, makes the tokens, runs this script and checks its output.
//
// Usage: node auth_client.mjs <url> <token> <refused token>   (Node < 22: node --experimental-websocket ...)
import { ConvexClient, ConvexHttpClient } from "convex/browser";

const [url, token, refused] = process.argv.slice(2);
const quiet = { log: () => {}, warn: () => {}, error: () => {}, logVerbose: () => {} };
const out = {};

// Over the WebSocket: the first result after the token is accepted.
const client = new ConvexClient(url, { unsavedChangesWarning: false, logger: quiet });
const authenticated = new Promise((resolve) => client.setAuth(async () => token, resolve));
out.socketAuthenticated = await authenticated;
out.socket = await new Promise((resolve) => {
  const stop = client.onUpdate("notebook:whoami", {}, (identity) => {
    if (identity !== null) {
      stop();
      resolve(identity);
    }
  });
});
await client.close();

// A refused token: the client is told it is not authenticated (after asking for a fresh one).
const turnedAway = new ConvexClient(url, { unsavedChangesWarning: false, logger: quiet });
out.refusedAuthenticated = await new Promise((resolve) => turnedAway.setAuth(async () => refused, resolve));
await turnedAway.close();

// Over HTTP.
const http = new ConvexHttpClient(url, { logger: quiet });
http.setAuth(token);
out.http = await http.query("notebook:whoami", {});
http.setAuth(refused);
try {
  await http.query("notebook:whoami", {});
  out.httpRefused = "not refused";
} catch (error) {
  out.httpRefused = String(error.message);
}
console.log(JSON.stringify(out));
