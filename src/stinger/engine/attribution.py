"""Per-variant accounting when the endpoint, not stinger, picks each request's variant.

In an attributed run (`WorkerPlan.split == ATTRIBUTED`: a split mode an endpoint's
`EndpointSplit` ability adds) every request leaves on one stream, planned on the
last variant (`unattributed`), and the target's `interpret` moves each
response to the variant the endpoint named (in a response header).
Which variant a request belongs to is therefore known only when it ends, and
the engine's counters, kept at fire time, all land on `unattributed`. This
module (one `Attribution` per worker, on the flush thread) rewrites each
interval's counters so that every variant's identity holds:

* an attributed variant: `scheduled` = its measured requests that ended with
  its name in the response (ok, or failed with the header: a ModelError, a
  throttle that named it); nothing of it is dropped or in flight. Its
  per-interval `scheduled` is therefore what it *completed* in that interval;
* `unattributed`: the measured requests no response named a variant for:
  ended without one (connect errors, timeouts, resets, a reply without the
  header) + dropped + still in flight at the stop;
* the whole run: `scheduled` = every measured request fired.

How it stays a check rather than a definition: the engine's fire-time count
is kept as a balance of requests fired and not yet ended (`open`), decreased
as rows end or are dropped. At the final flush what remains is booked as
`unattributed` scheduled, and the run's `in_flight` comes from the engine's own
count of busy connections and queued requests; if a request were lost (fired,
never ended, not in flight) `unattributed` would show it as `unaccounted`.
Warm-up requests (`scheduled_warm`) are settled the same way.

Bytes sent (`bytes_out`) stay on `unattributed`: a request's size is known when
it is sent, its variant only when it ends.
"""

from __future__ import annotations

import numpy as np


class Attribution:
    """One worker's settlement of fire-time counters against attributed endings."""

    def __init__(self, nvar: int, warm_end: float) -> None:
        self.nvar = nvar
        self.u = nvar - 1            # `unattributed`: where the engine sent (and counted) every request
        self.warm_end = warm_end
        self.open = 0                # measured requests fired by this worker that have not ended yet
        self.open_warm = 0

    def settle(self, counters: dict[str, list[int]], intended: np.ndarray, variant: np.ndarray,
               final: bool) -> dict[str, list[int]]:
        """This interval's counters, with `scheduled`/`scheduled_warm` moved to the variants the rows
        ended in. `intended`, `variant`: the interval's rows (attributed variant per row)."""
        out = {k: list(v) for k, v in counters.items()}
        u, n = self.u, self.nvar
        measured = intended >= self.warm_end
        ended = np.bincount(variant[measured], minlength=n) if len(variant) else np.zeros(n, np.int64)
        ended_warm = np.bincount(variant[~measured], minlength=n) if len(variant) else np.zeros(n, np.int64)
        for key, drop_key, rows, attr in (("scheduled", "dropped", ended, "open"),
                                          ("scheduled_warm", "dropped_warm", ended_warm, "open_warm")):
            sched = out[key]
            fired = sum(sched)          # the engine counts on `u`; summed in case a caller split it
            dropped = sum(out[drop_key][:u])
            if dropped:                 # only `u` ever drops (requests are fired there)
                raise ValueError(f"attributed variants cannot drop requests, got {out[drop_key]}")
            unnamed = int(rows[u]) + out[drop_key][u]
            balance = getattr(self, attr) + fired - int(rows[:u].sum()) - unnamed
            for v in range(u):
                sched[v] = int(rows[v])
            sched[u] = unnamed
            if final:
                sched[u] += balance     # fired, never ended: must equal what the engine holds in flight
                balance = 0
            setattr(self, attr, balance)
        return out
