"""Multi-turn sessions: how a turn's request is named, what a session's end counts, and the summary's block.

A session (`--sessions FILE`, engine/sessions.py) is one conversation sent turn by turn: it starts at
its intended time from the open model's arrival process (`--rate` is sessions per second), and turn
k+1 is intended when turn k's answer ended plus the turn's think time. Each turn is an ordinary
request (scheduled, ok, failed by kind, dropped, in flight: the run's accounting identity holds over
turns), named by its `payload` id: `request_id(session, turn, last)` packs the worker's session
number, the turn's index and whether it is the conversation's last turn, so the flush thread can
group rows by turn (core/breakdown.py `TURN`) and close a session's totals on its last turn's row
without a field of its own in the row or the wire record.

A session ends one of four ways, counted per variant (`COUNTERS`, summed over workers):

- `sessions_done`: every turn answered OK;
- `sessions_failed`: a turn failed (any kind, or dropped at the in-flight bound); the session stops
  there (a history without that answer would not be the conversation), its later turns never sent;
- `sessions_cut`: the run ended first: the next turn's intended time was past the run's duration, a
  turn ended `unfinished` at the end of the drain, or the run was stopped;
- `turns_unsent`: the turns of failed and cut sessions that were never scheduled (neither counted as
  requests nor as dropped: they never had an intended time).

So `sessions = done + failed + cut` and, over a run's sessions, planned turns = scheduled turns +
`turns_unsent` (`session_block` states both).
"""

from __future__ import annotations

from typing import Any

__all__ = ["COUNTERS", "MAX_TURNS", "request_id", "session_block", "turn_of", "unpack"]

MAX_TURNS = 1000     # turns of one conversation (a longer one is a one-line error)
_STRIDE = 2048       # ids per session: turn * 2 + last; > 2 * MAX_TURNS
COUNTERS = ("sessions", "sessions_done", "sessions_failed", "sessions_cut", "turns_unsent")


def request_id(session: int, turn: int, last: bool) -> int:
    """The payload id of `session`'s turn `turn` (0-based); exact in a float64 row up to 2^42 sessions."""
    return session * _STRIDE + turn * 2 + (1 if last else 0)


def unpack(p: Any) -> tuple[Any, Any, Any]:
    """(session, turn, last) of payload id(s) `p` (ints or numpy arrays)."""
    return p // _STRIDE, (p % _STRIDE) // 2, (p % 2) == 1


def turn_of(p: Any) -> Any:
    return (p % _STRIDE) // 2


def session_block(counters: dict[str, int], scheduled_turns: int) -> dict[str, Any] | None:
    """A variant's `sessions` entry of summary.json from its summed counters; None for a run without sessions."""
    n = int(counters.get("sessions", 0))
    if not n:
        return None
    done, failed, cut = (int(counters.get(k, 0)) for k in ("sessions_done", "sessions_failed", "sessions_cut"))
    unsent = int(counters.get("turns_unsent", 0))
    return {"started": n, "done": done, "failed": failed, "cut": cut, "open": n - done - failed - cut,
            "turns_scheduled": scheduled_turns, "turns_unsent": unsent,
            "turns_planned": scheduled_turns + unsent}
