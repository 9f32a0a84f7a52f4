// The official npm `convex` client for pages an App serves: the server sends this bundle at
// /static/convex_browser.js, so a page needs no npm and no CDN:
//   import { ConvexClient } from "/static/convex_browser.js";
// The version is the one js/package-lock.json pins.
export { ConvexClient, ConvexHttpClient, BaseConvexClient } from "convex/browser";
export { ConvexError } from "convex/values";
