"""`stinger run`: one load test from a spec file, flags, or both (flags win)."""

from __future__ import annotations

import sys
from typing import Any

import click

from stinger.cli.flags import control_from, control_option, dashboard_option, jsonl_option, load_options
from stinger.cli.help import GroupedCommand, option
from stinger.cli.outputs import outputs, warn_failures
from stinger.cli.resolve import has_priced, priced_usage, resolve_spec, with_prices
from stinger.cli.targets import target_options

EXAMPLES = (
    "stinger run --url http://127.0.0.1:8080/invocations --data rows.jsonl --rate 100 --duration 30s --slo 'p95<300ms'",
    "stinger run spec.yaml --rate 200 --duration 1m --monitor prometheus=http://127.0.0.1:8082/metrics:mlserver",
)


@click.command(cls=GroupedCommand, examples=EXAMPLES)
@click.argument("spec_file", required=False, metavar="[SPEC]")
@target_options
@option("--price-per-hour", "price", group="Target", rank=20, default=None, type=float,
        help="USD per instance-hour of the target's instances, for the cost per million inferences (targets that "
             "know their instances; default: the bundled, dated indicative table).")
@load_options
@dashboard_option
@control_option
@jsonl_option
def run(spec_file: str | None, quiet: bool, dashboard: int | None, price: float | None, control: str | None,
        jsonl: str | None, **params: Any) -> None:
    """Run one load test: from a YAML SPEC, flags, or both (flags win)."""
    from stinger import _api

    spec, _ = resolve_spec(spec_file, params)
    if price is not None:
        if not has_priced(spec):
            raise click.UsageError(f"--price-per-hour prices the instances of {priced_usage()}, but this run's "
                                   "target has none (a capacity search takes it: stinger capacity --price-per-hour)")
        spec = with_prices(spec, (price, price))
    result = _api.run(spec, outputs=outputs(quiet, dashboard, jsonl), control=control_from(control))
    warn_failures(result.summary, quiet)
    sys.exit(result.exit_code)
