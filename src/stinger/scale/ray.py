"""The Ray worker backend: each load worker is a Ray actor, on this machine or across a cluster.

stinger never manages machines: Ray does. `--backend ray` joins the cluster
Ray's own rules name (`RAY_ADDRESS`, e.g. `ray://head:10001` or `auto` for a
cluster started with `ray start` on this machine); with none, Ray starts a
private one here for the run and stops it after. Each worker is one actor
(one CPU, spread over the cluster's nodes) running the same `Worker` as the
local backend, on its own event loop in a thread of the actor process, so a
worker's engine, flush thread and records are exactly the local ones.

Records travel in their wire form (`IntervalRecord.to_bytes`): the
coordinator keeps one outstanding `take` call per live actor, which returns
what the worker emitted within a short wait, and calls again. An actor that
dies (its process or node lost) surfaces as `RayActorError` on that call and
is reported as a lost worker with its share of the schedule (`WorkerLost`).

What the cluster must provide: stinger installed at the same version on every
node, and the run's dataset at the same path on every node (a plan names its
payload file; small bodies given inline travel with the plan). Clocks: the
start is a wall-clock instant, so nodes should run NTP (see `scale/base.py`);
each request's latency is measured on one node's clock. `start_delay` is
longer than the local backend's: the begin call must reach every actor before
the clock starts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from stinger.core.records import IntervalRecord
from stinger.errors import RunError, UsageError
from stinger.scale.base import WorkerLost
from stinger.scale.thread import decode

_READY_TIMEOUT = 120.0
_TAKE_WAIT = 0.2          # s an actor's `take` waits for a record before returning empty


class _ActorWorker:
    """Runs inside a Ray actor process: one `WorkerThread` (its own event loop); a threaded
    actor, so `take` may block while `stop` comes in."""

    def __init__(self, plan: Any) -> None:
        import sys

        from stinger.scale.thread import WorkerThread

        sys.setswitchinterval(0.001)   # as a local worker: the flush thread hands the GIL back often
        self.thread = WorkerThread(plan).start()

    def ready(self) -> tuple[int, str]:
        import socket

        self.thread.ready.wait(_READY_TIMEOUT)
        if self.thread.error is not None:
            raise RuntimeError(self.thread.error)
        return os.getpid(), socket.gethostname()

    def begin(self, start_wall: float) -> None:
        self.thread.begin(start_wall)

    def stop(self) -> None:
        self.thread.stop()

    def take(self, wait: float) -> list[tuple[int, str, Any]]:
        return self.thread.take(wait)


class RayBackend:
    """Workers as Ray actors (see the module docstring)."""

    start_delay = 1.0    # s between "begin" and the run clock's zero: a remote call per actor must land first

    def __init__(self) -> None:
        self.actors: list[Any] = []
        self.pending: dict[int, Any] = {}      # worker -> its outstanding `take` ref
        self.done: set[int] = set()
        self.nodes: list[str] = []
        self._started_ray = False
        self._ray: Any = None

    def _init_ray(self) -> Any:
        try:
            import ray
        except ImportError:
            raise UsageError("--backend ray needs Ray: pip install 'stinger[ray]'") from None
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")
            try:
                ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR", configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise UsageError(f"--backend ray: cannot join the Ray cluster at {address!r}: "
                                 f"{str(exc).splitlines()[0]}") from None
            self._started_ray = True
        return ray

    def start(self, plans: Sequence) -> list[int]:
        ray = self._ray = self._init_ray()
        actor_cls = ray.remote(num_cpus=1, max_concurrency=4)(_ActorWorker)
        self.actors = [actor_cls.options(scheduling_strategy="SPREAD", name=None).remote(plan) for plan in plans]
        try:
            got = ray.get([a.ready.remote() for a in self.actors], timeout=_READY_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            raise RunError(f"Ray actors did not start within {_READY_TIMEOUT:.0f} s "
                           f"(the cluster has {ray.cluster_resources().get('CPU', 0):g} CPUs for "
                           f"{len(plans)} workers)") from None
        except ray.exceptions.RayError as exc:
            raise RunError(f"a Ray load worker could not start: {str(exc).splitlines()[-1]}") from None
        import socket

        self.nodes = [host for _, host in got]
        for i, a in enumerate(self.actors):
            self.pending[i] = a.take.remote(_TAKE_WAIT)
        here = socket.gethostname()
        # a PID means something only on its own machine: 0 for an actor on another node
        return [pid if host == here else 0 for pid, host in got]

    def begin(self, start_wall: float) -> None:
        self._ray.get([a.begin.remote(start_wall) for a in self.actors])

    def stop(self) -> None:
        for i, a in enumerate(self.actors):
            if i not in self.done:
                a.stop.remote()

    def poll(self, timeout: float) -> list:
        ray = self._ray
        if not self.pending:
            time.sleep(timeout)
            return []
        by_ref = {ref: i for i, ref in self.pending.items()}
        ready, _ = ray.wait(list(by_ref), num_returns=1, timeout=timeout)
        if ready:   # whatever else is ready too, without waiting
            more, _ = ray.wait([r for r in by_ref if r not in ready], num_returns=len(by_ref) - len(ready), timeout=0)
            ready = list(ready) + list(more)
        out: list = []
        for ref in ready:
            i = by_ref[ref]
            del self.pending[i]
            try:
                events = ray.get(ref)
            except ray.exceptions.RayError as exc:
                self.done.add(i)
                out.append(WorkerLost(i, f"Ray actor died ({type(exc).__name__})"))
                continue
            ended = False
            for _, kind, body in events:
                ev = decode(i, kind, body)
                out.append(ev)
                ended = ended or not isinstance(ev, IntervalRecord) or ev.final
            if ended:
                self.done.add(i)
            else:
                self.pending[i] = self.actors[i].take.remote(_TAKE_WAIT)
        return out

    def kill(self, worker: int) -> None:
        """Kill one worker's actor now (tests: a lost worker)."""
        self._ray.kill(self.actors[worker], no_restart=True)

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for a in self.actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # already gone
                pass
        self.actors = []
        self.pending.clear()
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
        self._ray = None
