"""Tests for stinger.core.verdict: Holm over rows, one honest sentence, the Markdown table.

The A/A family-wise false-positive rate of `verdict` is measured in
tests/core/test_stats.py with the other A/A simulations.
"""

from __future__ import annotations

import numpy as np

from stinger.core import stats as S
from stinger.core.verdict import verdict


def _run(rng, k, rate, *, shift_ms=0.0, sd_interval=0.15):
    """k one-second interval histograms of lognormal latencies (~20 ms) with a per-interval effect."""
    out = []
    for effect in rng.normal(0.0, sd_interval, size=k):
        us = (20_000 * np.exp(effect + rng.normal(0.0, 0.5, size=rng.poisson(rate))) + shift_ms * 1000).astype(np.int64)
        values, counts = np.unique(us // 100 * 100 + 50, return_counts=True)  # 0.1 ms buckets
        out.append((values.astype(np.int64), counts.astype(np.int64)))
    return out


def test_verdict_no_significant_difference_sentence():
    rng = np.random.default_rng(1)
    a, b = _run(rng, 20, 150), _run(rng, 20, 150)
    rows = [*S.quantile_diffs(a, b, [0.5, 0.95], n_boot=500), S.error_rate_diff(30, 3000, 31, 3000),
            S.accuracy_unpaired(800, 1000, 805, 1000)]
    v = verdict(rows)
    assert not v.significant
    assert v.sentence.startswith("No significant difference between A and B in latency, error rate or accuracy")
    n_a, n_b = max(r.n_a for r in rows), max(r.n_b for r in rows)
    assert n_a == n_b == 3000  # the error-rate row has the most requests
    assert v.sentence.endswith("(n = 3,000 per variant).")
    assert all(r.better is None and not r.significant for r in v.rows)
    assert v.to_markdown().splitlines()[2].endswith("| no |")
    unequal = verdict([S.error_rate_diff(30, 3000, 31, 2900)])
    assert unequal.sentence == "No significant difference between A and B in error rate (n = 3,000 and 2,900)."


def test_verdict_flags_latency_claims_from_too_few_intervals():
    # Five intervals per variant: per-request fallback, whose CI ignores the
    # correlation between requests of one second. Any latency claim it makes
    # carries a caution in the sentence and a note under the table.
    rng = np.random.default_rng(1)
    a, b = _run(rng, 5, 150, sd_interval=0.3), _run(rng, 5, 150, sd_interval=0.3)
    rows = S.quantile_diffs(a, b, [0.5, 0.95], n_boot=500)
    shifted = S.quantile_diffs(a, _run(rng, 5, 150, shift_ms=20), [0.5], n_boot=500)
    v = verdict([*rows, *shifted])
    assert v.significant and "caution: too few one-second intervals" in v.sentence
    assert any("fewer than 10 one-second intervals" in n for n in v.notes)
    assert "fewer than 10 one-second intervals" in v.to_markdown()


def test_verdict_describes_a_real_difference_and_holm_adjusts():
    rng = np.random.default_rng(2)
    a, b = _run(rng, 60, 200, shift_ms=5), _run(rng, 60, 200)  # B is 5 ms faster
    rows = [*S.quantile_diffs(a, b, [0.5, 0.95], n_boot=1000), S.error_rate_diff(30, 12000, 33, 12000),
            S.accuracy_unpaired(8000, 10000, 8310, 10000), S.throughput_diff((100, 120), (110, 130))]
    v = verdict(rows, a_name="baseline", b_name="candidate")
    assert v.significant
    assert v.sentence.startswith("candidate is faster than baseline at p50 by ")
    assert " and at p95 by " in v.sentence and "(95 % CI " in v.sentence
    assert "candidate is more accurate than baseline by 3.1 points" in v.sentence
    assert v.sentence.endswith("with no significant difference in error rate or throughput.")
    assert [r.p_adjusted for r in v.rows] == S.holm([r.p_value for r in rows])
    assert all(r.p_adjusted >= r.p_value for r in v.rows if r.p_value is not None)
    assert [r.better for r in v.rows] == ["b", "b", None, "b", None]

    md = v.to_markdown()
    assert "| metric | baseline | candidate | candidate − baseline | 95 % CI | p (adj.) | significant |" in md
    for r in v.rows:
        assert f"| {r.metric} |" in md
    assert v.sentence in md and "Methods:" in md and "yes (candidate better)" in md


def _row(metric, diff, lo, hi, p, kind="latency", unit="ms"):
    from stinger.core.stats import Comparison

    return Comparison(metric=metric, a=5.0, b=5.0 + diff, diff=diff, ci_low=lo, ci_high=hi, p_value=p,
                      p_adjusted=p, significant=p < 0.05, better=None, method="m", kind=kind, unit=unit,
                      favours="a" if diff > 0 else "b")


def test_an_interval_excluding_zero_beside_not_significant_is_explained():
    # issue 9 item 5: "+1.8 [0.17, 3.5] p(adj) 0.087 no" appeared with no word of why.
    rows = [_row("accuracy (%)", 1.8, 0.17, 3.5, 0.029, kind="accuracy", unit="points"),
            _row("latency p50 (ms)", 0.1, -0.2, 0.4, 0.5), _row("latency p95 (ms)", 0.1, -0.2, 0.4, 0.6)]
    v = verdict(rows)
    md = v.to_markdown()
    acc = next(line for line in md.splitlines() if line.startswith("| accuracy"))
    assert acc.endswith("| no † |")
    assert "† accuracy (%): its own interval excludes 0" in md and "Holm" in md
    assert "not adjusted for multiplicity" in md
    p50 = next(line for line in md.splitlines() if line.startswith("| latency p50"))
    assert "†" not in p50


def test_intervals_print_with_enough_digits_to_differ():
    v = verdict([_row("latency p50 (ms)", 5.22, 5.21, 5.24, 0.001)])
    md = v.to_markdown()
    assert "[5.21, 5.24]" in md and "+5.22" in md
    assert "5.2–5.2" not in v.sentence and "5.21–5.24 ms" in v.sentence


def test_rank_row_names_the_variants():
    from stinger.core.stats import mann_whitney

    rng = np.random.default_rng(3)
    a, b = _run(rng, 20, 150), _run(rng, 20, 150, shift_ms=5)
    v = verdict([mann_whitney(a, b)], a_name="baseline", b_name="candidate")
    md = v.to_markdown()
    assert "P(candidate faster)" in md and "P(B faster)" not in md


def test_float_noise_does_not_print_nine_decimals():
    v = verdict([_row("latency p50 (ms)", 0.008, 0.008000000000001, 0.012, 0.001)])
    assert "0.008000" not in v.to_markdown() + v.sentence
