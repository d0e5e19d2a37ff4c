"""Service-level objectives: 'p95 < 300ms', 'error_rate < 1%' parsed and judged.

This module owns the SLO grammar and the verdict of one SLO against one
variant summary (the dict built by `stinger.core.metrics`). Thresholds are
normalised when parsed, so judging is a plain comparison:

    metric                            unit of `threshold`   summary field
    p50 p90 p95 p99 p99.9 mean        ms                    latency_ms[<key>]
      min max stddev
    server.<latency metric>           ms                    server_time_ms[<key>]
    service.<latency metric>          ms                    service_time_ms[<key>]
    <name>.<latency metric>           ms                    the summary key of any histogram
                                                            metric in `core.catalogue` (ttfb.,
                                                            lag., queue., ttft., ...)
    error_rate (alias errors)         fraction 0..1         error_rate
    goodput                           fraction 0..1         goodput.share (core/goodput.py)
    achieved_ratio                    fraction 0..1         throughput.ratio
    throughput (alias rps)            req/s                 throughput.achieved_rps

Latency values take a unit (us, ms, s, m); a bare number means milliseconds,
as in k6. Fractions take '%' or a plain number in [0, 1]. Rates take '/s',
'/m' or a bare number of req/s. A bare `1` for a fraction (`error_rate<1`) is
refused: it reads as 100 % (an error-rate SLO that cannot fail) though it was
almost surely meant as 1 %; the error asks for `1%` or `0.01` (`1.0` and `100%`
say 100 % unambiguously).

An SLO whose metric the summary does not have (no server time was measured,
no request succeeded so there is no latency) *fails*, with `observed=None` and
a note saying why: an objective that could not be checked has not been met,
and passing it silently would turn a missing measurement into a green build.

Bounded values. Some figures are known only to lie in an interval: a server
time read from a Prometheus histogram has quantiles somewhere inside a bucket
(`server_time_ms["bounds"]["p95"] = {"ge": 0.0, "le": 4.6}`, see
`monitors/prometheus.py`). Such an SLO is judged on the whole interval: it
*passes* when every value in it meets the objective, *fails* when none does,
and otherwise it *cannot tell*. "Cannot tell" fails, for the same reason as a
missing figure (an objective not shown to be met is not met), but it says so:
the result carries the bound, `undecided=True`, and a note naming the interval
and what would decide it (finer buckets around the threshold, or a per-request
Server-Timing header).

The same rule for the error rate of a run that was stopped (Ctrl-C, SIGTERM, an
abort rule, a decided sequential test) with requests still in flight: their
outcome is unknown, so the objective is judged with them counted as failed
(for an upper bound such as `error_rate<1%`; as succeeded for a lower bound),
and the note says how many there were. A run stopped while most of its requests
were unanswered cannot pass `error_rate<1%` on the few that had ended. (A run
that ends normally has none in flight: what the drain did not see answered is
`unfinished`, a failure counted in the error rate itself.)
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stinger.core.catalogue import BY_NAME, METRICS
from stinger.errors import UsageError

__all__ = ["DEFAULT_CAPACITY_SLOS", "PERCENTILES", "Slo", "SloResult", "judge", "parse_slo", "slo_unit"]

DEFAULT_CAPACITY_SLOS = ("p95<300ms", "error_rate<1%", "achieved_ratio>=0.95")

# percentile keys the metrics summary reports
PERCENTILES = ("p50", "p90", "p95", "p99", "p99.9")
_LATENCY_STATS = PERCENTILES + ("mean", "min", "max", "stddev")
# "<metric>.<stat>" judges any histogram metric of the catalogue; a bare stat judges latency
_SECTIONS = {"": BY_NAME["latency"].summary_key,
             **{f"{m.name}.": m.summary_key for m in METRICS if m.name != "latency"}}
_FRACTIONS = {"error_rate": "error_rate", "errors": "error_rate", "achieved_ratio": "achieved_ratio",
              "goodput": "goodput"}
_RATES = {"throughput": "throughput", "rps": "throughput"}

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_TIME_UNITS = {"": 1.0, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_RATE_UNITS = {"": 1.0, "/s": 1.0, "/sec": 1.0, "rps": 1.0, "/m": 1 / 60, "/min": 1 / 60}

_SLO = re.compile(
    r"\s*(?P<metric>[a-z_][a-z0-9_.]*?)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*(?P<unit>%|[a-zµ/]*)\s*",
    re.IGNORECASE,
)

_EXAMPLE = "expected e.g. 'p95<300ms', 'error_rate<1%', 'throughput>=100/s'"


@dataclass(frozen=True, slots=True)
class Slo:
    """One objective. `threshold` is normalised: ms for latencies, a fraction for rates, req/s for throughput."""

    metric: str
    op: str
    threshold: float
    text: str

    @property
    def unit(self) -> str:
        return slo_unit(self.metric)

    def holds(self, observed: float) -> bool:
        return _OPS[self.op](observed, self.threshold)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class SloResult:
    """The verdict of one SLO; `observed` is None when the metric was not measured (then it failed).

    `bound` is (low, high) when the metric is known only to lie in that interval (`observed` is then
    None); `undecided` when that interval straddles the threshold (then it failed, and says so).
    """

    slo: Slo
    observed: float | None
    passed: bool
    note: str = ""
    bound: tuple[float, float] | None = None
    undecided: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = {
            "slo": self.slo.text,
            "metric": self.slo.metric,
            "op": self.slo.op,
            "threshold": self.slo.threshold,
            "unit": self.slo.unit,
            "observed": self.observed,
            "passed": self.passed,
            "note": self.note,
        }
        if self.bound is not None:
            lo, hi = self.bound
            out["bound"] = {"ge": lo, "le": hi if math.isfinite(hi) else None}
            out["undecided"] = self.undecided
        return out


def slo_unit(metric: str) -> str:
    """The unit of a normalised metric name: 'ms', 'fraction' or 'req/s'."""
    if metric in ("error_rate", "achieved_ratio", "goodput"):
        return "fraction"
    if metric == "throughput":
        return "req/s"
    return "ms"


def _split_prefix(name: str) -> tuple[str, str]:
    """'server.p95' -> ('server.', 'p95'); 'p99.9' -> ('', 'p99.9')."""
    head, dot, stat = name.partition(".")
    if dot and f"{head}." in _SECTIONS:
        return f"{head}.", stat
    return "", name


def _bad(text: str, why: str) -> UsageError:
    return UsageError(f"invalid SLO {text!r}: {why}; {_EXAMPLE}")


def _ambiguous(text: str, name: str, op: str) -> UsageError:
    """A bare 1 for a fraction: 100 % as written, but almost surely meant as 1 %."""
    return UsageError(f"invalid SLO {text!r}: {name} {op} 1 is ambiguous (1 % or 100 %?); "
                      f"write {name}{op}1% or {name}{op}0.01 (or {name}{op}100% if you mean it)")


def parse_slo(text: str) -> Slo:
    """Parse one SLO, e.g. 'p95<300ms', 'p99 <= 1s', 'error_rate<1%', 'server.p95<100ms'."""
    if not isinstance(text, str):
        raise UsageError(f"invalid SLO {text!r}: expected a string; {_EXAMPLE}")
    m = _SLO.fullmatch(text)
    if m is None:
        raise _bad(text, "expected <metric> <op> <value> with op one of <, <=, >, >=")
    name = m.group("metric").lower()
    op = m.group("op")
    number = m.group("num")
    value = float(number)
    unit = m.group("unit").lower().replace(" ", "")
    clean = text.strip()

    if name in _FRACTIONS:
        metric = _FRACTIONS[name]
        if unit not in ("%", ""):
            raise _bad(text, f"{name} takes a fraction or a percentage, not {unit!r}")
        if unit == "":
            if value == 1 and not any(c in number for c in ".eE"):
                raise _ambiguous(text, name, op)
            if value > 1:
                raise _bad(text, f"{name} is a fraction in [0, 1] or a percentage such as {value:g}%")
        from stinger.core.units import parse_fraction  # here: units imports numpy, an SLO's parse needs none

        threshold = parse_fraction(number + unit, what=name, allow_over_one=True)
        if threshold > 1:
            raise _bad(text, f"{name} cannot exceed 100%")
        return Slo(metric, op, threshold, clean)

    if name in _RATES:
        if unit not in _RATE_UNITS:
            raise _bad(text, f"throughput takes req/s ('/s', '/m' or a bare number), not {unit!r}")
        return Slo("throughput", op, value * _RATE_UNITS[unit], clean)

    prefix, stat = _split_prefix(name)
    if stat not in _LATENCY_STATS:
        if re.fullmatch(r"p\d+(\.\d+)?", stat):
            raise _bad(text, f"percentile {stat} is not reported; use one of {', '.join(PERCENTILES)}")
        known = ", ".join(_LATENCY_STATS + ("error_rate", "achieved_ratio", "throughput"))
        prefixes = "/".join(p for p in _SECTIONS if p)
        raise _bad(text, f"unknown metric {name!r} (known: {known}, optionally {prefixes} before a latency)")
    if unit not in _TIME_UNITS:
        raise _bad(text, f"a latency takes a time unit (us, ms, s, m), not {unit!r}")
    return Slo(prefix + stat, op, value * _TIME_UNITS[unit], clean)


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        try:
            x = float(x)  # numpy scalars
        except (TypeError, ValueError):
            return None
    x = float(x)
    return None if math.isnan(x) else x


def _bound(slo: Slo, summary: Mapping[str, Any]) -> tuple[float, float] | None:
    """(low, high) when the summary knows `slo.metric` only as an interval (`<section>.bounds.<stat>`)."""
    prefix, stat = _split_prefix(slo.metric)
    if slo.metric in _FRACTIONS.values() or slo.metric == "throughput" or prefix not in _SECTIONS:
        return None
    section = summary.get(_SECTIONS[prefix])
    if not isinstance(section, Mapping) or _number(section.get(stat)) is not None:
        return None
    bounds = section.get("bounds")
    b = bounds.get(stat) if isinstance(bounds, Mapping) else None
    if not isinstance(b, Mapping):
        return None
    lo = _number(b.get("ge"))
    hi = math.inf if b.get("le") is None else _number(b.get("le"))   # null: no upper bound
    if lo is None or hi is None or lo > hi:
        return None
    return lo, hi


def _judge_bound(slo: Slo, lo: float, hi: float) -> SloResult:
    """Passes when the whole interval meets the objective, fails when none of it does, else cannot tell."""
    sure_pass = slo.holds(hi) and slo.holds(lo)      # the objective is monotone in the value
    sure_fail = not slo.holds(hi) and not slo.holds(lo)
    where = (f"{slo.metric} is between {lo:.4g} and {hi:.4g} {slo.unit}" if math.isfinite(hi) else
             f"{slo.metric} is at least {lo:.4g} {slo.unit}") + " (known only as a bound)"
    if sure_pass or sure_fail:
        return SloResult(slo, None, sure_pass, f"{where}: {'passes' if sure_pass else 'fails'} for sure",
                         bound=(lo, hi))
    return SloResult(slo, None, False,
                     f"{where}: cannot tell against {slo.threshold:g} {slo.unit}, counted as failed; "
                     f"finer histogram buckets around the threshold or a per-request server-time header "
                     f"would decide it", bound=(lo, hi), undecided=True)


def _observe(slo: Slo, summary: Mapping[str, Any]) -> tuple[float | None, str]:
    """The summary's value for `slo.metric`, or None and why not."""
    metric = slo.metric
    if metric == "error_rate":
        v = _number(summary.get("error_rate"))
        if v is None:
            return None, "no error rate in the summary"
        return _with_in_flight(slo, v, summary.get("requests"))
    if metric == "goodput":   # the share of requests meeting every per-request objective (core/goodput.py)
        g = summary.get("goodput")
        v = _number(g.get("share")) if isinstance(g, Mapping) else None
        return v, "" if v is not None else ("no goodput objectives were given (--goodput 'ttft<200ms')"
                                            if not isinstance(g, Mapping) else "no request ended, so no goodput")
    if metric in ("achieved_ratio", "throughput"):
        tp = summary.get("throughput")
        key = "ratio" if metric == "achieved_ratio" else "achieved_rps"
        v = _number(tp.get(key)) if isinstance(tp, Mapping) else None
        return v, "" if v is not None else f"no throughput.{key} in the summary"
    prefix, stat = _split_prefix(metric)
    section_name = _SECTIONS[prefix]
    section = summary.get(section_name)
    if not isinstance(section, Mapping):
        what = {"server_time_ms": "no server time was measured", "service_time_ms": "no service time in the summary",
                "latency_ms": "no latency in the summary"}
        label = BY_NAME[prefix[:-1]].label if prefix else "latency"
        return None, what.get(section_name, f"no {label} was measured")
    if not section.get("count", 1):
        return None, f"no successful requests, so no {section_name}"
    v = _number(section.get(stat))
    return v, "" if v is not None else f"no {stat} in {section_name}"


def _with_in_flight(slo: Slo, rate: float, requests: Any) -> tuple[float, str]:
    """The error rate to judge when requests were in flight at a stop: those counted as the
    objective's worst case (failed for an upper bound, succeeded for a lower one); see the
    module docstring. Without any in flight: the summary's error rate, no note."""
    if not isinstance(requests, Mapping):
        return rate, ""
    n = int(requests.get("in_flight") or 0)
    if n <= 0:
        return rate, ""
    bad = int(requests.get("failed") or 0) + int(requests.get("dropped") or 0)
    total = int(requests.get("ok") or 0) + bad + n
    worst = (bad + n) / total if slo.op in ("<", "<=") else bad / total
    return worst, (f"{n:,} requests were in flight when the run was stopped; their outcome is unknown, so they "
                   f"count as {'failed' if slo.op in ('<', '<=') else 'succeeded'} here (error rate of the "
                   f"ended requests: {rate:.4g})")


def judge(slos: Sequence[Slo | str], variant_summary: Mapping[str, Any]) -> list[SloResult]:
    """Judge each SLO (an `Slo` or its text) against one variant's summary, in order.

    A metric the summary lacks fails, with `observed=None` and a note; a metric known only as
    a bound passes or fails when the bound decides, else fails as undecided (module docstring).
    """
    out: list[SloResult] = []
    for s in slos:
        slo = parse_slo(s) if isinstance(s, str) else s
        bound = _bound(slo, variant_summary)
        if bound is not None:
            out.append(_judge_bound(slo, *bound))
            continue
        observed, note = _observe(slo, variant_summary)
        if observed is None:
            out.append(SloResult(slo, None, False, note))
        else:
            out.append(SloResult(slo, observed, slo.holds(observed), note))
    return out
