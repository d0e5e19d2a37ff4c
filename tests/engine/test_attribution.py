"""`engine.attribution`: fire-time counters settled to the variants responses named (split: sagemaker).

Variants 0 and 1 are production variants; 2 is `unattributed`, where the engine sends and counts
every request. Warm-up ends at t = 10.
"""

from __future__ import annotations

import numpy as np
import pytest

from stinger.engine.attribution import Attribution

U = 2


def counters(scheduled=0, scheduled_warm=0, dropped=0, dropped_warm=0) -> dict[str, list[int]]:
    """One flush's engine counters: everything on `unattributed`, as the engine counts at fire time."""
    return {"scheduled": [0, 0, scheduled], "scheduled_warm": [0, 0, scheduled_warm],
            "dropped": [0, 0, dropped], "dropped_warm": [0, 0, dropped_warm], "bytes_out": [0, 0, 500],
            "overflow": [0, 0, 0]}


def rows(*pairs) -> tuple[np.ndarray, np.ndarray]:
    """(intended, attributed variant) per ended row."""
    if not pairs:
        return np.empty(0), np.empty(0, dtype=np.int64)
    t, v = zip(*pairs, strict=True)
    return np.asarray(t, dtype=float), np.asarray(v, dtype=np.int64)


def test_each_variant_is_scheduled_what_ended_in_it_and_the_rest_waits_until_it_ends():
    a = Attribution(3, warm_end=10.0)
    # 10 fired; 4 ended in variant 0, 2 in variant 1, 1 with no header; 3 still open
    out = a.settle(counters(scheduled=10), *rows(*[(11, 0)] * 4, *[(11, 1)] * 2, (11, U)), final=False)
    assert out["scheduled"] == [4, 2, 1]
    assert a.open == 3
    assert out["bytes_out"] == [0, 0, 500]           # sizes are known at send time only: they stay put
    # nothing fired; the 3 open ones end, two attributed, one timed out (no header)
    out = a.settle(counters(), *rows((12, 1), (12, 0), (12, U)), final=False)
    assert out["scheduled"] == [1, 1, 1] and min(out["scheduled"]) >= 0
    assert a.open == 0


def test_what_never_ended_is_booked_unattributed_at_the_final_flush():
    a = Attribution(3, warm_end=0.0)
    a.settle(counters(scheduled=5, dropped=1), *rows((1, 0)), final=False)
    out = a.settle(counters(), *rows(), final=True)
    # fired 5 = 1 attributed + 1 dropped + 3 in flight at the stop: all three are unattributed's
    assert out["scheduled"] == [0, 0, 3]
    assert a.open == 0


def test_a_dropped_request_is_unattributed_in_the_interval_it_was_dropped():
    a = Attribution(3, warm_end=0.0)
    out = a.settle(counters(scheduled=4, dropped=2), *rows((1, 0), (1, 1)), final=False)
    assert out["scheduled"] == [1, 1, 2] and out["dropped"] == [0, 0, 2]
    assert a.open == 0


def test_warm_up_requests_settle_apart():
    a = Attribution(3, warm_end=10.0)
    out = a.settle(counters(scheduled=2, scheduled_warm=3), *rows((5, 0), (5, 1), (5, 1), (11, 0), (11, U)),
                   final=True)
    assert out["scheduled_warm"] == [1, 2, 0]
    assert out["scheduled"] == [1, 0, 1]
    assert (a.open, a.open_warm) == (0, 0)


def test_the_run_totals_equal_what_was_fired_whatever_the_order_of_endings():
    rng = np.random.default_rng(7)
    a = Attribution(3, warm_end=0.0)
    fired = total = 0
    in_flight = 0
    endings: list[int] = []
    for _ in range(50):
        n = int(rng.integers(0, 30))
        fired += n
        in_flight += n
        k = int(rng.integers(0, in_flight + 1))
        in_flight -= k
        ended = rng.choice(3, size=k, p=[0.6, 0.3, 0.1])
        endings.extend(ended.tolist())
        out = a.settle(counters(scheduled=n), np.ones(k), ended.astype(np.int64), final=False)
        assert min(out["scheduled"]) >= 0
        total += sum(out["scheduled"])
    out = a.settle(counters(), *rows(), final=True)
    total += sum(out["scheduled"])
    assert total == fired
    assert out["scheduled"][U] == in_flight          # the open balance is what is still in flight


def test_an_attributed_variant_cannot_drop():
    a = Attribution(3, warm_end=0.0)
    bad = counters(scheduled=1)
    bad["dropped"] = [1, 0, 0]
    with pytest.raises(ValueError, match="cannot drop"):
        a.settle(bad, *rows(), final=False)
