"""`stinger demo`: the embedded demo end to end, in one command and under a minute.

Starts the demo model endpoint on loopback (two variants: `fast`, a cheap and
weaker model, and `accurate`, a large ensemble), writes a labelled dataset
drawn from scikit-learn's bundled digits, and A/B-tests the two variants with
paired traffic (every payload to both, each request at an instant of its own:
the two models share the server's one worker, and requests sent at one instant
would make each wait for the other) under the live view. It prints each variant's latency, server time, endpoint resources and
SLOs, then the verdict with confidence intervals, leaves a run directory, and
stops the server (by its PID) whatever happens.

The dataset is written into the run directory itself, so the run's
`spec.yaml` names a file that still exists after the demo (the run can be
repeated against any endpoint with `stinger ab RUN_DIR/spec.yaml`). The demo
goes through the public API, as a user's script would.
"""

from __future__ import annotations

from pathlib import Path

DATASET = "digits.jsonl"
WARMUP = "1s"


def demo_spec(server, data: Path, *, rate: str, duration: str, out: str) -> dict:
    return {
        "name": "demo",
        "variants": [
            {"name": "fast", "url": server.invocations_url("fast"), "method": "POST"},
            {"name": "accurate", "url": server.invocations_url("accurate"), "method": "POST"},
        ],
        "split": "paired",
        "payload": {"data": str(data), "label_field": "label", "order": "random"},
        "load": {"rate": rate, "duration": duration, "warmup": WARMUP, "timeout": "5s"},
        "check": {"status": "2xx", "json_path": "$.predictions[0]"},
        "prediction": "$.predictions[0]",
        "slo": ["p95<300ms", "error_rate<1%"],
        "monitors": [{"type": "prometheus", "url": server.metrics_url, "preset": "demo"}],
        "output": {"dir": out},
    }


def _outputs(out: str, name: str, quiet: bool, console) -> tuple[list, Path]:
    """The terminal (unless quiet) and a run directory created now (the dataset goes into it)."""
    from stinger.outputs.rundir import RunDirOutput
    from stinger.outputs.terminal import TerminalOutput

    rundir = RunDirOutput(out, name)
    path = rundir.open(None)
    return ([] if quiet else [TerminalOutput(console)]) + [rundir], path


def run_demo(*, duration: str = "12s", rate: str = "20", out: str = "runs", quiet: bool = False) -> int:
    """The demo A/B at `rate` requests per second to each variant. Both models share the server's one
    worker (accurate ~6-20 ms a request, by machine): 20 req/s each keeps it under half busy, so the
    latency difference is the models' own; at 40 the queue in front of the worker dominated both."""
    from stinger import _api
    from stinger.core.schedule import parse_duration, parse_rate
    from stinger.demo.models import write_demo_dataset
    from stinger.demo.process import DemoServer
    from stinger.outputs.terminal import make_console

    parse_duration(duration)  # the user's mistakes before the server starts
    parse_rate(rate)
    console = make_console()
    outputs, run_dir = _outputs(out, "demo", quiet, console)
    data = write_demo_dataset(run_dir.resolve() / DATASET, fmt="jsonl")
    if not quiet:
        console.print("[bold]stinger demo[/]: starting the demo model endpoint "
                      "(scikit-learn on the digits data set: variants 'fast' and 'accurate') ...")
    with DemoServer(port=0, workers=1) as server:
        spec = demo_spec(server, data, rate=rate, duration=duration, out=out)
        if not quiet:
            console.print(f"endpoint {server.url} (pid {server.pid}); paired A/B: every payload to both "
                          f"variants at instants of their own, {rate} req/s each for {duration}; the first "
                          f"{WARMUP} is a warm-up (sent, not judged)")
        result = _api.ab(spec, mode="paired", outputs=outputs)
    if not quiet:
        console.print("next: [bold]stinger capacity --url URL[/] finds the max sustainable throughput; "
                      "[bold]stinger report RUN_DIR[/] re-renders this run.")
    return result.exit_code


def run_capacity_demo(*, out: str = "runs", quiet: bool = False, price_per_hour: float = 0.23) -> int:
    """`stinger demo --capacity`: a capacity search on the demo's `accurate` variant (about a minute)."""
    from stinger import _api
    from stinger.demo.models import write_demo_dataset
    from stinger.demo.process import DemoServer
    from stinger.outputs.terminal import make_console

    console = make_console()
    outputs, run_dir = _outputs(out, "demo-capacity", quiet, console)
    data = write_demo_dataset(run_dir.resolve() / DATASET, fmt="jsonl")
    with DemoServer(port=0, workers=1) as server:
        spec = {
            "name": "demo-capacity",
            "target": {"url": server.invocations_url("accurate"), "method": "POST"},
            "payload": {"data": str(data), "label_field": "label", "order": "random"},
            "load": {"rate": 1, "duration": 1, "timeout": "5s"},
            "output": {"dir": out},
        }
        if not quiet:
            console.print(f"[bold]stinger demo --capacity[/]: the highest rate the 'accurate' variant "
                          f"({server.url}, one worker) sustains within p95<300ms, errors<1%, "
                          f"achieved/offered>=0.95; cost at an example price of ${price_per_hour}/h; "
                          f"each step has a 1 s warm-up (sent, not judged)")
        result = _api.capacity(spec, outputs=outputs, start=10, step_duration=3.0, step_warmup=1.0, precision=0.1,
                               max_steps=14, price_per_hour=price_per_hour, instances=1)
    return result.exit_code


SAGEMAKER_CLOUDWATCH_WAIT_S = "20"   # the front publishes every second: the last minute arrives at once


def run_sagemaker_demo(*, duration: str = "12s", rate: str = "20", out: str = "runs", quiet: bool = False,
                       split: str = "paired") -> int:
    """`stinger demo --sagemaker`: the SageMaker A/B story offline, in under a minute.

    Starts moto's server (SageMaker control plane and CloudWatch), the demo model
    server and the SigV4-checking SageMaker front that publishes its metrics into
    moto; discovers the endpoint's two production variants with DescribeEndpoint
    (as `stinger ab --sagemaker` does); A/B-tests them with paired traffic, each
    request signed and pinned with TargetVariant; reads CloudWatch's ModelLatency
    and OverheadLatency back beside client latency, polls the instance type and
    count, and gives the cost per million per variant. Fake credentials only,
    everything on loopback; the environment is restored afterwards.

    `split="sagemaker"`: the front splits one stream (twice `rate`, the same load as the paired
    run) by the endpoint's weights and each response is attributed from its invoked-variant header.
    """
    import os

    from stinger import _api
    from stinger.core.schedule import parse_duration, parse_rate
    from stinger.demo.models import write_demo_dataset
    from stinger.demo.sagemaker_stack import SageMakerDemo
    from stinger.outputs.terminal import make_console
    from stinger.vendors.sagemaker.side import CONTROL_URL_ENVS, POLL_ENV, WAIT_ENV, discover_variants

    parse_duration(duration)
    parse_rate(rate)
    console = make_console()
    outputs, run_dir = _outputs(out, "demo-sagemaker", quiet, console)
    data = write_demo_dataset(run_dir.resolve() / DATASET, fmt="jsonl")
    if not quiet:
        console.print("[bold]stinger demo --sagemaker[/]: starting an offline SageMaker on loopback: moto "
                      "(control plane + CloudWatch), the demo models, and a SigV4-checking runtime front ...")
    saved = dict(os.environ)
    try:
        with SageMakerDemo(publish_s=1.0) as stack:
            os.environ.update(SageMakerDemo.env())
            if not os.environ.get("AWS_SESSION_TOKEN"):
                os.environ.pop("AWS_SESSION_TOKEN", None)
            for name in CONTROL_URL_ENVS:
                os.environ[name] = stack.control_url
            os.environ.setdefault(WAIT_ENV, SAGEMAKER_CLOUDWATCH_WAIT_S)
            os.environ.setdefault(POLL_ENV, "1")
            target = {"type": "sagemaker", "endpoint": stack.endpoint, "region": os.environ["AWS_REGION"],
                      "endpoint_url": stack.runtime_url}
            attributed = split == "sagemaker"
            variants, region = discover_variants(target, pin=not attributed)
            how = (f"; paired A/B, {rate} req/s to each variant for {duration}, signed, pinned with TargetVariant"
                   if not attributed else
                   f"; one stream of {2 * parse_rate(rate):g} req/s for {duration}, signed, split by the endpoint's "
                   f"weights, each response attributed from its x-Amzn-Invoked-Production-Variant header")
            if attributed:
                rate = f"{2 * parse_rate(rate):g}"
            if not quiet:
                console.print(f"endpoint {stack.endpoint!r} ({region}): runtime {stack.runtime_url}, control plane "
                              f"and CloudWatch {stack.control_url}; DescribeEndpoint found "
                              + ", ".join(v["name"].replace("_", " on ", 1) for v in variants) + how)
            spec = {
                "name": "demo-sagemaker",
                "variants": variants,
                "split": split,
                "payload": {"data": str(data), "label_field": "label", "order": "random"},
                "load": {"rate": rate, "duration": duration, "warmup": WARMUP, "timeout": "5s"},
                "check": {"status": "2xx", "json_path": "$.predictions[0]"},
                "prediction": "$.predictions[0]",
                "slo": ["p95<1s", "error_rate<1%"],   # signing, the front and moto share the machine
                "output": {"dir": out},
            }
            result = _api.ab(spec, mode=split, outputs=outputs)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if not quiet:
        command = "stinger ab --sagemaker ENDPOINT --region R" + (" --split sagemaker" if split == "sagemaker" else "")
        console.print(f"against a real endpoint: [bold]{command}[/] "
                      "(IAM: sagemaker:InvokeEndpoint, DescribeEndpoint, DescribeEndpointConfig, "
                      "cloudwatch:GetMetricData)")
    return result.exit_code
