"""One load worker on its own event loop, in a thread of the current process.

Shared by the backends whose workers are not forked processes: `inprocess`
(threads of the coordinator, for tests) and `ray` (a thread of each actor
process). The worker's events queue up in their wire form, as
`(worker, kind, payload)` tuples, so a backend can hand them on unchanged
(Ray) or decode them (in-process); several threads may share one queue:

    (w, "record", bytes)   an `IntervalRecord.to_bytes()`
    (w, "failed", str)     the worker raised: one line
    (w, "lost", str)       it ended without its final record (stopped before the start)
    (w, "alive", None)     its event loop is turning (`scale.pulse`)
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from stinger.core.records import IntervalRecord
from stinger.scale.base import Alive, WorkerFailed, WorkerLost
from stinger.scale.pulse import Pulse


class WorkerThread:
    """Start with `start()`, wait for `ready`; `begin`/`stop` from any thread; `take` the events."""

    def __init__(self, plan: Any, events: queue.Queue | None = None) -> None:
        self.plan = plan
        self.events: queue.Queue = events if events is not None else queue.Queue()
        self.ready = threading.Event()
        self.error: str | None = None
        self.worker: Any = None
        self.loop: Any = None
        self.final_sent = False
        self.thread = threading.Thread(target=self._main, name=f"stinger-worker-{plan.worker}", daemon=True)

    def start(self) -> WorkerThread:
        self.thread.start()
        return self

    def _emit(self, rec: IntervalRecord) -> None:
        self.events.put((self.plan.worker, "record", rec.to_bytes()))
        if rec.final:
            self.final_sent = True

    def _main(self) -> None:
        from stinger.engine.worker import Worker, new_event_loop

        loop = self.loop = new_event_loop()

        async def serve() -> None:
            self.worker = Worker(self.plan, emit=self._emit)
            w = self.plan.worker
            engine = self.worker.engine
            pulse = Pulse(loop, lambda mark: self.events.put((w, "alive", mark)), count=engine.completed).start()
            self.ready.set()
            try:
                await self.worker.run()
            finally:
                pulse.stop()

        try:
            loop.run_until_complete(serve())
        except Exception as exc:  # reported to the coordinator, which decides
            self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self.events.put((self.plan.worker, "failed", self.error))
            self.ready.set()
        else:
            if not self.final_sent:   # stopped before the start, or ended without its final record
                self.events.put((self.plan.worker, "lost", "ended without a final record"))
        finally:
            loop.close()

    def _call(self, fn, *args) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # closed between the check and the call
                pass

    def begin(self, start_wall: float) -> None:
        if self.worker is not None:
            self._call(self.worker.begin, start_wall)

    def stop(self) -> None:
        if self.worker is not None:
            self._call(self.worker.stop)

    def change(self, change: Any) -> None:
        """A live load change (`engine.steer.LoadChange`), applied on the worker's loop."""
        if self.worker is not None:
            self._call(self.worker.change, change)

    def take(self, wait: float) -> list[tuple[int, str, Any]]:
        """The events that arrived within `wait` s (all that are queued once one has)."""
        out = []
        try:
            out.append(self.events.get(timeout=wait))
            while True:
                out.append(self.events.get_nowait())
        except queue.Empty:
            pass
        return out


def decode(worker: int, kind: str, payload) -> IntervalRecord | Alive | WorkerFailed | WorkerLost:
    """A `WorkerThread` event tuple as the coordinator's event."""
    if kind == "record":
        return IntervalRecord.from_bytes(payload)
    if kind == "alive":   # payload: (stamp, ended so far) or None (`scale.pulse.Mark`)
        return Alive(worker) if payload is None else Alive(worker, *payload)
    if kind == "failed":
        return WorkerFailed(worker, payload)
    return WorkerLost(worker, payload)
