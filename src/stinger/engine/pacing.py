"""The pacing policy of the open model: given the clock and the next arrival, what to do.

Pure (no event loop, no clock of its own), so it is tested with a table, as
vegeta tests its `Pacer`. The open-model executor asks it once per wake-up,
after firing every request already due; the per-request check (`due <= now`:
fire) stays inline in the executor's loop, where a function call would cost
more than the comparison.

Why these numbers. uvloop's timers tick in whole milliseconds, and a timer
asked for less than a tick runs at once (on the next loop iteration):

* arrivals at least `SPIN_ABOVE` apart (rates up to 250/s per worker): sleep
  until about one tick (`TICK_MARGIN`) before the arrival, then *spin* — yield
  to the loop again and again (I/O is still served) until the arrival is due —
  so a low-rate request leaves on time; the spin costs at most a tick of CPU per
  arrival, which low rates can afford;
* closer arrivals: sleep at least one tick (`MIN_WAIT`), so the loop never
  spins continuously at high rates; a request then leaves at most ~1 ms late,
  which is measured (schedule lag) and counted in latency, as it must be.
"""

from __future__ import annotations

import enum

MIN_WAIT = 0.001       # the pump's shortest sleep: one uvloop timer tick
SPIN_ABOVE = 0.004     # arrivals at least this far apart (<= 250/s) are sent on time by a short spin
TICK_MARGIN = 0.001    # wake this long before such an arrival (one tick)


class Pace(enum.Enum):
    FIRE = "fire"      # the arrival is due: send it now
    SPIN = "spin"      # sleep `delay`, then spin until the arrival is due
    SLEEP = "sleep"    # sleep `delay`, then look again


def pace(now: float, due: float) -> tuple[Pace, float]:
    """(what to do, how long to sleep first) for the next arrival at `due` (same clock as `now`)."""
    wait = due - now
    if wait <= 0:
        return Pace.FIRE, 0.0
    if wait >= SPIN_ABOVE:
        return Pace.SPIN, wait - TICK_MARGIN
    return Pace.SLEEP, max(wait, MIN_WAIT)


def spin_over(now: float, due: float) -> bool:
    """A spin ends when the arrival is due."""
    return now >= due
