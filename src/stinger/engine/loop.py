"""The load loop of one worker process: the open or closed executor on the engine core.

`Engine` is assembled from three parts, each in its own module:

* `engine.open_model.OpenModel`: every request fires at its intended time from
  the schedule, paced by the pure policy in `engine.pacing`;
* `engine.closed_model.ClosedModel`: N users send, wait, think, send again;
* `engine.sessions.SessionModel`: multi-turn sessions started by the open model's arrivals;
* `engine.core.EngineCore`: targets and pools, dispatch, connections,
  completion, timeouts, and the hand-off of each interval to the flush thread.

They are mixins of one object rather than objects holding each other, so the
per-request path reads its state with one attribute lookup, as before the split.
"""

from __future__ import annotations

from collections.abc import Callable

from stinger.engine.closed_model import ClosedModel
from stinger.engine.core import EngineCore
from stinger.engine.open_model import OpenModel
from stinger.engine.plan import WorkerPlan
from stinger.engine.sessions import SessionModel
from stinger.engine.steer import LoadChange


class Engine(SessionModel, OpenModel, ClosedModel, EngineCore):
    """Runs one worker's share of a plan on the running event loop (`await engine.run(t0)`)."""

    def __init__(self, plan: WorkerPlan, emit: Callable[[dict], None]) -> None:
        self._init_core(plan, emit)
        self._init_open()
        self._init_closed()
        self._init_sessions()

    def apply_change(self, at: float, change: LoadChange) -> None:
        """A live load change (`engine/steer.py`) taking effect at run-clock offset `at`."""
        if self.plan.open is not None:
            self._open_change(at, change.rate, change.lost, change.survivors)
        else:
            self._closed_change(at, change.users, change.lost, change.survivors)
