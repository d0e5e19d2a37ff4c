"""Server-side response time and resources from a Prometheus `/metrics` endpoint.

`PrometheusMonitor` scrapes the plain-text exposition with urllib in the monitor
thread and turns two consecutive scrapes into points; the turning is the pure
function `diff_scrapes`, testable without a network:

    counter    per-interval rate, `<name>.<family>.rate` (/s); a counter that went
               down (a restart) yields nothing for that interval
    gauge      its value, `<name>.<family>` (untyped metrics are treated as gauges)
    histogram  from bucket DELTAS between the two scrapes - i.e. this interval's
               observations only: `.rate` (/s), `.mean`, `.p50`, `.p95`, `.p99`,
               quantiles interpolated linearly inside a bucket as Prometheus'
               histogram_quantile does, then moved into the interval the buckets
               and the sum allow (`quantile_bounds`), so never beside an
               impossible mean
    summary    its quantiles as gauges (`.p50`, ...), and `.mean` from deltas

Durations are converted to ms when the family name ends in `_seconds`,
`_microseconds`/`_us` or `_milliseconds`/`_ms`. `process_cpu_seconds_total` becomes
`<name>.process_cpu_pct` (% of one core); `process_resident_memory_bytes` is kept
as a gauge; both are kept whatever the selection, when present.

Presets name the metric families worth keeping for common model servers (see
`PRESETS`); the LLM servers' (vllm, tgi, sglang) keep the server's own TTFT, queue
time and KV-cache use (a fraction, shown in %), and `dcgm` DCGM-exporter's GPU
utilisation and memory (MiB, reported in bytes). A preset may give its families
roles (`core.series`: GPU, GPU memory, server time, ...), which the monitor
declares (`series_info`), so a GPU scraped from DCGM lands under `resources`. Triton and TorchServe export durations as cumulative counters in
microseconds; a preset pairs each with a request counter, and the monitor
reports `delta(duration) / delta(requests)` as `<name>.<duration family>.mean`
in ms (matched by identical labels) instead of a meaningless rate.

Server time from metrics: a preset also names, best first, the families that
hold the server's own time per request (`Preset.server_time`): MLServer's
per-model `model_infer_request_duration` (a summary in seconds, though its
name does not say so), KServe's `request_predict_seconds`, Triton's and
TorchServe's cumulative counters, and so on. The monitor keeps the cumulative
values of those families at each scrape (`history`, thinned past a few
thousand), so `server_time(window)` can take the difference between the
scrapes bracketing a run's measured window: count and mean from a summary or
a counter pair, and from a histogram's buckets the interval each quantile lies
in (`quantile_bounds`: a bucket's edges, tightened by the mean), never a point
interpolated inside a bucket. The run puts
that in the summary as the variant's server time when the target sent no
`Server-Timing` header (see `orchestrate/monitor_set.py`).

With neither preset nor `include`, every family is kept (except the `*_created`
timestamps prometheus_client adds). `include` takes family names or fnmatch
globs (`vllm:*`); counter names match with or without `_total`.
"""

from __future__ import annotations

import base64
import fnmatch
import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as _parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as _parse_text
from pydantic import Field, field_validator

from stinger.core.secrets import redact_url
from stinger.core.series import SeriesInfo
from stinger.monitors.base import Labels, MonitorConfig, MonitorConfigError, MonitorError, Point
from stinger.monitors.presets import MIB, PRESETS, Preset, _llm_roles  # noqa: F401  (the table: monitors/presets.py)

__all__ = [
    "PRESETS",
    "Preset",
    "PrometheusMonitor",
    "Scrape",
    "Selection",
    "diff_scrapes",
    "histogram_quantile",
    "parse_exposition",
    "quantile_bounds",
    "server_time_between",
    "snapshot",
]

QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)
ALWAYS: tuple[str, ...] = ("process_cpu_seconds_total", "process_resident_memory_bytes")
MAX_BYTES = 32 * 1024 * 1024  # a bigger exposition is a misconfiguration, not metrics




def _base(name: str) -> str:
    """A counter's family name: prometheus_client's parser drops `_total`."""
    return name[:-6] if name.endswith("_total") else name


@dataclass(frozen=True)
class Selection:
    """Which families to keep; `patterns` None keeps all of them."""

    patterns: tuple[str, ...] | None = None
    means: tuple[tuple[str, str], ...] = ()
    seconds: tuple[str, ...] = ()
    server_time: tuple[str, ...] = ()
    roles: tuple[tuple[str, SeriesInfo], ...] = ()
    scales: tuple[tuple[str, float, str], ...] = ()

    @classmethod
    def of(cls, preset: str | None = None, include: Sequence[str] = ()) -> Selection:
        if preset is not None and preset not in PRESETS:
            raise MonitorConfigError(f"unknown Prometheus preset {preset!r} (expected one of {', '.join(PRESETS)})")
        chosen = PRESETS[preset] if preset is not None else None
        if chosen is None and not include:
            return cls()
        names = (chosen.families if chosen else ()) + tuple(include) + ALWAYS
        if chosen is None:
            return cls(tuple(dict.fromkeys(names)))
        return cls(tuple(dict.fromkeys(names)), chosen.means, chosen.seconds, chosen.server_time, chosen.roles,
                   chosen.scales)

    def scale(self, family: str) -> tuple[float, str]:
        """(factor to ms, unit) for a family: from its name, or seconds when the preset says so."""
        if family in self.seconds:
            return 1e3, "ms"
        return _duration_scale(family)

    def gauge_scale(self, family: str) -> tuple[float, str]:
        """(factor, unit) of a gauge's points: the preset's where it names one, else 1 and the name's unit."""
        for name, factor, unit in self.scales:
            if name == family:
                return factor, unit
        return 1.0, _gauge_unit(family)

    def wants(self, family: str, kind: str) -> bool:
        if self.patterns is None:
            return not (kind == "gauge" and family.endswith("_created"))
        candidates = (family, family + "_total") if kind == "counter" else (family,)
        return any(fnmatch.fnmatchcase(c, p) for p in self.patterns for c in candidates)


EVERYTHING = Selection()


# --- snapshots -----------------------------------------------------------------


@dataclass
class Hist:
    """One histogram series: cumulative bucket counts by upper bound, sum, count."""

    buckets: dict[float, float] = field(default_factory=dict)
    sum: float = math.nan
    count: float = math.nan


@dataclass
class Summ:
    """One summary series: quantile -> value, and the cumulative sum and count."""

    quantiles: dict[float, float] = field(default_factory=dict)
    sum: float = math.nan
    count: float = math.nan


@dataclass
class Family:
    kind: str  # counter | gauge | histogram | summary
    series: dict[Labels, float | Hist | Summ] = field(default_factory=dict)


Scrape = dict[str, Family]


def _labels(labels: dict[str, str], drop: str = "") -> Labels:
    return tuple(sorted((k, v) for k, v in labels.items() if k != drop))


def snapshot(families: Iterable[Metric], selection: Selection = EVERYTHING) -> Scrape:
    """The selected families of one scrape, as plain numbers keyed by labels."""
    out: Scrape = {}
    for fam in families:
        kind = "gauge" if fam.type == "unknown" else fam.type
        if kind not in ("counter", "gauge", "histogram", "summary") or not selection.wants(fam.name, kind):
            continue
        snap = out.setdefault(fam.name, Family(kind))
        for s in fam.samples:
            suffix = s.name[len(fam.name):]
            if kind == "counter":
                if suffix in ("", "_total"):
                    snap.series[_labels(s.labels)] = float(s.value)
            elif kind == "gauge":
                if suffix == "":
                    snap.series[_labels(s.labels)] = float(s.value)
            elif kind == "histogram":
                key = _labels(s.labels, "le")
                hist = snap.series.setdefault(key, Hist())
                assert isinstance(hist, Hist)
                if suffix == "_bucket" and "le" in s.labels:
                    hist.buckets[float(s.labels["le"])] = float(s.value)
                elif suffix == "_sum":
                    hist.sum = float(s.value)
                elif suffix == "_count":
                    hist.count = float(s.value)
            else:
                key = _labels(s.labels, "quantile")
                summ = snap.series.setdefault(key, Summ())
                assert isinstance(summ, Summ)
                if suffix == "" and "quantile" in s.labels:
                    summ.quantiles[float(s.labels["quantile"])] = float(s.value)
                elif suffix == "_sum":
                    summ.sum = float(s.value)
                elif suffix == "_count":
                    summ.count = float(s.value)
    return out


def parse_exposition(text: str, *, openmetrics: bool = False) -> list[Metric]:
    """Parse an exposition; any parse failure becomes a one-line MonitorError."""
    parse = _parse_openmetrics if openmetrics else _parse_text
    try:
        return list(parse(text))
    except Exception as exc:  # the parsers raise ValueError, IndexError, KeyError...
        first = (str(exc).splitlines() or [""])[0]
        raise MonitorError(f"not a Prometheus exposition ({type(exc).__name__}: {first})") from None


# --- the maths -------------------------------------------------------------------


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile over (upper bound, cumulative count) pairs.

    `buckets` sorted by upper bound, ending with +Inf. Linear interpolation
    inside the bucket holding the rank (the lowest bucket starts at 0 when its
    bound is positive); a rank in the +Inf bucket returns the highest finite
    bound. NaN when there are no observations or no +Inf bucket.
    """
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return math.nan
    # Cumulative counts of one scrape can be non-monotone when buckets are
    # incremented non-atomically; force monotonicity as Prometheus does.
    counts: list[float] = []
    for _, c in buckets:
        counts.append(max(c, counts[-1]) if counts else c)
    total = counts[-1]
    if not total > 0:
        return math.nan
    if q <= 0:
        return -math.inf
    if q >= 1:
        return math.inf
    rank = q * total
    b = next((i for i in range(len(buckets) - 1) if counts[i] >= rank), len(buckets) - 1)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    upper = buckets[b][0]
    if b == 0 and upper <= 0:
        return upper
    lower = 0.0 if b == 0 else buckets[b - 1][0]
    below = 0.0 if b == 0 else counts[b - 1]
    in_bucket = counts[b] - below
    if in_bucket <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / in_bucket


def quantile_bounds(q: float, buckets: Sequence[tuple[float, float]], total: float = math.nan
                    ) -> tuple[float, float] | None:
    """Where the q-quantile of a histogram can lie: (low, high), both inclusive; None without observations.

    `buckets` are (upper bound, cumulative count) pairs sorted by bound, ending with +Inf, as for
    `histogram_quantile`; `total` the histogram's `_sum`. The q-quantile is the k-th smallest
    observation, k = ceil(q x count) (at least 1), so it lies in the bucket holding rank k: between
    that bucket's lower and upper bound. Buckets alone say no more, so the interpolated value
    `histogram_quantile` returns is a guess, and can be impossible: KServe's 0.2 ms predictions all
    fall in its first bucket (0, 5 ms], whose interpolated p50 is 2.5 ms beside a mean of 0.23 ms.

    With the sum, and values that cannot be negative (the lowest bucket's bound is positive: a
    duration), the interval tightens. Say the quantile x is the j-th smallest of the c values in its
    bucket (lower bound l, upper u). Those j..c values are each >= x, the j-1 below it each >= l, and
    every other value at least its own bucket's lower bound, so

        sum >= (sum of lower bounds of the others) + (j - 1) l + (c - j + 1) x    (an upper bound on x)

    and, when no value is in the +Inf bucket, every value at most its bucket's upper bound, so

        sum <= (sum of upper bounds of the others) + (c - j) u + j x              (a lower bound on x).

    For the KServe case (all of 100 values in (0, 5 ms], mean 0.23 ms) this gives p50 <= 0.46 ms
    and p95 <= 3.8 ms. A `_sum` scraped a moment apart from its buckets can contradict them; the
    tightening is then dropped and the bucket's bounds stand.
    """
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return None
    cum: list[float] = []
    for _, c in buckets:
        cum.append(max(c, cum[-1]) if cum else c)   # forced monotone, as histogram_quantile does
    n = cum[-1]
    if not n > 0:
        return None
    uppers = [le for le, _ in buckets]
    nonneg = uppers[0] > 0
    lowers = [0.0 if nonneg else -math.inf] + uppers[:-1]
    counts = [cum[0]] + [b - a for a, b in pairwise(cum)]
    k = min(max(1.0, math.ceil(min(max(q, 0.0), 1.0) * n - 1e-9)), n)
    b = next(i for i, c in enumerate(cum) if c >= k)
    j = k - (cum[b - 1] if b else 0.0)
    lo, hi = lowers[b], uppers[b]
    if nonneg and math.isfinite(total) and total >= 0:
        c = counts[b]
        others_low = sum(counts[i] * lowers[i] for i in range(len(counts)) if i != b)
        top = (total - others_low - (j - 1) * lo) / (c - j + 1)
        t_lo, t_hi = lo, min(hi, top)
        if counts[-1] == 0 or (b == len(counts) - 1 and j == c):
            others_high = sum(counts[i] * uppers[i] for i in range(len(counts) - 1) if i != b)
            rest = (c - j) * hi if c > j else 0.0
            t_lo = max(lo, (total - others_high - rest) / j)
        if t_lo <= t_hi * (1 + 1e-9) + 1e-12:   # consistent with the buckets
            lo, hi = t_lo, max(t_lo, t_hi)
    return lo, hi


def _duration_scale(family: str) -> tuple[float, str]:
    """(factor to ms, unit) for a duration family name; (1, "") for anything else."""
    for suffix, factor in (
        ("_seconds", 1e3),
        ("_microseconds", 1e-3),
        ("_us", 1e-3),
        ("_milliseconds", 1.0),
        ("_ms", 1.0),
    ):
        if family.endswith(suffix):
            return factor, "ms"
    return 1.0, ""


def _gauge_unit(family: str) -> str:
    if family.endswith("_bytes"):
        return "bytes"
    if family.endswith("_seconds"):
        return "s"
    return ""


def _qname(q: float) -> str:
    return f"p{q * 100:.10g}"


def _hist_points(series: str, labels: Labels, cur: Hist, prev: Hist, elapsed: float, t: float,
                 scaled: tuple[float, str] | None = None) -> list[Point]:
    if set(cur.buckets) != set(prev.buckets):
        return []  # the bucket layout changed: no meaningful delta
    dcount = cur.count - prev.count
    dsum = cur.sum - prev.sum
    deltas = [(le, cur.buckets[le] - prev.buckets[le]) for le in sorted(cur.buckets)]
    if not dcount >= 0 or any(d < 0 for _, d in deltas):
        return []  # a reset (restart): skip this interval
    points = [Point(t, f"{series}.rate", dcount / elapsed, "/s", labels)]
    if dcount > 0:
        scale, unit = scaled or _duration_scale(series)
        if math.isfinite(dsum):
            points.append(Point(t, f"{series}.mean", dsum / dcount * scale, unit, labels))
        for q in QUANTILES:
            v = _possible(histogram_quantile(q, deltas), quantile_bounds(q, deltas, dsum))
            if math.isfinite(v):
                points.append(Point(t, f"{series}.{_qname(q)}", v * scale, unit, labels))
    return points


def _possible(estimate: float, bounds: tuple[float, float] | None) -> float:
    """An interpolated quantile moved into the interval the buckets and the sum allow (a series needs
    one number an interval; the summary's server time gives the interval itself)."""
    if bounds is None or not math.isfinite(estimate):
        return estimate
    return min(max(estimate, bounds[0]), bounds[1])


def _zero(value: float | Hist | Summ) -> float | Hist | Summ:
    if isinstance(value, Hist):
        return Hist(dict.fromkeys(value.buckets, 0.0), 0.0, 0.0)
    if isinstance(value, Summ):
        return Summ({}, 0.0, 0.0)
    return 0.0


def diff_scrapes(
    prev: Scrape | Iterable[Metric] | None,
    cur: Scrape | Iterable[Metric],
    elapsed: float,
    *,
    t: float = 0.0,
    name: str = "prom",
    selection: Selection = EVERYTHING,
) -> list[Point]:
    """Points for the interval between two scrapes `elapsed` seconds apart.

    With `prev` None (the first scrape) only instantaneous values come out:
    gauges and summary quantiles.
    """
    cur_s = cur if isinstance(cur, dict) else snapshot(cur, selection)
    prev_s: Scrape = {} if prev is None else prev if isinstance(prev, dict) else snapshot(prev, selection)
    rates = elapsed > 0
    mean_sums = {_base(s) for s, _ in selection.means}
    points: list[Point] = []

    for fam_name, fam in cur_s.items():
        before = prev_s.get(fam_name)
        if before is not None and before.kind != fam.kind:
            before = None
        prefix = f"{name}.{fam_name}"
        for labels, value in fam.series.items():
            old = before.series.get(labels) if before is not None else None
            if old is None and prev is not None:
                # Absent from the previous scrape: born since, so it started from
                # zero (a labelled counter appears at its first increment).
                old = _zero(value)
            if fam.kind == "gauge":
                assert isinstance(value, float)
                factor, unit = selection.gauge_scale(fam_name)
                points.append(Point(t, prefix, value * factor, unit, labels))
            elif fam.kind == "counter":
                if fam_name in mean_sums or not rates or not isinstance(old, float):
                    continue
                assert isinstance(value, float)
                delta = value - old
                if delta < 0:
                    continue  # counter reset
                if fam_name == "process_cpu_seconds":
                    points.append(Point(t, f"{name}.process_cpu_pct", 100.0 * delta / elapsed, "%", labels))
                else:
                    points.append(Point(t, f"{prefix}.rate", delta / elapsed, "/s", labels))
            elif fam.kind == "histogram":
                if rates and isinstance(old, Hist):
                    assert isinstance(value, Hist)
                    points.extend(_hist_points(prefix, labels, value, old, elapsed, t, selection.scale(fam_name)))
            else:
                assert isinstance(value, Summ)
                scale, unit = selection.scale(fam_name)
                for q, v in sorted(value.quantiles.items()):
                    if math.isfinite(v):
                        points.append(Point(t, f"{prefix}.{_qname(q)}", v * scale, unit, labels))
                if rates and isinstance(old, Summ):
                    dcount, dsum = value.count - old.count, value.sum - old.sum
                    if dcount > 0 and dsum >= 0:
                        points.append(Point(t, f"{prefix}.mean", dsum / dcount * scale, unit, labels))

    for sum_name, count_name in selection.means if prev is not None else ():
        points.extend(_mean_points(name, _base(sum_name), _base(count_name), prev_s, cur_s, t))
    return points


def _mean_points(name: str, sum_name: str, count_name: str, prev: Scrape, cur: Scrape, t: float) -> list[Point]:
    """delta(cumulative duration) / delta(requests), per label set, in ms."""
    empty = Family("counter")
    fams = (prev.get(sum_name, empty), cur.get(sum_name), prev.get(count_name, empty), cur.get(count_name))
    if any(f is None or f.kind != "counter" for f in fams):
        return []
    prev_sum, cur_sum, prev_count, cur_count = fams
    assert prev_sum and cur_sum and prev_count and cur_count
    scale, unit = _duration_scale(sum_name)
    points = []
    for labels, total in cur_sum.series.items():
        old_total = prev_sum.series.get(labels, 0.0)  # absent before: born since, from zero
        n, old_n = cur_count.series.get(labels), prev_count.series.get(labels, 0.0)
        if not (isinstance(total, float) and isinstance(old_total, float)):
            continue
        if not (isinstance(n, float) and isinstance(old_n, float)):
            continue
        dsum, dn = total - old_total, n - old_n
        if dn > 0 and dsum >= 0:
            points.append(Point(t, f"{name}.{sum_name}.mean", dsum / dn * scale, unit, labels))
    return points


# --- server time over a window -------------------------------------------------------

SERVER_QUANTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99),
                                                   ("p99.9", 0.999))


def _matching(series: dict, match: Sequence[str]) -> tuple[list[Labels], str]:
    """The label sets whose values name one of `match` (a model in the URL), else all of them."""
    wanted = set(match)
    chosen = [labels for labels in series if any(v in wanted for _, v in labels)]
    if chosen:
        return chosen, ", ".join(sorted({f'{k}="{v}"' for labels in chosen for k, v in labels if v in wanted}))
    return list(series), "all series" if len(series) > 1 else ""


def server_time_between(
    before: Scrape,
    after: Scrape,
    selection: Selection,
    *,
    match: Sequence[str] = (),
) -> dict | None:
    """The server's own time per request between two cumulative scrapes, from the first of
    `selection.server_time` that saw requests in between; None when none did.

    Label sets are chosen by `match` (e.g. the URL's path segments, so MLServer's
    `model="iris"` series serves a variant whose URL is /v2/models/iris/infer); with no
    match, all series are added up. Returns ``{"count", "mean", "p50".. and "bounds" (histograms
    only), "family", "kind", "labels"}`` with times in ms. A histogram's quantiles are known only
    to lie within bounds (`quantile_bounds`: the bucket, tightened by the sum): "bounds" holds
    ``{"p50": {"ge": low, "le": high}, ...}``, and "p50".. are null unless the bounds pin the value
    down (within 0.1 %): never an interpolated guess that the mean can contradict.
    """
    pairs = {_base(d): _base(c) for d, c in selection.means}
    for family in selection.server_time:
        base = _base(family)
        scale, _ = selection.scale(base)
        if base in pairs:
            pair = _counter_pair_between(before, after, base, pairs[base], match)
            if pair is not None:
                return {**pair, "mean": pair["mean"] * scale, "family": base, "kind": "counter"}
            continue
        fam = after.get(base)
        if fam is None or fam.kind not in ("histogram", "summary"):
            continue
        old = before.get(base)
        chosen, label_text = _matching(fam.series, match)
        count = total = 0.0
        buckets: dict[float, float] = {}
        layout: set[float] | None = None
        for labels in chosen:
            cur = fam.series[labels]
            prev = old.series.get(labels) if old is not None and old.kind == fam.kind else None
            assert isinstance(cur, (Hist, Summ))
            prev = prev if prev is not None else _zero(cur)
            assert isinstance(prev, (Hist, Summ))
            dcount, dsum = cur.count - prev.count, cur.sum - prev.sum
            if not (dcount >= 0 and dsum >= 0):
                continue  # a restart in between
            count += dcount
            total += dsum
            if isinstance(cur, Hist) and isinstance(prev, Hist):
                if layout is None:
                    layout = set(cur.buckets)
                if set(cur.buckets) == layout and set(prev.buckets) <= layout:
                    for le, c in cur.buckets.items():
                        buckets[le] = buckets.get(le, 0.0) + c - prev.buckets.get(le, 0.0)
        if not count > 0:
            continue
        out: dict = {"count": round(count), "mean": total / count * scale, "family": base,
                     "kind": fam.kind, "labels": label_text}
        if fam.kind == "histogram" and buckets:
            out["bounds"] = _bounds_ms(sorted(buckets.items()), total, scale)
            for key, _ in SERVER_QUANTILES:   # a figure only where the bounds pin it down
                b = out["bounds"].get(key)
                out[key] = b["le"] if b is not None and b["le"] - b["ge"] <= PINNED * b["le"] else None
        return out
    return None


PINNED = 1e-3   # a quantile whose bounds are this close (relative) is a figure: as precise as an HDR quantile


def _bounds_ms(ordered: list[tuple[float, float]], total: float, scale: float) -> dict[str, dict[str, float]]:
    """{"p50": {"ge": low, "le": high}, ...} in ms: where each server-time quantile can lie (`quantile_bounds`)."""
    out = {}
    for key, q in SERVER_QUANTILES:
        b = quantile_bounds(q, ordered, total)
        if b is not None:
            out[key] = {"ge": b[0] * scale, "le": b[1] * scale}
    return out


def _counter_pair_between(before: Scrape, after: Scrape, sum_name: str, count_name: str,
                          match: Sequence[str]) -> dict | None:
    sums, counts = after.get(sum_name), after.get(count_name)
    if sums is None or counts is None or sums.kind != "counter" or counts.kind != "counter":
        return None
    old_sums, old_counts = before.get(sum_name), before.get(count_name)
    chosen, label_text = _matching(sums.series, match)
    dsum = dn = 0.0
    for labels in chosen:
        s1, n1 = sums.series.get(labels), counts.series.get(labels)
        s0 = old_sums.series.get(labels, 0.0) if old_sums is not None else 0.0
        n0 = old_counts.series.get(labels, 0.0) if old_counts is not None else 0.0
        if not all(isinstance(x, float) for x in (s1, n1, s0, n0)):
            continue
        assert isinstance(s1, float) and isinstance(n1, float) and isinstance(s0, float) and isinstance(n0, float)
        if s1 - s0 >= 0 and n1 - n0 >= 0:
            dsum += s1 - s0
            dn += n1 - n0
    if not dn > 0:
        return None
    return {"count": round(dn), "mean": dsum / dn, "labels": label_text}


# --- the monitor -------------------------------------------------------------------


def _basic_auth(url: str) -> tuple[str, str | None]:
    """(the URL without its userinfo, the `Authorization: Basic` value it carried or None): urllib sends no
    userinfo (it took `user:pw@host` for a host name), and the credentials must never be shown."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    info, host = parts.netloc.rsplit("@", 1)
    user, _, password = info.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), f"Basic {token}"


def _metrics_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MonitorConfigError(f"Prometheus URL {url!r} must be http(s)://HOST[:PORT][/PATH]")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise MonitorConfigError(f"Prometheus URL {url!r} has an invalid port") from None
    path = parts.path if parts.path not in ("", "/") else "/metrics"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class PrometheusConfig(MonitorConfig):
    """``{type: prometheus, url, preset, include, timeout, name}``."""

    type: Literal["prometheus"] = "prometheus"
    name: str = "prom"
    url: str
    preset: str | None = None
    include: list[str] = Field(default_factory=list)
    timeout: float = Field(default=2.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        try:
            _metrics_url(v)
        except MonitorConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("preset")
    @classmethod
    def _preset(cls, v: str | None) -> str | None:
        if v is not None and v not in PRESETS:
            raise ValueError(f"unknown preset {v!r}; expected one of {', '.join(PRESETS)}")
        return v


class PrometheusMonitor:
    """Scrapes one `/metrics` URL each interval and reports `diff_scrapes` points."""

    Config = PrometheusConfig

    def __init__(
        self,
        url: str,
        *,
        name: str = "prom",
        preset: str | None = None,
        include: Sequence[str] = (),
        timeout: float = 2.0,
    ) -> None:
        plain, self._auth = _basic_auth(url)
        self.url = _metrics_url(plain)
        self.shown = redact_url(self.url)   # what messages show: a token in the query masked
        self.name = name
        self.selection = Selection.of(preset, include)
        self.timeout = float(timeout)
        host = urlsplit(self.url).hostname or ""
        # A proxy from the environment must not intercept a scrape of this machine.
        handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
        self._opener = urllib.request.build_opener(*handlers)
        self._prev: Scrape | None = None
        self._prev_time = 0.0
        # (run-clock time, the server-time families of a scrape): cumulative values, for `server_time`
        self.history: list[tuple[float, Scrape]] = []
        keep = set(self.selection.server_time) | {c for d, c in self.selection.means if d in self.selection.server_time}
        self._server_families = {_base(f) for f in keep}

    def scrape(self) -> Scrape:
        """Fetch and parse the exposition; MonitorError on any failure."""
        headers = {"Accept": "text/plain;version=0.0.4;q=1,*/*;q=0.1", "User-Agent": "stinger"}
        if self._auth is not None:
            headers["Authorization"] = self._auth
        request = urllib.request.Request(self.url, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                body = resp.read(MAX_BYTES + 1)
                content_type = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raise MonitorError(f"scrape of {self.shown} failed: HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise MonitorError(f"scrape of {self.shown} failed: {exc.reason}") from None
        except (OSError, ValueError) as exc:  # timeouts, resets, bad responses
            raise MonitorError(f"scrape of {self.shown} failed: {exc or type(exc).__name__}") from None
        if len(body) > MAX_BYTES:
            raise MonitorError(f"scrape of {self.shown}: more than {MAX_BYTES} bytes")
        text = body.decode("utf-8", "replace")
        openmetrics = content_type.startswith("application/openmetrics-text")
        try:
            families = parse_exposition(text, openmetrics=openmetrics)
        except MonitorError as exc:
            raise MonitorError(f"{self.shown}: {exc}") from None
        return snapshot(families, self.selection)

    MAX_HISTORY = 4096  # past this, every other entry is dropped: a day-long run keeps a coarser history

    def _remember(self, t: float, scrape: Scrape) -> None:
        if not self._server_families:
            return
        self.history.append((t, {k: v for k, v in scrape.items() if k in self._server_families}))
        if len(self.history) > self.MAX_HISTORY:
            self.history = self.history[::2] + ([self.history[-1]] if len(self.history) % 2 == 0 else [])

    def series_info(self, series: str) -> SeriesInfo | None:
        """`DeclaresSeries`: the role the preset gives the family of `series` (`<name>.<family>` for a gauge,
        `<name>.<family>.mean|pNN` for a histogram's or summary's time); None for anything else."""
        prefix = self.name + "."
        if not series.startswith(prefix):
            return None
        rest = series[len(prefix):]
        roles = dict(self.selection.roles)
        if rest in roles:
            return roles[rest]
        family, _, stat = rest.rpartition(".")
        return roles.get(family) if stat == "mean" or stat.startswith("p") else None

    @property
    def server_time_families(self) -> tuple[str, ...]:
        return self.selection.server_time

    def server_time(self, start: float, end: float | None, *, match: Sequence[str] = ()) -> dict | None:
        """The server's own time between the scrapes that bracket [start, end] on the run clock
        (the last at or before `start`, the first at or after `end`); None without two scrapes or requests."""
        if len(self.history) < 2:
            return None
        before = [h for h in self.history if h[0] <= start] or self.history[:1]
        after = [h for h in self.history if end is not None and h[0] >= end] or self.history[-1:]
        (t0, a), (t1, b) = before[-1], after[0]
        if t1 <= t0:
            return None
        out = server_time_between(a, b, self.selection, match=match)
        if out is not None:
            out["between_s"] = (None if math.isinf(t0) else round(t0, 3), round(t1, 3))
        return out

    def start(self) -> None:
        self._prev = self.scrape()
        self._prev_time = time.perf_counter()
        self._remember(-math.inf, self._prev)  # before the run's first sample

    def sample(self, t: float) -> list[Point]:
        cur = self.scrape()
        now = time.perf_counter()
        self._remember(t, cur)
        points = diff_scrapes(self._prev, cur, now - self._prev_time, t=t, name=self.name, selection=self.selection)
        # After a failed scrape the next good one diffs across the gap: still an average.
        self._prev, self._prev_time = cur, now
        return points

    def stop(self) -> None:
        self._prev = None
