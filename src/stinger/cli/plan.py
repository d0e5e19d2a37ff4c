"""`stinger plan`: how long an A/B test must run to detect a given difference."""

from __future__ import annotations

import click

from stinger.cli.help import GroupedCommand, option

EXAMPLES = (
    "stinger plan --min-effect 5ms --baseline runs/20260101-120000-baseline --rate 50",
    "stinger plan --metric ttft --min-effect 10ms --baseline runs/20260101-120000-llm",
)


@click.command(cls=GroupedCommand, examples=EXAMPLES)
@option("--min-effect", group="Plan", rank=0, required=True,
        help="Smallest difference worth detecting: a latency (5ms) or a rate (1%).")
@option("--baseline", group="Plan", rank=1, default=None,
        help="A saved run (RUN_DIR[:VARIANT]) whose latency spread and correlation to plan from.")
@option("--sd-ms", group="Plan", rank=3, default=None, type=float,
        help="Baseline latency standard deviation (ms), if no --baseline.")
@option("--error-rate", group="Plan", rank=4, default=None,
        help="Baseline error rate (or accuracy) for a proportion, e.g. 2%.")
@option("--power", group="Verdict", rank=1, default=0.8, show_default=True,
        type=click.FloatRange(0, 1, min_open=True, max_open=True))
@option("--alpha", group="Verdict", rank=0, default=0.05, show_default=True,
        type=click.FloatRange(0, 1, min_open=True, max_open=True))
@option("--rate", group="Plan", rank=2, default=None, type=float,
        help="Requests per second per variant, to turn requests into time.")
@option("--rows", group="Verdict", rank=2, default=None, type=int,
        help="Rows of the verdict Holm adjusts over (default: those of the metrics the --baseline run has; "
             "5 without one: p50, p95, p99, Mann-Whitney, error rate; 6 with labelled predictions).")
@option("--at", "at", group="Plan", rank=5, default=None, metavar="pQ",
        help="A tail-only effect: the latencies from the baseline's pQ up move by --min-effect, the "
             "median does not (e.g. --min-effect 28ms --at p95).")
@option("--metric", group="Plan", rank=6, default="latency", show_default=True, metavar="NAME",
        help="The verdict row planned for: latency, a token time from a --baseline LLM run (ttft, ttfo, itl, "
             "tpot), or goodput (its share, from the baseline run's goodput or --error-rate).")
def plan(min_effect: str, baseline: str | None, sd_ms: float | None, error_rate: str | None, power: float,
         alpha: float, rate: float | None, rows: int | None, at: str | None, metric: str) -> None:
    """How long an A/B test must run to detect a given difference, planned for the verdict's own tests.

    Latency: simulated from a baseline run's one-second intervals (--baseline): quantiles by block
    bootstrap and Mann-Whitney, Holm over the verdict's rows, never fewer than 10 one-second intervals;
    --at p95 plans for a tail-only increase, which only the quantile rows can see.
    Proportions: Fisher's test at Holm's alpha / rows. A --sd-ms plan assumes normal latencies.
    """
    from stinger import _api

    click.echo(_api.plan(min_effect=min_effect, baseline=baseline, sd_ms=sd_ms, error_rate=error_rate,
                         power=power, alpha=alpha, rate=rate, rows=rows, at=at, metric=metric))
