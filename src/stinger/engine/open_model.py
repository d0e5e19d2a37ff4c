"""The open-model executor: every request fires at its intended time, whatever the responses do.

A pump walks this worker's share of the schedule (chunks of intended times,
variants and payloads from `engine.slots`), fires each arrival that is due,
and asks `engine.pacing` how to wait for the next one. A request that finds
the in-flight bound reached either waits in a FIFO queue (its latency keeps
counting from the intended time) or is dropped and counted; past
`_PENDING_LIMIT` waiting requests even queue mode drops, counts, and the run
says so. Paired mode (variant -1 - r) fires every variant for the same payload
at the same intended instant, starting with variant r (drawn per request from
the seed: the first one sent would otherwise always be measured faster).

A mixin of `engine.loop.Engine`: the state it reads (`in_flight`, `pending`,
counters) belongs to `engine.core.EngineCore`, so the hot path pays no extra
indirection.
"""

from __future__ import annotations

from bisect import bisect_left
from time import perf_counter
from typing import TYPE_CHECKING

from stinger.engine.pacing import Pace, pace, spin_over

if TYPE_CHECKING:  # pragma: no cover - for mypy: the state this mixin reads is the core's
    import asyncio

    import numpy as np

    from stinger.engine.core import EngineCore as _Core
    from stinger.engine.slots import OpenStream
else:
    _Core = object

_PENDING_LIMIT = 1_000_000   # queue mode: past this many waiting requests (~100 MB) a worker drops and counts


class OpenModel(_Core):
    def _init_open(self) -> None:
        self._times: list[float] = []
        self._vars: list[int] = []
        self._pays: list[int] = []
        self._ci = 0
        self._due = 0.0
        self._ids: np.ndarray | None = None   # the loaded chunk's global request ids (a load change reads them)
        self._stream: OpenStream | None = None
        self._timer: asyncio.Handle | None = None   # the pump's next wake-up (a load change moves it)

    def _start_open(self) -> None:
        from stinger.engine.slots import OpenStream

        self._stream = OpenStream(self.slots)
        self._timer = self.loop.call_later(max(0.0, self.t0 - perf_counter()), self._pump)

    def _load_chunk(self) -> bool:
        if self._stream is None:
            return False
        nxt = self._stream.next()
        if nxt is None:
            self._stream = None
            return False
        ids, times, variants, payloads = nxt
        self._ids = ids
        self._times = (times + self.t0).tolist()
        self._vars = variants.tolist()
        self._pays = payloads.tolist()
        self._ci = 0
        return True

    def _pump(self) -> None:
        if self.stopping:
            return
        now = perf_counter()
        times = self._times
        i = self._ci
        fire = self._fire
        edge = self._edge
        while True:
            if i >= len(times):
                self._ci = i
                if not self._load_chunk():
                    self._arrivals_done(now)
                    return
                times = self._times
                i = 0
            t = times[i]
            if t > now:
                now = perf_counter()
                if t > now:
                    break
            if t >= edge:   # intended at or after the interval's tick, whose timer has not run yet: tick first,
                self.tick_now()   # so an interval holds the requests intended in it (a boundary's too)
                edge = self._edge
            fire(t, self._vars[i], self._pays[i])
            i += 1
        self._ci = i
        action, delay = pace(now, t)
        if action is Pace.SPIN:
            self._due = t
            self._timer = self.loop.call_later(delay, self._spin)
        else:
            self._timer = self.loop.call_later(delay, self._pump)

    def _arrivals_done(self, now: float) -> None:
        """The schedule's last arrival fired (sessions wait for their later turns: engine/sessions.py)."""
        self.schedule_done = True
        self.sched_end = now
        self._maybe_finish()

    def _spin(self) -> None:
        if spin_over(perf_counter(), self._due) or self.stopping:
            self._pump()
        else:
            self._timer = self.loop.call_soon(self._spin)

    def _open_change(self, at: float, rate: float | None = None, lost: int | None = None,
                     survivors: tuple[int, ...] = ()) -> None:
        """A load change at run-clock offset `at` (`engine/steer.py`): the schedule from there is cut
        (`OpenStream.change`); what this worker loaded past it and has not sent is dropped, and the
        pump looks again now (its next wake-up was for the old schedule)."""
        if self._stream is None or self.stopping:
            return   # the schedule is over: nothing left to change
        i = self._ci
        fired = int(self._ids[i - 1]) if self._ids is not None and i > 0 else -1
        if self._stream.change(at, rate, lost, survivors, fired_through=fired):
            keep = max(i, bisect_left(self._times, self.t0 + at))
            del self._times[keep:], self._vars[keep:], self._pays[keep:]
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_soon(self._pump)

    def _fire(self, intended: float, v: int, p: int) -> None:
        if v < 0:  # paired: every variant gets the same payload at the same instant, variant -1 - v first
            n = self.nvar
            first = -1 - v
            for k in range(n):
                self._fire(intended, (first + k) % n, p)
            return
        warm = intended < self.warm_end
        if warm:
            self.scheduled_warm[v] += 1
        else:
            self.scheduled[v] += 1
        if self.in_flight >= self.max_in_flight:
            if self.drop or len(self.pending) >= _PENDING_LIMIT:
                if warm:
                    self.dropped_warm[v] += 1
                else:
                    self.dropped[v] += 1
                if not self.drop:
                    self.overflow[v] += 1
                return
            self.pending.append((intended, v, p, -1))
            return
        self._dispatch(intended, v, p, -1)
