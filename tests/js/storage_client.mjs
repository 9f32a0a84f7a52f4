// Uploads a file the way a Convex web app does, with the official npm client and node's fetch:
// a mutation returns an upload URL, the file is POSTed to it, the storage id is saved by another
// mutation, and the URL a query returns serves the bytes. Prints one JSON object;
// tests/test_server_storage.py defines the functions and checks it.
//
// Usage: node storage_client.mjs <url>
import { ConvexHttpClient } from "convex/browser";

const [url] = process.argv.slice(2);
const client = new ConvexHttpClient(url, { logger: false });

const uploadUrl = await client.mutation("notebook:upload_url", {});
const file = new Blob(["hello from node"], { type: "text/plain" });
const uploaded = await fetch(uploadUrl, { method: "POST", headers: { "Content-Type": file.type }, body: file });
const { storageId } = await uploaded.json();
await client.mutation("notebook:save", { storageId });
const fileUrl = await client.query("notebook:saved_url", {});
const served = await fetch(fileUrl);
console.log(JSON.stringify({
  uploadStatus: uploaded.status,
  storageId,
  servedStatus: served.status,
  contentType: served.headers.get("content-type"),
  text: await served.text(),
}));
