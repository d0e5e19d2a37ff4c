"""Spike tests: what happened during the spike, and how long recovery took.

Pure: reads the per-interval rows of one variant (`RunMetrics.interval_rows`,
one row a second, by completion time) and the spike's position. Recovery is
the time from the end of the spike until latency is back within the SLO *and
stays there* for the rest of the run; an endpoint that never gets back says
so (`recovered: false`) rather than reporting the last good second.
"""

from __future__ import annotations

import math
from typing import Any


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def spike_report(rows: list[dict], *, at: float, length: float, threshold_ms: float, key: str = "p95_ms",
                 interval: float = 1.0) -> dict:
    end = at + length
    before = [r for r in rows if float(r["t"]) + interval <= at]
    during = [r for r in rows if at <= float(r["t"]) < end]
    after = [r for r in rows if float(r["t"]) >= end]

    def agg(part: list[dict]) -> dict:
        ok = sum(int(r["ok"]) for r in part)
        failed = sum(int(r["failed"]) + int(r.get("dropped", 0) or 0) for r in part)
        lat = [v for r in part if (v := _num(r.get(key))) is not None]
        p99 = [v for r in part if (v := _num(r.get("p99_ms"))) is not None]
        return {
            "seconds": len(part) * interval,
            "ok": ok,
            "failed": failed,
            "error_rate": round(failed / (ok + failed), 6) if ok + failed else 0.0,
            f"worst_{key}": max(lat) if lat else None,
            "worst_p99_ms": max(p99) if p99 else None,
        }

    recovered_at = None
    for i, r in enumerate(after):
        tail = after[i:]
        if all((v := _num(x.get(key))) is not None and v <= threshold_ms for x in tail):
            recovered_at = float(r["t"])
            break
    out = {
        "at_s": at,
        "length_s": length,
        "threshold_ms": threshold_ms,
        "metric": key,
        "before": agg(before),
        "during": agg(during),
        "after": agg(after),
        "recovered": recovered_at is not None,
        "recovery_s": None if recovered_at is None else max(0.0, recovered_at - end),
    }
    return out
