"""The CPU cost of ending a run with N requests still queued: `python3 bench/end_cost.py [N ...]`.

A run offered far more than it can send (bench/run.py's peak: 150,000/s) ends with hundreds
of thousands of requests waiting in the in-flight queue. At a normal end they are
`unfinished` failures (issue 15 item 3). This drives the real `Engine` in this process:
fills its queue with N requests, ends the run as the drain's end does, and runs the final
flush, timing each with this process's CPU time. Run it under two trees' PYTHONPATH to
compare (a tree without `_end_unfinished` counts them as in flight instead).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from stinger.engine.batch import Flusher
from stinger.engine.loop import Engine
from stinger.orchestrate.planning import build_plans
from stinger.spec import parse_spec


def end_cost(n: int) -> tuple[float, float, dict]:
    spec = parse_spec({"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1, "duration": 1}})
    [plan] = build_plans(spec, workers=1)
    msgs: list = []
    engine = Engine(plan, emit=msgs.append)
    out: dict = {}

    async def main() -> None:
        engine.loop = asyncio.get_running_loop()
        engine.finished = asyncio.Event()
        engine.t0 = time.perf_counter() - 5
        engine.flusher = Flusher(plan, engine.t0, engine.slots, engine.targets)
        t = engine.t0 + 1
        engine.pending.extend((t + i * 1e-6, 0, 0, -1) for i in range(n))
        engine.scheduled[0] = n
        c0 = time.process_time()
        if hasattr(engine, "_end_unfinished"):
            engine._end_unfinished()
        c1 = time.process_time()
        in_flight = engine._in_flight_by_variant()
        await asyncio.wrap_future(engine.flush(final=True, in_flight_by_variant=in_flight))
        c2 = time.process_time()
        rec = msgs[-1]
        out.update(end_ms=(c1 - c0) * 1e3, flush_ms=(c2 - c1) * 1e3,
                   unfinished=sum(c.kinds[13] for c in rec.cells if len(c.kinds) > 13),
                   in_flight=sum((rec.in_flight_by_variant or {}).values()))

    asyncio.run(main())
    engine.flush_thread.shutdown()
    return out["end_ms"], out["flush_ms"], out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="*", type=int, default=[400_000])
    for n in ap.parse_args().n:
        end_ms, flush_ms, got = end_cost(n)
        print(f"{n:>9,} queued: end {end_ms:6.0f} ms CPU, final flush {flush_ms:6.0f} ms CPU "
              f"(unfinished {got['unfinished']:,}, in flight {got['in_flight']:,})")


if __name__ == "__main__":
    main()
