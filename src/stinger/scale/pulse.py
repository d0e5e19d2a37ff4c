"""A worker's proof of life (`scale.base.Alive`), sent by a small thread of the worker's process.

Records come from the flush thread once an interval, and a flush may legitimately take long
(the final one waits for big bodies to be judged). So liveness is judged on this instead: a
callback on the worker's event loop stamps the time every `EVERY / 2` s, and a thread sends a
pulse every `EVERY` s while that stamp is fresh. A stopped process (SIGSTOP), a held GIL or a
wedged loop sends none; the coordinator declares such a worker lost past its deadline
(`scale.coordinator`). The thread, not the loop, does the sending, so a pipe that is full for a
moment (the coordinator busy) never stalls the event loop.

Each pulse also carries the worker's count of ended requests and when it was read (`count`, the
engine's `completed()`: two reads of existing state, nothing added per request), so the coordinator
can show an "achieved now" rate over the last fraction of a second (`scale.now_rate`) instead of the
last complete interval. That is why pulses come every `EVERY` = 0.1 s, not once per liveness period:
a rate change shows within a few pulses. Liveness is judged as before, on `LIVE`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

EVERY = 0.1      # s between pulses (each carries the ended count: the live rate's resolution)
LIVE = 0.5       # s: the loop's stamp is renewed every LIVE / 2; a pulse goes only while it is this fresh
Mark = tuple[float, int] | None   # (time.monotonic() of the read, requests ended so far), or None


class Pulse:
    """Start on (or for) a running event loop; `stop()` when the worker has ended."""

    def __init__(self, loop: Any, send: Callable[[Mark], None], every: float = EVERY,
                 count: Callable[[], int] | None = None, live: float = LIVE) -> None:
        self.loop = loop
        self.send = send
        self.every = every
        self.live = max(live, every)
        self.count = count
        self.stamp = time.monotonic()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stinger-pulse", daemon=True)

    def start(self) -> Pulse:
        self.loop.call_soon_threadsafe(self._tick)
        self._thread.start()
        return self

    def _tick(self) -> None:
        self.stamp = time.monotonic()
        if not self._stopped.is_set():
            self.loop.call_later(self.live / 2, self._tick)

    def mark(self) -> Mark:
        if self.count is None:
            return None
        return time.monotonic(), self.count()

    def _run(self) -> None:
        while not self._stopped.wait(self.every):
            if time.monotonic() - self.stamp <= self.live:
                try:
                    self.send(self.mark())
                except (OSError, ValueError):   # the pipe or queue is gone: the worker is ending
                    return

    def stop(self) -> None:
        self._stopped.set()
