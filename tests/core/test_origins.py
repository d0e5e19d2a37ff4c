"""Per-origin rows (core/origins.py): each worker's own counts booked under its origin, so the accounting
identity holds exactly per origin, a lost worker's in-flight requests included; the latency of each origin
is its workers' histograms merged (never an average of their percentiles)."""

from __future__ import annotations

import numpy as np
import pytest

from stinger.core.breakdown import ORIGIN
from stinger.core.histogram import Histogram, sparse_counts
from stinger.core.metrics import RunMetrics
from stinger.core.origins import OriginBook
from stinger.core.records import CellRecord, GroupRecord, IntervalRecord, Kind


def _kinds(ok: int, failed: int = 0) -> tuple[int, ...]:
    k = [0] * len(Kind)
    k[Kind.OK], k[Kind.HTTP_5XX] = ok, failed
    return tuple(k)


def _record(worker: int, origin: str, lat_us: np.ndarray, *, scheduled: int, failed: int = 0, final: bool = False,
            in_flight: int = 0) -> IntervalRecord:
    ok = len(lat_us)
    cell = CellRecord(interval=0, variant="A", kinds=_kinds(ok, failed), ok_window=ok, hists={})
    group = GroupRecord(by=ORIGIN, variant="A", label=origin, kinds=_kinds(ok, failed), responses=ok + failed,
                        latency=sparse_counts(lat_us))
    rec = IntervalRecord(worker=worker, t=1.0, interval=0, final=final, counters={"A": {"scheduled": scheduled,
                         "dropped": 0}}, cells=(cell,), groups=(group,),
                         in_flight_by_variant={"A": in_flight} if final else None)
    return IntervalRecord.from_bytes(rec.to_bytes())   # as it arrives: through its wire form


def test_identity_is_exact_per_origin_with_a_lost_worker_and_latency_is_the_merged_histogram() -> None:
    rng = np.random.default_rng(3)
    m = RunMetrics(["A"], spill=False)
    m.origins = OriginBook({0: "east", 1: "east", 2: "west"}, {"east": "127.0.0.2", "west": None})
    fast, slow, west = rng.uniform(1e3, 2e3, 300), rng.uniform(40e3, 50e3, 100), rng.uniform(20e3, 21e3, 200)
    m.add(_record(0, "east", fast, scheduled=305, failed=2, final=True, in_flight=3))
    m.add(_record(1, "east", slow, scheduled=104))   # then lost with 4 in flight
    m.add(_record(2, "west", west, scheduled=200, final=True))
    assert m.worker_gone(1) == 4
    rows = {r["origin"]: r for r in m.origins.rows(m.breakdown, 10.0)}
    east, wst = rows["east"], rows["west"]
    assert east["requests"] == {"scheduled": 409, "ok": 400, "failed": 6, "dropped": 0, "in_flight": 3,
                                "unaccounted": 0}
    assert east["errors"] == {"http_5xx": 2, "lost": 4} and east["workers"] == 2
    assert wst["requests"]["unaccounted"] == 0 and wst["requests"]["ok"] == 200
    union = Histogram()
    union.record_many(np.concatenate([fast, slow]))
    assert east["latency_ms"]["p50"] == pytest.approx(union.value_at_percentile(50) / 1e3, abs=1e-3)
    assert east["latency_ms"]["count"] == 400
    # the origins add up to the variant, whose identity is the same numbers summed over every worker
    whole = m.summary((0.0, 10.0))["A"]["requests"]
    for k in ("scheduled", "ok", "failed", "dropped", "in_flight"):
        assert sum(r["requests"][k] for r in rows.values()) == whole[k]
    assert m.origins.placement() == [
        {"name": "east", "workers": [0, 1], "source_address": "127.0.0.2", "nodes": []},
        {"name": "west", "workers": [2], "source_address": None, "nodes": []}]


def test_a_run_without_origins_books_nothing() -> None:
    m = RunMetrics(["A"], spill=False)
    m.add(_record(0, "east", np.array([1e3]), scheduled=1, final=True))
    assert not m.origins and m.origins.counts == {}
