"""The widget bundles committed in convex_lab/static/ are built from the current js/ sources.

Each bundle starts with a stamp (written by js/build.mjs) naming its inputs and their sha256;
a source edited without `cd js && npm ci && npm run build` fails here.
"""

from __future__ import annotations

import hashlib
import re
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


def test_every_widget_source_has_a_bundle():
    sources = {p.name for p in (ROOT / "js").iterdir() if p.suffix in (".js", ".css") and p.name != "build.mjs"}
    assert sources <= {p.name for p in BUNDLES}
