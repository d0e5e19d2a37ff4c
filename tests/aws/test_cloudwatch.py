"""The CloudWatch monitor against moto's CloudWatch (a real local server): what is put is read back."""

from __future__ import annotations

import datetime as dt
import time
from itertools import pairwise

import pytest

boto3 = pytest.importorskip("boto3")

from stinger.errors import UsageError  # noqa: E402
from stinger.monitors.base import Monitor, summarize_series  # noqa: E402
from stinger.vendors.sagemaker.cloudwatch import CloudWatchMonitor, finest_period  # noqa: E402


def put(cw, namespace, name, variant, wall, value, endpoint="ep-cw"):
    cw.put_metric_data(Namespace=namespace, MetricData=[{
        "MetricName": name, "Timestamp": dt.datetime.fromtimestamp(wall, dt.UTC), "Value": value,
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
    }])


def test_metrics_put_into_moto_are_read_back_equal_on_the_run_clock(moto):
    cw = boto3.client("cloudwatch", **moto.client_kwargs())
    minute = int(time.time() // 60 * 60) - 600
    t0_wall = minute + 20.0           # the run started 20 s into a minute and lasted 3 minutes
    t1_wall = t0_wall + 180.0
    put_values = {}
    for k in range(4):
        # SageMaker's metrics are standard resolution: CloudWatch keeps one point a minute, stamped at the
        # minute's start (moto keeps whatever instant it is given, so the test gives that one)
        start = minute + 60 * k
        for variant, base in (("A", 1000.0), ("B", 3000.0)):
            # two invocations datapoints in the minute (CloudWatch sums them), one latency each
            put(cw, "AWS/SageMaker", "Invocations", variant, start, 100.0 + k)
            put(cw, "AWS/SageMaker", "Invocations", variant, start, 50.0)
            put(cw, "AWS/SageMaker", "ModelLatency", variant, start, base * (k + 1))      # microseconds
            put(cw, "AWS/SageMaker", "OverheadLatency", variant, start, 250.0)
            put(cw, "/aws/sagemaker/Endpoints", "CPUUtilization", variant, start, 300.0)  # sum of 4 cores
            put(cw, "/aws/sagemaker/Endpoints", "MemoryUtilization", variant, start, 40.0 + k)
            put_values[(variant, k)] = base * (k + 1)
    put(cw, "AWS/SageMaker", "Invocations", "A", minute - 3600, 99.0)   # outside the window: not read

    waits = []
    monitor = CloudWatchMonitor("ep-cw", ["A", "B"], vcpus={"A": 4}, extended=(), wait_s=5, poll_s=0.1,
                                on_wait=waits.append, client=cw)
    assert isinstance(monitor, Monitor)
    monitor.start()
    assert monitor.sample(1.0) == []
    points = monitor.collect(t0_wall, t1_wall)
    assert monitor.complete and waits == []   # the last minute was already there: no countdown

    def series(name, variant):
        return sorted((p.t, p.value, p.unit) for p in points
                      if p.series == name and dict(p.labels)["variant"] == variant)

    # period starts on the run clock: the run's first minute began 20 s before it
    assert [t for t, _, _ in series("cloudwatch.Invocations", "A")] == [-20.0, 40.0, 100.0, 160.0]
    assert [v for _, v, _ in series("cloudwatch.Invocations", "A")] == [150.0, 151.0, 152.0, 153.0]
    assert series("cloudwatch.ModelLatency.average", "B") == [
        (-20.0 + 60 * k, put_values[("B", k)] / 1000.0, "ms") for k in range(4)]
    assert [v for _, v, _ in series("cloudwatch.ModelLatency.maximum", "A")] == [1.0, 2.0, 3.0, 4.0]
    assert {v for _, v, _ in series("cloudwatch.OverheadLatency.average", "A")} == {0.25}
    assert {(v, u) for _, v, u in series("cloudwatch.CPUUtilization", "A")} == {(300.0, "% (sum of cores)")}
    assert {(v, u) for _, v, u in series("cloudwatch.CPUUtilization.per_core", "A")} == {(75.0, "% (per core)")}
    assert series("cloudwatch.CPUUtilization.per_core", "B") == []     # vCPUs of B unknown
    assert [v for _, v, _ in series("cloudwatch.MemoryUtilization", "B")] == [40.0, 41.0, 42.0, 43.0]
    assert series("cloudwatch.GPUUtilization", "A") == []              # nothing published, nothing invented
    labels = dict(points[0].labels)
    assert labels["endpoint"] == "ep-cw" and labels["period"] == "60"    # minute data: read at the minute
    assert monitor.periods == {"Invocations": 60, "ModelLatency": 60, "OverheadLatency": 60, "CPUUtilization": 60,
                               "MemoryUtilization": 60}
    assert summarize_series(points)["cloudwatch.Invocations{endpoint=ep-cw,variant=B,period=60}"]["n"] == 4


def test_high_resolution_data_is_read_per_second_and_means_cover_the_run_alone(moto):
    """Issue 15, item 7: a 10-s run in the middle of a minute, its instance at 80 % CPU during the run and idle
    before and after (per-second, high-resolution data, as the demo's publisher writes). Read at 60 s, the
    minute's mean was 80 x 10/60 = 13 %; read per second and weighted by each second's overlap with the run, it
    is the run's 80 %."""
    from stinger.vendors.sagemaker.summary import _aligned, _mean

    cw = boto3.client("cloudwatch", **moto.client_kwargs())
    minute = int(time.time() // 60 * 60) - 900
    t0_wall = minute + 20.5                     # the run: [20.5, 30.5) s into the minute
    for second in range(60):
        busy = 20 <= second < 31             # the seconds that meet the run
        put(cw, "/aws/sagemaker/Endpoints", "CPUUtilization", "A", minute + second, 80.0 if busy else 0.0,
            endpoint="ep-hr")
        if busy:
            put(cw, "AWS/SageMaker", "Invocations", "A", minute + second, 10.0, endpoint="ep-hr")
    monitor = CloudWatchMonitor("ep-hr", ["A"], extended=(), wait_s=0, client=cw)
    points = monitor.collect(t0_wall, t0_wall + 10.0)
    assert monitor.periods["CPUUtilization"] == 1 and monitor.periods["Invocations"] == 1
    cpu = [p for p in points if p.series == "cloudwatch.CPUUtilization"]
    assert {dict(p.labels)["period"] for p in cpu} == {"1"} and len(cpu) == 11   # seconds 20..30 meet the run
    assert _mean(points, "cloudwatch.CPUUtilization", "A", (0.0, 10.0)) == pytest.approx(80.0)
    assert sum(p.value for p in points if p.series == "cloudwatch.Invocations") == 110.0
    assert _aligned(points, "A", (0.0, 10.0))["period_s"] == 1
    # the same data read per minute, as before: the idle 50 seconds dilute it, and the block says so
    minute_reader = CloudWatchMonitor("ep-hr", ["A"], extended=(), wait_s=0, client=cw, period=60)
    coarse = minute_reader.collect(t0_wall, t0_wall + 10.0)
    assert _mean(coarse, "cloudwatch.CPUUtilization", "A", (0.0, 10.0)) == pytest.approx(80.0 * 11 / 60)
    note = _aligned(coarse, "A", (0.0, 10.0))
    assert note["period_s"] == 60 and note["covered"] == pytest.approx(10 / 60, abs=1e-3) and "idle" in note["note"]


def test_partial_periods_count_for_their_share():
    from stinger.monitors.base import Point
    from stinger.vendors.sagemaker.summary import _mean

    labels = (("variant", "A"), ("period", "60"))
    points = [Point(-50.0, "cloudwatch.CPUUtilization", 10.0, "%", labels),   # 10 s of it in [0, 70)
              Point(10.0, "cloudwatch.CPUUtilization", 40.0, "%", labels),    # 60 s
              Point(70.0, "cloudwatch.CPUUtilization", 99.0, "%", labels)]    # after the window: nothing
    assert _mean(points, "cloudwatch.CPUUtilization", "A", (0.0, 70.0)) == pytest.approx((10 * 10 + 60 * 40) / 70)
    inv = {-50.0: 0.0, 10.0: 5.0}
    assert _mean(points, "cloudwatch.CPUUtilization", "A", (0.0, 70.0), inv) == pytest.approx(40.0)


def test_collect_waits_with_a_countdown_for_the_last_minute(moto):
    cw = boto3.client("cloudwatch", **moto.client_kwargs())
    minute = int(time.time() // 60 * 60) - 1200
    put(cw, "AWS/SageMaker", "Invocations", "A", minute, 1.0, endpoint="ep-late")   # only the first minute
    waits = []
    monitor = CloudWatchMonitor("ep-late", ["A"], extended=(), wait_s=0.5, poll_s=0.1,
                                on_wait=waits.append, client=cw)
    points = monitor.collect(minute + 1.0, minute + 100.0)
    assert not monitor.complete
    assert waits and all(a >= b for a, b in pairwise(waits)) and waits[0] <= 0.5
    assert [(p.t, p.value) for p in points if p.series == "cloudwatch.Invocations"] == [(-1.0, 1.0)]


def test_finest_period_and_bad_period():
    now = 1_800_000_000.0
    assert finest_period(now - 60, now) == 60
    assert finest_period(now - 60, now, high_resolution=True) == 1
    assert finest_period(now - 20 * 86400, now) == 300
    assert finest_period(now - 90 * 86400, now) == 3600
    with pytest.raises(UsageError, match="period"):
        CloudWatchMonitor("ep", ["A"], period=45)
    with pytest.raises(UsageError, match="variant"):
        CloudWatchMonitor("ep", [])


def test_an_unreachable_cloudwatch_is_a_monitor_error():
    from stinger.monitors.base import MonitorError
    from stinger.testing.procs import free_port

    cw = boto3.client("cloudwatch", endpoint_url=f"http://127.0.0.1:{free_port()}", region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="y",
                      config=__import__("botocore.config").config.Config(retries={"max_attempts": 1},
                                                                         connect_timeout=1))
    with pytest.raises(MonitorError, match="GetMetricData failed"):
        CloudWatchMonitor("ep", ["A"], client=cw, wait_s=0).collect(time.time() - 100, time.time())
