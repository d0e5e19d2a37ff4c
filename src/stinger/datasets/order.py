"""Which record each request uses: `PayloadOrder`, a pure function of (seed, global request id).

Each worker process computes its own share without coordination: sequential, a
counter-based hash (random), or that hash looked up in cumulative weights (weighted).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stinger.errors import UsageError

__all__ = ["PayloadOrder"]

_M64 = (1 << 64) - 1
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser over a uint64 array (wrapping arithmetic, as intended)."""
    with np.errstate(over="ignore"):
        z = x.copy()
        z ^= z >> np.uint64(30)
        z *= _MIX1
        z ^= z >> np.uint64(27)
        z *= _MIX2
        z ^= z >> np.uint64(31)
    return z


class PayloadOrder:
    """Which record the k-th scheduled request (global id k, across all workers) uses.

    ``sequential``: ``k % n``. ``random``: a counter-based hash of (seed, k) mod n, so it
    needs no state and any worker can compute any id. ``weighted``: the same hash as a
    uniform in [0, 1), looked up in the normalised cumulative weights.
    """

    ORDERS = ("sequential", "random", "weighted")

    def __init__(self, n: int, order: str = "sequential", seed: int = 0,
                 weights: Sequence[float] | None = None) -> None:
        if n < 1:
            raise UsageError(f"payload order needs at least one record; got n={n}")
        if order not in self.ORDERS:
            raise UsageError(f"unknown payload order {order!r}; expected one of {', '.join(self.ORDERS)}")
        self.n = int(n)
        self.order = order
        # Hash the seed itself so that nearby seeds give unrelated streams.
        self._key = _splitmix64(np.array([int(seed) & _M64], dtype=np.uint64))[0]
        self._cumulative: np.ndarray | None = None
        if order == "weighted":
            self._cumulative = self._normalise(weights)
        elif weights is not None:
            raise UsageError(f"payload weights given, but order is {order!r}; expected order 'weighted'")

    def _normalise(self, weights: Sequence[float] | None) -> np.ndarray:
        if weights is None:
            raise UsageError("payload order 'weighted' needs weights; expected one non-negative weight per record")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or len(w) != self.n:
            raise UsageError(f"payload weights: got {w.size} weights for {self.n} records; expected one per record")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            bad = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
            raise UsageError(f"payload weights: weight {bad} is {w[bad]}; expected finite, non-negative weights")
        total = float(w.sum())
        if not total > 0:
            raise UsageError("payload weights sum to 0; expected at least one positive weight")
        cumulative = np.cumsum(w) / total
        cumulative[-1] = 1.0  # rounding must not leave a sliver above the last record
        return cumulative

    def _hash(self, ids: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            state = ids.astype(np.int64).view(np.uint64) * _GAMMA + self._key
        return _splitmix64(state)

    def indices(self, request_ids: np.ndarray) -> np.ndarray:
        """Record index (int64) for each request id; a pure function of (seed, id)."""
        ids = np.asarray(request_ids, dtype=np.int64)
        if self.order == "sequential":
            return ids % self.n
        h = self._hash(ids)
        if self.order == "random":
            return (h % np.uint64(self.n)).astype(np.int64)
        assert self._cumulative is not None
        uniform = (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        return np.searchsorted(self._cumulative, uniform, side="right").astype(np.int64)

    def index(self, request_id: int) -> int:
        """The record index of one request id (convenience; prefer `indices` in bulk)."""
        return int(self.indices(np.array([request_id], dtype=np.int64))[0])
