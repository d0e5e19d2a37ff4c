"""Issue 15 items 9 and 11: what a tail-only effect needs of the test and of the plan, and the band of
`compare` (a margin and each run's half-to-half drift).

A bootstrap resolves tail shares only down to 1 / (resamples + 1): with 11 one-second
blocks and 2,000 resamples no quantile row could get p below 0.0106, so Holm's first
step over 5 rows (0.01) was out of reach however large a tail-only effect was, and
`plan`, simulating whole-distribution shifts that Mann-Whitney decides, said 10 s.
"""

from __future__ import annotations

import numpy as np
import pytest

from stinger.core.stats import (
    Margin,
    band_rows,
    holm,
    plan_latency_seconds,
    quantile_diffs,
    quantile_drift,
    rank_drift,
    simulate_power,
)
from stinger.core.stats.ranks import mann_whitney


def _seconds(rng, k: int, *, rate: int = 100, tail_ms: float = 0.0, above: float = 0.9):
    """k one-second histograms (us) of ~5.3 ms; with `tail_ms`, every value above the run's `above`
    quantile that much later (a tail-only shift: the median exactly unchanged)."""
    out = []
    for _ in range(k):
        lat = rng.normal(5_300, 250, rate)
        if tail_ms:
            lat[lat > 5_300 + 250 * 1.2816] += tail_ms * 1000.0   # above the distribution's p90
        v, c = np.unique(np.round(lat).astype(np.int64), return_counts=True)
        out.append((v, c.astype(np.int64)))
    return out


def _lognormal(rng, k: int, rate: int = 80):
    out = []
    for _ in range(k):
        lat = rng.lognormal(np.log(5_300), 0.3, rng.poisson(rate))
        v, c = np.unique(np.round(lat).astype(np.int64), return_counts=True)
        out.append((v, c.astype(np.int64)))
    return out


def test_a_tail_only_shift_is_significant_at_the_minimum_duration():
    # p95/p99 +28 ms, the median unchanged, 11 shared seconds: the tail rows reach Holm's first step
    rng = np.random.default_rng(1)
    a, b = _seconds(rng, 11), _seconds(rng, 11, tail_ms=28)
    rows = [*quantile_diffs(a, b, (0.5, 0.95, 0.99), joint=True), mann_whitney(a, b, joint=True)]
    p50, p95, p99, _ = rows
    assert p95.p_value < 0.01 / 5 and p99.p_value < 0.01 / 5      # below 0.0106 (the old floor)
    assert p95.ci_low <= 28 <= p95.ci_high + 1.0
    adjusted = holm([r.p_value for r in rows] + [1.0])
    assert adjusted[1] < 0.05 and adjusted[2] < 0.05
    assert not adjusted[0] < 0.05 and abs(p50.diff) < 0.1      # the median did not move


def test_no_floor_does_not_raise_the_a_a_rate():
    # the extrapolation only refines p where the interval already excludes 0: A/A stays at alpha
    rng = np.random.default_rng(2)
    hits = np.zeros(3)
    sims = 150
    for s in range(sims):
        a, b = _seconds(rng, 10), _seconds(rng, 10)
        hits += [r.p_value < 0.05 for r in quantile_diffs(a, b, (0.5, 0.95, 0.99), joint=True, seed=s, n_boot=500)]
    assert (hits / sims <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / sims)).all(), hits / sims


def test_plan_sizes_a_tail_only_effect_and_the_test_agrees():
    # a tail-only effect is planned as one: longer than the same shift of the whole distribution
    # (which Mann-Whitney decides at the minimum), and at the planned duration the verdict's own
    # resolution (2,000 resamples) gives the power the plan's (400) promised
    rng = np.random.default_rng(4)
    base = _lognormal(rng, 30)
    whole = plan_latency_seconds(base, 1.0, sims=40, seed=1)
    tail = plan_latency_seconds(base, 1.0, at=0.95, seed=1, max_seconds=400)
    assert whole.seconds == 10
    assert tail.reached and tail.seconds >= 2 * whole.seconds
    planned = simulate_power(base, 1.0, tail.seconds, at=0.95, sims=60, n_boot=400, rng=7)
    verdicts = simulate_power(base, 1.0, tail.seconds, at=0.95, sims=60, n_boot=2000, rng=7)
    assert verdicts >= 0.7 and abs(verdicts - planned) <= 0.1
    assert simulate_power(base, 1.0, 10, at=0.95, sims=60, rng=7) < 0.45   # what the old plan's 10 s gives


def test_drift_is_each_run_against_its_own_halves():
    rng = np.random.default_rng(5)
    steady = _seconds(rng, 20)
    drifting = _seconds(rng, 10) + [(v + 2_000, c) for v, c in _seconds(rng, 10)]   # +2 ms in the second half
    d_steady, d_drift = quantile_drift(steady, (0.5,)), quantile_drift(drifting, (0.5,))
    assert d_steady is not None and d_drift is not None
    assert d_steady[0] < 0.2 and d_drift[0] == pytest.approx(2.0, abs=0.2)
    assert rank_drift(drifting) > 0.4 and rank_drift(steady) < 0.15
    assert quantile_drift(steady[:3], (0.5,)) is None   # too few seconds for halves


def test_band_rows_hold_a_drift_sized_difference_and_pass_a_real_one():
    from stinger.core.verdict import verdict

    rng = np.random.default_rng(6)
    # two separate runs of one endpoint whose latency wanders by 1 ms within each run
    a = _seconds(rng, 15) + [(v + 1_000, c) for v, c in _seconds(rng, 15)]
    b = [(v + 1_000, c) for v, c in _seconds(rng, 30)]
    rows = [*quantile_diffs(a, b, (0.5, 0.95, 0.99)), mann_whitney(a, b)]
    plain = verdict(rows)
    assert plain.rows[0].significant   # without a band the separate runs "differ"
    banded = verdict(band_rows(rows, a, b, Margin(relative=0.05), qs=(0.5, 0.95, 0.99)))
    p50 = banded.rows[0]
    assert p50.margin == pytest.approx(0.05 * p50.a) and p50.drift == pytest.approx(1.0, abs=0.2)
    assert not any(r.significant for r in banded.rows) and p50.within_margin
    # a real regression clears the band
    worse = [(v + 10_000, c) for v, c in b]
    rows = [*quantile_diffs(a, worse, (0.5, 0.95, 0.99)), mann_whitney(a, worse)]
    called = verdict(band_rows(rows, a, worse, Margin(relative=0.05), qs=(0.5, 0.95, 0.99)))
    assert all(r.significant and r.better == "a" for r in called.rows)


def test_an_absolute_margin_is_for_time_rows():
    assert Margin(absolute_ms=2.0).of(40.0, time_unit=True) == 2.0
    assert Margin(absolute_ms=2.0).of(100.0, time_unit=False) == 0.0
    assert Margin(relative=0.05).of(-40.0, time_unit=True) == pytest.approx(2.0)
