"""Run the real `Engine` in this process and keep what it hands the flush thread.

`run_engine(spec_dict)` builds the one worker's plan, runs `Engine` on a fresh
event loop, and records each interval's `Columns` as a `ResponseBatch` (via
`engine.columns.to_batch`) instead of handing it to `engine.batch.Flusher`, so
these tests read what the engine measured, independent of the message format
built downstream of it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from time import perf_counter

import numpy as np

from stinger.engine.columns import to_batch
from stinger.engine.loop import Engine
from stinger.orchestrate.planning import build_plans
from stinger.spec import parse_spec


@dataclass
class Recorded:
    engine: Engine
    batches: list = field(default_factory=list)
    counters: list = field(default_factory=list)

    def column(self, name: str) -> np.ndarray:
        parts = [getattr(b, name) for b in self.batches if len(b)]
        return np.concatenate(parts) if parts else np.array([])

    def total(self, counter: str) -> int:
        return sum(sum(c[counter]) for c in self.counters)

    def headers(self, name: str) -> list:
        return [h for b in self.batches for h in b.headers.get(name, [])]


def run_engine(data: dict) -> Recorded:
    spec = parse_spec(data)
    [plan] = build_plans(spec, workers=1)
    engine = Engine(plan, emit=lambda msg: None)
    out = Recorded(engine)

    class RecordingFlusher:
        def __init__(self, plan, t0, slots, targets) -> None:
            self.targets = targets

        def flush(self, cols, counters, **_) -> dict:
            batch, _tail = to_batch(cols)
            out.batches.append(batch)
            out.counters.append(counters)
            return {}

    engine._flusher_cls = RecordingFlusher

    async def main() -> None:
        await engine.run(perf_counter() + 0.02)

    asyncio.run(main())
    return out
