"""The output seam: everything a run shows or leaves behind reads records, never the engine.

An output receives three events, in order, on the output thread (never on the
coordinator's merge path, so a slow output never delays merging):

    start(info)          the run is about to begin (spec, variants, planned duration)
    interval(snapshot)   about twice a second: merged metrics so far, monitor values
    finish(result)       the run ended: summary, metrics, series, verdicts

Optional abilities are separate protocols (k6's outputs, STYLE.md habit 5):
`CapacityOutput` (a step judged, the search's report) and `VerdictOutput` (an
A/B verdict). An output that does not implement one is simply not told.

To add an output: write `outputs/NAME.py` (a class implementing `Output`), its
test, and one line in `REGISTRY` below.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Output(Protocol):
    name: str

    def start(self, info: Any) -> None: ...

    def interval(self, snapshot: Any) -> None: ...

    def finish(self, result: Any) -> None: ...


@runtime_checkable
class CapacityOutput(Protocol):
    def capacity_step(self, row: dict) -> None: ...

    def capacity_finish(self, report: dict) -> None: ...


@runtime_checkable
class VerdictOutput(Protocol):
    def verdict(self, verdict: Any, extra: dict) -> None: ...


# name -> "module:Class", imported on first use
REGISTRY: dict[str, str] = {
    "terminal": "stinger.outputs.terminal:TerminalOutput",
    "rundir": "stinger.outputs.rundir:RunDirOutput",
}
