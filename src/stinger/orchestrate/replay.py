"""The arrival offsets of a trace load: a trace file's, or the payload's own captured arrival times, time-scaled.

This module owns turning `load.shape.trace` into the offsets the open-model
schedule fires at (`core.schedule.Schedule(trace=...)`):

* a file of timestamps or gaps (`core.schedule.trace_schedule`);
* `capture` (`--replay-arrivals`): the arrival times of the run's own payload, when
  its format records them (the `TimedFormat` ability of a dataset format's class,
  datasets/base.py: a capture of production traffic - "send last Tuesday's
  production traffic to variant B" - or a Mooncake-style LLM trace, datasets/mooncake.py,
  whose requests sharing block ids share prompt prefixes). The format gives the offsets in the order its
  dataset sends the bodies, and the run's payload order is sequential (the spec
  checks it), so the k-th scheduled request, at offset k, sends captured request
  k: request i leaves at its own captured instant, whichever worker sends it (a
  worker takes every N-th id of the same schedule) and to every variant of a
  paired A/B at once.

`speed` divides every offset: 2 replays the trace twice as fast, 0.5 at half speed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stinger.errors import SpecError

CAPTURE = "capture"


def payload_offsets(path: str, format: str | None, speed: float = 1.0) -> np.ndarray:
    """Arrival offsets (seconds from the first record) of the payload at `path` in `format`, divided by
    `speed`; a one-line SpecError when that format records no arrival times."""
    from stinger.datasets.base import TimedFormat
    from stinger.datasets.formats import format_class, timed_formats

    cls = format_class(format) if format else None
    if not isinstance(cls, TimedFormat):
        timed = timed_formats()
        raise SpecError(f"load.shape.trace: capture replays the arrival times the payload's records carry, but "
                        f"payload.format {format or 'is not set'}{' records none' if format else ''}; expected "
                        f"payload.data with payload.format: {' or '.join(timed) or 'a timed format'}")
    offsets: np.ndarray = cls.arrival_offsets(path)
    return offsets / speed


def trace_offsets(load: Any, payload: Any) -> np.ndarray:
    """The offsets of `load.shape.trace` (a file, or `capture` with the payload's), time-scaled by its speed."""
    shape = load.shape
    speed = shape.speed or 1.0
    if shape.trace == CAPTURE:
        if payload is None or not payload.data:
            raise SpecError("load.shape.trace: capture replays the arrival times the payload's records carry; "
                            "expected payload.data with a format that records them (--data DIR --format capture)")
        return payload_offsets(payload.data, payload.format, speed)
    from stinger.core.schedule import trace_schedule

    return trace_schedule(shape.trace) / speed
