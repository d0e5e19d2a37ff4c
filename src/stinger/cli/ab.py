"""`stinger ab`: two variants, their traffic split or paired, and the verdict.

The variants come from the spec, from `--a`/`--b` (each a value of the target's `variant_key`: a URL
for plain HTTP, a model for `--kserve URL`, or `KEY=VALUE[,...]` fields), or from the endpoint
itself (a target with `VariantDiscovery`, named without --a/--b). The target flags are `run`'s.
"""

from __future__ import annotations

import math
import sys
import typing
from typing import Any

import click

from stinger.cli.capacity import search_kw, search_options
from stinger.cli.flags import control_from, control_option, dashboard_option, load_options
from stinger.cli.help import GroupedCommand, option
from stinger.cli.outputs import outputs, warn_failures
from stinger.cli.resolve import has_priced, pair, resolve_spec, with_prices
from stinger.cli.targets import (
    Kind,
    Named,
    check_flags,
    discover,
    kinds,
    named_target,
    target_options,
    variant_target,
)
from stinger.targets.abilities import EndpointSplit, VariantDiscovery

EXAMPLES = (
    "stinger ab --a http://127.0.0.1:8080/variants/fast/invocations "
    "--b http://127.0.0.1:8080/variants/accurate/invocations --split paired --rate 20 --duration 1m",
    "stinger ab --kserve http://127.0.0.1:8080 --a iris-v1 --b iris-v2 --data rows.jsonl --rate 50 --duration 2m",
)
OWN_MODES = ("split", "paired")   # the spec's own; capacity is the CLI's; an endpoint's come from its kind


def split_modes() -> list[str]:
    """`--split` choices: the spec's `split:` values (with those a kind's EndpointSplit adds) and capacity."""
    from stinger.spec.model import Spec

    spec_modes = list(typing.get_args(Spec.model_fields["split"].annotation)) or list(OWN_MODES)
    added = [k.side.split_name for k in kinds() if isinstance(k.side, EndpointSplit)]
    return list(dict.fromkeys([*spec_modes, *added, "capacity"]))


def endpoint_split_kind(mode: str | None) -> Kind | None:
    """The kind whose endpoint splits the traffic in `mode` (None for the spec's own modes): its
    `EndpointSplit`, else (until its side declares one) the discovering kind named like the mode."""
    if mode is None or mode in (*OWN_MODES, "capacity"):
        return None
    for k in kinds():
        if isinstance(k.side, EndpointSplit) and k.side.split_name == mode:
            return k
    return next((k for k in kinds() if k.name == mode and isinstance(k.side, VariantDiscovery)), None)


def _endpoint_split_usage(mode: str | None, weights: str | None, a: str | None, spec_file: str | None,
                          named: Named) -> None:
    """`ab --split MODE` where the endpoint splits: the one-line usage errors, before the endpoint is asked."""
    kind = endpoint_split_kind(mode)
    if kind is None:
        return
    if weights:
        raise click.UsageError(f"--weights cannot be used with --split {mode}: the endpoint's own variant "
                               "weights split the traffic (change them on the endpoint)")
    if a is not None:
        raise click.UsageError(f"--split {mode} needs {kind.usage} (the endpoint splits the traffic), not --a/--b")
    pin = next((f.option for f in kind.side.flags if f.field == kind.side.variant_key), None)
    if pin is not None and pin in named.given:
        raise click.UsageError(f"{pin} pins every request; --split {mode} lets the endpoint pick")
    if named.kind is None and spec_file is None:
        raise click.UsageError(f"--split {mode} needs {kind.usage}, or a spec whose variants share one "
                               "unpinned target the endpoint splits")


def _weights(text: str | None) -> list[float]:
    if not text:
        return [1.0, 1.0]
    try:
        w = [float(x) for x in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of numbers such as 90,10", param_hint="--weights") from None
    if len(w) != 2 or not all(x > 0 and math.isfinite(x) for x in w):
        # a zero weight sends that variant nothing: there would be nothing to compare it on
        raise click.BadParameter(f"{text!r}: expected two positive weights, e.g. 90,10", param_hint="--weights")
    return w


def _given_variants(named: Named, a: str, b: str, names: tuple[str, str], weights: str | None) -> list[dict]:
    """`--a X --b Y`: two variants of the named target (plain HTTP URLs when none is named)."""
    w = _weights(weights)
    out = []
    for flag, value, name, weight in (("--a", a, names[0], w[0]), ("--b", b, names[1], w[1])):
        target = variant_target(named.target, named.kind, value, flag)
        check_flags(named, target)
        out.append({"name": name, "weight": weight, "target": target})
    return out


def _discovered(spec_file: str | None, params: dict[str, Any], named: Named, kind: Kind, pin: bool) -> list[dict]:
    """The named endpoint's own variants (`VariantDiscovery`), each pinned or sharing one target."""
    base, _ = resolve_spec(spec_file, dict(params), named=named)
    return discover(kind, base.target, pin=pin)


def _min_effect_ms(text: str | None) -> float | None:
    if text is None:
        return None
    from stinger.core.slo import parse_slo
    from stinger.errors import UsageError

    try:
        ms = parse_slo(f"p50<{text}").threshold
    except UsageError:
        raise click.BadParameter(f"{text!r} is not a latency such as 5ms", param_hint="--min-effect") from None
    if not ms > 0:
        raise click.BadParameter(f"must be a positive latency such as 5ms, got {text!r}", param_hint="--min-effect")
    return float(ms)


def ab_options(fn: Any) -> Any:
    opts = [
        option("--a", "a", group="A/B", rank=0, default=None, metavar="VALUE",
               help="Variant A (the baseline): a URL, or with a named target its variant value (--kserve URL "
                    "--a MODEL), or KEY=VALUE[,KEY=VALUE] fields of the target."),
        option("--b", "b", group="A/B", rank=1, default=None, metavar="VALUE", help="Variant B (the candidate), as --a."),
        option("--split", "split_mode", group="A/B", rank=2, type=click.Choice(split_modes()), default=None,
               help="split: each request to one variant by weight; paired: every payload to every variant (see "
                    "--pairing); an endpoint that splits by its own weights (with its target named): each response "
                    "counted in the variant it names; capacity: a capacity search per variant. Default: the "
                    "spec's, else split (paired for variants the endpoint lists)."),
        option("--a-name", group="A/B", rank=3, default="A", show_default=True, help="Variant A's name."),
        option("--b-name", group="A/B", rank=4, default="B", show_default=True, help="Variant B's name."),
        option("--weights", group="A/B", rank=5, default=None, help="Traffic weights for split mode, e.g. 90,10."),
        option("--pairing", group="A/B", rank=6, type=click.Choice(["independent", "simultaneous"]), default=None,
               help="Paired mode: independent (default) sends each payload to every variant at instants of its own "
                    "(variants sharing a worker never wait for each other because of the schedule); simultaneous "
                    "sends them at one instant (latency then measures who went first on shared infrastructure, "
                    "which the verdict detects and says)."),
        option("--alpha", group="A/B", rank=7, default=0.05, show_default=True,
               type=click.FloatRange(0, 1, min_open=True, max_open=True), help="Significance level (family-wise, Holm)."),
        option("--sequential", group="A/B", rank=8, is_flag=True,
               help="Stop as soon as the mean-latency difference is decided (mSPRT on per-second B-A means, "
                    "always valid). The earliest possible stop is about warm-up + 12 s (10 complete seconds per "
                    "variant + 2 s for late worker data); after a stop the result is the always-valid interval."),
        option("--min-effect", "min_effect", group="A/B", rank=9, default=None,
               help="With --sequential: the smallest mean-latency difference worth detecting, e.g. 5ms "
                    "(`stinger plan`'s); the test is tuned to detect it soonest. Default: the spread of "
                    "per-second differences."),
        option("--price-per-hour", "prices", group="A/B", rank=10, default=None,
               help="Instance price (USD/h), one for both or A,B for different instance types: the cost per "
                    "million inferences of priced targets' variants (instead of the bundled, dated table) and of "
                    "capacity mode."),
        option("--instances", "instance_counts", group="A/B", rank=11, default="1", show_default=True,
               help="Capacity mode: instances behind each variant, one for both or A,B."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


@click.command(cls=GroupedCommand, examples=EXAMPLES, lead=("A/B",))
@click.argument("spec_file", required=False, metavar="[SPEC]")
@target_options
@load_options
@ab_options
@search_options
@dashboard_option
@control_option
def ab(spec_file: str | None, quiet: bool, dashboard: int | None, a: str | None, b: str | None, a_name: str,
       b_name: str, split_mode: str | None, weights: str | None, pairing: str | None, alpha: float,
       sequential: bool, min_effect: str | None, prices: str | None, instance_counts: str, control: str | None,
       **params: Any) -> None:
    """A/B test two model variants and state the verdict, with confidence intervals."""
    from stinger import _api

    if (a is None) != (b is None):
        raise click.UsageError("give both --a and --b (or neither, with variants in the spec)")
    named = named_target(params)
    if named.kind is not None and named.kind.side.variant_key in named.kind.side.from_flag("-"):
        # the alias's value is what tells two variants apart (a URL for plain HTTP): --a/--b give it
        raise click.UsageError(f"use --a and --b for the two variants, not {named.kind.usage.split()[0]}")
    mode = split_mode
    if mode == "capacity":
        if params.get("rate") is None and params.get("users") is None:
            params["rate"] = "1"
        if params.get("duration") is None:
            params["duration"] = "1s"
    _endpoint_split_usage(mode, weights, a, spec_file, named)
    extra: dict[str, Any] = {}
    if a is not None and b is not None:
        extra["variants"] = _given_variants(named, a, b, (a_name, b_name), weights)
    elif named.kind is not None:
        split_kind = endpoint_split_kind(mode)
        extra["variants"] = _discovered(spec_file, params, named, named.kind, pin=split_kind is None)
        mode = mode or "paired"
    if mode in split_modes() and mode != "capacity":
        extra["split"] = mode
    if pairing is not None:
        extra["pairing"] = pairing
    spec, _ = resolve_spec(spec_file, params, extra=extra, named=named)
    if pairing is not None and (mode or spec.split) != "paired":
        raise click.UsageError(f"--pairing applies to paired traffic (--split paired), not to "
                               f"--split {mode or spec.split}")
    price_pair = pair(prices, float, "--price-per-hour")
    if price_pair is not None and has_priced(spec):
        spec = with_prices(spec, price_pair)
    min_effect_ms = _min_effect_ms(min_effect)
    capacity = search_kw("rate", params, params.get("slos"))
    result = _api.ab(spec, mode=mode or spec.split, alpha=alpha, sequential=sequential, min_effect_ms=min_effect_ms,
                     capacity=capacity, prices=price_pair, instances=pair(instance_counts, int, "--instances"),
                     outputs=outputs(quiet, dashboard), control=control_from(control))
    if quiet:
        click.echo(result.sentence)
    warn_failures(result.summary, quiet)
    summary = result.summary or {}
    for name in summary.get("no_success") or ():
        if name not in (summary.get("failures") or {}):   # a failure report says it already
            click.echo(f"stinger: a variant had no successful response: {name} got no requests; the A/B test "
                       f"compared nothing (exit code 1)", err=True)
    sys.exit(result.exit_code)
