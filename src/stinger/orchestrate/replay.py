"""The arrival offsets of a trace load: a trace file's, or a SageMaker Data Capture payload's, time-scaled.

This module owns turning `load.shape.trace` into the offsets the open-model
schedule fires at (`core.schedule.Schedule(trace=...)`):

* a file of timestamps or gaps (`core.schedule.trace_schedule`);
* `capture` (`--replay-arrivals`): the arrival times of the run's own payload,
  SageMaker Data Capture files (`payload.format: capture`) - "send last
  Tuesday's production traffic to variant B". The payload is read in the order
  `datasets.sagemaker_capture.CaptureDataset` reads it (arrival order), and the
  run's payload order is sequential (the spec checks it), so the k-th scheduled
  request, at offset k, sends captured request k: request i leaves at its own
  captured instant, whichever worker sends it (a worker takes every N-th id of
  the same schedule) and to every variant of a paired A/B at once.

`inferenceTime` has one-second resolution in most captures: when every captured
time is a whole second, the requests sharing one second are spread evenly
across it (`spread_ties`) rather than replayed as a burst at its start; finer
timestamps are replayed as they are.

`speed` divides every offset: 2 replays the trace twice as fast, 0.5 at half speed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from stinger.errors import SpecError

CAPTURE = "capture"


def capture_offsets(path: str, speed: float = 1.0) -> np.ndarray:
    """Arrival offsets (seconds from the first captured request) of the captures under `path`,
    in the order the capture dataset sends their bodies, divided by `speed`."""
    return _offsets(path, _stamp(path)) / speed


def _stamp(path: str) -> tuple:
    """What identifies the capture's content cheaply: every file's size and mtime (preflight and
    planning both ask; a capture of a million lines is read once)."""
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists())


@lru_cache(maxsize=2)
def _offsets(path: str, stamp: tuple) -> np.ndarray:
    from stinger.datasets.sagemaker_capture import read_capture, spread_ties

    capture = read_capture([path])
    if not capture.requests:
        raise SpecError(f"load.shape.trace: capture: {path} holds no captured inputs "
                        f"({capture.skipped} output-only records); expected Data Capture files with endpointInput")
    if all(float(r.time).is_integer() for r in capture.requests):
        capture = spread_ties(capture)
    out = np.array([r.offset for r in capture.requests], dtype=np.float64)
    out.flags.writeable = False   # cached: shared by every caller
    return out


def trace_offsets(load: Any, payload: Any) -> np.ndarray:
    """The offsets of `load.shape.trace` (a file, or `capture` with the payload's), time-scaled by its speed."""
    shape = load.shape
    speed = shape.speed or 1.0
    if shape.trace == CAPTURE:
        if payload is None or not payload.data or payload.format != CAPTURE:
            raise SpecError("load.shape.trace: capture replays the arrival times of a SageMaker Data Capture "
                            "payload; expected payload.data with payload.format: capture (--data DIR --format capture)")
        return capture_offsets(payload.data, speed)
    from stinger.core.schedule import trace_schedule

    return trace_schedule(shape.trace) / speed
