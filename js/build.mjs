// Bundles each widget's sources into one ES module (and copies its CSS) under convex_lab/static/.
// Every output starts with a stamp naming its inputs and their sha256, which
// tests/test_bundles.py recomputes to catch a bundle that is stale against js/.
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

function stamp(inputs) {
  const hash = createHash("sha256");
  for (const file of inputs) {
    hash.update(file + "\n");
    hash.update(readFileSync(join(here, file)));
  }
  return `convex_lab bundle; inputs: ${inputs.join(" ")}; sha256: ${hash.digest("hex")}; rebuild: cd js && npm ci && npm run build`;
}

for (const name of WIDGETS) {
  const result = await esbuild.build({
    entryPoints: [join(here, `${name}.js`)],
    bundle: true,
    format: "esm",
    target: "es2020",
    write: false,
    metafile: true,
    legalComments: "none",
  });
  const inputs = Object.keys(result.metafile.inputs).map((p) => relative(here, join(process.cwd(), p))).sort();
  writeFileSync(join(out, `${name}.js`), `// ${stamp(inputs)}\n${result.outputFiles[0].text}`);
  const css = `${name}.css`;
  writeFileSync(join(out, css), `/* ${stamp([css])} */\n${readFileSync(join(here, css), "utf8")}`);
  console.log(`wrote convex_lab/static/${name}.js (${inputs.join(", ")}) and ${basename(css)}`);
}
