"""The coordinator half of the sagemaker carrier (and of a spec's `cloudwatch` monitor), by ability.

`SageMakerSide` offers what orchestration asks of a kind (`targets/abilities.py`), never by
name: `Preflight` (credentials sign, the endpoint is InService, its variants exist),
`VariantDiscovery` (`ab --sagemaker ENDPOINT`: DescribeEndpoint's production variants),
`EndpointSplit` (`split: sagemaker`: the endpoint's own weights, each response attributed
from its invoked-variant header; `split.py`), `ExtraMonitors` (one DescribeEndpoint poller per
endpoint: instance type, count and weight over time), `AfterRun` (CloudWatch read back beside
client latency, the cost: `summary.py`), `Priced` and `TargetFlags`.

The control plane and CloudWatch are reached at AWS's addresses unless
`AWS_ENDPOINT_URL_SAGEMAKER` / `AWS_ENDPOINT_URL_CLOUDWATCH` say otherwise (botocore's own
service-specific endpoint variables; `stinger demo --sagemaker` sets them to the local moto server
for its own run), or the target's `control_url` (`--control-url`) does. botocore is imported only
when a method runs.
"""

from __future__ import annotations

import os
from typing import Any

from stinger.errors import UsageError
from stinger.vendors.sagemaker.split import HEADER, SPLIT

WAIT_ENV = "STINGER_CLOUDWATCH_WAIT_S"
POLL_ENV = "STINGER_CLOUDWATCH_POLL_S"
CONTROL_URL_ENVS = ("AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_CLOUDWATCH")


def discover_variants(target: dict[str, Any], *, pin: bool = True) -> tuple[list[dict[str, Any]], str]:
    """`ab --sagemaker ENDPOINT`: the endpoint's production variants (DescribeEndpoint +
    DescribeEndpointConfig; an unknown endpoint or bad credentials is a one-line UsageError), each
    as a spec variant named VARIANT_INSTANCETYPE so the verdict names both: pinned with TargetVariant
    (`pin`), or all sharing one unpinned target that lists the production variants in order
    (`--split sagemaker`: SageMaker's weights split, the invoked-variant header attributes).
    Returns (variants, region)."""
    from stinger.vendors.sagemaker.carrier import parse_config, resolve_region, variant_configs
    from stinger.vendors.sagemaker.cloudwatch import make_client
    from stinger.vendors.sagemaker.endpoint_monitor import describe_variants

    base = parse_config(target, where="--sagemaker")
    if not _has_control_plane(base):
        # a runtime on loopback is a local emulator: AWS's DescribeEndpoint (what botocore would call) is not its
        # control plane, and the docs promise stinger never reaches the real cloud for one
        raise UsageError(f"--sagemaker {base.endpoint} --endpoint-url {base.endpoint_url} is a local runtime with no "
                         "control plane to list its production variants: give --control-url URL (its DescribeEndpoint "
                         "and CloudWatch), or a spec whose variants each pin one (target_variant)")
    region = resolve_region(base)
    infos = describe_variants(make_client("sagemaker", region, base.control_url), base.endpoint)
    configs = variant_configs(base.model_copy(update={"region": region}), [v.name for v in infos], pin=pin)
    if not pin:
        if base.target_variant:
            raise UsageError("--target-variant pins every request; --split sagemaker lets SageMaker pick")
        if len(infos) < 2:
            raise UsageError(f"SageMaker endpoint {base.endpoint!r} has one production variant "
                             f"({infos[0].name}): --split sagemaker needs two or more to compare")
        configs = configs * len(infos)
    variants = []
    for info, config in zip(infos, configs, strict=True):
        variants.append({"name": f"{info.name}_{info.instance_type or 'serverless'}", "weight": info.weight,
                         "target": config.model_dump(mode="json", exclude_none=True)})
    return variants, region


def _has_control_plane(config: Any) -> bool:
    """False for a runtime on loopback (a local emulator) with no control-plane URL set: then there is
    no DescribeEndpoint or CloudWatch to ask, and asking AWS's would reach the real cloud."""
    if config.endpoint_url is None or config.control_url:
        return True
    if any(os.environ.get(name) for name in (*CONTROL_URL_ENVS, "AWS_ENDPOINT_URL")):
        return True
    return not all(e.is_loopback for e in config.endpoints())


def sagemaker_variants(spec: Any) -> list[tuple[str, Any]]:
    """(stinger variant name, SageMaker target config) for each variant whose target is SageMaker
    and whose control plane (DescribeEndpoint, CloudWatch) can be asked."""
    return [(v.name, v.target) for v in spec.all_variants()
            if _is_sagemaker(v.target) and _has_control_plane(v.target)]


def _is_sagemaker(config: Any) -> bool:
    """A target carried by SageMaker (its own carrier: this module's name test, in its own home)."""
    return getattr(config, "via", "") == "sagemaker"


def _region_env() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def _region(config: Any) -> str | None:
    return config.region or _region_env()


def preflight(spec: Any) -> None:
    """Before any load, one line each (exit 2): the aws extra missing, no credentials, no or unknown
    region (a target built and one request signed); with a control plane, an endpoint that does not
    exist or is not InService, expired or invalid credentials, a missing permission (DescribeEndpoint)."""
    from stinger.vendors.sagemaker.carrier import SageMakerTarget, check_credentials
    from stinger.vendors.sagemaker.cloudwatch import make_client
    from stinger.vendors.sagemaker.endpoint_monitor import describe_variants

    checked: set[tuple[str, str | None]] = set()
    for v in spec.all_variants():
        config = v.target
        if not _is_sagemaker(config):
            continue
        target = SageMakerTarget(config)
        check_credentials(target)
        key = (config.endpoint, target.region)
        if key in checked or not _has_control_plane(config):
            continue
        checked.add(key)
        infos = describe_variants(make_client("sagemaker", target.region, config.control_url), config.endpoint)
        names = {i.name for i in infos}
        if config.target_variant and config.target_variant not in names:
            raise UsageError(f"SageMaker endpoint {config.endpoint!r} has no production variant "
                             f"{config.target_variant!r} (it has {', '.join(sorted(names))})")
        if spec.split == SPLIT:
            # SageMaker may route to any of its variants: one the run does not list would land unattributed
            from stinger.vendors.sagemaker.split import production_variants

            listed = set(production_variants(spec).values())
            if listed != names:
                raise UsageError(f"split: sagemaker lists production variants {', '.join(sorted(listed))} but "
                                 f"endpoint {config.endpoint!r} has {', '.join(sorted(names))}: list each once "
                                 f"(variant names, or target.variant_names), as SageMaker may route to any")


def named_monitors(spec: Any, kind: str) -> list:
    """The validated configs of the spec's own `monitors:` entries of `kind` (cloudwatch, sagemaker-endpoint)."""
    from stinger.monitors.registry import monitor_config

    return [monitor_config(d, at=("monitors", i)) for i, d in enumerate(spec.monitors or ())
            if isinstance(d, dict) and d.get("type") == kind]


def asks_cloudwatch(spec: Any) -> bool:
    """The spec names a CloudWatch endpoint to read after the run (whatever its target)."""
    return any(c.endpoint and c.enabled for c in named_monitors(spec, "cloudwatch"))


def _settings(spec: Any, endpoint: str) -> Any:
    """The spec's cloudwatch entry for `endpoint`: its own, else one naming no endpoint, else None."""
    named = named_monitors(spec, "cloudwatch")
    return next((c for c in named if c.endpoint == endpoint), None) or \
        next((c for c in named if c.endpoint is None), None)


def endpoint_monitors(spec: Any) -> list:
    """One DescribeEndpoint poller per distinct (endpoint, region) of the run, unless the spec names
    one for it (`type: sagemaker-endpoint`: that one is built with the spec's monitors)."""
    from stinger.vendors.sagemaker.endpoint_monitor import EndpointMonitor

    seen: dict[tuple[str, str | None], Any] = {
        (c.endpoint, c.region or _region_env()): None for c in named_monitors(spec, "sagemaker-endpoint")}
    for _, config in sagemaker_variants(spec):
        key = (config.endpoint, _region(config))
        if key not in seen:
            seen[key] = EndpointMonitor(config.endpoint, region=key[1], endpoint_url=config.control_url)
    return [m for m in seen.values() if m is not None]


# ------------------------------------------------------------------ the coordinator half
class SageMakerSide:
    """The coordinator half of the sagemaker carrier (and of a spec's `cloudwatch` monitor): this module's
    steps as abilities (`targets/abilities.py`), each taking its SageMaker variants from the run."""

    from stinger.targets.abilities import TargetFlag as _Flag

    alias = "--sagemaker"
    alias_metavar = "ENDPOINT"
    alias_help = "A SageMaker endpoint to call (signed InvokeEndpoint; needs pip install 'stinger[aws]')"
    flags = (
        _Flag("--region", "region", "AWS region (default: AWS_REGION or the profile's)."),
        _Flag("--endpoint-url", "endpoint_url", "Runtime URL instead of AWS's (a VPC endpoint or a local emulator)."),
        _Flag("--control-url", "control_url", "Control-plane and CloudWatch URL (a local emulator; default AWS's, "
                                              "or AWS_ENDPOINT_URL_SAGEMAKER / _CLOUDWATCH)."),
        _Flag("--target-variant", "target_variant", "Pin every request to this production variant."),
        _Flag("--stream", "stream", "InvokeEndpointWithResponseStream (time to first chunk, gaps between chunks).",
              type=bool, is_flag=True),
        _Flag("--no-cloudwatch", None, "Do not read CloudWatch after the run (spec: monitors: [{type: cloudwatch, "
                                       "enabled: false}]).", type=bool, is_flag=True, monitor="cloudwatch=off"),
    )
    variant_key = "target_variant"
    del _Flag

    # EndpointSplit: `split: sagemaker`, the endpoint's own weights, each response attributed
    split_name = SPLIT
    attribution_header = HEADER

    def split_problem(self, run: Any) -> str | None:
        from stinger.vendors.sagemaker.split import split_problem

        return split_problem(run)

    def for_attribution(self, config: Any, names: tuple[str, ...]) -> Any:
        """The one unpinned target every variant shares: it learns the production variants in plan order
        (its own `variant_names` when it lists them, else the variants' names) to attribute responses."""
        return config.model_copy(update={"variant_names": tuple(config.variant_names or names)})

    def attribution(self, run: Any, variants: Any, points: Any) -> dict[str, Any]:
        from stinger.vendors.sagemaker.split import attribution_block

        return attribution_block(run, dict(variants), list(points))

    def verdict_notes(self, block: Any) -> list[str]:
        from stinger.vendors.sagemaker.split import verdict_notes

        return verdict_notes(dict(block))

    def from_flag(self, arg: str) -> dict[str, Any]:
        return {"type": "plain", "via": "sagemaker", "endpoint": arg}

    def preflight(self, run: Any) -> None:
        preflight(run)

    def extra_monitors(self, run: Any) -> list:
        return endpoint_monitors(run) if sagemaker_variants(run) else []

    def after_run(self, ctx: Any) -> Any:
        """The `sagemaker` block: CloudWatch read back (a countdown while it waits) beside client latency;
        None when the run has no SageMaker endpoint to read (a local emulator) and names none."""
        from stinger.core.blocks import Block
        from stinger.vendors.sagemaker.summary import collect, render, server_time_readings

        run = ctx.run
        if not sagemaker_variants(run) and not asks_cloudwatch(run):
            return None

        def countdown(left: float) -> None:
            ctx.notice(f"CloudWatch: waiting for the run's last minute to be published ({left:.0f} s left at most)")

        off = any(isinstance(d, dict) and d.get("type") == "cloudwatch" and d.get("enabled") is False
                  and not d.get("endpoint") for d in run.monitors)
        if not off:
            ctx.notice("CloudWatch: reading ModelLatency, OverheadLatency, invocations and utilization ...")
        block = collect(run, ctx.summary, ctx.points, ctx.t0_wall, ctx.t1_wall, on_wait=countdown)
        if ctx.console is not None:
            render(block, ctx.console)
        return Block("sagemaker", block, server_time=server_time_readings(block))

    def discover_variants(self, config: Any, *, pin: bool) -> tuple[Any, ...]:
        """The endpoint's production variants (`discover_variants`: DescribeEndpoint), as targets."""
        from stinger.targets.abilities import Discovered

        variants, _ = discover_variants(config.model_dump(mode="json", exclude_none=True), pin=pin)
        return tuple(Discovered(v["name"], v["weight"], type(config).model_validate(v["target"])) for v in variants)

    def with_price(self, config: Any, usd_per_hour: float) -> Any:
        """The target with its instances' price (the cost per million inferences is its, not the table's)."""
        return config.model_copy(update={"price_per_hour": usd_per_hour})
