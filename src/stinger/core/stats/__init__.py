"""A/B statistics: per-metric comparisons of two variants, planning, sequential tests.

This package owns the numbers behind an A/B verdict: each public comparison
returns one `Comparison` (a row of the verdict table) with both variants' values,
the difference B - A, a confidence interval, a p-value and the method used.
`stinger.core.verdict` turns a list of rows into the multi-metric decision.
Every public name is importable from here; the modules are:

    comparison    the `Comparison` row and the conventions every test follows
    intervals     latency as one-second HDR interval histograms (the unit of
                  independence: requests close in time are correlated) and the
                  interval-or-per-request choice (`MIN_INTERVALS`)
    quantiles     quantile differences: block bootstrap over intervals
    means         mean difference (Welch t, clustered variance), design effect
    ranks         Mann-Whitney on weighted histograms
    proportions   error rate, goodput and accuracy (Fisher/Newcombe, McNemar)
    predictions   agreement of two models' predictions, regression error
    throughput    capacity brackets compared
    multiplicity  Holm's adjustment
    drift         a run against itself (its halves) and the margin band of `compare`
    planning      sample size and duration before a test
    sequential    the always-valid mixture SPRT

``tests/core/test_stats.py`` shows the per-request bootstrap over-rejecting on
correlated data, which is why interval methods are the default.

Pure numpy/scipy: no asyncio, no I/O.
"""

from __future__ import annotations

from stinger.core.stats.comparison import MIN_PER_VARIANT, Comparison, min_count, too_few
from stinger.core.stats.drift import Margin, band_rows, quantile_drift, rank_drift
from stinger.core.stats.intervals import MIN_INTERVALS, Hist
from stinger.core.stats.means import design_effect, mean_diff
from stinger.core.stats.multiplicity import holm
from stinger.core.stats.planning import (
    VERDICT_ROWS,
    LatencyPlan,
    plan_duration,
    plan_latency_seconds,
    plan_sample_size,
    simulate_power,
)
from stinger.core.stats.predictions import agreement, regression_error_diff
from stinger.core.stats.proportions import accuracy_paired, accuracy_unpaired, error_rate_diff, goodput_diff
from stinger.core.stats.quantiles import quantile_diff, quantile_diffs
from stinger.core.stats.ranks import mann_whitney, superiority
from stinger.core.stats.sequential import SequentialTest
from stinger.core.stats.throughput import throughput_diff

__all__ = [
    "MIN_INTERVALS",
    "MIN_PER_VARIANT",
    "VERDICT_ROWS",
    "Comparison",
    "Hist",
    "LatencyPlan",
    "Margin",
    "SequentialTest",
    "accuracy_paired",
    "accuracy_unpaired",
    "agreement",
    "band_rows",
    "design_effect",
    "error_rate_diff",
    "goodput_diff",
    "holm",
    "mann_whitney",
    "mean_diff",
    "min_count",
    "plan_duration",
    "plan_latency_seconds",
    "plan_sample_size",
    "quantile_diff",
    "quantile_diffs",
    "quantile_drift",
    "rank_drift",
    "regression_error_diff",
    "simulate_power",
    "superiority",
    "throughput_diff",
    "too_few",
]
