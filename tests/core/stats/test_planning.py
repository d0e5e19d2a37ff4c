"""`plan_latency_seconds` plans for the verdict's own tests, by simulation from a baseline's intervals."""

from __future__ import annotations

import numpy as np
import pytest

from stinger.core.stats import (
    MIN_INTERVALS,
    design_effect,
    plan_latency_seconds,
    plan_sample_size,
    simulate_power,
)


def _baseline(rng, seconds: int = 40, rate: float = 80.0):
    out = []
    for _ in range(seconds):
        slow = rng.gamma(2.0, 800.0)
        lat = np.round(15_000 + slow + rng.gamma(4.0, 1250.0, rng.poisson(rate))).astype(np.int64)
        v, c = np.unique(lat, return_counts=True)
        out.append((v, c.astype(np.int64)))
    return out


def test_the_old_mean_plan_is_too_small_for_the_verdict():
    # issue 9 item 2: the first release planned a t-test on the mean (even with
    # the design effect); the verdict runs quantiles and Mann-Whitney with Holm
    # over 5 rows, so at that size it detects 1 ms in ~68 % of runs, not 80 %.
    rng = np.random.default_rng(0)
    base = _baseline(rng)
    vals = np.concatenate([v for v, _ in base]) / 1000.0
    w = np.concatenate([c for _, c in base])
    sd = float(np.sqrt(np.cov(vals, fweights=w)))
    n_old = plan_sample_size(baseline_sd_ms=sd, min_effect=1.0, metric="mean", design_effect=design_effect(base))
    seconds_old = int(np.ceil(n_old / 80))
    assert simulate_power(base, 1.0, seconds_old, sims=60, rng=1) < 0.75
    plan = plan_latency_seconds(base, 1.0, sims=40, seed=1)
    assert plan.seconds > seconds_old


def test_planned_size_reaches_the_power_and_respects_the_minimum():
    rng = np.random.default_rng(2)
    base = _baseline(rng)
    plan = plan_latency_seconds(base, 1.0, power=0.8, sims=40, seed=3)
    assert plan.reached and plan.seconds >= MIN_INTERVALS and plan.power >= 0.8
    assert plan.requests == pytest.approx(plan.seconds * 80, rel=0.1)
    # an independent check of the promise, fresh simulations at the planned size
    assert simulate_power(base, 1.0, plan.seconds, sims=60, rng=99) >= 0.65
    big = plan_latency_seconds(base, 10.0, sims=20, seed=3)
    assert big.seconds == MIN_INTERVALS  # a large effect still gets the verdict's minimum


def test_holm_rows_make_the_plan_longer():
    rng = np.random.default_rng(4)
    base = _baseline(rng)
    one = plan_latency_seconds(base, 1.0, m=1, sims=40, seed=5)
    five = plan_latency_seconds(base, 1.0, m=5, sims=40, seed=5)
    assert five.seconds >= one.seconds


def test_plan_needs_a_positive_effect():
    with pytest.raises(ValueError):
        plan_latency_seconds(_baseline(np.random.default_rng(0), 3), 0.0)
