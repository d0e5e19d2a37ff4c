"""The closed-model executor: N users each send, wait for the answer, think, and send again.

Every 100 ms the user count is brought to the profile's (`UsersProfile`);
user u (global) belongs to worker u % W. A user's next request is intended
when its previous one ended plus the think time, so latency and service time
coincide in this model unless the request waits for a connection. A user
whose connect failed pauses `_CLOSED_RETRY_PAUSE` before retrying, so a dead
endpoint is not hammered in a tight loop.

A mixin of `engine.loop.Engine`, like `engine.open_model`.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - for mypy: the state this mixin reads is the core's
    from stinger.engine.core import EngineCore as _Core
    from stinger.engine.steer import Ownership
else:
    _Core = object

_USERS_EVERY = 0.1           # how often the user count follows the profile (s)
_CLOSED_RETRY_PAUSE = 0.01   # a closed-model user whose connect failed waits this long before retrying


class ClosedModel(_Core):
    def _init_closed(self) -> None:
        self.users_active = 0
        self.users_target = 0
        self.user_sent = 0
        self._closed_slots: list[tuple[int, int]] = []
        self._closed_seq = 0
        self._users_set: list[tuple[float, int]] = []   # (run-clock offset, users): load changes, in order
        self._owners: Ownership | None = None           # set once a worker is lost and its users rebalanced

    def _start_closed(self) -> None:
        self._call_at(self.t0, self._users_tick)

    def _next_closed_slot(self) -> tuple[int, int]:
        if self._closed_seq >= len(self._closed_slots):
            self._closed_slots = self.slots.closed_slots(self.user_sent, 4096)
            self._closed_seq = 0
        s = self._closed_slots[self._closed_seq]
        self._closed_seq += 1
        return s

    def _users_tick(self) -> None:
        """Bring the number of active users to the profile's count."""
        if self.stopping:
            return
        now = perf_counter()
        if now >= self.end or (self.plan.max_requests is not None and self.user_sent >= self.plan.max_requests):
            self.schedule_done = True
            self.sched_end = min(now, self.sched_end)
            self._maybe_finish()
            return
        self._follow_users(now)
        self._call_at(now + _USERS_EVERY, self._users_tick)

    def _users_now(self, t: float) -> int:
        """The users wanted at run-clock `t`: the profile's, or the last load change's since its instant."""
        profile = self.plan.closed.profile   # type: ignore[union-attr]  # a closed-model plan has `closed`
        total = profile.users_at(t)
        for at, users in self._users_set:
            if t >= at and (profile.duration is None or t < profile.duration):
                total = users
        return total

    def _closed_change(self, at: float, users: int | None = None, lost: int | None = None,
                       survivors: tuple[int, ...] = ()) -> None:
        """A load change at run-clock offset `at` (`engine/steer.py`): the user count from then on (users
        past it retire once their request in flight is answered), or a lost worker's users handed to
        the survivors; the count is followed at that instant."""
        if users is not None:
            self._users_set.append((at, users))
        if lost is not None:
            if self._owners is None:
                from stinger.engine.steer import Ownership

                self._owners = Ownership(self.plan.workers)
            self._owners.lose(0, lost, survivors)
        if not self.stopping and not self.schedule_done:
            self._call_at(self.t0 + at, self._users_tick_once)

    def _users_tick_once(self) -> None:
        """Bring the user count to the change's now, without starting another periodic tick."""
        if self.stopping or self.schedule_done:
            return
        self._follow_users(perf_counter())

    def _follow_users(self, now: float) -> None:
        total = self._users_now(now - self.t0)
        # this worker's share of the users: user u (global) belongs to worker u % W (a lost one's to the others)
        w, nw = self.plan.worker, self.plan.workers
        mine = len(range(w, total, nw)) if self._owners is None else self._owners.users(w, total)
        self.users_target = mine
        while self.users_active < mine:
            self.users_active += 1
            self._user_send(self.users_active - 1, now)

    def _user_send(self, user: int, intended: float) -> None:
        if self.stopping or self.schedule_done or intended >= self.end:
            self._user_retire()
            return
        if user >= self.users_target:
            self._user_retire()
            return
        if self.plan.max_requests is not None and self.user_sent >= self.plan.max_requests:
            self._user_retire()
            return
        self.user_sent += 1
        v, p = self._next_closed_slot()
        if intended < self.warm_end:
            self.scheduled_warm[v] += 1
        else:
            self.scheduled[v] += 1
        self._dispatch(intended, v, p, user)

    def _user_retire(self) -> None:
        self.users_active -= 1
        now = perf_counter()
        limit = self.plan.max_requests is not None and self.user_sent >= self.plan.max_requests
        if self.users_active <= 0 and (self.schedule_done or now >= self.end or limit):
            self.schedule_done = True
            self.sched_end = min(now, self.sched_end)
            self._maybe_finish()

    def _user_next(self, user: int, done: float, failed_connect: bool = False) -> None:
        think = self.plan.closed.think_time   # type: ignore[union-attr]  # (no assert on the per-request path)
        if failed_connect:
            think = max(think, _CLOSED_RETRY_PAUSE)
        if think > 0:
            self.loop.call_later(think, self._user_send, user, done + think)
        else:
            self._user_send(user, done)
