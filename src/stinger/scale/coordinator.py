"""The coordinator: starts worker processes, merges what they send, stops them.

One run = one `execute(plans)`: W worker processes (forked, one event loop
each) share the schedule; the coordinator starts them on a common run clock,
merges their per-interval messages into `RunMetrics`, drives the optional
progress callback and monitors, and turns Ctrl-C into a clean stop of every
worker so that what was measured is kept.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from time import perf_counter
from typing import Callable, Sequence

from stinger.core.metrics import RunMetrics
from stinger.engine.plan import WorkerPlan
from stinger.engine.worker import worker_main
from stinger.errors import RunError

_READY_TIMEOUT = 60.0
_START_DELAY = 0.1        # s between "start" and t0, so every worker is waiting when the clock starts
_STOP_GRACE = 15.0        # s to wait for final messages after a stop


@dataclass
class RunOutcome:
    metrics: RunMetrics
    t0: float                 # perf_counter value of the run clock's zero
    started_at: float         # epoch seconds of t0
    elapsed: float            # run-clock seconds until the last worker finished
    interrupted: bool
    worker_pids: list[int]
    stopped_early: bool = False   # a stop condition (e.g. a sequential test) ended the run
    warnings: list[str] = field(default_factory=list)


def execute(plans: Sequence[WorkerPlan], *,
            on_progress: Callable[[RunMetrics, float], None] | None = None,
            on_start: Callable[[float, list[int]], None] | None = None,
            stop_when: Callable[[RunMetrics, float], bool] | None = None,
            progress_every: float = 0.5) -> RunOutcome:
    """Run the worker plans to completion (or Ctrl-C) and return what was measured."""
    ctx = mp.get_context("fork")
    names = [v.name for v in plans[0].variants]
    metrics = RunMetrics(names, interval=plans[0].interval)
    procs: list = []
    conns = []
    warnings: list[str] = []
    for plan in plans:
        parent, child = ctx.Pipe(duplex=True)
        p = ctx.Process(target=worker_main, args=(plan, child), daemon=True,
                        name=f"stinger-worker-{plan.worker}")
        p.start()
        child.close()
        procs.append(p)
        conns.append(parent)

    interrupted = False
    stopped_early = False
    t0 = 0.0
    try:
        pids = _await_ready(conns, procs)
        t0 = perf_counter() + _START_DELAY
        started_at = time.time() + _START_DELAY
        for c in conns:
            c.send(("start", t0))
        if on_start is not None:
            on_start(t0, pids)
        live = set(range(len(conns)))
        last_progress = 0.0
        last_check = 0.0
        stop_sent_at: float | None = None
        while live:
            try:
                ready = wait([conns[i] for i in live], timeout=0.2)
                for c in ready:
                    i = conns.index(c)
                    try:
                        msg = c.recv()
                    except (EOFError, OSError):
                        live.discard(i)
                        if i not in metrics.finals and procs[i].exitcode not in (0, None):
                            warnings.append(f"worker {i} died (exit code {procs[i].exitcode}); its last interval is lost")
                        continue
                    if msg["type"] == "error":
                        live.discard(i)
                        raise RunError(f"worker {msg['worker']} failed: {msg['message']}")
                    metrics.add(msg)
                    if msg["type"] == "final":
                        live.discard(i)
                for i in list(live):
                    if not procs[i].is_alive() and not conns[i].poll():
                        live.discard(i)
                        warnings.append(f"worker {i} exited without a final report (exit code {procs[i].exitcode})")
                now = perf_counter()
                if on_progress is not None and now - last_progress >= progress_every:
                    last_progress = now
                    on_progress(metrics, now - t0)
                if (stop_when is not None and stop_sent_at is None and now - last_check >= 1.0):
                    last_check = now
                    if stop_when(metrics, now - t0):
                        stopped_early = True
                        stop_sent_at = now
                        for i in live:
                            try:
                                conns[i].send(("stop",))
                            except OSError:
                                pass
                if stop_sent_at is not None and now - stop_sent_at > _STOP_GRACE:
                    warnings.append("workers did not report after stop; results may miss the last interval")
                    break
            except KeyboardInterrupt:
                if interrupted:
                    break  # a second Ctrl-C: stop waiting
                interrupted = True
                stop_sent_at = perf_counter()
                for i in live:
                    try:
                        conns[i].send(("stop",))
                    except OSError:
                        pass
        elapsed = perf_counter() - t0
    finally:
        _reap(procs, conns)
    return RunOutcome(metrics=metrics, t0=t0, started_at=started_at, elapsed=elapsed,
                      interrupted=interrupted, worker_pids=pids, warnings=warnings, stopped_early=stopped_early)


def _await_ready(conns, procs) -> list[int]:
    pids = [0] * len(conns)
    pending = set(range(len(conns)))
    deadline = perf_counter() + _READY_TIMEOUT
    while pending:
        if perf_counter() > deadline:
            raise RunError("load workers did not start within 60 s")
        for c in wait([conns[i] for i in pending], timeout=0.5):
            i = conns.index(c)
            try:
                msg = c.recv()
            except EOFError:
                raise RunError(f"load worker {i} exited during start-up (exit code {procs[i].exitcode})") from None
            if msg["type"] == "error":
                raise RunError(f"load worker {i} could not start: {msg['message']}")
            pids[i] = msg["pid"]
            pending.discard(i)
    return pids


def _reap(procs, conns) -> None:
    for c in conns:
        try:
            c.send(("stop",))
        except (OSError, BrokenPipeError):
            pass
    deadline = perf_counter() + 5.0
    for p in procs:
        p.join(timeout=max(0.0, deadline - perf_counter()))
    for p in procs:
        if p.is_alive() and p.pid:
            os.kill(p.pid, signal.SIGKILL)  # only our own worker, by its PID
            p.join(timeout=1.0)
    for c in conns:
        c.close()
