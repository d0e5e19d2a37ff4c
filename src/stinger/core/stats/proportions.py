"""Two proportions: error rate, goodput and accuracy, unpaired (Fisher, Newcombe) or paired (McNemar)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from stinger.core.stats.comparison import Comparison, _check_level, _favour, _row


def _wilson(x: float, n: float, z: float) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _newcombe(xa: int, na: int, xb: int, nb: int, level: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) for p_b - p_a, from Wilson intervals."""
    z = sps.norm.ppf(0.5 + level / 2.0)
    pa, pb = xa / na, xb / nb
    la, ua = _wilson(xa, na, z)
    lb, ub = _wilson(xb, nb, z)
    d = pb - pa
    return d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2), d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)


def _two_proportions(xa, na, xb, nb, level, metric, kind, lower_is_better) -> Comparison:
    _check_level(level)
    for name, x, n in (("a", xa, na), ("b", xb, nb)):
        if n <= 0 or not 0 <= x <= n:
            raise ValueError(f"{name}: need 0 <= count <= total and total > 0, got {x} of {n}")
    # Fisher's exact test: exact for any n, fast for millions (hypergeometric).
    # Boschloo is more powerful but its nuisance-parameter search costs seconds
    # at load-test sizes; Fisher's conservatism only costs power, never validity.
    _, p = sps.fisher_exact([[xa, na - xa], [xb, nb - xb]])
    lo, hi = _newcombe(xa, na, xb, nb, level)
    pa, pb = xa / na, xb / nb
    diff = pb - pa
    method = ("Fisher exact test; Newcombe (Wilson score) CI for the difference; "
              "requests treated as independent")
    return _row(metric, 100 * pa, 100 * pb, 100 * diff, 100 * lo, 100 * hi, p, method, kind=kind,
                unit="points", favours=_favour(diff, lower_is_better), n_a=na, n_b=nb, level=level)


def error_rate_diff(a_errors: int, a_total: int, b_errors: int, b_total: int, *,
                    level: float = 0.95) -> Comparison:
    """Error rate (%) of A and B, difference in percentage points, Fisher exact p-value."""
    return _two_proportions(a_errors, a_total, b_errors, b_total, level, "error rate (%)", "error_rate", True)


def goodput_diff(a_good: int, a_total: int, b_good: int, b_total: int, *, level: float = 0.95) -> Comparison:
    """Goodput (%): the share of the ended requests that met every per-request objective (`core.goodput`),
    of A and B; higher is better; Fisher exact, Newcombe CI, as the error rate."""
    return _two_proportions(a_good, a_total, b_good, b_total, level, "goodput (%)", "goodput", False)


def accuracy_unpaired(a_correct: int, a_total: int, b_correct: int, b_total: int, *,
                      level: float = 0.95) -> Comparison:
    """Accuracy (%) of A and B on different requests (split mode): Fisher exact, Newcombe CI."""
    return _two_proportions(a_correct, a_total, b_correct, b_total, level, "accuracy (%)", "accuracy", False)


def accuracy_paired(a_correct: np.ndarray, b_correct: np.ndarray, *, level: float = 0.95) -> Comparison:
    """Accuracy (%) when both variants answered the same payloads: McNemar exact test.

    Only discordant pairs carry information: under H0 each is equally likely to
    favour A or B, so the count favouring B is Binomial(discordant, 1/2). The CI
    is Agresti & Min's (2005) Wald interval with 1/2 added to every cell, which
    keeps near-nominal coverage where the plain Wald interval collapses.
    """
    _check_level(level)
    a_ok, b_ok = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a_ok.shape != b_ok.shape or a_ok.ndim != 1 or a_ok.size == 0:
        raise ValueError(f"paired accuracy needs two equal-length, non-empty 1-D arrays, "
                         f"got {a_ok.shape} and {b_ok.shape}")
    n = a_ok.size
    only_b = int(np.sum(~a_ok & b_ok))
    only_a = int(np.sum(a_ok & ~b_ok))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else sps.binomtest(only_b, discordant, 0.5).pvalue
    diff = (only_b - only_a) / n
    n01, n10, nn = only_b + 0.5, only_a + 0.5, n + 2.0
    d_adj = (n01 - n10) / nn
    se = math.sqrt(max((n01 + n10) / nn - d_adj**2, 0.0) / nn)
    half = sps.norm.ppf(0.5 + level / 2.0) * se
    method = f"McNemar exact (binomial on {discordant} discordant pairs); Agresti-Min CI"
    return _row("accuracy (%)", 100 * a_ok.mean(), 100 * b_ok.mean(), 100 * diff,
                100 * max(-1.0, d_adj - half), 100 * min(1.0, d_adj + half), p, method, kind="accuracy",
                unit="points", favours=_favour(diff, False), n_a=n, n_b=n, level=level)
