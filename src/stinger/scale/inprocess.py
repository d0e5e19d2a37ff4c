"""The in-process worker backend: each worker is a thread of this process with its own event loop.

For fast tests and for embedding: no fork, so no start-up cost, and a test's
fixtures (servers, monkeypatches) are visible to the workers. Records still go
through their wire form (`IntervalRecord.to_bytes`/`from_bytes`), so this
backend exercises exactly what crosses a process or machine boundary. The
workers share one GIL: it measures correctness, not capacity.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from time import perf_counter

from stinger.core.records import IntervalRecord
from stinger.errors import RunError
from stinger.scale.base import WorkerFailed, WorkerLost

_READY_TIMEOUT = 60.0
_JOIN_TIMEOUT = 5.0


class _Thread:
    def __init__(self, plan, events: queue.Queue) -> None:
        self.plan = plan
        self.events = events
        self.ready = threading.Event()
        self.error: str | None = None
        self.loop = None
        self.worker = None
        self.final_sent = False
        self.thread = threading.Thread(target=self._main, name=f"stinger-worker-{plan.worker}", daemon=True)

    def _emit(self, rec: IntervalRecord) -> None:
        self.events.put(IntervalRecord.from_bytes(rec.to_bytes()))
        if rec.final:
            self.final_sent = True

    def _main(self) -> None:
        from stinger.engine.worker import Worker, new_event_loop

        loop = new_event_loop()
        self.loop = loop

        async def serve() -> None:
            self.worker = Worker(self.plan, emit=self._emit)
            self.ready.set()
            await self.worker.run()

        try:
            loop.run_until_complete(serve())
        except Exception as exc:  # reported to the coordinator, which decides
            self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if self.ready.is_set():
                self.events.put(WorkerFailed(self.plan.worker, self.error))
            self.ready.set()
        else:
            if not self.final_sent:   # stopped before the start, or ended without its final record
                self.events.put(WorkerLost(self.plan.worker, "ended without a final record"))
        finally:
            loop.close()

    def call(self, fn, *args) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # closed between the check and the call
                pass


class InProcessBackend:
    """Workers as threads of this process, one event loop each."""

    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()
        self.threads: list[_Thread] = []
        self.done: set[int] = set()

    def start(self, plans: Sequence) -> list[int]:
        self.threads = [_Thread(plan, self.events) for plan in plans]
        for t in self.threads:
            t.thread.start()
        deadline = perf_counter() + _READY_TIMEOUT
        for i, t in enumerate(self.threads):
            if not t.ready.wait(timeout=max(0.0, deadline - perf_counter())):
                raise RunError(f"load workers did not start within {_READY_TIMEOUT:.0f} s")
            if t.error is not None:
                raise RunError(f"load worker {i} could not start: {t.error}")
        return [t.thread.native_id or 0 for t in self.threads]

    def begin(self, start_wall: float) -> None:
        for t in self.threads:
            t.call(t.worker.begin, start_wall)

    def stop(self) -> None:
        for t in self.threads:
            if t.worker is not None:
                t.call(t.worker.stop)

    def poll(self, timeout: float) -> list:
        out = []
        try:
            out.append(self.events.get(timeout=timeout))
            while True:
                out.append(self.events.get_nowait())
        except queue.Empty:
            pass
        for ev in out:
            if isinstance(ev, (WorkerLost, WorkerFailed)) or (isinstance(ev, IntervalRecord) and ev.final):
                self.done.add(ev.worker)
        return out

    def close(self) -> None:
        self.stop()
        deadline = perf_counter() + _JOIN_TIMEOUT
        for t in self.threads:
            t.thread.join(timeout=max(0.0, deadline - perf_counter()))
