"""One load worker: one `Engine` on one event loop, started and stopped by its backend.

Backend-agnostic: a worker backend (`stinger.scale`) creates a `Worker` on the
event loop it runs (a forked process's, a thread's, a Ray actor's), reports it
ready, and later calls `begin(start_wall)` and `stop()` on that loop. Each
interval the engine hands an `IntervalRecord` to `emit`, on its flush thread;
the backend carries it to the coordinator.

The start is a wall-clock instant (`time.time()` seconds) that the worker
converts once, on receipt, to its own `perf_counter` clock (`wall_to_perf`):
on one machine every worker lands on the same instant to microseconds; across
machines, as close as their clocks are synchronised (see `scale/base.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from stinger.engine.plan import WorkerPlan
from stinger.engine.steer import LoadChange


def use_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop for a worker that is not the process's main one (threads, actors)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def wall_to_perf(start_wall: float) -> float:
    """The `perf_counter` value of the wall-clock instant `start_wall`, read now on this machine."""
    return time.perf_counter() + (start_wall - time.time())


class Worker:
    """Create on the worker's running event loop; call `begin`/`stop` on that loop only."""

    def __init__(self, plan: WorkerPlan, emit: Callable) -> None:
        from stinger.engine.loop import Engine

        self.plan = plan
        self.engine = Engine(plan, emit=emit)
        self._start: asyncio.Future = asyncio.get_running_loop().create_future()
        self.t0: float | None = None
        self._running = False
        self._stopping = False
        self._start_wall: float | None = None
        self._changes: list = []   # load changes that came before the engine ran

    def begin(self, start_wall: float) -> None:
        if not self._start.done():
            self._start.set_result(start_wall)

    def change(self, change: LoadChange) -> None:
        """A live load change (`engine/steer.py`): its wall-clock instant, as an offset from the run's
        start (both the coordinator's wall-clock numbers, so every worker gets the same offset)."""
        if self._running and self._start_wall is not None:
            self.engine.apply_change(change.at - self._start_wall, change)
        else:
            self._changes.append(change)

    def stop(self) -> None:
        """Stop now: before the start, the worker ends without running; after it, the engine
        stops scheduling and its final record still arrives."""
        self._stopping = True
        if not self._start.done():
            self._start.set_result(None)
        elif self._running:
            self.engine.interrupted = True   # told to stop: the final record must not wait long
            self.engine.stop()

    async def run(self) -> bool:
        """Wait for `begin` (or `stop`), run the plan; False when stopped before the start."""
        start_wall = await self._start
        if start_wall is None:
            return False
        self.t0 = wall_to_perf(start_wall)
        self._start_wall = start_wall
        task = asyncio.ensure_future(self.engine.run(self.t0))
        await asyncio.sleep(0)  # the engine's run is now waiting on its own stop event
        self._running = True
        for change in self._changes:
            self.engine.apply_change(change.at - start_wall, change)
        self._changes.clear()
        if self._stopping:      # a stop that came between the start and now
            self.engine.stop()
        await task
        return True
