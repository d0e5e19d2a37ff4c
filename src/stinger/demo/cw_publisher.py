"""The demo SageMaker front's CloudWatch publisher: a process of its own.

    python -m stinger.demo.cw_publisher --endpoint E --region R --cloudwatch-url URL \
        [--instance VARIANT=PID ...] [--every-s 1]

The front writes its per-variant, per-second invocation figures here as JSON
lines on stdin (`line_of`); this process puts them into CloudWatch (moto) in
`AWS/SageMaker`. It also plays the instances: every `--every-s` it samples each
`--instance` process (the demo model server serving that production variant)
and puts `/aws/sagemaker/Endpoints` CPUUtilization (percent summed over cores,
as SageMaker's is: 150 = one and a half cores busy), MemoryUtilization (percent
of the machine's memory) and DiskUtilization (percent of the filesystem used),
at 1-second resolution, with the second they were sampled in as timestamp.

Why a process: boto3 builds and signs each PutMetricData in pure Python, tens of
milliseconds under the GIL. In the front's own process that time stalled its
event loop every publication, and the demo's latency p99 showed the emulator,
not the model. End of input (the front closing stdin) publishes what is left
and exits.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import queue
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["line_of", "main"]

NS_RUNTIME = "AWS/SageMaker"
NS_INSTANCES = "/aws/sagemaker/Endpoints"


def line_of(variant: str, second: int, counts: dict[str, int], stats: dict[str, tuple[float, float, float, float]]
            ) -> str:
    """One input line: counts by metric name; stats by metric name as (count, sum, min, max) in microseconds."""
    return json.dumps({"variant": variant, "second": second, "counts": counts,
                       "stats": {k: list(v) for k, v in stats.items()}}) + "\n"


def _stamp(second: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(int(second), _dt.UTC)


def _dims(endpoint: str, variant: str) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]


def runtime_data(endpoint: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The AWS/SageMaker data of one input line."""
    dims, stamp = _dims(endpoint, item["variant"]), _stamp(item["second"])
    data: list[dict[str, Any]] = [
        {"MetricName": name, "Dimensions": dims, "Timestamp": stamp, "Value": float(value), "Unit": "None",
         "StorageResolution": 1} for name, value in item["counts"].items()]
    for name, (n, total, lo, hi) in item["stats"].items():
        if n:
            data.append({"MetricName": name, "Dimensions": dims, "Timestamp": stamp, "Unit": "Microseconds",
                         "StorageResolution": 1, "StatisticValues": {"SampleCount": float(n), "Sum": float(total),
                                                                     "Minimum": float(lo), "Maximum": float(hi)}})
    return data


class Instances:
    """The instance processes of each production variant, sampled as SageMaker's instance metrics."""

    def __init__(self, endpoint: str, pids: dict[str, int]) -> None:
        import psutil

        self.endpoint = endpoint
        self.procs: dict[str, Any] = {}
        for variant, pid in pids.items():
            try:
                p = psutil.Process(pid)
                p.cpu_percent(None)          # the first reading starts the interval
                self.procs[variant] = p
            except psutil.Error:
                print(f"stinger-cw-publisher: no process {pid} for variant {variant}", file=sys.stderr)

    def sample(self, now: float) -> list[dict[str, Any]]:
        import psutil

        disk = psutil.disk_usage("/").percent
        data = []
        for variant, p in self.procs.items():
            try:
                cpu = p.cpu_percent(None)    # percent of one core, summed over cores (SageMaker's sense)
                mem = p.memory_percent()
            except psutil.Error:
                continue
            dims, stamp = _dims(self.endpoint, variant), _stamp(now)
            for name, value in (("CPUUtilization", cpu), ("MemoryUtilization", mem), ("DiskUtilization", disk)):
                data.append({"MetricName": name, "Dimensions": dims, "Timestamp": stamp, "Value": float(value),
                             "Unit": "Percent", "StorageResolution": 1})
        return data


def _reader(lines: queue.Queue) -> None:
    for raw in sys.stdin:
        if raw.strip():
            lines.put(raw)
    lines.put(None)


def run(endpoint: str, region: str, cloudwatch_url: str, pids: dict[str, int], every_s: float) -> int:
    import boto3  # type: ignore[import-untyped]

    client = boto3.client("cloudwatch", endpoint_url=cloudwatch_url, region_name=region)
    instances = Instances(endpoint, pids)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(lines,), name="stdin", daemon=True).start()
    failures = 0
    ended = False
    next_sample = time.time() + every_s
    while not ended:
        data: dict[str, list[dict[str, Any]]] = {NS_RUNTIME: [], NS_INSTANCES: []}
        timeout = max(0.0, next_sample - time.time())
        try:
            while True:
                raw = lines.get(timeout=timeout)
                if raw is None:
                    ended = True
                    break
                try:
                    data[NS_RUNTIME].extend(runtime_data(endpoint, json.loads(raw)))
                except (ValueError, KeyError, TypeError) as exc:
                    print(f"stinger-cw-publisher: bad input line ({exc})", file=sys.stderr)
                timeout = 0.0
        except queue.Empty:
            pass
        now = time.time()
        if now >= next_sample or ended:
            data[NS_INSTANCES].extend(instances.sample(now))
            next_sample = now + every_s
        for namespace, part in data.items():
            try:
                for i in range(0, len(part), 1000):
                    client.put_metric_data(Namespace=namespace, MetricData=part[i:i + 1000])
            except Exception as exc:  # the demo goes on without metrics; say so once
                failures += 1
                if failures == 1:
                    print(f"stinger-cw-publisher: publishing to CloudWatch failed: {exc}", file=sys.stderr)
    return 0


def _instance(text: str) -> tuple[str, int]:
    name, sep, pid = text.partition("=")
    if not sep or not name or not pid.isdigit():
        raise argparse.ArgumentTypeError(f"expected VARIANT=PID, got {text!r}")
    return name, int(pid)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stinger.demo.cw_publisher", description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--cloudwatch-url", required=True)
    p.add_argument("--instance", type=_instance, action="append", default=[], metavar="VARIANT=PID")
    p.add_argument("--every-s", type=float, default=1.0, help="instance sampling period")
    a = p.parse_args(argv)
    return run(a.endpoint, a.region, a.cloudwatch_url, dict(a.instance), a.every_s)


if __name__ == "__main__":
    sys.exit(main())
