"""Latency as interval histograms: the unit of independent information in every latency test.

Latency arrives as HDR histograms, one per 1-second interval, each a sparse pair
``(values, counts)`` of int64 microseconds and counts (as `Histogram.values_counts`
gives). Requests close in time are correlated (a queue builds up, a GC pause hits
everyone in flight), so the interval, not the request, is the unit a latency test
resamples or clusters by once each variant has `MIN_INTERVALS` of them. This module
owns that representation: validation, merging, the sparse interval x value matrix,
HdrHistogram's quantile rank rule, and the choice between interval and per-request
methods.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

Hist = tuple[np.ndarray, np.ndarray]

#: Fewer intervals than this per variant and the interval-level methods have too
#: few clusters for a stable variance; fall back to per-request methods.
MIN_INTERVALS = 10

_PER_REQUEST_CAVEAT = "assumes independent requests, so the CI may be too narrow"


def _is_hist(x) -> bool:
    return (isinstance(x, tuple) and len(x) == 2
            and all(isinstance(e, np.ndarray) and e.ndim == 1 for e in x))


def _as_intervals(x, name: str) -> list[Hist]:
    """A histogram or a sequence of interval histograms -> list of (int64, int64) pairs."""
    raw = [x] if _is_hist(x) else list(x)
    out = []
    for i, h in enumerate(raw):
        v, c = (np.asarray(h[0], dtype=np.int64), np.asarray(h[1], dtype=np.int64))
        if v.shape != c.shape or v.ndim != 1:
            raise ValueError(f"{name}[{i}]: values and counts must be 1-D of equal length, got {v.shape} and {c.shape}")
        if np.any(c < 0):
            raise ValueError(f"{name}[{i}]: counts must be >= 0")
        out.append((v, c))
    if sum(int(c.sum()) for _, c in out) == 0:
        raise ValueError(f"{name}: no requests recorded")
    return out


def _merge(intervals: list[Hist]) -> Hist:
    values = np.concatenate([v for v, _ in intervals])
    counts = np.concatenate([c for _, c in intervals])
    grid, inverse = np.unique(values, return_inverse=True)
    return grid, np.bincount(inverse, weights=counts, minlength=grid.size).astype(np.int64)


def _count_matrix(intervals: list[Hist]) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Grid of distinct values and a sparse (interval x value) count matrix.

    Sparse because a one-hour run has 3,600 intervals and thousands of distinct
    bucket values, while each interval touches only a few hundred of them.
    """
    values = np.concatenate([v for v, _ in intervals])
    counts = np.concatenate([c for _, c in intervals]).astype(np.float64)
    rows = np.repeat(np.arange(len(intervals)), [v.size for v, _ in intervals])
    grid, cols = np.unique(values, return_inverse=True)
    matrix = sparse.csr_matrix((counts, (rows, cols)), shape=(len(intervals), grid.size))
    return grid, matrix


def _ranks(q: np.ndarray, totals: np.ndarray) -> np.ndarray:
    # HdrHistogram's rank rule (as core/histogram.py): the first value whose
    # cumulative count reaches max(1, ceil(q * total)); q is stepped down one ulp
    # so that 0.999 * 1000 does not round up past rank 999.
    lowered = np.nextafter(np.asarray(q, dtype=np.float64), -np.inf)
    return np.maximum(np.ceil(np.multiply.outer(totals, lowered)), 1.0)


def _quantiles(grid: np.ndarray, counts: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Quantiles of each row of a dense (replicates x grid) count matrix -> (replicates, len(qs))."""
    cumulative = np.cumsum(counts, axis=1)
    ranks = _ranks(qs, cumulative[:, -1])  # (replicates, len(qs))
    idx = np.empty(ranks.shape, dtype=np.int64)
    for j in range(ranks.shape[1]):
        idx[:, j] = (cumulative < ranks[:, j:j + 1]).sum(axis=1)
    return grid[np.minimum(idx, grid.size - 1)].astype(np.float64)


def _use_blocks(block: str, k_a: int, k_b: int) -> bool:
    if block == "auto":
        return k_a >= MIN_INTERVALS and k_b >= MIN_INTERVALS
    if block == "interval":
        if min(k_a, k_b) < 2:
            raise ValueError(f"block='interval' needs >= 2 intervals per variant, got {k_a} and {k_b}")
        return True
    if block == "request":
        return False
    raise ValueError(f"block must be 'auto', 'interval' or 'request', got {block!r}")
