"""The in-process worker backend: each worker is a thread of this process with its own event loop.

For fast tests and for embedding: no fork, so no start-up cost, and a test's
fixtures (servers, monkeypatches) are visible to the workers. Records still go
through their wire form (`IntervalRecord.to_bytes`/`from_bytes`, see
`scale/thread.py`), so this backend exercises exactly what crosses a process or
machine boundary. The workers share one GIL: it measures correctness, not capacity.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from time import perf_counter

from stinger.core.records import IntervalRecord
from stinger.errors import RunError
from stinger.scale.base import BackendTraits, WorkerFailed, WorkerLost, check_source_addresses
from stinger.scale.thread import WorkerThread, decode

_READY_TIMEOUT = 60.0
_JOIN_TIMEOUT = 5.0


class InProcessBackend:
    """Workers as threads of this process, one event loop each."""

    # threads of this process (tests): its files and PIDs; no per-core ceiling (that counts processes)
    traits = BackendTraits(local_cpu_ceiling=False)

    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()
        self.threads: list[WorkerThread] = []
        self.done: set[int] = set()

    def check_origins(self, origins) -> None:
        """Origins are groups of these threads told apart by their source address (as `scale.local`'s)."""
        check_source_addresses(origins)

    def start(self, plans: Sequence) -> list[int]:
        self.threads = [WorkerThread(plan, self.events).start() for plan in plans]
        deadline = perf_counter() + _READY_TIMEOUT
        for i, t in enumerate(self.threads):
            if not t.ready.wait(timeout=max(0.0, deadline - perf_counter())):
                raise RunError(f"load workers did not start within {_READY_TIMEOUT:.0f} s")
            if t.error is not None:
                raise RunError(f"load worker {i} could not start: {t.error}")
        return [t.thread.native_id or 0 for t in self.threads]

    def begin(self, start_wall: float) -> None:
        for t in self.threads:
            t.begin(start_wall)

    def stop(self) -> None:
        for t in self.threads:
            t.stop()

    def change(self, change) -> None:
        """A live load change to every worker still running (`engine/steer.py`)."""
        for i, t in enumerate(self.threads):
            if i not in self.done:
                t.change(change)

    def poll(self, timeout: float) -> list:
        got = []
        try:
            got.append(decode(*self.events.get(timeout=timeout)))
            while True:
                got.append(decode(*self.events.get_nowait()))
        except queue.Empty:
            pass
        out = []
        for ev in got:
            if ev.worker in self.done:   # given up on (`kill`), or already ended
                continue
            if isinstance(ev, (WorkerLost, WorkerFailed)) or (isinstance(ev, IntervalRecord) and ev.final):
                self.done.add(ev.worker)
            out.append(ev)
        return out

    def kill(self, worker: int) -> None:
        """A thread cannot be killed: ask it to stop, and ignore whatever it still sends."""
        self.done.add(worker)
        self.threads[worker].stop()

    def close(self) -> None:
        self.stop()
        deadline = perf_counter() + _JOIN_TIMEOUT
        for t in self.threads:
            t.thread.join(timeout=max(0.0, deadline - perf_counter()))
