"""Steering a run while it runs: the user's control (`RunControl`) and the coordinator's half (`Steering`).

`RunControl` is what a user holds (the Python API's `stinger.RunControl`, the CLI's `--control -`):
thread-safe, it queues asks (`set_rate`, `set_users`, `stop`) that the coordinator's loop takes
every poll (0.1 s). `Steering` turns each into a `engine.steer.LoadChange` at an instant a little
in the future (`lead`: long enough for the message to reach every worker first, so all apply it at
the same run-clock instant), sends it through the backend (`scale.base.Steerable`) and records it
as a load-change event: {"t": run-clock s, "kind": "load_change", "rate"|"users": ..., "source":
"control"|"rebalance"}. A change that cannot apply (the wrong model, a trace, a backend that cannot
steer) is refused with one line and the run goes on. The coordinator also asks it to hand a lost
worker's share to the survivors (`--on-worker-loss rebalance`): the same mechanism, source
"rebalance".
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from stinger.errors import UsageError

ON_WORKER_LOSS = ("stop", "continue", "rebalance")
_LEAD_MIN = 0.2   # s ahead a change is named for (at least; a backend's start delay bounds it too)


@dataclass(frozen=True, slots=True)
class _Ask:
    rate: float | None = None
    users: int | None = None
    at: float | None = None     # run-clock s (None: as soon as every worker can apply it)
    shown: str = ""             # the ask as the user wrote it, for a refusal


def _rate(value: Any) -> float:
    from stinger.core.units import parse_rate

    try:
        rate = parse_rate(value) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise UsageError(f"rate {value!r}: expected a rate such as 200/s or a number of requests per second") from None
    if isinstance(value, bool) or not math.isfinite(rate) or rate <= 0:
        raise UsageError(f"rate {value!r}: expected a rate > 0 requests per second")
    return rate


def _users(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"users {value!r}: expected a whole number of users >= 0")
    return value


def _at(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise UsageError(f"at {value!r}: expected seconds since the run's start (a number >= 0)")
    return float(value)


class RunControl:
    """Change a running test's load, or stop it, from any thread (pass it as `stinger.run(spec, control=c)`).

    `set_rate("200/s")` (open model) and `set_users(20)` (closed model) take effect at `at` s since the
    run's start, or as soon as every worker can apply it; `stop()` ends the run early and cleanly (its
    results complete, the exit code of a normal end). A value that is wrong in itself raises a one-line
    `UsageError` here; one the run cannot apply (a rate in a closed-model run) is refused by the run, one
    line to `on_refused` (standard error by default), and the run goes on. `events` lists the changes
    applied so far."""

    def __init__(self, on_refused: Callable[[str], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._asks: list[_Ask] = []
        self._stop = threading.Event()
        self._events: list[dict] = []
        self.on_refused = on_refused

    def set_rate(self, rate: float | str, at: float | None = None) -> None:
        self._put(_Ask(rate=_rate(rate), at=_at(at), shown=f"rate {rate}"))

    def set_users(self, users: int, at: float | None = None) -> None:
        self._put(_Ask(users=_users(users), at=_at(at), shown=f"users {users}"))

    def stop(self) -> None:
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def events(self) -> list[dict]:
        with self._lock:
            return [dict(e) for e in self._events]

    def _put(self, ask: _Ask) -> None:
        with self._lock:
            self._asks.append(ask)

    def take(self) -> list[_Ask]:
        """The asks queued since the last take (the coordinator's)."""
        with self._lock:
            asks, self._asks = self._asks, []
        return asks

    def applied(self, event: dict) -> None:
        with self._lock:
            self._events.append(dict(event))

    def refuse(self, line: str) -> None:
        if self.on_refused is not None:
            self.on_refused(line)
            return
        try:
            sys.stderr.write(f"stinger: control: {line}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    # -------------------------------------------------------------- the CLI's JSON lines
    def apply_line(self, line: str) -> None:
        """One line of `--control -`: {"rate": "200/s"} | {"users": 20} (optional "at": s since the
        start) | {"stop": true}. A line that is wrong is refused with one line; the run goes on."""
        line = line.strip()
        if not line:
            return
        try:
            msg = json.loads(line)
        except ValueError:
            self.refuse(f"{line[:80]!r} is not JSON; expected a line such as {{\"rate\": \"200/s\"}}, "
                        "{\"users\": 20} or {\"stop\": true}")
            return
        try:
            if not isinstance(msg, dict):
                raise UsageError("expected a JSON object such as {\"rate\": \"200/s\"}")
            unknown = sorted(set(msg) - {"rate", "users", "at", "stop"})
            if unknown:
                raise UsageError(f"unknown key {unknown[0]!r}; expected rate, users, at or stop")
            if msg.get("stop") is True:
                self.stop()
                return
            if ("rate" in msg) == ("users" in msg):
                raise UsageError("expected exactly one of rate or users (or {\"stop\": true})")
            if "rate" in msg:
                self.set_rate(msg["rate"], msg.get("at"))
            else:
                self.set_users(msg["users"], msg.get("at"))
        except UsageError as exc:
            self.refuse(str(exc))

    def follow(self, stream: TextIO) -> threading.Thread:
        """Read `stream` line by line on a daemon thread until its end (the CLI's standard input).

        Read with `os.read` on a duplicate of its descriptor, never through the file object: a forked
        worker's start-up closes `sys.stdin` (multiprocessing does), and a thread blocked inside the file
        object's read holds its lock, which the child inherits held, so the child would wait forever."""
        fd = os.dup(stream.fileno())

        def read() -> None:
            buf = b""
            try:
                while chunk := os.read(fd, 65536):
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        self.apply_line(line.decode("utf-8", "replace"))
                if buf:
                    self.apply_line(buf.decode("utf-8", "replace"))
            except OSError:   # the stream closed under us: the run goes on without it
                pass
            finally:
                os.close(fd)
        t = threading.Thread(target=read, name="stinger-control", daemon=True)
        t.start()
        return t


class Steering:
    """The coordinator's half: asks -> load changes through the backend, and their events."""

    def __init__(self, backend: Any, plans: Any, started_at: float, control: RunControl | None,
                 lead: float) -> None:
        from stinger.scale.base import Steerable

        plan = plans[0]
        self.backend = backend
        self.control = control
        self.started_at = started_at
        self.lead = max(_LEAD_MIN, lead)
        self.open = plan.open is not None
        self.trace = self.open and plan.open.trace is not None
        self.profile = plan.open.profile if self.open else plan.closed.profile
        self.duration = plan.duration
        self.steerable = isinstance(backend, Steerable)
        self.events: list[dict] = []
        self.last_at = 0.0
        self.set: list[tuple[float, float]] = []   # (t, rate or users) of the changes so far

    def level(self, t: float) -> float | None:
        """The offered rate (open) or users (closed) at run-clock `t`, changes included (None: a trace's)."""
        if self.profile is None:
            return None
        value = float(self.profile.rate_at(t) if self.open else self.profile.users_at(t))
        for at, v in self.set:
            if t >= at:
                value = v
        return value

    def _when(self, now: float, at: float | None) -> float:
        t = max(now + self.lead, self.last_at + 1e-3, at if at is not None else 0.0)
        self.last_at = t
        return t

    def look(self, now: float) -> bool:
        """Apply the asks queued since the last look (`now`: run-clock s); True when a stop was asked."""
        if self.control is None:
            return False
        for ask in self.control.take():
            why = self._refusal(ask, now)
            if why is not None:
                self.control.refuse(f"{ask.shown}: {why}; the run goes on unchanged")
                continue
            from stinger.engine.steer import LoadChange

            t = self._when(now, ask.at)
            self.backend.change(LoadChange(at=self.started_at + t, rate=ask.rate, users=ask.users))
            value = ask.rate if ask.rate is not None else ask.users
            assert value is not None
            self.set.append((t, float(value)))
            key = "rate" if ask.rate is not None else "users"
            self._event({"t": round(t, 3), "kind": "load_change", key: value, "source": "control"})
        return self.control.stop_requested

    def _refusal(self, ask: _Ask, now: float) -> str | None:
        if not self.steerable:
            return "this worker backend cannot change a run's load"
        if ask.rate is not None and not self.open:
            return "a closed-model run has users, not a rate; expected {\"users\": N}"
        if ask.users is not None and self.open:
            return "an open-model run has a rate, not users; expected {\"rate\": \"N/s\"}"
        if self.trace:
            return "a trace replay's arrivals are the trace's; its rate cannot be changed"
        if self.duration is not None and max(now + self.lead, ask.at or 0.0) >= self.duration:
            return f"the run ends at {self.duration:g} s, before the change could apply"
        return None

    def rebalance(self, lost: int, survivors: list[int], now: float) -> float | None:
        """Hand lost worker `lost`'s share to `survivors` from a little after `now`; its run-clock instant
        (None when it cannot: no survivor, a backend that cannot steer, the schedule over)."""
        if not survivors or not self.steerable or (self.duration is not None and now + self.lead >= self.duration):
            return None
        from stinger.engine.steer import LoadChange

        t = self._when(now, None)
        self.backend.change(LoadChange(at=self.started_at + t, lost=lost, survivors=tuple(survivors),
                                       source="rebalance"))
        key = "rate" if self.open else "users"
        level = self.level(t)
        self._event({"t": round(t, 3), "kind": "load_change",
                     key: level if self.open or level is None else int(level),
                     "source": "rebalance", "worker": lost, "survivors": len(survivors)})
        return t

    def _event(self, event: dict) -> None:
        self.events.append(event)
        if self.control is not None:
            self.control.applied(event)
