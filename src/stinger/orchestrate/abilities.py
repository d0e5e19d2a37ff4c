"""What a run asks of its targets' coordinator halves before and after the load.

For now the SageMaker branch of a run, moved verbatim from `orchestrate/run.py`: its preflight,
its endpoint monitors, and the `sagemaker` block read after the run (CloudWatch beside client
latency).
"""

from __future__ import annotations

from stinger.scale.coordinator import RunOutcome
from stinger.spec import Spec


def before_run(spec: Spec, monitors):
    """SageMaker's preflight and endpoint monitors; returns (the module to call after the run or
    None, the monitors to add)."""
    sagemaker = None
    if any(getattr(v.target, "type", "") == "sagemaker" for v in spec.all_variants()):
        from stinger.orchestrate import sagemaker_summary as sagemaker  # DescribeEndpoint polled during the run

        sagemaker.preflight(spec)   # credentials, region, endpoint and variant: one line each, before any load
        if not sagemaker.sagemaker_variants(spec):   # a local runtime emulator without a control plane
            sagemaker = None
        else:
            monitors = list(monitors or []) + sagemaker.endpoint_monitors(spec)
    if sagemaker is None and any(isinstance(d, dict) and d.get("type") == "cloudwatch" for d in spec.monitors):
        from stinger.orchestrate import sagemaker_summary

        if sagemaker_summary.asks_cloudwatch(spec):   # a named endpoint read after the run, whatever the target
            sagemaker = sagemaker_summary
    return sagemaker, monitors


def after_run(sagemaker, spec: Spec, summary: dict, mon, outcome: RunOutcome, outputs: list) -> None:
    """After a SageMaker run: CloudWatch read back (with a visible countdown), beside client latency."""
    console = next((c for o in outputs if (c := getattr(o, "console", None)) is not None), None)

    def countdown(left: float) -> None:
        if console is not None:
            console.print(f"CloudWatch: waiting for the run's last minute to be published ({left:.0f} s left at most)")

    off = any(isinstance(d, dict) and d.get("type") == "cloudwatch" and d.get("enabled") is False
              and not d.get("endpoint") for d in spec.monitors)
    if console is not None and not off:
        console.print("CloudWatch: reading ModelLatency, OverheadLatency, invocations and utilization ...")
    summary["sagemaker"] = sagemaker.collect(spec, summary, mon.points(), outcome.started_at,
                                             outcome.started_at + outcome.elapsed, on_wait=countdown)
    from stinger.orchestrate.monitor_set import cloudwatch_server_time

    cloudwatch_server_time(summary, summary["sagemaker"])
    if console is not None:
        sagemaker.render(summary["sagemaker"], console)

