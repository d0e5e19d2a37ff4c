"""Goodput: the requests that met every per-request objective ('ttft<200ms', 'tpot<30ms').

An objective bounds one request's value of a catalogue metric that has one
value per request (`ttft`, `ttfo`, `tpot`, `latency`, `service`, `ttfb`,
`server`, `output_tps`, ...; not `itl`, which has one per gap). A request is
*good* when it ended OK and every objective holds on its own values: judged
exactly, per request, on the flush thread where each request's values exist
(`engine/batch.py`), never from percentiles. A request without a value for an
objective's metric (a one-token answer has no `tpot`) has not met it: an
objective not shown to be met is not met, as with an SLO.

Each worker counts, per cell, its good requests and their output tokens; the
coordinator adds the counts (`core/metrics.py`). Per variant, summary.json's
`goodput` (`summarize` below):

    share         good / (ok + failed): of the requests that ended, the share that met all
    rate_rps      share of the OK requests that were good x achieved_rps (the run's rate of good answers)
    tokens_per_s  output tokens of good requests / OK requests x achieved_rps (token goodput)

An SLO can bound the share (`goodput>=95%`, `core/slo.py`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stinger.core.catalogue import BY_NAME, METRICS
from stinger.errors import UsageError

__all__ = ["Objective", "parse_objective", "parse_objectives", "summarize"]

_OPS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le,
                                                   ">": operator.gt, ">=": operator.ge}
_TIME_UNITS = {"": 1.0, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}   # -> ms
_TEXT = re.compile(r"\s*(?P<metric>[a-z_]+)\s*(?P<op><=|>=|<|>)\s*"
                   r"(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*(?P<unit>[a-zµ/]*)\s*", re.IGNORECASE)
# the metrics an objective may bound: one value per request, from the engine or a target
# (a session's metrics have one value per session, on its last turn's row: judged per request they would
# count a session's earlier turns as not meeting them)
SESSION_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS if m.name.startswith("session"))
ALLOWED: tuple[str, ...] = tuple(m.name for m in METRICS if m.per == "request" and m.of_ok
                                 and not m.name.endswith("_ov") and m.name not in SESSION_METRICS)
_EXAMPLE = "expected e.g. 'ttft<200ms', 'tpot<30ms', 'latency<=2s' or 'output_tps>20'"


@dataclass(frozen=True, slots=True)
class Objective:
    """One per-request objective; `threshold` in the metric's stored unit (microseconds for times)."""

    metric: str
    op: str
    threshold: float
    text: str

    def holds(self, values):
        """Where `values` (stored units; NaN: none) meet it: a bool or a boolean array (NaN never meets it)."""
        return _OPS[self.op](values, self.threshold)


def _bad(text: object, why: str, expected: str = _EXAMPLE) -> UsageError:
    # the whole line fits a spec error (spec/loading.py caps a message): the user's text is shown briefly
    shown = repr(text)
    shown = shown if len(shown) <= 40 else shown[:30] + "...'"
    return UsageError(f"invalid goodput objective {shown}: {why}; {expected}")


def parse_objective(text: str) -> Objective:
    """'ttft<200ms' -> Objective('ttft', '<', 200000.0 µs). A bare number of a time is milliseconds."""
    if not isinstance(text, str):
        raise _bad(text, "expected a string")
    m = _TEXT.fullmatch(text)
    if m is None:
        raise _bad(text, "expected <metric> <op> <value> with op one of <, <=, >, >=")
    name, op, value, unit = m.group("metric").lower(), m.group("op"), float(m.group("num")), m.group("unit").lower()
    if name not in BY_NAME and name.endswith("_ms"):   # summary.json's key (ttft_ms) names the metric too
        name = name[:-3]
    if name not in ALLOWED:
        why = ("it has one value a session, goodput objectives are per request" if name in SESSION_METRICS
               else "it has many values a request (one per gap), an objective needs one"
               if name in BY_NAME else "unknown metric")
        raise _bad(text, f"{name[:30]!r}: {why}", f"expected one of {', '.join(ALLOWED)}")
    metric = BY_NAME[name]
    if metric.stored_unit == "us":
        if unit not in _TIME_UNITS:
            raise _bad(text, f"{name} is a time: it takes us, ms, s or m, not {unit!r}")
        threshold = value * _TIME_UNITS[unit] * metric.scale
    else:
        if unit not in ("", metric.shown_unit.lower(), "/s" if metric.shown_unit.endswith("/s") else ""):
            raise _bad(text, f"{name} is in {metric.shown_unit}: give a bare number, not {unit!r}")
        threshold = value * metric.scale
    return Objective(name, op, threshold, text.strip())


def parse_objectives(texts: Sequence[str]) -> tuple[Objective, ...]:
    return tuple(parse_objective(t) for t in texts)


def summarize(objectives: Sequence[Objective], good: int, good_tokens: int, ok: int, failed: int,
              achieved_rps: float) -> dict:
    """summary.json's `goodput` of one variant (see the module docstring)."""
    ended = ok + failed
    per_ok = good / ok if ok else 0.0
    return {
        "objectives": [o.text for o in objectives],
        "good": good,
        "of": ended,
        "share": round(good / ended, 6) if ended else None,
        "rate_rps": round(per_ok * achieved_rps, 3),
        "output_tokens": good_tokens,
        "tokens_per_s": round(good_tokens / ok * achieved_rps, 3) if ok else 0.0,
    }
