// Calls a served convex_lab App with the official npm client's ConvexHttpClient and prints one
// JSON object: what each call returned or threw. tests/test_server_js_client.py defines the
// functions, runs this script and checks its output.
//
// Usage: node http_client.mjs <url> <admin key>
import { ConvexHttpClient } from "convex/browser";
import { ConvexError } from "convex/values";

const [url, adminKey] = process.argv.slice(2);
const logged = [];
const logger = {
  log: (...args) => logged.push(args.join(" ")),
  warn: (...args) => logged.push(args.join(" ")),
  error: (...args) => logged.push(args.join(" ")),
  logVerbose: () => {},
};

// JSON cannot hold a bigint or bytes: show them as tagged strings.
function show(value) {
  if (typeof value === "bigint") return `bigint:${value}`;
  if (value instanceof ArrayBuffer) return `bytes:${Buffer.from(value).toString("hex")}`;
  if (Array.isArray(value)) return value.map(show);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, show(v)]));
  }
  return value;
}

async function outcome(promise) {
  try {
    return { value: show(await promise) };
  } catch (error) {
    const shown = { error: String(error.message), convexError: error instanceof ConvexError };
    if (error instanceof ConvexError) shown.data = show(error.data);
    return shown;
  }
}

const client = new ConvexHttpClient(url, { logger });
const admin = new ConvexHttpClient(url, { logger: false });
admin.setAdminAuth(adminKey);
const withToken = new ConvexHttpClient(url, { logger: false });
withToken.setAuth("not-a-jwt");

const results = {
  query: await outcome(client.query("notebook:double", { n: 21 })),
  bigint: await outcome(client.query("notebook:echo", { big: 2n ** 40n, bytes: new Uint8Array([1, 2]).buffer })),
  mutation: await outcome(client.mutation("notebook:add", { body: "from node" })),
  count: await outcome(client.query("notebook:count", {})),
  action: await outcome(client.action("notebook:plus_one", { n: 1 })),
  asyncAction: await outcome(client.action("notebook:async_plus_two", { n: 1 })),
  consistent: await outcome(client.consistentQuery("notebook:double", { n: 1 })),
  failure: await outcome(client.query("notebook:fails", {})),
  convexError: await outcome(client.mutation("notebook:refuses", {})),
  missing: await outcome(client.query("notebook:nope", {})),
  wrongKind: await outcome(client.query("notebook:add", { body: "x" })),
  badArgs: await outcome(client.query("notebook:double", { n: "x" })),
  internal: await outcome(client.query("notebook:secret", {})),
  internalAsAdmin: await outcome(admin.query("notebook:secret", {})),
  functionAsAdmin: await outcome(admin.function("notebook:secret", undefined, {})),
  bearer: await outcome(withToken.query("notebook:double", { n: 1 })),
};
results.logged = logged;
console.log(JSON.stringify(results));
