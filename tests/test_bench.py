"""The benchmarks judge a figure against its target only under the settings the target is for."""

from __future__ import annotations

from bench.reactivity import TARGET_SUBS, verdict


def test_reactivity_verdicts_only_at_the_target_setting():
    assert verdict(TARGET_SUBS, True, "target ≤ 1.3×") == " (target ≤ 1.3× ✓)"
    assert verdict(TARGET_SUBS, False, "target ≥ 1000×") == " (target ≥ 1000× ✗)"
    other = verdict(1_000, False, "target ≥ 1000×")
    assert "✗" not in other and "no verdict at 1,000" in other
