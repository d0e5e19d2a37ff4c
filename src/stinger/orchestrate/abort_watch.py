"""The abort rules of a run (`core.abort`) watched over the merged metrics while it runs."""

from __future__ import annotations

from stinger.core.metrics import RunMetrics
from stinger.spec import Spec


class AbortWatch:
    """The run's abort rules (`core.abort`) as a stop condition over the merged metrics."""

    def __init__(self, policy) -> None:
        self.policy = policy
        self.reason: str | None = None

    def __call__(self, m: RunMetrics, t: float) -> bool:
        if self.reason is not None:
            return True
        from stinger.core.abort import DEAD_ENDPOINT, IntervalCounts
        from stinger.core.records import Kind

        rows: dict[int, list[int]] = {}
        longest = max((r.window for r in self.policy.rules), default=0.0)
        hi = int(t // m.interval) + 1
        lo = max(0, hi - int(longest // m.interval) - 3)   # only the intervals a rule can look at
        for vm in m.variants.values():
            for i in range(lo, hi):
                cell = vm.cells.get(i)
                if cell is None:
                    continue
                k = cell.kinds
                ok = int(k[Kind.OK])
                row = rows.setdefault(i, [0, 0, 0])
                row[0] += ok
                row[1] += int(k.sum()) - ok
                row[2] += int(k[Kind.CONNECT])
        # the workers' worst event-loop lag over the default rule's window (and the lag it allows)
        since = t - DEAD_ENDPOINT.window - 2 * m.interval
        lag_ms = 0.0
        for at, ms in reversed(m.loop_lag_ms):
            if at < since:
                break
            lag_ms = max(lag_ms, ms)
        reason = self.policy.check({i: IntervalCounts(*r) for i, r in rows.items()}, t, generator_lag=lag_ms / 1e3)
        if reason is not None:
            self.reason = reason
            return True
        return False


def abort_watch(spec: Spec, interval: float) -> AbortWatch:
    from stinger.core.abort import AbortPolicy

    return AbortWatch(AbortPolicy.from_texts(spec.load.abort_on, interval=interval))
