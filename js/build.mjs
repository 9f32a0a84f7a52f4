// Bundles each widget's sources into one ES module (and copies its CSS) under convex_lab/static/,
// and the official npm `convex` client into convex_browser.js, which the server serves to pages.
// Every output starts with a stamp naming its inputs and their sha256, which
// tests/test_bundles.py recomputes to catch a bundle that is stale against js/. The client's
// stamp names its entry and package-lock.json (which pins convex's version), not node_modules:
// those files are not there when the tests run.
//
//   cd js && npm ci && npm run build

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "convex_lab", "static");
const WIDGETS = ["live_view"];
const CLIENTS = ["convex_browser"];  // entries importing from node_modules; stamped with the lockfile

function stamp(inputs) {
  const hash = createHash("sha256");
  for (const file of inputs) {
    hash.update(file + "\n");
    hash.update(readFileSync(join(here, file)));
  }
  return `convex_lab bundle; inputs: ${inputs.join(" ")}; sha256: ${hash.digest("hex")}; rebuild: cd js && npm ci && npm run build`;
}

function bundle(name) {
  return esbuild.build({
    entryPoints: [join(here, `${name}.js`)],
    bundle: true,
    format: "esm",
    target: "es2020",
    platform: "browser",
    write: false,
    metafile: true,
    legalComments: "none",
  });
}

for (const name of WIDGETS) {
  const result = await bundle(name);
  const inputs = Object.keys(result.metafile.inputs).map((p) => relative(here, join(process.cwd(), p))).sort();
  writeFileSync(join(out, `${name}.js`), `// ${stamp(inputs)}\n${result.outputFiles[0].text}`);
  const css = `${name}.css`;
  writeFileSync(join(out, css), `/* ${stamp([css])} */\n${readFileSync(join(here, css), "utf8")}`);
  console.log(`wrote convex_lab/static/${name}.js (${inputs.join(", ")}) and ${basename(css)}`);
}

for (const name of CLIENTS) {
  const result = await bundle(name);
  const inputs = [`${name}.js`, "package-lock.json"];
  writeFileSync(join(out, `${name}.js`), `// ${stamp(inputs)}\n${result.outputFiles[0].text}`);
  const size = (result.outputFiles[0].contents.length / 1024).toFixed(0);
  console.log(`wrote convex_lab/static/${name}.js (${inputs.join(", ")}; ${size} KiB)`);
}
