"""A worker's proof of life (`scale.base.Alive`), sent by a small thread of the worker's process.

Records come from the flush thread once an interval, and a flush may legitimately take long
(the final one waits for big bodies to be judged). So liveness is judged on this instead: a
callback on the worker's event loop stamps the time every `EVERY / 2` s, and a thread sends a
pulse every `EVERY` s while that stamp is fresh. A stopped process (SIGSTOP), a held GIL or a
wedged loop sends none; the coordinator declares such a worker lost past its deadline
(`scale.coordinator`). The thread, not the loop, does the sending, so a pipe that is full for a
moment (the coordinator busy) never stalls the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

EVERY = 0.5      # s between pulses; the coordinator's deadline is many of these


class Pulse:
    """Start on (or for) a running event loop; `stop()` when the worker has ended."""

    def __init__(self, loop: Any, send: Callable[[], None], every: float = EVERY) -> None:
        self.loop = loop
        self.send = send
        self.every = every
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
            self.loop.call_later(self.every / 2, self._tick)

    def _run(self) -> None:
        while not self._stopped.wait(self.every):
            if time.monotonic() - self.stamp <= 2 * self.every:
                try:
                    self.send()
                except (OSError, ValueError):   # the pipe or queue is gone: the worker is ending
                    return

    def stop(self) -> None:
        self._stopped.set()
