"""`stinger plan`: how long an A/B test must run to detect a given difference, planned for the verdict's own tests.

The verdict compares p50, p95 and p99 (block bootstrap over one-second
intervals), Mann-Whitney and the error rate, with Holm over all those rows. A plan
for any other test (the first release planned a t-test on the mean, at the full
alpha) promises a power the verdict does not have: "3 requests per variant" for
5 ms, and 0 of 10 such runs detected it. So latency is planned by simulation
from a baseline run's one-second intervals (`core.stats.plan_latency_seconds`),
proportions by the formula at Holm's alpha / m, and no plan is shorter than the
verdict's own minimum of one-second intervals.

A tail-only effect (`--at p95`: the values from the baseline's p95 up move, the
median does not) is simulated as such: only the quantile rows can see it, and a
whole-distribution plan (which Mann-Whitney decides early) promised 10 s for a
p95/p99 +28 ms regression that 10 s runs caught once in three. Holm's family is
the verdict's: the rows of every compared metric the baseline run has (an LLM
run adds time to first token, inter-token latency, time per output token and
tokens/s rows, and goodput when it had objectives, `core.catalogue.verdict_rows`),
unless `--rows` says otherwise.

`--metric` plans for another row than latency's: a compared token time (`ttft`,
`ttfo`, `itl`, `tpot`) is simulated from the baseline run's one-second
histograms of that metric with that metric's own rows (its quantiles from the
catalogue, no Mann-Whitney unless it has one); `goodput` is a proportion (the
goodput share's Fisher row), its baseline share from the run's goodput or
`--error-rate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stinger.orchestrate.compare import compared_metrics, variant_data_from_run

#: Requests per second assumed when neither --rate nor a baseline run gives one.
DEFAULT_RATE = 100.0


def plan_ab(*, min_effect: str, baseline: str | None = None, sd_ms: float | None = None,
            error_rate: str | None = None, power: float = 0.8, alpha: float = 0.05,
            rate: float | None = None, rows: int | None = None, seed: int | None = 0,
            at: str | None = None, metric: str = "latency") -> str:
    """Requests and seconds per variant to detect `min_effect` in the verdict; one paragraph of text.

    ``at``: "p95" plans for a tail-only increase (the values from the baseline's p95 up move by
    `min_effect`, the median does not); None: the whole distribution moves. ``metric``: the row
    planned for (latency; a compared token time such as ttft; goodput, a proportion)."""
    from stinger.core.stats import VERDICT_ROWS
    from stinger.errors import UsageError

    _check_args(power, alpha, rate)
    metric = _metric_arg(metric)
    tail = _quantile_arg(at) if at is not None else None
    base = _baseline(baseline, metric) if baseline is not None else None
    m = (base.rows if base is not None else VERDICT_ROWS) if rows is None else int(rows)
    if m < 1:
        raise UsageError(f"--rows must be >= 1, got {m}")
    if base is not None and rows is None and m != VERDICT_ROWS:
        holm_clause = f"Holm over the verdict's {m} rows for the metrics the baseline run has: {base.row_names}"
    else:
        holm_clause = (f"Holm over the verdict's {m} rows: p50, p95, p99, Mann-Whitney, error rate"
                       f"{' (--rows 6 with labelled predictions)' if m == VERDICT_ROWS else ''}")
    text = str(min_effect).strip()
    if metric == "goodput":
        if tail is not None:
            raise UsageError("--at is for a time's tail (e.g. --min-effect 28ms --at p95), not goodput")
        share = error_rate if error_rate is not None else (
            f"{100 * base.goodput:g}%" if base is not None and base.goodput is not None else None)
        if share is None:
            raise UsageError("--metric goodput needs the baseline's goodput share: a --baseline run with "
                             "--goodput objectives, or --error-rate 95% (the share)")
        return _plan_proportion(share, text, power=power, alpha=alpha, rate=rate, m=m, holm_clause=holm_clause,
                                what="goodput share")
    if metric != "latency" and (error_rate is not None or text.endswith("%")):
        raise UsageError(f"--metric {metric} plans a time such as --min-effect 5ms, not a rate")
    if metric != "latency" and base is None:
        raise UsageError(f"--metric {metric} plans from a --baseline RUN_DIR that measured it (an LLM run)")
    if error_rate is not None or text.endswith("%"):
        if tail is not None:
            _fraction_effect(error_rate, text)   # its own mistakes first, as before
            raise UsageError("--at is for a latency effect (e.g. --min-effect 28ms --at p95), not a rate")
        return _plan_proportion(error_rate, text, power=power, alpha=alpha, rate=rate, m=m, holm_clause=holm_clause)
    return _plan_latency(text, base, sd_ms=sd_ms, power=power, alpha=alpha, rate=rate, m=m, seed=seed, tail=tail,
                         holm_clause=holm_clause, metric=metric)


#: the metrics `--metric` plans for: latency, the compared times in ms (token timing), and goodput
def _plannable() -> tuple[str, ...]:
    from stinger.core.catalogue import BY_NAME, COMPARED

    times = tuple(n for n in COMPARED if BY_NAME[n].shown_unit == "ms" and BY_NAME[n].lower_is_better)
    return (*times, "goodput")


def _metric_arg(metric: str | None) -> str:
    from stinger.errors import UsageError

    name = str(metric or "latency").strip().lower().removesuffix("_ms")
    if name not in _plannable():
        raise UsageError(f"--metric {metric!r} cannot be planned; expected one of {', '.join(_plannable())}")
    return name


def _check_args(power: float, alpha: float, rate: float | None) -> None:
    from stinger.errors import UsageError

    if not 0 < power < 1:
        raise UsageError(f"--power must be between 0 and 1 (e.g. 0.8), got {power:g}")
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1 (e.g. 0.05), got {alpha:g}")
    if rate is not None and rate <= 0:
        raise UsageError(f"--rate must be > 0 requests per second, got {rate:g}")


def _fraction_effect(error_rate: str | None, text: str) -> tuple[float, float]:
    """(baseline rate, effect) of a proportion plan, each checked."""
    from stinger.errors import UsageError

    base_rate = _fraction_arg(error_rate, "--error-rate") if error_rate is not None else None
    if base_rate is None:
        raise UsageError("a proportion needs its baseline: --error-rate 2% (or the accuracy)")
    effect = _fraction_arg(text, "--min-effect")
    if effect == 0:
        raise UsageError("--min-effect must be a non-zero difference, e.g. 1%")
    return base_rate, effect


def _plan_proportion(error_rate: str | None, text: str, *, power: float, alpha: float, rate: float | None, m: int,
                     holm_clause: str, what: str = "rate") -> str:
    from stinger.core.stats import MIN_INTERVALS, plan_sample_size

    base_rate, effect = _fraction_effect(error_rate, text)
    # The row must pass Holm's first step, alpha / m, when it is the only
    # real difference among the m rows (the usual case for an error rate).
    n = plan_sample_size(baseline_rate=base_rate, min_effect=effect, alpha=alpha / m, power=power,
                         metric="proportion")
    what = f"a change of {_points(100 * effect)} from a baseline {what} of {100 * base_rate:g}%"
    out = (f"To detect {what} with power {power:g} at family-wise alpha {alpha:g} ({holm_clause}: "
           f"Fisher's test at alpha/{m} = {alpha / m:.3g}): ")
    if rate:
        secs = max(math.ceil(n / rate - 1e-9), MIN_INTERVALS)
        n = max(n, math.ceil(MIN_INTERVALS * rate))
        out += (f"{n:,} requests per variant, about {secs:,} s at {rate:g} req/s per variant "
                f"(plus warm-up: --duration {secs}s + the --warmup)")
        if secs == MIN_INTERVALS:
            out += f"; {MIN_INTERVALS} s is the verdict's minimum of one-second intervals"
    else:
        out += (f"{n:,} requests per variant, and never fewer than {MIN_INTERVALS} seconds "
                f"(the verdict's minimum of one-second intervals)")
    return out + "."


def _plan_latency(text: str, base, *, sd_ms: float | None, power: float, alpha: float, rate: float | None, m: int,
                  seed: int | None, tail: float | None, holm_clause: str, metric: str = "latency") -> str:
    from stinger.core.catalogue import BY_NAME
    from stinger.core.slo import parse_slo
    from stinger.core.stats import MIN_INTERVALS, plan_latency_seconds
    from stinger.errors import UsageError

    try:
        effect = parse_slo(f"p50<{text}").threshold
    except UsageError:
        raise UsageError(f"--min-effect {text!r} is not a latency such as 5ms or a rate such as 1%") from None
    if effect <= 0:
        raise UsageError(f"--min-effect must be a positive latency such as 5ms, got {text!r}")
    notes = []
    base_errors = 0.0
    if base is not None:
        intervals, base_rate, base_errors, source = base.intervals, base.rate, base.errors, base.source
    elif sd_ms is not None and sd_ms > 0:
        base_rate = rate or DEFAULT_RATE
        intervals = _synthetic(sd_ms, base_rate, seed)
        source = (f"baseline sd {sd_ms:.2f} ms given; assumes normally distributed latencies and independent "
                  f"seconds, so plan from a --baseline run for a number you can trust")
    else:
        raise UsageError("give --baseline RUN_DIR (best) or --sd-ms, the baseline latency's standard deviation")
    share = 1.0
    if rate is not None and rate < base_rate:
        share = rate / base_rate
    elif rate is not None and rate > base_rate * 1.05:
        notes.append(f"the baseline ran at {base_rate:,.0f} req/s, so this plans at that rate; at {rate:g} req/s "
                     f"there are more requests per second (but latency may change with load)")
    m_def = BY_NAME[metric]
    noun = base.noun if base is not None else "requests"
    noun_rate = "req/s" if noun == "requests" else f"{noun}/s"
    plan = plan_latency_seconds(intervals, effect, alpha=alpha, power=power, share=share, error_rate=base_errors,
                                m=m, min_seconds=MIN_INTERVALS, seed=seed, at=tail, qs=m_def.compare,
                                rank=m_def.rank, scale=m_def.scale)
    per_second = base_rate * share
    shape = (f"in {m_def.label}" if tail is None else
             f"in {m_def.label} from p{100 * tail:g} up (a tail-only increase: the median unchanged)")
    tests = "/".join(f"p{100 * q:g}" for q in m_def.compare) + " by block bootstrap" + \
        (" and Mann-Whitney" if m_def.rank else "")
    out = (f"To detect a {effect:g} ms increase {shape} with power {power:g} at family-wise alpha {alpha:g} "
           f"(the verdict's tests: {tests} over one-second intervals, "
           f"{holm_clause}), simulated from {source}: {plan.requests:,} {noun} per variant, about "
           f"{plan.seconds:,} s at {per_second:,.0f} {noun_rate} per variant (plus warm-up: --duration "
           f"{plan.seconds}s + the --warmup, which counts inside the duration); "
           f"simulated power there {plan.power:.2f} ({plan.sims} simulated runs)")
    if not plan.reached:
        out += f"; even {plan.seconds:,} s fell short of power {power:g}: the effect is small for this spread"
    if plan.seconds == MIN_INTERVALS:
        out += f"; {MIN_INTERVALS} s is the verdict's minimum of one-second intervals"
    out += "."
    if notes:
        out += " Note: " + "; ".join(notes) + "."
    return out


@dataclass
class Baseline:
    """What a plan takes from a saved run's variant."""

    intervals: list       # its whole one-second latency histograms
    rate: float           # requests per second over its measured window
    errors: float         # its error rate
    source: str           # how the plan names it
    rows: int             # the verdict's rows for the metrics it has (Holm's family)
    row_names: str
    goodput: float | None = None   # its goodput share, when it had objectives
    noun: str = "requests"         # what its intervals count: requests, or gaps between tokens (itl)


def _baseline(arg: str, metric: str = "latency") -> Baseline:
    """A saved run's variant: its whole seconds of `metric` (a partial first or last second would be drawn
    as a whole one, at a fraction of the rate), their rate and spread, and the rows its verdict would hold."""
    from stinger.core.catalogue import BY_NAME, verdict_rows
    from stinger.core.histogram import Histogram
    from stinger.core.stats import design_effect
    from stinger.errors import UsageError
    from stinger.outputs.rundir import read_run

    path, _, variant = arg.partition(":")
    saved = read_run(path)
    data = variant_data_from_run(saved, variant or None)
    window = saved.summary.get("window") or {}
    step = float(saved.summary.get("interval_s") or 1.0)
    start, end = window.get("start_s"), window.get("end_s")
    series = data.series("latency" if metric == "goodput" else metric) or ([], [])
    whole = [iv for iv, s in zip(series[0], series[1], strict=False)
             if start is None or end is None or (s * step >= start - 1e-6 and (s + 1) * step <= end + 1e-6)]
    intervals = whole if len(whole) >= 2 else series[0]
    if len(intervals) < 2:
        what = "latency" if metric in ("latency", "goodput") else BY_NAME[metric].label
        raise UsageError(f"{path} has too few {what} histograms to plan from (need 2 one-second intervals)")
    h = Histogram()
    for values, counts in intervals:
        h.record_many(np.repeat(values, counts))
    seconds = len(intervals) * step
    rate = h.total_count / seconds
    errors = (data.failed + data.dropped) / data.total if data.total else 0.0
    deff = design_effect(intervals)
    noun = "gaps" if metric in BY_NAME and BY_NAME[metric].per == "gap" else "requests"
    source = (f"{path} ({h.total_count:,} {noun} in {seconds:g} whole seconds, baseline sd "
              f"{h.stddev / 1e3:.2f} ms, design effect {deff:.2f} for correlation in time, "
              f"error rate {100 * errors:.2g}%)")
    present = compared_metrics(data, data)
    names = [f"{BY_NAME[n].label} {'/'.join(f'p{100 * q:g}' for q in BY_NAME[n].compare)}"
             + (" + Mann-Whitney" if BY_NAME[n].rank else "") for n in present]
    g = data.goodput or {}
    share = g.get("share") if g.get("of") else None
    return Baseline(intervals, rate, errors, source, verdict_rows(present, goodput=share is not None),
                    ", ".join([*names, "error rate", *(["goodput"] if share is not None else [])]),
                    goodput=share, noun=noun)


def _quantile_arg(text: str) -> float:
    """`--at p95` -> 0.95."""
    from stinger.errors import UsageError

    t = str(text).strip().lower().removeprefix("p")
    try:
        q = float(t) / 100.0
    except ValueError:
        q = -1.0
    if not 0 < q < 1:
        raise UsageError(f"--at {text!r} is not a percentile such as p95 or p99")
    return q


def _points(x: float) -> str:
    """Percentage points, singular for one."""
    return f"{x:g} percentage point" + ("" if x == 1 else "s")


def _synthetic(sd_ms: float, rate: float, seed: int | None) -> list:
    """Thirty independent one-second histograms of normal latencies with the given sd (us)."""
    rng = np.random.default_rng(seed)
    mean_us = max(50_000.0, 5_000.0 * sd_ms)
    out = []
    for _ in range(30):
        lat = np.maximum(np.round(rng.normal(mean_us, sd_ms * 1000.0, rng.poisson(rate))), 1).astype(np.int64)
        v, c = np.unique(lat, return_counts=True)
        out.append((v, c.astype(np.int64)))
    return out


def _fraction_arg(text: str, flag: str) -> float:
    from stinger.core.units import parse_fraction

    return parse_fraction(text, what=flag)
