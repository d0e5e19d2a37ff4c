"""Per-origin rows inside each variant: where load came from (issue 19 item 1, spec/origins.py).

An origin is a property of a worker, not of a request, so its counts need no grouping on the worker:
`OriginBook` books each worker's own record (scheduled, dropped, every ended request by kind, what was in
flight at its final record, what a lost worker had in flight) under that worker's origin. These are the
very numbers the variant's identity is made of, summed by origin instead of over every worker, so

    scheduled = ok + failed (by kind) + dropped + in_flight

holds exactly per origin whenever it holds for the variant, in every backend (a Ray node's light
records carry every count, `scale/aggregate.py`). The latency histograms cannot come that way (a node's
and the coordinator's merger sum histograms over workers), so each worker's flush also groups its
measured rows under its origin (`engine/batch.py`, a `GroupRecord` by `ORIGIN`), and `Breakdown` merges
those bucket by bucket like the per-backend rows: percentiles of merged histograms, never averages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stinger.core.breakdown import ORIGIN, Breakdown
from stinger.core.records import ERROR_KINDS, IntervalRecord, Kind


class _Counts:
    __slots__ = ("dropped", "in_flight", "kinds", "ok_window", "scheduled")

    def __init__(self) -> None:
        self.scheduled = 0
        self.dropped = 0
        self.in_flight = 0
        self.ok_window = 0
        self.kinds = np.zeros(len(Kind), dtype=np.int64)


class OriginBook:
    """Each worker's counts booked under its origin: (origin, variant) -> counts. Empty (and free) for a
    run without origins. `origin_of`: worker -> origin name; `nodes`: worker -> the node it ran on, when
    the backend says (Ray node ids); `sources`: origin -> the source address its connections left from."""

    def __init__(self, origin_of: Mapping[int, str] | None = None, sources: Mapping[str, str | None] | None = None,
                 ) -> None:
        self.origin_of = dict(origin_of or {})
        self.sources = dict(sources or {})
        self.nodes: dict[int, str] = {}
        self.counts: dict[tuple[str, str], _Counts] = {}

    def __bool__(self) -> bool:
        return bool(self.origin_of)

    def _at(self, origin: str, variant: str) -> _Counts:
        c = self.counts.get((origin, variant))
        if c is None:
            c = self.counts[origin, variant] = _Counts()
        return c

    def add(self, rec: IntervalRecord) -> None:
        origin = self.origin_of.get(rec.worker)
        if origin is None:
            return
        for name, c in rec.counters.items():
            at = self._at(origin, name)
            at.scheduled += c.get("scheduled", 0)
            at.dropped += c.get("dropped", 0)
        for cr in rec.cells:
            at = self._at(origin, cr.variant)
            at.kinds += np.asarray(cr.kinds, dtype=np.int64)
            at.ok_window += cr.ok_window
        if rec.final:
            for name, n in (rec.in_flight_by_variant or {}).items():
                self._at(origin, name).in_flight += n

    def copy(self) -> OriginBook:
        """An independent copy (small: a few counts per origin and variant), for a live snapshot."""
        out = OriginBook(self.origin_of, self.sources)
        out.nodes = dict(self.nodes)
        for key, c in self.counts.items():
            k = out.counts[key] = _Counts()
            k.scheduled, k.dropped, k.in_flight, k.ok_window = c.scheduled, c.dropped, c.in_flight, c.ok_window
            k.kinds = c.kinds.copy()
        return out

    def lost(self, worker: int, variant: str, n: int) -> None:
        """A lost worker's in-flight requests, booked as failed (`lost`) as the variant books them."""
        origin = self.origin_of.get(worker)
        if origin is not None and n > 0:
            self._at(origin, variant).kinds[Kind.LOST] += n

    def placement(self) -> list[dict[str, Any]]:
        """Each origin, its workers, source address and the nodes they ran on (the run directory's record)."""
        out: dict[str, dict[str, Any]] = {}
        for w, origin in sorted(self.origin_of.items()):
            o = out.setdefault(origin, {"name": origin, "workers": [], "source_address": self.sources.get(origin),
                                        "nodes": []})
            o["workers"].append(w)
            node = self.nodes.get(w)
            if node is not None and node not in o["nodes"]:
                o["nodes"].append(node)
        return list(out.values())

    def rows(self, breakdown: Breakdown, window_s: float) -> list[dict[str, Any]]:
        """One row per (variant, origin): the identity's terms, errors by kind, achieved rate over the
        measured window, and latency percentiles from the origin's merged histogram."""
        latency = {(r["variant"], r["label"]): r for r in breakdown.table(ORIGIN)}
        order = list(dict.fromkeys(self.origin_of[w] for w in sorted(self.origin_of)))
        out = []
        for variant in dict.fromkeys(v for _, v in self.counts):
            for origin in order:
                c = self.counts.get((origin, variant))
                if c is None:
                    continue
                ok = int(c.kinds[Kind.OK])
                failed = int(c.kinds.sum()) - ok
                lat = latency.get((variant, origin), {})
                out.append({
                    "variant": variant, "label": origin, "origin": origin,
                    "workers": sum(1 for o in self.origin_of.values() if o == origin),
                    "requests": {"scheduled": c.scheduled, "ok": ok, "failed": failed, "dropped": c.dropped,
                                 "in_flight": c.in_flight,
                                 "unaccounted": c.scheduled - ok - failed - c.dropped - c.in_flight},
                    "ok": ok, "failed": failed, "responses": lat.get("responses", 0),
                    "errors": {k.label: int(c.kinds[k]) for k in ERROR_KINDS if c.kinds[k]},
                    "achieved_rps": round(c.ok_window / window_s, 3) if window_s > 0 else None,
                    "latency_ms": lat.get("latency_ms") or {"count": 0},
                })
        return out


def origin_book(plans: Any) -> OriginBook:
    """The book for these worker plans (`engine.plan.WorkerPlan`: `worker`, `origin`, `source_address`)."""
    return OriginBook({p.worker: p.origin for p in plans if p.origin is not None},
                      {p.origin: p.source_address for p in plans if p.origin is not None})
