"""A block of a run's summary that a coordinator half adds after the load (pure data).

`AfterRun.after_run` (targets/abilities.py) returns one: summary.json holds `data` under
`key` (a cloud endpoint's block: its own metrics beside client latency, its instances, the cost),
and the server time it read for variants that measured none per request (`ServerTimeReading`).
What else a block carries for the outputs (tables and lines to render, notes for the verdict)
comes with the typed summary (issue 17, package E).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ServerTimeReading:
    """A variant's server time as an endpoint's own metrics gave it after the run: a mean over
    `count` requests (period means weighted by invocations: no quantiles), and where it came from."""

    variant: str
    count: int
    mean_ms: float
    source: str


@dataclass(frozen=True)
class Block:
    """One summary key and its JSON-ready contents."""

    key: str
    data: Mapping[str, Any]
    server_time: tuple[ServerTimeReading, ...] = ()
