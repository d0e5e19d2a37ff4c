"""PayloadOrder: which record each request uses, pure in (seed, request id)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stinger.datasets import PayloadOrder
from stinger.errors import UsageError


def test_sequential_cycles() -> None:
    order = PayloadOrder(3)
    assert order.indices(np.arange(7)).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert order.indices(np.arange(7)).dtype == np.int64
    assert order.index(10) == 1


def test_random_is_deterministic_per_seed_and_roughly_uniform() -> None:
    ids = np.arange(200_000)
    a = PayloadOrder(50, "random", seed=1).indices(ids)
    assert np.array_equal(a, PayloadOrder(50, "random", seed=1).indices(ids))
    assert not np.array_equal(a, PayloadOrder(50, "random", seed=2).indices(ids))
    assert a.min() >= 0 and a.max() < 50 and a.dtype == np.int64
    counts = np.bincount(a, minlength=50)
    expected = len(ids) / 50
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 120  # 49 degrees of freedom: p(chi2 > 120) is ~1e-7
    # consecutive ids are not correlated (no lattice from the counter)
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.02


@pytest.mark.parametrize("order", ["sequential", "random", "weighted"])
@pytest.mark.parametrize("workers", [1, 3, 4])
def test_worker_striding_matches_the_full_sequence(order: str, workers: int) -> None:
    weights = [1, 0, 3, 2, 0.5] if order == "weighted" else None
    full = PayloadOrder(5, order, seed=9, weights=weights).indices(np.arange(1_000))
    for w in range(workers):
        mine = np.arange(w, 1_000, workers)
        share = PayloadOrder(5, order, seed=9, weights=weights).indices(mine)
        assert np.array_equal(share, full[w::workers])


@given(seed=st.integers(min_value=-(2**70), max_value=2**70), n=st.integers(min_value=1, max_value=10**6))
def test_random_indices_are_in_range_for_any_seed(seed: int, n: int) -> None:
    idx = PayloadOrder(n, "random", seed=seed).indices(np.arange(100, dtype=np.int64))
    assert idx.min() >= 0 and idx.max() < n


def test_weighted_frequencies_follow_weights() -> None:
    weights = [1.0, 0.0, 3.0, 6.0]
    idx = PayloadOrder(4, "weighted", seed=3, weights=weights).indices(np.arange(100_000))
    freq = np.bincount(idx, minlength=4) / len(idx)
    assert freq[1] == 0
    assert np.allclose(freq, np.array(weights) / 10, atol=0.01)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((0,), "at least one record"),
        ((3, "shuffle"), "unknown payload order"),
        ((3, "weighted"), "needs weights"),
        ((3, "weighted", 0, [1, 2]), "2 weights for 3"),
        ((3, "weighted", 0, [1, -1, 2]), "weight 1"),
        ((2, "weighted", 0, [0, 0]), "sum to 0"),
        ((2, "weighted", 0, [1, float("nan")]), "finite"),
        ((2, "random", 0, [1, 1]), "order 'weighted'"),
    ],
)
def test_payload_order_usage_errors(args: tuple, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment) as info:
        PayloadOrder(*args)
    assert "\n" not in str(info.value)
