"""core/saturation.py: did a variant keep up with its offered load? A table of per-second series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stinger.core.saturation import saturation

N = 10
T = list(range(1, N + 1))


def _queue(offered: float, capacity: float, service_ms: float = 50.0):
    """A FIFO queue fed at `offered` req/s and served at `capacity`: per-second counts and p50."""
    ok = [min(offered, capacity)] * N
    growth = max(0.0, 1.0 - capacity / offered)
    p50 = [service_ms + 1000 * growth * t for t in T]
    return [offered] * N, ok, [0] * N, p50


@pytest.mark.parametrize("series, generator_bound, saturated, judged, words", [
    (_queue(30, 20), False, True, True, "answered 67 %"),            # 30 offered, capacity 20 (issue 15)
    (_queue(30, 100), False, False, True, "kept up"),                 # well within capacity
    (_queue(30, 29), False, False, True, "kept up"),                  # 3 % short: not "clearly below"
    (_queue(30, 20), True, False, False, "generator"),               # the generator fell behind, not the endpoint
    # fails fast: few OK answers but a flat latency (errors, not a queue)
    (([30] * N, [10] * N, [0] * N, [5.0] * N), False, False, True, "kept up"),
    # a 6 s latency: the first answers arrive late, then it keeps up (the second half completes all)
    (([30] * N, [0] * 6 + [30] * 4, [0] * N, [math.nan] * 6 + [6000.0] * 4), False, False, True, "kept up"),
    # --on-limit drop: a tenth turned away at the in-flight bound, latency capped
    (([30] * N, [27] * N, [3] * N, [80.0] * N), False, True, True, "dropped"),
    # two seconds: too short to say
    (([30, 30], [20, 20], [0, 0], [50.0, 400.0]), False, False, False, "not judged"),
])
def test_table(series, generator_bound, saturated, judged, words):
    sched, ok, dropped, p50 = series
    got = saturation(T[:len(sched)], sched, ok, dropped, p50, generator_bound=generator_bound)
    assert (got.saturated, got.judged) == (saturated, judged), got
    assert words in got.reason


def test_growth_is_the_queue_shortfall():
    """A FIFO queue's latency grows at 1 - capacity/offered: the rule's slope reads exactly that."""
    got = saturation(T, *_queue(30, 20))
    assert got.growth == pytest.approx(1 / 3, rel=1e-6)
    assert got.completion == pytest.approx(2 / 3)


def test_one_odd_second_does_not_make_a_trend():
    p50 = [20.0] * N
    p50[4] = 3000.0     # one GC pause
    got = saturation(T, [30] * N, [24] * N, [0] * N, p50)
    assert not got.saturated and got.growth == pytest.approx(0.0)


def test_series_must_be_aligned():
    with pytest.raises(ValueError, match="aligned"):
        saturation(T, [1] * N, [1] * N, [0] * N, np.ones(N - 1))
