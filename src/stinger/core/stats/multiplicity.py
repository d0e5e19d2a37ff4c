"""Multiple comparisons: Holm-Bonferroni adjusted p-values over the rows of one verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in input order; None (and NaN) pass through as None.

    adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)) over the m present p-values
    sorted ascending. Controls the family-wise error rate under any dependence,
    which matters here: p50, p95 and the mean of one run are strongly correlated.
    """
    present = {i: float(p) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)}
    for i, p in present.items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p-value {p} at position {i} is not in [0, 1]")
    order = sorted(present, key=present.__getitem__)
    out: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(order)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * present[i]))
        out[i] = running
    return out
