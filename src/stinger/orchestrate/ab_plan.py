"""`stinger plan`: how many requests (how long a run) an A/B test needs to detect a given difference."""

from __future__ import annotations

import numpy as np

from stinger.core.histogram import Histogram
from stinger.orchestrate.compare import variant_data_from_run


def plan_ab(*, min_effect: str, baseline: str | None = None, sd_ms: float | None = None,
            error_rate: str | None = None, power: float = 0.8, alpha: float = 0.05,
            rate: float | None = None) -> str:
    """Requests per variant (and run time at `rate`) to detect `min_effect`; one paragraph of text."""
    from stinger.core.stats import design_effect, plan_duration, plan_sample_size
    from stinger.errors import UsageError

    if not 0 < power < 1:
        raise UsageError(f"--power must be between 0 and 1 (e.g. 0.8), got {power:g}")
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1 (e.g. 0.05), got {alpha:g}")
    if rate is not None and rate <= 0:
        raise UsageError(f"--rate must be > 0 requests per second, got {rate:g}")
    text = str(min_effect).strip()
    if error_rate is not None or text.endswith("%"):
        base = _fraction_arg(error_rate, "--error-rate") if error_rate is not None else None
        if base is None:
            raise UsageError("a proportion needs its baseline: --error-rate 2% (or the accuracy)")
        effect = _fraction_arg(text, "--min-effect")
        if effect == 0:
            raise UsageError("--min-effect must be a non-zero difference, e.g. 1%")
        n = plan_sample_size(baseline_rate=base, min_effect=effect, alpha=alpha, power=power, metric="proportion")
        what = f"a change of {100 * effect:g} percentage points from a baseline rate of {100 * base:g}%"
    else:
        from stinger.core.slo import parse_slo

        try:
            effect = parse_slo(f"p50<{text}").threshold
        except UsageError:
            raise UsageError(f"--min-effect {text!r} is not a latency such as 5ms or a rate such as 1%") from None
        deff = 1.0
        source = "given"
        if baseline is not None:
            from stinger.outputs.rundir import read_run

            path, _, variant = baseline.partition(":")
            data = variant_data_from_run(read_run(path), variant or None)
            if not data.intervals:
                raise UsageError(f"{path} has no latency histograms to plan from")
            h = Histogram()
            for values, counts in data.intervals:
                h.record_many(np.repeat(values, counts))
            sd_ms = h.stddev / 1e3
            deff = design_effect(data.intervals)
            source = f"from {path} ({h.total_count:,} requests, design effect {deff:.2f} for correlation in time)"
        if effect <= 0:
            raise UsageError(f"--min-effect must be a positive latency such as 5ms, got {text!r}")
        if sd_ms is None or sd_ms <= 0:
            raise UsageError("give --baseline RUN_DIR (best) or --sd-ms, the baseline latency's standard deviation")
        n = plan_sample_size(baseline_sd_ms=sd_ms, min_effect=effect, alpha=alpha, power=power, metric="mean",
                             design_effect=deff)
        what = f"a {effect:g} ms shift in mean latency (baseline sd {sd_ms:.2f} ms, {source})"
    out = (f"To detect {what} with power {power:g} at alpha {alpha:g} (two-sided): "
           f"{n:,} requests per variant")
    if rate:
        secs = plan_duration(n, rate)
        out += f", about {secs:,.{0 if secs >= 10 else 1}f} s at {rate:g} req/s per variant (plus warm-up)"
    return out + "."


def _fraction_arg(text: str, flag: str) -> float:
    from stinger.errors import UsageError

    t = str(text).strip()
    try:
        v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a fraction such as 2% or 0.02") from None
    if not 0 <= v <= 1:
        raise UsageError(f"{flag} must be between 0 and 1 (or 0% and 100%), got {text!r}")
    return v
