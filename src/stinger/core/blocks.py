"""A block of a run's summary that a coordinator half adds after the load (pure data).

`AfterRun.after_run` (targets/abilities.py) returns one: summary.json holds `data` under
`key` (a cloud endpoint's block: its own metrics beside client latency, its instances, the cost).
What else a block carries for the outputs (tables and lines to render, server-time
readings, notes for the verdict) comes with the typed summary (issue 17, package E).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Block:
    """One summary key and its JSON-ready contents."""

    key: str
    data: Mapping[str, Any]
