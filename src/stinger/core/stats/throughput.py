"""Max sustainable throughput of two variants, compared from their capacity-search brackets."""

from __future__ import annotations

import math

from stinger.core.stats.comparison import Comparison, _favour, _row


def throughput_diff(a_bracket: tuple[float, float], b_bracket: tuple[float, float]) -> Comparison:
    """Max sustainable throughput from two capacity searches, each a bracket (last pass, first fail).

    The true maximum T lies in [last pass, first fail) (first fail = inf when
    nothing failed), so B - A lies in [b_pass - a_fail, b_fail - a_pass]; ``a``,
    ``b``, ``diff`` use the last passing rates. One capacity search gives no
    sampling distribution, so there is no p-value: B is called better only when
    the brackets do not overlap (b_pass >= a_fail), i.e. B passed a rate at
    which A failed. Noise in a single pass/fail step is not accounted for.
    """
    a_lo, a_hi = (float(x) for x in a_bracket)
    b_lo, b_hi = (float(x) for x in b_bracket)
    for name, lo, hi in (("a", a_lo, a_hi), ("b", b_lo, b_hi)):
        if not (0 <= lo <= hi) or math.isnan(hi):
            raise ValueError(f"{name}_bracket must be (last pass, first fail) with 0 <= pass <= fail, got {(lo, hi)}")
    favours = "b" if b_lo >= a_hi else "a" if a_lo >= b_hi else None
    lean = _favour(b_lo - a_lo, False)
    method = (f"capacity brackets (last pass, first fail): A [{a_lo:g}, {a_hi:g}), B [{b_lo:g}, {b_hi:g}) req/s; "
              "interval of B - A from bracket arithmetic (not a statistical CI); "
              "significant only when the brackets do not overlap")
    return _row("max throughput (req/s)", a_lo, b_lo, b_lo - a_lo, b_lo - a_hi, b_hi - a_lo, None, method,
                kind="throughput", unit="req/s", favours=favours or lean, n_a=None, n_b=None,
                level=0.95, significant=favours is not None)
