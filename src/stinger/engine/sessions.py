"""Multi-turn sessions on the open model: a session starts at each arrival, its turns follow its answers.

With `--sessions FILE` (`WorkerPlan.payload.sessions`) the open model's arrivals are session starts
(`--rate` is sessions per second, a trace's offsets are session starts), and each arrival's payload
index picks a conversation (datasets/conversations.py). A session is its own little closed loop:

    turn 0 intended = the arrival's instant
    turn k+1 intended = turn k's done + the turn's think time

so a later turn's latency counts from its own intended send (previous done + think): a slow
answer delays the next turn's send, never the clock it is measured from, and a late timer is
schedule lag, as for any request. Turn k's request carries turns 0..k-1 and the answers the target
streamed for them (`Api.answer_text` of the api: the text of the answer's events, read on the event
loop when the turn ends: the next turn needs it), built by `messages_body`.

Each turn is an ordinary request (`_dispatch` with the session's slot as its `user`, like a closed
model user, so the engine calls back `_user_next` when it ends), counted as scheduled when it
fires, and bound by the in-flight limit (queued or dropped) like any other. Its payload id names
(session, turn, last) (core/sessions.py), its body is built when sent (never cached). How a session
ends (done, failed, cut by the run's end, and the turns it never sent) is counted per variant in the
interval counters, and the sessions still open at a stop are counted cut in the final flush.

The run's end waits for the sessions: the arrivals' end alone does not end the schedule while a
session waits out a think time (`sessions_open` holds `_maybe_finish`); a duration-bound run sends
no turn intended past its duration (that session is cut), a count-bound run (`--requests`: sessions)
ends when its last session does.

A mixin of `engine.loop.Engine`, like `engine.open_model`; nothing here runs unless the plan has sessions.
"""

from __future__ import annotations

import math
from time import perf_counter
from typing import TYPE_CHECKING, Any

from stinger.core.records import Kind
from stinger.core.sessions import request_id
from stinger.engine.columns import KIND, STATUS
from stinger.engine.pacing import Pace, pace, spin_over

if TYPE_CHECKING:  # pragma: no cover - for mypy: the state this mixin reads is the core's
    from stinger.engine.core import EngineCore as _Core
else:
    _Core = object

_PENDING_LIMIT = 1_000_000


class _Session:
    __slots__ = ("answers", "conv", "gid", "sent", "turn", "variant")

    def __init__(self, gid: int, conv: Any, variant: int) -> None:
        self.gid = gid
        self.conv = conv
        self.variant = variant
        self.turn = 0
        self.sent = False   # the current turn was scheduled (counted as a request)
        self.answers: list[str] = []


class SessionModel(_Core):
    def _init_sessions(self) -> None:
        pp = self.plan.payload
        if pp.sessions is None:
            return
        from stinger.datasets.conversations import messages_body

        self._messages_body = messages_body
        self._sessions: dict[int, _Session] = {}
        self._next_sid = 0
        self._starts_done = False
        self._think = pp.think_time
        self._bodies: dict[int, bytes] = {}
        self._sess_counts = {k: [0] * self.nvar for k in ("sessions", "sessions_done", "sessions_failed",
                                                          "sessions_cut", "turns_unsent")}
        self._answer_text = [_answer_reader(t) for t in self.targets]
        # the open model's pump starts sessions; the engine calls back when a turn ends (a session is a user)
        self._fire = self._start_session
        self._user_next = self._turn_ended   # type: ignore[method-assign]
        self._arrivals_done = self._session_arrivals_done
        self.slots.body = self._turn_body   # type: ignore[method-assign]

    # -- a session's life ---------------------------------------------------------------
    def _start_session(self, intended: float, v: int, conv: int) -> None:
        sid = self._next_sid
        self._next_sid += 1
        gid = sid * self.plan.workers + self.plan.worker   # unique over the run's workers
        s = _Session(gid, self.slots.dataset.conversations[conv], v)   # type: ignore[union-attr]
        self._sessions[sid] = s
        self.sessions_open += 1
        self._sess_counts["sessions"][v] += 1
        self._send_turn(sid, intended)

    def _send_turn(self, sid: int, intended: float) -> None:
        s = self._sessions.get(sid)
        if s is None:   # closed at a stop (the final flush counted it)
            return
        if self.stopping or intended >= self.end:
            self._close(sid, "sessions_cut")
            return
        v, k = s.variant, s.turn
        last = k == len(s.conv.turns) - 1
        p = request_id(s.gid, k, last)
        self._bodies[p] = self._messages_body(s.conv, s.answers, k)
        warm = intended < self.warm_end
        if warm:
            self.scheduled_warm[v] += 1
        else:
            self.scheduled[v] += 1
        s.sent = True
        if self.in_flight >= self.max_in_flight:
            if self.drop or len(self.pending) >= _PENDING_LIMIT:
                if warm:
                    self.dropped_warm[v] += 1
                else:
                    self.dropped[v] += 1
                if not self.drop:
                    self.overflow[v] += 1
                self._bodies.pop(p, None)
                self._close(sid, "sessions_failed")
                return
            self.pending.append((intended, v, p, sid))
            return
        self._dispatch(intended, v, p, sid)

    def _turn_due(self, sid: int, intended: float) -> None:
        """Send the turn when it is due, never before (a uvloop timer may fire up to a tick early):
        the open model's pacing policy, per session (engine/pacing.py)."""
        action, delay = pace(perf_counter(), intended)
        if action is Pace.FIRE:
            self._send_turn(sid, intended)
        elif action is Pace.SPIN:
            self.loop.call_later(delay, self._turn_spin, sid, intended)
        else:
            self.loop.call_later(delay, self._turn_due, sid, intended)

    def _turn_spin(self, sid: int, intended: float) -> None:
        if spin_over(perf_counter(), intended) or self.stopping:
            self._send_turn(sid, intended)
        else:
            self.loop.call_soon(self._turn_spin, sid, intended)

    def _turn_body(self, p: int) -> bytes:
        """The body `_send_turn` built for request `p` (read once, when its bytes are built)."""
        return self._bodies.pop(p)

    def _turn_ended(self, user: int, done: float, failed_connect: bool = False) -> None:
        """The engine's call when a session's turn ended (its row is the last one appended); `user`: the session."""
        sid = user
        s = self._sessions.get(sid)
        if s is not None:
            cols = self.cols
            row = cols.rows[-1]
            answer = None
            if row[KIND] == Kind.OK and row[STATUS] < 400 and cols.bodies is not None:
                answer = self._answer_text[s.variant](cols.bodies[-1])
            k = s.turn
            if answer is None:
                self._close(sid, "sessions_cut" if self.stopping or row[KIND] == Kind.UNFINISHED else
                            "sessions_failed")
            elif k == len(s.conv.turns) - 1:
                self._close(sid, "sessions_done")
            else:
                s.answers.append(answer)
                s.turn = k + 1
                s.sent = False
                think = s.conv.turns[k + 1].think
                nxt = done + (self._think if think is None else think)
                if nxt >= self.end or self.stopping:
                    self._close(sid, "sessions_cut")
                else:
                    self._turn_due(sid, nxt)
        if self.pending:
            self._drain_pending()
        elif self.schedule_done:
            self._maybe_finish()

    def _close(self, sid: int, how: str) -> None:
        """End session `sid` as `how`; its turns after the last one scheduled are unsent."""
        s = self._sessions.pop(sid)
        self.sessions_open -= 1
        counts = self._sess_counts
        counts[how][s.variant] += 1
        counts["turns_unsent"][s.variant] += len(s.conv.turns) - s.turn - (1 if s.sent else 0)
        if self._starts_done and self.sessions_open == 0 and not self.schedule_done:
            self.schedule_done = True
            self.sched_end = perf_counter()
        if self.schedule_done:
            self._maybe_finish()

    def _session_arrivals_done(self, now: float) -> None:
        """The last session has started. A duration-bound run's schedule ends at its duration as always
        (no turn is sent past it); a count-bound one when its last session ends (`_close`)."""
        self._starts_done = True
        if self.end != math.inf or self.sessions_open == 0:
            self.schedule_done = True
            self.sched_end = now
            self._maybe_finish()

    def _session_counters(self, final: bool) -> dict[str, list[int]]:
        """This interval's session counters for the flush; at the final one, the sessions still open
        (a stop: their turn in flight counted in flight, or waiting to send) are counted cut."""
        if final:
            for sid in list(self._sessions):
                self._close(sid, "sessions_cut")
        out = self._sess_counts
        self._sess_counts = {k: [0] * self.nvar for k in out}
        return out


def _answer_reader(target: Any):
    """The api's `answer_text(body) -> str | None` (None: the answer carried an error) of a live target."""
    inner = target
    for _ in range(3):   # a hooked target wraps the composed one (targets/hooks.py)
        api = getattr(inner, "api", None)
        if api is not None and hasattr(api, "answer_text"):
            return api.answer_text
        inner = getattr(inner, "target", None) or getattr(inner, "inner", None)
        if inner is None:
            break
    raise RuntimeError("sessions need a target whose answers are text (openai chat, anthropic)")
