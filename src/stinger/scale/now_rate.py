"""The live "achieved now" rate: requests ended per second over the last fraction of a second.

The per-interval records say what each second achieved, but only once that second is over and
merged, so a live view following them shows a rate change a whole interval late (issue 20: 1.7 to
2 s after a change from 50 to 200 req/s). Each worker's pulse (`scale.pulse`, every 0.1 s) carries
its count of ended requests (answered or failed, warm-up included) and the instant it was read on
the worker's own monotonic clock. Here, per worker, the rate is the count's rise over the last
`WINDOW` s or a little more (between two of its own marks: one clock, no skew between machines),
and the run's rate is their sum. A worker that ended (its final record) or was lost stops counting.

Thread-safe: the coordinator's loop adds marks, the live outputs read (`read`) from their threads.
"""

from __future__ import annotations

import threading
from collections import deque

WINDOW = 0.3      # s: long enough for a few pulses (and 60 requests at 200 req/s), short enough to follow a change
_KEEP = 3.0       # s of marks kept per worker (a wider look-back when pulses come late)


class NowRate:
    """Add marks with `add`; `read()` -> (requests/s, the window it was measured over, s) or None."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._marks: dict[int, deque[tuple[float, int]]] = {}

    def add(self, worker: int, stamp: float, done: int) -> None:
        with self._lock:
            marks = self._marks.get(worker)
            if marks is None:
                marks = self._marks[worker] = deque()
            if marks and (stamp <= marks[-1][0] or done < marks[-1][1]):
                return   # out of order, or read across a flush's swap: never a negative rate
            marks.append((stamp, done))
            while len(marks) > 2 and stamp - marks[1][0] >= _KEEP:
                marks.popleft()

    def forget(self, worker: int) -> None:
        """The worker ended or was lost: it adds nothing from now on."""
        with self._lock:
            self._marks.pop(worker, None)

    def read(self) -> tuple[float, float] | None:
        """The run's rate now, and the mean window it was taken over; None before any worker has two marks."""
        rate, spans = 0.0, []
        with self._lock:
            for marks in self._marks.values():
                if len(marks) < 2:
                    continue
                stamp, done = marks[-1]
                base = marks[0]
                for m in reversed(marks):   # the latest mark at least `window` before the newest
                    if stamp - m[0] >= self.window - 1e-3:   # (a pulse a hair early still counts)
                        base = m
                        break
                span = stamp - base[0]
                if span > 0:
                    rate += (done - base[1]) / span
                    spans.append(span)
        if not spans:
            return None
        return rate, sum(spans) / len(spans)
