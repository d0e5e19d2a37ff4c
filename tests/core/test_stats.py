"""Tests for stinger.core.stats: reference values, A/A validity, power, sequential testing.

The A/A and power tests simulate the statistics code itself on synthetic load:
lognormal latencies around 20 ms with a random effect per 1-second interval
(every request in a slow second is slow), binned like an HDR histogram. That
correlation is what makes per-request methods over-reject, which one test
shows, so the interval-level methods are the defaults.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from stinger.core import stats as S
from stinger.core.stats import intervals, proportions, quantiles
from stinger.core.verdict import verdict

ALPHA = 0.05
N_SIM = 1000  # A/A simulations: at a true rate of 0.05 the sd is 0.007, so 0.07 is ~3 sd above


# --------------------------------------------------------------------------- synthetic load

def _bucket(us: np.ndarray) -> np.ndarray:
    """HDR-like bucketing at ~2 significant digits (128 sub-buckets), median-equivalent value."""
    us = np.maximum(us.astype(np.int64), 1)
    shift = np.maximum(np.floor(np.log2(us)).astype(np.int64) - 7, 0)
    return ((us >> shift) << shift) + ((np.int64(1) << shift) >> 1)


def _to_intervals(interval_id: np.ndarray, values_us: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-interval sparse histograms from flat (interval, latency) columns, one np.unique in all."""
    buckets = _bucket(values_us)
    key, counts = np.unique(interval_id.astype(np.int64) << 40 | buckets, return_counts=True)
    ids, vals = key >> 40, key & ((1 << 40) - 1)
    bounds = np.searchsorted(ids, np.arange(k + 1))
    return [(vals[lo:hi], counts[lo:hi].astype(np.int64)) for lo, hi in itertools.pairwise(bounds)]


def _run(rng, k, rate, *, shift_ms=0.0, median_ms=20.0, sd_interval=0.15, sd_request=0.5):
    """One variant's run: k one-second intervals, Poisson(rate) requests each, interval random effects."""
    n_per = rng.poisson(rate, size=k)
    interval_id = np.repeat(np.arange(k), n_per)
    effect = rng.normal(0.0, sd_interval, size=k)[interval_id]
    latency_us = median_ms * 1000 * np.exp(effect + rng.normal(0.0, sd_request, size=interval_id.size))
    return _to_intervals(interval_id, latency_us + shift_ms * 1000, k)


def _expand(hist):
    return np.repeat(*hist)


# --------------------------------------------------------------------------- A/A validity

@pytest.fixture(scope="module")
def aa_rejections():
    """Run N_SIM A/A comparisons once; every A/A test below reads its column."""
    rng = np.random.default_rng(20240601)
    names = ["p50", "p95", "p99", "p50 per-request", "mean", "mann-whitney", "error rate", "verdict"]
    hits = dict.fromkeys(names, 0)
    for i in range(N_SIM):
        a, b = _run(rng, 30, 100), _run(rng, 30, 100)
        rows = S.quantile_diffs(a, b, [0.5, 0.95, 0.99], n_boot=400, seed=i)
        naive = S.quantile_diff(a, b, 0.5, n_boot=400, seed=i, block="request")
        mean, mw = S.mean_diff(a, b), S.mann_whitney(a, b)
        n_a, n_b = mean.n_a, mean.n_b
        errors = S.error_rate_diff(rng.binomial(n_a, 0.02), n_a, rng.binomial(n_b, 0.02), n_b)
        for name, row in zip(names, [*rows, naive, mean, mw, errors]):
            hits[name] += row.significant
        hits["verdict"] += verdict([*rows, mean, mw, errors], alpha=ALPHA).significant
    return {name: h / N_SIM for name, h in hits.items()}


@pytest.mark.parametrize("name", ["p50", "p95", "p99", "mean", "mann-whitney", "error rate", "verdict"])
def test_aa_false_positive_rate_is_nominal_on_correlated_latencies(aa_rejections, name):
    assert aa_rejections[name] <= 0.07, aa_rejections


def test_aa_block_bootstrap_is_not_overly_conservative(aa_rejections):
    # A test that never rejects would pass the bound above; the block bootstrap
    # should reject at roughly the nominal rate.
    assert 0.02 <= aa_rejections["p50"] <= 0.07, aa_rejections


def test_per_request_bootstrap_over_rejects_on_correlated_data(aa_rejections):
    # Why block bootstrap is the default: the same data, resampled request by
    # request, pretends 3,000 independent observations where the slow seconds
    # make far fewer, and its "95 %" CI misses the true difference (0) often.
    assert aa_rejections["p50 per-request"] > 0.15
    assert aa_rejections["p50 per-request"] > 3 * aa_rejections["p50"]


def test_aa_independent_request_tests_hold_alpha():
    """Per-request tests on independent data (their assumption): each rejects at <= ~alpha."""
    rng = np.random.default_rng(7)
    hits = dict.fromkeys(["mann-whitney", "accuracy unpaired", "mcnemar", "mae paired", "rmse"], 0)
    for _ in range(N_SIM):
        la, lb = (_bucket(rng.lognormal(np.log(20_000), 0.5, size=400)) for _ in range(2))
        ha = tuple(np.asarray(x, dtype=np.int64) for x in np.unique(la, return_counts=True))
        hb = tuple(np.asarray(x, dtype=np.int64) for x in np.unique(lb, return_counts=True))
        hits["mann-whitney"] += S.mann_whitney(ha, hb).significant
        hits["accuracy unpaired"] += S.accuracy_unpaired(rng.binomial(500, 0.8), 500,
                                                         rng.binomial(500, 0.8), 500).significant
        # Paired: each payload is easy or hard for both models (correlated correctness).
        easy = rng.random(300) < 0.7
        p = np.where(easy, 0.95, 0.5)
        hits["mcnemar"] += S.accuracy_paired(rng.random(300) < p, rng.random(300) < p).significant
        truth_noise = rng.normal(0, 1, size=300)
        ea, eb = truth_noise + rng.normal(0, 1, 300), truth_noise + rng.normal(0, 1, 300)
        hits["mae paired"] += S.regression_error_diff(ea, eb, paired=True).significant
        hits["rmse"] += S.regression_error_diff(ea, rng.normal(0, math.sqrt(2), 300), paired=False,
                                                metric="rmse").significant
    rates = {k: v / N_SIM for k, v in hits.items()}
    assert all(r <= 0.07 for r in rates.values()), rates


# --------------------------------------------------------------------------- power

def test_planned_sample_size_reaches_planned_power_on_correlated_latencies():
    """+5 ms on B (baseline ~20 ms median): n from plan_sample_size detects it >= ~0.75 of the time."""
    rng = np.random.default_rng(11)
    rate = 10  # requests per second per variant
    pilot = _run(rng, 600, rate, sd_interval=0.2, sd_request=0.6)
    values, counts = intervals._merge(pilot)
    sd_ms = float(np.sqrt(np.cov(values / 1000.0, fweights=counts)))
    deff = S.design_effect(pilot)
    assert deff > 1.2  # the simulation really is correlated within seconds
    n = S.plan_sample_size(baseline_sd_ms=sd_ms, min_effect=5.0, power=0.8, design_effect=deff)
    k = math.ceil(S.plan_duration(n, rate))
    assert k >= S.MIN_INTERVALS  # so mean_diff uses the interval-clustered variance
    sims = 300
    detected = 0
    for _ in range(sims):
        a = _run(rng, k, rate, sd_interval=0.2, sd_request=0.6)
        b = _run(rng, k, rate, shift_ms=5.0, sd_interval=0.2, sd_request=0.6)
        row = S.mean_diff(a, b)
        detected += row.significant and row.better == "a"
    power = detected / sims
    print(f"planned n={n} per variant ({k} s at {rate} req/s, design effect {deff:.2f}), power {power:.3f}")
    assert 0.75 <= power <= 0.95


def test_planned_sample_size_for_proportions_reaches_power():
    rng = np.random.default_rng(12)
    n = S.plan_sample_size(baseline_rate=0.10, min_effect=0.05, metric="proportion")
    hits = sum(S.error_rate_diff(rng.binomial(n, 0.10), n, rng.binomial(n, 0.15), n).significant
               for _ in range(N_SIM))
    assert hits / N_SIM >= 0.75


def test_plan_sample_size_matches_cohen_table_and_scales():
    # Cohen (1988): d = 0.5, alpha = 0.05 two-sided, power 0.8 -> 64 per group.
    assert S.plan_sample_size(baseline_sd_ms=10, min_effect=5) == 64
    assert S.plan_sample_size(baseline_sd_ms=10, min_effect=5, design_effect=2.0) == 128
    big = S.plan_sample_size(baseline_sd_ms=40, min_effect=1)
    assert big == pytest.approx(2 * (1.959964 + 0.841621) ** 2 * 1600, rel=0.01)
    assert S.plan_duration(1200, 100.0) == 12.0
    with pytest.raises(ValueError):
        S.plan_sample_size(min_effect=5)


# --------------------------------------------------------------------------- reference values

def test_error_rate_diff_matches_fisher_and_newcombe_reference():
    row = S.error_rate_diff(48, 80, 56, 70)
    assert row.p_value == pytest.approx(sps.fisher_exact([[48, 32], [56, 14]])[1], rel=1e-12)
    # Newcombe (1998), Stat Med 17:873, example 56/70 - 48/80, method 10: 0.0524 to 0.3339.
    assert row.diff == pytest.approx(20.0)
    assert (row.ci_low, row.ci_high) == (pytest.approx(5.24, abs=0.01), pytest.approx(33.39, abs=0.01))
    assert row.better == "a"  # B errs more
    z = sps.norm.ppf(0.975)
    wilson = sps.binomtest(56, 70).proportion_ci(method="wilson")
    assert proportions._wilson(56, 70, z) == (pytest.approx(wilson.low), pytest.approx(wilson.high))
    with pytest.raises(ValueError):
        S.error_rate_diff(5, 4, 0, 10)


def test_mcnemar_matches_hand_computation():
    # 100 payloads: 60 both right, 29 both wrong, 9 only B right, 2 only A right.
    a = np.array([True] * 60 + [False] * 29 + [False] * 9 + [True] * 2)
    b = np.array([True] * 60 + [False] * 29 + [True] * 9 + [False] * 2)
    row = S.accuracy_paired(a, b)
    # Exact two-sided binomial on 11 discordant pairs: 2 * P(X <= 2) = 2 (1 + 11 + 55) / 2^11.
    assert row.p_value == pytest.approx(134 / 2048)
    assert (row.a, row.b, row.diff) == (pytest.approx(62.0), pytest.approx(69.0), pytest.approx(7.0))
    assert row.ci_low < row.diff < row.ci_high
    assert not row.significant and row.favours == "b"
    assert S.agreement(a, b) == pytest.approx(0.89)


def test_holm_matches_hand_example():
    # sorted: .005*4 = .02, .01*3 = .03, .03*2 = .06, .04*1 = .04 -> running max .06
    assert S.holm([0.01, None, 0.04, 0.03, 0.005]) == [
        pytest.approx(0.03), None, pytest.approx(0.06), pytest.approx(0.06), pytest.approx(0.02)]
    assert S.holm([0.9, 0.8]) == [1.0, 1.0]
    assert S.holm([]) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=40), st.lists(st.integers(1, 12), min_size=1, max_size=40))
def test_weighted_mann_whitney_equals_scipy_on_expanded_data(xs, ys):
    ha = tuple(np.asarray(x, dtype=np.int64) for x in np.unique(np.array(xs) * 1000, return_counts=True))
    hb = tuple(np.asarray(x, dtype=np.int64) for x in np.unique(np.array(ys) * 1000, return_counts=True))
    row = S.mann_whitney(ha, hb)
    ref = sps.mannwhitneyu(_expand(ha), _expand(hb), method="asymptotic", use_continuity=True)
    assert row.diff * len(xs) * len(ys) == pytest.approx(ref.statistic)
    if math.isnan(ref.pvalue):  # all values tied: scipy gives NaN, we give "no evidence"
        assert row.p_value == 1.0
    else:
        assert row.p_value == pytest.approx(ref.pvalue, abs=1e-12)


def test_mann_whitney_handles_millions_without_expanding():
    values = np.arange(1_000, 200_000, 10, dtype=np.int64)
    rng = np.random.default_rng(3)
    ca = rng.integers(50, 150, size=values.size)
    cb = rng.integers(50, 150, size=values.size)
    assert ca.sum() > 1_500_000 and cb.sum() > 1_500_000
    b_vals = values + 10  # B 10 us slower; its values coincide with A's next bucket (ties)
    row = S.mann_whitney((values, ca), (b_vals, cb))
    # Reference by a different route: P(B < a) + .5 P(B = a) from B's CDF, averaged over A.
    cum_b = np.concatenate([[0], np.cumsum(cb)]) / cb.sum()
    below = cum_b[np.searchsorted(b_vals, values, side="left")]
    at_or_below = cum_b[np.searchsorted(b_vals, values, side="right")]
    assert row.diff == pytest.approx(np.dot(ca, (below + at_or_below) / 2) / ca.sum(), rel=1e-9)
    assert row.favours == "a" and 0 <= row.p_value <= 1


def test_quantile_point_estimate_is_the_hdr_rank_rule():
    rng = np.random.default_rng(5)
    a = _run(rng, 12, 50)
    b = _run(rng, 12, 50, shift_ms=3)
    row = S.quantile_diff(a, b, 0.95, n_boot=200)
    raw_a = np.concatenate([_expand(h) for h in a])
    raw_b = np.concatenate([_expand(h) for h in b])
    assert row.a == np.quantile(raw_a, 0.95, method="inverted_cdf") / 1000
    assert row.b == np.quantile(raw_b, 0.95, method="inverted_cdf") / 1000
    assert row.ci_low <= row.diff <= row.ci_high
    assert "block bootstrap over 12 + 12" in row.method
    few = S.quantile_diff(a[:5], b[:5], 0.95, n_boot=200)
    assert "per-request" in few.method and "independent" in few.method
    with pytest.raises(ValueError):
        S.quantile_diff(a, b, 1.0)


def test_per_request_bootstrap_matches_explicit_resampling():
    # The Beta order-statistic shortcut must give the ordinary bootstrap distribution.
    rng = np.random.default_rng(9)
    raw = rng.integers(1, 60, size=400) * 1000
    hist = tuple(np.asarray(x, dtype=np.int64) for x in np.unique(raw, return_counts=True))
    fast = quantiles._boot_quantiles_per_request([hist], np.array([0.5, 0.9]), 20_000, rng)
    resampled = np.sort(raw[rng.integers(0, raw.size, size=(20_000, raw.size))], axis=1)
    slow = resampled[:, [199, 359]] / 1000  # ranks ceil(q N) - 1, 0-based
    for j in range(2):
        assert fast[:, j].mean() == pytest.approx(slow[:, j].mean(), abs=0.1)
        assert np.percentile(fast[:, j], [2.5, 97.5]) == pytest.approx(np.percentile(slow[:, j], [2.5, 97.5]), abs=1)


def test_regression_error_diff_matches_scipy_t_tests():
    rng = np.random.default_rng(2)
    ea, eb = rng.normal(0, 1.0, 200), rng.normal(0, 1.3, 200)
    paired = S.regression_error_diff(ea, eb, paired=True)
    assert paired.p_value == pytest.approx(sps.ttest_rel(np.abs(eb), np.abs(ea)).pvalue)
    welch = S.regression_error_diff(ea, eb, paired=False)
    assert welch.p_value == pytest.approx(sps.ttest_ind(np.abs(eb), np.abs(ea), equal_var=False).pvalue)
    rmse = S.regression_error_diff(ea, eb, paired=False, metric="rmse")
    assert rmse.a == pytest.approx(np.sqrt(np.mean(ea**2))) and rmse.better == "a"


def test_throughput_brackets():
    overlap = S.throughput_diff((100, 120), (110, 130))
    assert not overlap.significant and overlap.better is None and overlap.p_value is None
    assert (overlap.diff, overlap.ci_low, overlap.ci_high) == (10, -10, 30)
    above = S.throughput_diff((100, 120), (120, 140))  # B passed at 120, where A failed
    assert above.significant and above.better == "b" and above.ci_low == 0
    below = S.throughput_diff((200, math.inf), (100, 150))  # A never failed
    assert below.better == "a" and below.ci_low == -math.inf
    assert "not a statistical CI" in below.method
    with pytest.raises(ValueError):
        S.throughput_diff((150, 100), (1, 2))


# --------------------------------------------------------------------------- sequential

def test_sequential_test_holds_alpha_under_many_peeks_where_naive_peeking_does_not():
    rng = np.random.default_rng(4)
    sims, peeks, batch = 300, 40, 50
    stopped = 0
    for _ in range(sims):
        test = S.SequentialTest(alpha=ALPHA, tau=2.0)
        previous = 1.0
        for _ in range(peeks):
            test.update(rng.lognormal(3, 0.5, batch), rng.lognormal(3, 0.5, batch))
            assert test.p_value <= previous
            previous = test.p_value
        stopped += test.decision == "different"
    assert stopped / sims <= ALPHA
    # Naive: a Welch z-test after every batch, stop at the first p < 0.05.
    x = rng.normal(size=(sims, peeks * batch))
    y = rng.normal(size=(sims, peeks * batch))
    n = np.arange(batch, peeks * batch + 1, batch)
    mx, my = np.cumsum(x, 1)[:, n - 1] / n, np.cumsum(y, 1)[:, n - 1] / n
    naive = (np.abs(my - mx) / np.sqrt(2 / n) > 1.96).any(axis=1).mean()
    assert naive > 2 * ALPHA


def test_sequential_test_detects_a_real_difference_and_covers_it():
    rng = np.random.default_rng(6)
    found, covered = 0, 0
    for _ in range(100):
        test = S.SequentialTest(alpha=ALPHA)  # tau from the data
        for _ in range(60):
            if test.update(rng.normal(20, 10, 50), rng.normal(23, 10, 50)) == "different":
                break
        found += test.decision == "different"
        covered += test.interval[0] <= 3.0 <= test.interval[1]
    assert found >= 90
    assert covered >= 95


def test_sequential_test_on_proportions():
    rng = np.random.default_rng(8)
    false_alarms = 0
    for _ in range(200):
        test = S.SequentialTest(metric="proportion", tau=0.02)
        for _ in range(30):
            test.update(rng.random(100) < 0.1, rng.random(100) < 0.1)
        false_alarms += test.decision == "different"
    assert false_alarms / 200 <= ALPHA
    real = S.SequentialTest(metric="proportion", tau=0.05)
    for _ in range(100):
        real.update(rng.random(100) < 0.10, rng.random(100) < 0.20)
    assert real.decision == "different" and real.estimate > 0.05
    with pytest.raises(ValueError):
        real.update(np.array([0.5]), np.array([1.0]))


def test_comparison_to_dict_is_json_ready():
    row = S.mann_whitney((np.array([1000, 2000]), np.array([3, 4])), (np.array([1500]), np.array([5])))
    d = row.to_dict()
    assert set(d) >= {"metric", "a", "b", "diff", "ci_low", "ci_high", "p_value", "p_adjusted",
                      "significant", "better", "method"}
    assert json.loads(json.dumps(d)) == d


def test_sequential_paired_differences_cancel_shared_seconds_and_keep_alpha():
    # issue 9 item 3: per-second means of A and B share each second's slowness;
    # on the differences it cancels. A/A over 60 looks stays <= alpha, and a
    # +5 ms shift with tau = the effect stops at the earliest allowed look.
    rng = np.random.default_rng(5)

    def run(effect: float) -> int | None:
        t = S.SequentialTest(alpha=ALPHA, tau=5.0, min_n=10, paired=True)
        for k in range(60):
            slow = rng.gamma(2.0, 2.0)
            if t.update(np.array([slow + rng.normal(0, 1)]), np.array([slow + effect + rng.normal(0, 1)])) \
                    == "different":
                return k + 1
        return None

    false = sum(run(0.0) is not None for _ in range(200))
    assert false <= 0.05 * 200 + 4, false
    stops = [run(5.0) for _ in range(20)]
    assert all(s == 10 for s in stops), stops
    with pytest.raises(ValueError, match="equal-length"):
        S.SequentialTest(paired=True).update(np.zeros(2), np.zeros(3))


def test_sequential_default_tau_is_not_a_tenth_of_the_sd():
    # The old default (0.1 sd) needed z ~ 7 to stop; the default is now the sd itself.
    t = S.SequentialTest(alpha=ALPHA, min_n=10)
    rng = np.random.default_rng(6)
    t.update(rng.normal(0, 2, 10), rng.normal(0, 2, 10))
    assert t.tau is not None and t.tau > 1.0
