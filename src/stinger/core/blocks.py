"""A block of a run's summary that a coordinator half adds after the load (pure data).

`AfterRun.after_run` (targets/abilities.py) returns one: summary.json holds `data` under
`key` (a cloud endpoint's block: its own metrics beside client latency, its instances, the cost).
A block may also carry server-time readings (`core.server_time`: the summary chooses again with
them, by the one rule) and warnings for the run's list. Tables and lines to render and notes for
the verdict are still the vendor's own (issue 17 leaves them for later).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stinger.core.server_time import ServerTimeReading


@dataclass(frozen=True)
class Block:
    """One summary key and its JSON-ready contents."""

    key: str
    data: Mapping[str, Any]
    # what the summary takes from a block when it is added (not written under its key: compared by `data`)
    server_time: Mapping[str, ServerTimeReading] = field(default_factory=dict, compare=False)   # by variant
    warnings: tuple[str, ...] = field(default=(), compare=False)
