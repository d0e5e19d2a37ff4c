"""Where a variant's server time comes from: one rule, table-tested (tests/core/test_server_time_rule.py).

A run can know the server's own time three ways, from the most to the least exact:

    HEADER     the endpoint's response header (Server-Timing, or --server-time HEADER[:unit]):
               one value per request, recorded by the engine beside latency
    METRICS    a monitor that reads the model server's metrics (a Prometheus preset): the
               difference of cumulative figures over the scrapes that bracket the window
    AFTER_RUN  a block a target's coordinator half reads after the load (a cloud endpoint's
               own per-minute metrics): a mean and a count, no quantiles

`choose` takes the reading of the lowest origin that counted something (count > 0); a reading
with no requests says nothing and never hides a later one. Pure data: no monitor, no vendor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stinger.core.summary import Hist


class Origin(IntEnum):
    """Where a reading came from; a lower value is preferred."""

    HEADER = 0
    METRICS = 1
    AFTER_RUN = 2


@dataclass(frozen=True, slots=True)
class ServerTimeReading:
    """One variant's server time as one source measured it; `source` says where, for a person."""

    origin: Origin
    source: str
    hist: Hist

    @property
    def count(self) -> int:
        return self.hist.count


def choose(readings: Iterable[ServerTimeReading | None]) -> ServerTimeReading | None:
    """The rule: the reading of the lowest origin with a count above 0 (the first given, among equals);
    None when no reading counted anything."""
    best: ServerTimeReading | None = None
    for r in readings:
        if r is not None and r.count > 0 and (best is None or r.origin < best.origin):
            best = r
    return best


# the Prometheus presets that name a server-time metric, told by their registry (monitors/presets.py)
# when it is imported: the note lists them from the table itself, never from a copy that goes stale
_PRESETS: list[str] = []


def register_presets(names: Iterable[str]) -> None:
    _PRESETS[:] = list(dict.fromkeys([*_PRESETS, *names]))


def server_time_note(missing: Sequence[str], why: str) -> str:
    """The note for variants with no server time: why, and where it could come from."""
    presets = f" ({', '.join(_PRESETS)})" if _PRESETS else ""
    return (f"no server time for {', '.join(missing)}: {why}. It could come from a response header "
            f"(Server-Timing, or --server-time HEADER[:unit]) or from the model server's metrics: "
            f"--monitor prometheus=URL:PRESET{presets}")


def p50_at_most(hist: Hist | None) -> float | None:
    """The p50, or when only its bounds are known their upper end (None when unbounded above): a figure
    that is surely not below the server's median, for "the server's p50 was below the lag"."""
    if hist is None or not hist.count:
        return None
    if hist.p50 is not None:
        return hist.p50
    b = (hist.bounds or {}).get("p50")
    return None if b is None else b.le
