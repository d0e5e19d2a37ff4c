"""core/stats/interference.py: a variant's latency with another variant in flight against alone."""

from __future__ import annotations

import numpy as np
import pytest

from stinger.core.histogram import Histogram
from stinger.core.stats.interference import MIN_EACH, interference, subtract

SECONDS = 12


def _hist(values_ms) -> tuple[np.ndarray, np.ndarray]:
    h = Histogram()
    if len(values_ms):
        h.record_many(np.asarray(values_ms, dtype=np.float64) * 1e3)
    return h.values_counts() if h.total_count else (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


def _seconds(alone_ms: float, overlapped_ms: float, n_alone: int, n_over: int, seed: int = 0, spread: float = 0.1):
    """Per-second histograms of all requests and of the overlapped ones (a subset, the same buckets)."""
    rng = np.random.default_rng(seed)
    total, over = [], []
    for _ in range(SECONDS):
        a = alone_ms * (1 + spread * rng.standard_normal(n_alone)).clip(0.5)
        o = overlapped_ms * (1 + spread * rng.standard_normal(n_over)).clip(0.5)
        total.append(_hist(np.concatenate([a, o])))
        over.append(_hist(o))
    return total, over


@pytest.mark.parametrize("alone, overlapped, n_alone, n_over, found", [
    (2.0, 22.0, 10, 10, True),      # a fast model queued behind a slow one in one worker (issue 15)
    (20.0, 22.0, 10, 10, True),     # the slow one behind the fast one: +2 ms = 10 %, past the margin
    (5.0, 5.0, 10, 10, False),      # two variants on their own servers: no difference
    (5.0, 5.3, 10, 10, False),      # significant, but under the practical margin (1 ms)
    (50.0, 54.0, 10, 10, False),    # +4 ms on 50 ms: under the 10 % margin
    (2.0, 22.0, 10, 1, False),      # 12 overlapped requests in all: too few to judge
])
def test_found_table(alone, overlapped, n_alone, n_over, found):
    total, over = _seconds(alone, overlapped, n_alone, n_over)
    got = interference(total, over, seed=1, n_boot=500)
    assert got.found is found, got.reason
    assert got.alone == SECONDS * n_alone and got.overlapped == SECONDS * n_over
    if got.alone >= MIN_EACH and got.overlapped >= MIN_EACH:
        p50 = got.effect("latency")
        assert p50 is not None and p50.alone == pytest.approx(alone, rel=0.1)
        assert p50.overlapped == pytest.approx(overlapped, rel=0.1)
        assert p50.ci_low <= p50.diff <= p50.ci_high
    else:
        assert got.effects == () and "not judged" in got.reason


def test_server_time_alone_can_show_it():
    """Latency the same in both groups (a client-side mask), server time slower with the partner in flight."""
    lat_total, lat_over = _seconds(10.0, 10.0, 10, 10, seed=2)
    srv_total, srv_over = _seconds(3.0, 8.0, 10, 10, seed=3)
    got = interference(lat_total, lat_over, srv_total, srv_over, seed=1, n_boot=500)
    assert got.found and got.reason.startswith("server time")
    assert {e.metric for e in got.effects} == {"latency", "server time"}
    assert all(e.level == pytest.approx(0.975) for e in got.effects)   # two metrics judged: alpha / 2


def test_a_second_with_no_overlapped_request_is_an_empty_histogram():
    total, over = _seconds(2.0, 22.0, 10, 10)
    over[3] = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    total[3] = _hist(np.full(10, 2.0))
    got = interference(total, over, seed=1, n_boot=500)
    assert got.found and got.overlapped == (SECONDS - 1) * 10


def test_subtract_is_exact_per_bucket():
    t = (np.array([10, 20, 30]), np.array([5, 3, 1]))
    p = (np.array([20, 30]), np.array([3, 1]))
    v, c = subtract(t, p)
    assert v.tolist() == [10] and c.tolist() == [5]
    with pytest.raises(ValueError, match="negative"):
        subtract(p, t)


def test_misaligned_seconds_are_refused():
    total, over = _seconds(2.0, 22.0, 10, 10)
    with pytest.raises(ValueError, match="same seconds"):
        interference(total, over[:-1])
