"""Realistic interval records without a network: what a plain HTTP run's workers send.

Used by `bench/memory.py` (the synthetic mode) and the memory-slope test: a
run of N intervals, W workers, 2 variants, every catalogue metric a plain
HTTP run records (latency, service, ttfb, schedule lag), with a wide latency
spread (log-normal over ~1 ms .. ~2 s, so a cell's histogram has thousands of
buckets: the worst case for what the coordinator keeps per interval), and a
share of each interval's requests ending one interval late (a record also
carries cells of the previous interval, as real workers' do).

The histograms are drawn once into a small pool and reused, so feeding
20,000 intervals costs the merge, not the drawing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from stinger.core.histogram import Histogram
from stinger.core.records import COUNTERS, CellRecord, IntervalRecord, Kind, sparse_of

VARIANTS = ("a", "b")
PLAIN_HTTP_METRICS = ("latency", "service", "ttfb", "lag")


def _sparse(values_us: np.ndarray):
    h = Histogram()
    h.record_many(values_us)
    return sparse_of(h.counts)


def _pool(rng: np.random.Generator, n_req: int, size: int, median_ms: float) -> list[dict]:
    """`size` sets of hists, each for `n_req` requests of one cell."""
    out = []
    for _ in range(size):
        lat = rng.lognormal(np.log(median_ms * 1e3), 1.2, n_req).clip(50, 3.6e9)
        svc = lat * rng.uniform(0.7, 1.0, n_req)
        out.append({"latency": _sparse(lat), "service": _sparse(svc), "ttfb": _sparse(svc * 0.9),
                    "lag": _sparse(rng.exponential(200.0, n_req) + 1)})
    return out


def synthetic_records(intervals: int, *, rate: float = 20_000.0, workers: int = 2, seed: int = 1,
                      late_share: float = 0.05, pool: int = 16, interval: float = 1.0) -> Iterator[IntervalRecord]:
    """The records `workers` workers send over `intervals` intervals at `rate` req/s in all,
    split evenly between two variants. Yields them in arrival order (interval by interval)."""
    rng = np.random.default_rng(seed)
    per_cell = max(1, int(rate * interval / workers / len(VARIANTS)))
    late = int(per_cell * late_share)
    on_time = per_cell - late
    pools = {v: _pool(rng, on_time, pool, 20.0 if v == "a" else 25.0) for v in VARIANTS}
    late_pools = {v: _pool(rng, max(late, 1), pool, 400.0) for v in VARIANTS}
    lags = tuple(float(x) for x in rng.exponential(0.3, 10))
    for i in range(intervals):
        for w in range(workers):
            cells = []
            counters = {}
            for vi, v in enumerate(VARIANTS):
                k = (i * workers + w + vi) % pool
                kinds = [0] * len(Kind)
                kinds[Kind.OK] = on_time
                cells.append(CellRecord(interval=i, variant=v, kinds=tuple(kinds), status={200: on_time},
                                        bytes_in=on_time * 180, ok_window=on_time, hists=pools[v][k]))
                if i and late:
                    kinds = [0] * len(Kind)
                    kinds[Kind.OK] = late
                    cells.append(CellRecord(interval=i - 1, variant=v, kinds=tuple(kinds), status={200: late},
                                            bytes_in=late * 180, ok_window=late, hists=late_pools[v][k]))
                c = dict.fromkeys(COUNTERS, 0)
                c["scheduled"] = per_cell
                c["bytes_out"] = per_cell * 120
                counters[v] = c
            yield IntervalRecord(worker=w, t=(i + 1) * interval, interval=i, cpu_s=0.6 * interval,
                                 flush_ms=0.4, loop_lag_ms=max(lags), loop_lags_ms=lags, in_flight=10,
                                 counters=counters, cells=tuple(cells), first_intended=0.0,
                                 last_done=(i + 1) * interval)


def final_records(intervals: int, *, workers: int = 2, interval: float = 1.0) -> list[IntervalRecord]:
    """Each worker's (empty) final record after `synthetic_records(intervals, ...)`."""
    counters = {v: dict.fromkeys(COUNTERS, 0) for v in VARIANTS}
    return [IntervalRecord(worker=w, t=intervals * interval + 0.01, interval=intervals, final=True,
                           counters=counters, in_flight_by_variant=dict.fromkeys(VARIANTS, 0))
            for w in range(workers)]


def with_interval(rec: IntervalRecord, cell_interval: int) -> IntervalRecord:
    """`rec` with every cell moved to `cell_interval` (a late record for an old interval)."""
    return dataclasses.replace(rec, cells=tuple(dataclasses.replace(c, interval=cell_interval) for c in rec.cells))
