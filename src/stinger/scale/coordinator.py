"""The coordinator: starts workers through a backend, merges their records, stops them.

One run = one `execute(plans)`: W workers share the schedule; the coordinator
names a common start, merges their interval records (`core.records`) into
`RunMetrics` on a thread of its own (`scale.aggregate.Merger`: this one watches
signals and deadlines and never waits on a merge; progress and stop conditions
read the metrics under the merger's lock), drives the optional progress callback
and stop condition, and
turns SIGINT or SIGTERM into a clean stop of every worker so that what was
measured is kept. It never knows where workers run (`scale/base.py`).

Signals, while the run is measuring:
- the first SIGINT (Ctrl-C) or SIGTERM (`timeout`, CI cancellation,
  Kubernetes) asks every worker to stop; their final records arrive within
  moments and the run ends with `interrupted=True` and `interrupted_by` naming
  the signal (the CLI exits 130 for SIGINT, 143 for SIGTERM);
- a second one (an impatient double Ctrl-C) shortens the wait for those final
  records to `_SECOND_SIGNAL_WAIT`; a third stops waiting at once.
The handlers only set flags: no exception is raised in the middle of reading a
worker's record, so no signal can lose or tear what has arrived.

A worker lost mid-run (killed, crashed) is reported in `lost_workers` with the
share of the schedule it carried and the run-clock time from which that share
went unsent; what the run does then is `on_worker_loss`: continue (the default:
they go on at their own share), stop (the others are asked to stop at once) or rebalance
(its share goes to them from a little after the loss: `scale.control.Steering`);
stop and continue mark the run incomplete. The
requests it had in flight at its last record are counted as failed, kind
`lost` (`RunMetrics.worker_gone`), so scheduled = ok + failed + dropped + in
flight still holds.

Liveness: a worker that stops without dying (SIGSTOP, a wedged actor, a held
GIL) produces no event at all, and would hang the run. Each worker sends a
pulse while its event loop turns (`scale.pulse`), beside its records; one
silent for `deadline` s (many pulse periods: `_SILENT_INTERVALS` intervals,
at least `_SILENT_MIN` s, plus the backend's `start_delay`, which reflects its
remote latency) is declared lost ("silent for N s"), the backend is told to
kill it (`WorkerBackend.kill`: only that worker), and the run goes on without
it. One that keeps pulsing but sends no record for `_RECORDLESS` s (longer
than any flush may legitimately wait) is lost too. So a run ends by its
duration + drain + the deadline, whatever a worker does. After a stop, a
worker whose final record has not come when the grace runs out is lost as well.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import ClassVar

from stinger.core.metrics import RunMetrics
from stinger.core.origins import origin_book
from stinger.core.records import IntervalRecord
from stinger.engine.plan import WorkerPlan
from stinger.errors import RunError
from stinger.scale.aggregate import Merger, NodeHists
from stinger.scale.base import DEFAULT_BACKEND, Alive, WorkerBackend, WorkerFailed, WorkerLost, backend_named
from stinger.scale.control import RunControl, Steering
from stinger.scale.now_rate import NowRate

_STOP_GRACE = 15.0        # s to wait for final records after a stop
_SECOND_SIGNAL_WAIT = 2.0  # s still granted to final records after a second SIGINT/SIGTERM
_POLL = 0.1               # s: how often signals, progress and stop conditions are looked at
_SILENT_INTERVALS = 5     # intervals without a pulse or record before a worker is lost ...
_SILENT_MIN = 5.0         # ... and at least this many s (pulses come every 0.1 s: `scale.pulse`)
_RECORDLESS = 90.0        # s pulsing without a record: wedged (a final flush waits 60 s at most for judging)
_AWAY = 1.0               # s between two looks of the loop past which the coordinator itself was held up


@dataclass(frozen=True)
class LostWorker:
    """A worker that ended without its final record."""

    worker: int
    pid: int
    reason: str
    share: float          # the fraction of the schedule it carried (1 / workers)
    since: float          # run-clock s of its last record: its share went unsent from about then
    lost_requests: int = 0   # measured requests in flight on it at its last record: counted as `lost`
    then: str = "continue"   # --on-worker-loss: stop | continue | rebalance (what the run did about it)
    rebalanced_at: float | None = None   # run-clock s from which the survivors carried its share

    def describe(self) -> str:
        in_flight = (f"; {self.lost_requests:,} request{'s' if self.lost_requests != 1 else ''} in flight on it "
                     "counted as failed (lost)" if self.lost_requests else "")
        head = f"worker {self.worker} (pid {self.pid}) was lost ({self.reason}) at about {self.since:.1f} s"
        if self.rebalanced_at is not None:
            return (f"{head}: its {self.share:.0%} of the schedule went to the other workers from "
                    f"{self.rebalanced_at:.1f} s (--on-worker-loss rebalance){in_flight}")
        if self.then == "continue":
            return (f"{head}: its {self.share:.0%} of the schedule was not sent from then on and the run went on "
                    f"without it (--on-worker-loss continue): the offered load fell{in_flight}; the run is incomplete")
        return (f"{head}: its {self.share:.0%} of the schedule was not sent from then on{in_flight}; "
                "the run is incomplete")


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
    interrupted_by: str | None = None     # "SIGINT" | "SIGTERM" when interrupted by a signal
    lost_workers: list[LostWorker] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)   # load changes applied (`scale.control`), in order

    @property
    def incomplete(self) -> bool:
        """Some of the schedule was never sent because a worker was lost (and not rebalanced)."""
        return any(lw.rebalanced_at is None for lw in self.lost_workers)


class _StopSignals:
    """SIGINT and SIGTERM set a flag while installed (main thread only; elsewhere a no-op).

    Nested uses share the outermost one (`hold_stop_signals`): a command holds them from
    before its run starts until its run directory is written, so a signal that lands
    after the workers stopped (the second of a double Ctrl-C, a few ms after the first)
    is recorded instead of raising KeyboardInterrupt in the middle of writing the
    results. Outside `execute`, a third signal still ends the process at once.
    """

    _active: ClassVar[list[_StopSignals]] = []

    def __init__(self) -> None:
        self.received: list[str] = []
        self._saved: dict = {}
        self._outer: _StopSignals | None = None
        self.executing = 0

    def __enter__(self) -> _StopSignals:
        if self._active:
            self._outer = self._active[-1]
            self.received = self._outer.received
            self._outer.executing += 1
            return self
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._on_signal)
            self._active.append(self)
        return self

    @classmethod
    def reclaim(cls) -> None:
        """Put the outermost active handlers back: a library may have installed its own over them
        (`ray.init` sets a SIGTERM handler that exits, and Ray's C++ core a crash handler that
        dumps and dies), which would turn a SIGTERM into an empty run directory."""
        if cls._active and threading.current_thread() is threading.main_thread():
            outer = cls._active[0]
            for sig in outer._saved:
                signal.signal(sig, outer._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self.received.append(signal.Signals(signum).name)
        if not self.executing and len(self.received) >= 3:   # insisting, past the run: stop now
            self._restore()
            raise KeyboardInterrupt

    def _restore(self) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved = {}
        if self in self._active:
            self._active.remove(self)

    def __exit__(self, *exc) -> None:
        if self._outer is not None:
            self._outer.executing -= 1
            self._outer = None
            return
        self._restore()


def silent_deadline(interval: float, start_delay: float) -> float:
    """Seconds without a pulse or record after which a worker is declared lost."""
    return max(_SILENT_INTERVALS * interval, _SILENT_MIN) + start_delay


def _after_loss(mode: str, w: int, survivors: list[int], steer: Steering, t: float, *,
                running: bool) -> tuple[bool, float | None]:
    """What `--on-worker-loss` does about worker `w` lost at run-clock `t`: (stop the run now, the instant
    its share went to the survivors). Nothing once the run is stopping or when no worker is left."""
    if not running or not survivors:
        return False, None
    if mode == "stop":
        return True, None
    if mode == "rebalance":
        return False, steer.rebalance(w, survivors, t)
    return False, None


def hold_stop_signals() -> _StopSignals:
    """A context in which SIGINT/SIGTERM only set flags (see `_StopSignals`); `execute` inside it
    reacts to them as usual, and `.received` says which arrived."""
    return _StopSignals()


def execute(plans: Sequence[WorkerPlan], *,
            on_progress: Callable[[RunMetrics, float], None] | None = None,
            on_start: Callable[[float, list[int]], None] | None = None,
            stop_when: Callable[[RunMetrics, float], bool] | None = None,
            progress_every: float = 0.5,
            backend: WorkerBackend | str | None = None, spill_path=None,
            control: RunControl | None = None, on_worker_loss: str = "continue") -> RunOutcome:
    """Run the worker plans to completion (or a stop signal) and return what was measured.

    `backend`: a `WorkerBackend`, a registered name (`scale.base.REGISTRY`), or
    None for forked local processes. `spill_path`: where `RunMetrics` spills cells past its
    horizon (a run directory's scratch file); None for a temporary file. `control`: live load
    changes and an early stop (`scale.control`). `on_worker_loss`: continue (the others at their own
    share: exit 3; the default), stop (the run, at once: exit 3) or rebalance (the others take the lost share)."""
    if backend is None or isinstance(backend, str):
        backend = backend_named(backend or DEFAULT_BACKEND)
    names = [v.name for v in plans[0].variants]
    metrics = RunMetrics(names, interval=plans[0].interval, late_s=plans[0].timeout, spill_path=spill_path)
    metrics.goodput = plans[0].goodput
    metrics.origins = origin_book(plans)   # per-origin rows (core/origins.py); empty without origins
    warnings: list[str] = []
    lost: list[LostWorker] = []
    interrupted_by: str | None = None
    stopped_early = False
    merger = Merger(metrics)   # merges off this thread, which watches the run (`scale.aggregate`)
    try:
        pids = backend.start(plans)
        metrics.origins.nodes = dict(getattr(backend, "worker_nodes", None) or {})   # where each ran (Ray)
        start_delay = backend.traits.start_delay   # every worker is waiting when the clock starts
        started_at = time.time() + start_delay
        t0 = perf_counter() + (started_at - time.time())
        backend.begin(started_at)
        steer = Steering(backend, plans, started_at, control, lead=start_delay)
        metrics.events = steer.events   # the live outputs' snapshots read them (`outputs.base.snapshot_of`)
        now_rate = metrics.now_rate = NowRate()   # the pulses' ended counts: the live "achieved now" rate
        if on_start is not None:
            on_start(t0, pids)
        last_t = dict.fromkeys(range(len(plans)), 0.0)
        live = set(range(len(plans)))
        last_progress = 0.0
        last_check = 0.0
        wait_until: float | None = None   # after a stop: give up on final records at this perf_counter
        deadline = silent_deadline(plans[0].interval, start_delay)
        now = perf_counter()
        seen = dict.fromkeys(live, now)       # worker -> perf_counter of its last event (pulse or record)
        recorded = dict.fromkeys(live, now)   # worker -> perf_counter of its last record
        looked = now                          # when this loop last looked at the workers

        def lose(w: int, reason: str) -> None:
            live.discard(w)
            now_rate.forget(w)
            merger.sync()   # what it sent before is merged: its in-flight count is exact
            with merger.lock:
                gone = metrics.worker_gone(w)
            nonlocal wait_until
            stop, at = _after_loss(on_worker_loss, w, sorted(live), steer, perf_counter() - t0,
                                   running=wait_until is None)
            if stop:
                wait_until = perf_counter() + _STOP_GRACE
                backend.stop()
            lw = LostWorker(w, pids[w], reason, 1.0 / len(plans), last_t[w], gone, then=on_worker_loss,
                            rebalanced_at=at)
            lost.append(lw)
            warnings.append(lw.describe())

        with _StopSignals() as signals:
            _StopSignals.reclaim()   # a backend may have put its own handlers over ours (ray.init does)
            while live:
                for ev in backend.poll(_POLL):
                    if isinstance(ev, NodeHists):   # a node's histograms, summed: its records carry the counts
                        merger.hists(ev)
                        continue
                    w = ev.worker
                    if w not in live:   # declared lost already: nothing it sends now counts
                        continue
                    if isinstance(ev, IntervalRecord):
                        merger.record(ev)
                        last_t[w] = ev.t
                        seen[w] = recorded[w] = perf_counter()
                        if ev.final:
                            live.discard(w)
                            now_rate.forget(w)
                    elif isinstance(ev, Alive):
                        seen[w] = perf_counter()
                        if ev.done is not None and ev.stamp is not None:
                            now_rate.add(w, ev.stamp, ev.done)
                    elif isinstance(ev, WorkerLost):
                        lose(w, ev.reason)
                    elif isinstance(ev, WorkerFailed):
                        raise RunError(f"worker {w} failed: {ev.message}")
                if merger.error is not None:
                    merger.sync()   # raises it here
                now = perf_counter()
                away = now - looked
                looked = now
                if away > _AWAY:   # this process was stopped (Ctrl-Z, then fg) or starved: its workers are
                    for w in live:   # not judged on time it did not watch
                        seen[w] += away
                        recorded[w] += away
                for w in sorted(live):
                    if now - seen[w] > deadline:
                        reason = f"silent for {now - seen[w]:.1f} s"
                    elif now - recorded[w] > _RECORDLESS:
                        reason = f"alive but sent no record for {now - recorded[w]:.0f} s"
                    else:
                        continue
                    backend.kill(w)
                    lose(w, reason)
                n_signals = len(signals.received)
                if n_signals and interrupted_by is None:
                    interrupted_by = signals.received[0]
                    wait_until = now + _STOP_GRACE if wait_until is None else wait_until
                    backend.stop()
                if n_signals == 2:
                    wait_until = now + _SECOND_SIGNAL_WAIT if wait_until is None else min(wait_until, now + _SECOND_SIGNAL_WAIT)
                elif n_signals >= 3:
                    wait_until = now
                if steer.look(now - t0) and wait_until is None:
                    stopped_early = True   # asked to end early: a clean stop, the exit code of a normal end
                    wait_until = now + _STOP_GRACE
                    backend.stop()
                if on_progress is not None and now - last_progress >= progress_every:
                    last_progress = now
                    with merger.lock:
                        on_progress(metrics, now - t0)
                if stop_when is not None and wait_until is None and now - last_check >= 1.0:
                    last_check = now
                    with merger.lock:
                        stop = stop_when(metrics, now - t0)
                    if stop:
                        stopped_early = True
                        wait_until = now + _STOP_GRACE
                        backend.stop()
                if wait_until is not None and now >= wait_until and live:
                    for w in sorted(live):   # no final record within the grace: lost, its in-flight counted
                        backend.kill(w)
                        lose(w, "no final record after the stop")
                    break
            elapsed = perf_counter() - t0
            merger.close()   # everything received is merged (a signal meanwhile only sets its flag)
    finally:
        merger.stop()
        backend.close()
    return RunOutcome(metrics=metrics, t0=t0, started_at=started_at, elapsed=elapsed,
                      interrupted=interrupted_by is not None, worker_pids=pids, warnings=warnings,
                      stopped_early=stopped_early, interrupted_by=interrupted_by, lost_workers=lost,
                      events=list(steer.events))
