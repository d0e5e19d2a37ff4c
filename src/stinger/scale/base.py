"""The worker-backend seam: where load workers run, and how their records come back.

A backend starts N workers on N plans, tells them when to begin, streams their
typed interval records (`stinger.core.records.IntervalRecord`) to the
coordinator, stops them, and reports a worker that died. The coordinator
(`scale.coordinator`) merges; it never knows whether workers are forked
processes, threads in this process (tests) or Ray actors on other machines.

Clock agreement: the coordinator names the start as a wall-clock instant
(`time.time()` seconds); each worker converts it to its own monotonic clock
(`perf_counter`) once, on receipt. On one machine both clocks are the same
kernel's, so workers agree to microseconds; across machines they agree as well
as the machines' wall clocks do (NTP: typically within a millisecond or a few),
which shifts interval boundaries, never a request's latency (measured on one
clock, inside one worker).

To add a backend: write `scale/NAME.py` (a class implementing `WorkerBackend`),
its test, and one line in `REGISTRY` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """A worker that ended without its final record."""

    worker: int
    reason: str          # e.g. "exit code -9", "actor died"


@runtime_checkable
class WorkerBackend(Protocol):
    def start(self, plans: Sequence) -> list[int]:
        """Start one worker per plan and wait until each is ready; return their ids (PIDs locally)."""
        ...

    def begin(self, start_wall: float) -> None:
        """Tell every worker the run clock's zero, as a wall-clock instant."""
        ...

    def poll(self, timeout: float) -> Iterable:
        """Records (`IntervalRecord`) and `WorkerLost` events that arrived within `timeout` s."""
        ...

    def stop(self) -> None:
        """Ask every live worker to stop now (its final record still arrives)."""
        ...

    def close(self) -> None:
        """Reap every worker; kill the ones that do not end in time. Idempotent."""
        ...


REGISTRY: dict[str, str] = {
    "local": "stinger.scale.local:LocalBackend",
    "inprocess": "stinger.scale.inprocess:InProcessBackend",
}
