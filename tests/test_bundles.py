"""The bundles committed in convex_lab/static/ are built from the current js/ sources.

Each bundle starts with a stamp (written by js/build.mjs) naming its inputs and their sha256;
a source edited without `cd js && npm ci && npm run build` fails here. The official client's
bundle (convex_browser.js) is stamped with its entry and js/package-lock.json, which pins the
`convex` version: js/node_modules is not installed where the tests run.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAMP = re.compile(r"convex_lab bundle; inputs: (?P<inputs>[^;]+); sha256: (?P<sha>[0-9a-f]{64});")
BUNDLES = sorted(p for p in (ROOT / "convex_lab/static").iterdir() if p.suffix in (".js", ".css"))


def sources_hash(inputs: list[str]) -> str:
    digest = hashlib.sha256()
    for name in inputs:
        digest.update(f"{name}\n".encode())
        digest.update((ROOT / "js" / name).read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("bundle", BUNDLES, ids=[p.name for p in BUNDLES])
def test_bundle_is_built_from_current_sources(bundle):
    first_line = bundle.read_text().splitlines()[0]
    stamp = STAMP.search(first_line)
    assert stamp, f"{bundle.name} has no build stamp; rebuild with: cd js && npm ci && npm run build"
    inputs = stamp["inputs"].split()
    assert sources_hash(inputs) == stamp["sha"], (
        f"{bundle.name} is stale against js/{', js/'.join(inputs)}; rebuild with: cd js && npm ci && npm run build")


def test_every_source_has_a_bundle():
    sources = {p.name for p in (ROOT / "js").iterdir() if p.suffix in (".js", ".css")}
    assert sources and sources <= {p.name for p in BUNDLES}


def test_client_bundle_is_stamped_with_the_pinned_convex_version():
    bundle = ROOT / "convex_lab/static/convex_browser.js"
    inputs = STAMP.search(bundle.read_text().splitlines()[0])["inputs"].split()
    assert inputs == ["convex_browser.js", "package-lock.json"]  # never node_modules paths
    pinned = json.loads((ROOT / "js/package-lock.json").read_text())["packages"]["node_modules/convex"]["version"]
    tests_pin = json.loads((ROOT / "tests/js/package-lock.json").read_text())["packages"]["node_modules/convex"]["version"]
    assert pinned == tests_pin  # the page's client is the one the server's JS tests run against
    assert f'var version = "{pinned}";' in bundle.read_text()  # the bundle holds that version


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_client_bundle_exports_the_official_clients():
    bundle = ROOT / "convex_lab/static/convex_browser.js"
    script = (f"const m = await import({json.dumps(bundle.as_uri())});"
              "console.log(JSON.stringify(Object.keys(m).filter((k) => typeof m[k] === 'function').sort()))")
    done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert {"ConvexClient", "ConvexHttpClient"} <= set(json.loads(done.stdout))
