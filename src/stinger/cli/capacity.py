"""`stinger capacity`: the highest load that still meets the SLOs, and the capacity flags `ab --split
capacity` shares."""

from __future__ import annotations

import sys
from typing import Any

import click

from stinger.cli.flags import STEP_SETS, dashboard_option, load_options
from stinger.cli.help import GroupedCommand, option
from stinger.cli.outputs import outputs
from stinger.cli.resolve import resolve_spec
from stinger.cli.targets import target_options

EXAMPLES = (
    "stinger capacity --url http://127.0.0.1:8080/invocations --data rows.jsonl --slo 'p95<300ms'",
    "stinger capacity spec.yaml --mode concurrency --start 4 --price-per-hour 0.23 --instances 2",
)
SEARCH = ("search_start", "growth", "precision", "search_max", "max_steps", "confirm", "step_duration",
          "step_warmup", "hold", "adaptive")


def search_options(fn: Any) -> Any:
    """How the search steps: shared by `capacity` and `ab --split capacity`."""
    opts = [
        option("--start", "search_start", group="Capacity", rank=1, default=None, type=float, help="First step (default 10 req/s, or 1 user)."),
        option("--growth", group="Capacity", rank=2, default=2.0, show_default=True, type=float, help="Factor between steps while growing."),
        option("--precision", group="Capacity", rank=3, default="5%", show_default=True, help="Stop bisecting when the bracket is this narrow."),
        option("--max", "search_max", group="Capacity", rank=4, default=100_000.0, show_default=True, type=float, help="Highest step tried."),
        option("--max-steps", group="Capacity", rank=5, default=20, show_default=True, type=int, help="At most this many steps (re-tests included)."),
        option("--confirm", group="Capacity", rank=6, default=1, show_default=True, type=click.IntRange(0, 5),
               help="Re-test a failing step this many times before it counts (a pass is believed at once)."),
        option("--step-duration", group="Capacity", rank=7, default="8s", show_default=True, help="Measured window of each step."),
        option("--step-warmup", group="Capacity", rank=8, default="2s", show_default=True, help="Warm-up of each step (not judged)."),
        option("--hold", group="Capacity", rank=9, default=None, metavar="DURATION",
               help="After the search, run the load found this long and judge it on the same SLOs "
                    "(capacity.json 'hold'; exit 1 when it does not hold), e.g. 30s."),
        option("--adaptive", group="Capacity", rank=10, is_flag=True, default=False,
               help="Search in ONE run: raise the load live, judge each step as a window of the run "
                    "(--step-warmup settles, --step-duration judges), back off and re-test by the same rules, "
                    "then hold the load found (--hold). Load changes go to events.jsonl."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def search_kw(mode: str, params: dict[str, Any], slos: Any, price_per_hour: float | None = None,
              instances: Any = 1) -> dict[str, Any]:
    """The search flags (popped from `params`) as `stinger.capacity(...)` options."""
    from stinger.core.schedule import parse_duration
    from stinger.core.units import parse_fraction

    s = {k: params.pop(k) for k in SEARCH}
    return {"mode": mode, "start": s["search_start"], "growth": s["growth"],
            "precision": parse_fraction(s["precision"], what="--precision", allow_over_one=True),
            "max_target": s["search_max"], "max_steps": s["max_steps"], "confirm": s["confirm"],
            "step_duration": parse_duration(s["step_duration"]), "step_warmup": parse_duration(s["step_warmup"]),
            "hold": parse_duration(s["hold"]) if s["hold"] else 0.0, "adaptive": bool(s["adaptive"]), "slos": list(slos or ()), "price_per_hour": price_per_hour, "instances": instances}


@click.command(cls=GroupedCommand, examples=EXAMPLES)
@click.argument("spec_file", required=False, metavar="[SPEC]")
@target_options
@load_options(exclude=STEP_SETS | {"--save-requests"})
@option("--mode", "search_mode", group="Capacity", rank=0, type=click.Choice(["rate", "concurrency"]), default="rate",
        show_default=True, help="Search over offered rate (open model) or concurrent users (closed model).")
@search_options
@option("--price-per-hour", group="Capacity", rank=10, default=None, type=float,
        help="Instance price (USD/h): prints cost per million inferences.")
@option("--instances", group="Capacity", rank=11, default=1, show_default=True, type=int,
        help="Instances behind the endpoint (for cost).")
@dashboard_option
def capacity(spec_file: str | None, quiet: bool, dashboard: int | None, search_mode: str,
             price_per_hour: float | None, instances: int, **params: Any) -> None:
    """Find the highest load that still meets the SLOs (default p95<300ms, error_rate<1%, achieved_ratio>=0.95).

    Each step sets its own load (--start, --growth, --step-duration, --step-warmup), so the
    flags that set a load (--rate, --users, --duration, --ramp, ...) are not offered here.
    """
    from stinger import _api

    if params.get("rate") is None and params.get("users") is None:
        params["rate"] = "1"  # a placeholder so the spec validates; every step sets its own load
    if params.get("duration") is None and params.get("requests") is None:
        params["duration"] = "1s"
    spec, _ = resolve_spec(spec_file, params)
    search = search_kw(search_mode, params, params.get("slos"), price_per_hour, instances)
    result = _api.capacity(spec, outputs=outputs(quiet, dashboard), **search)
    if quiet:
        import json

        out = result.summary
        click.echo(json.dumps({k: out.get(k) for k in ("max_sustainable", "bracket", "throughput_at_max_rps",
                                                       "stop_reason", "first_limit", "stability", "cost",
                                                       "run_dir")}, default=str))
    sys.exit(result.exit_code)
