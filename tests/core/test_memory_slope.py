"""The coordinator's memory does not grow with a run's length (issue 10, item 12).

The requirement: coordinator memory grows by less than 10 MB per 10 M requests.
At 20,000 req/s (one Python worker's ceiling) 10 M requests take 500 s, i.e. 500
one-second intervals, so the bound is

    10 MB / 500 intervals = 10,000,000 B / 500 = 20,000 B per interval.

This feeds `RunMetrics.add` (the coordinator's merge, nothing else) with
synthetic records of such a run (`stinger.testing.records`: 20,000 req/s over 2
variants, every metric a plain HTTP run records, a wide latency spread, late
cells) and measures, with tracemalloc (Python objects and numpy buffers), the
memory still allocated every 25 intervals; the slope over the second half is the
growth per interval. Before the spill (every cell kept in memory, packed) it
was ~29,000 B per interval (bench/memory.py synthetic); with it, what grows is
where each spilled cell is (12 B per variant) and a CPU sample per worker (8 B):
~45 B per interval measured (typed arrays over-allocate as they grow).
The test asserts the requirement's 20,000 B and, to keep a 24 h run flat, a
tenth of it (2,000 B per interval = 1 MB per 10 M requests = 173 MB a day).
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

from stinger.core.metrics import RunMetrics
from stinger.testing.records import VARIANTS, final_records, synthetic_records

RATE = 20_000.0
INTERVALS = 300          # past the horizon (30 s timeout + 1 interval) many times over
REQUIREMENT_B = 10_000_000 / (10_000_000 / RATE)    # 10 MB per the intervals 10 M requests take: 20,000 B
FLAT_B = REQUIREMENT_B / 10


def growth_per_interval(m: RunMetrics) -> float:
    records = synthetic_records(INTERVALS, rate=RATE, workers=1, pool=8)
    gc.collect()
    tracemalloc.start()
    try:
        xs, ys = [], []
        for k, rec in enumerate(records):
            m.add(rec)
            if (k + 1) % 25 == 0:
                xs.append(k + 1)
                ys.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    for rec in final_records(INTERVALS, workers=1):
        m.add(rec)
    half = len(xs) // 2
    return float(np.polyfit(xs[half:], ys[half:], 1)[0])


def test_coordinator_memory_per_interval_is_flat():
    m = RunMetrics(list(VARIANTS))
    per_interval = growth_per_interval(m)
    assert REQUIREMENT_B == 20_000
    assert per_interval < REQUIREMENT_B, f"{per_interval:,.0f} B per interval: past 10 MB per 10 M requests"
    assert per_interval < FLAT_B, f"{per_interval:,.0f} B per interval at 20,000 req/s"
    # the cells are all still there, all but the last horizon's spilled
    assert len(m.variants["a"].cells) == INTERVALS + 1 and m.variants["a"].cells.in_memory <= 33
    assert [r["ok"] for r in m.interval_rows()[:2]] == [10_000, 10_000]   # 5 % of each came a record late
    m.close()
