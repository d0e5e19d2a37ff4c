"""SageMaker's server-side figures from CloudWatch, read after the run and put on the run clock.

This module owns reading, per endpoint and production variant:

    AWS/SageMaker                  Invocations, Invocation4XXErrors, Invocation5XXErrors,
                                   InvocationModelErrors (Sum per period);
                                   ModelLatency, OverheadLatency, ModelSetupTime
                                   (Average and Maximum, plus the extended
                                   statistics asked for, p99 by default)
    /aws/sagemaker/Endpoints       CPUUtilization, MemoryUtilization, GPUUtilization,
                                   GPUMemoryUtilization, DiskUtilization (Average)

with one GetMetricData call per 500 queries, at the finest period the data
still has (`finest_period`: 1-minute data is kept 15 days, then 5 minutes, then
1 hour). Data stored at high resolution (StorageResolution 1, kept 3 hours: the
local SageMaker front's publisher writes it) can be read per second, so a young
run is first read at 1 s; a series that comes back empty or only on minute
boundaries is standard-resolution data (SageMaker's own metrics) and is read
again at the minute. `periods` says which period each metric was read at, and
each point's `period` label says it too. Why it matters: a 60-s period that
the run covers only partly averages the run's busy seconds with idle ones (the
demo's CPU read 37-39 % low); per-second data aligned to the run does not,
and the reader (`vendors/sagemaker/summary.py`) weights every period by its
overlap with the run (`overlap`), so a partial period counts for its share.

Why after the run: CloudWatch publishes SageMaker's minute a minute or two
late, so polling during a short run reads nothing and spends API calls.
`collect(t0_wall, t1_wall)` waits, bounded by `wait_s`, until the minute that
holds the run's end has a datapoint for every variant's Invocations, calling
`on_wait(seconds_left)` each poll so the terminal can show a countdown; then it
reads everything once.

Units, converted here so a reader never has to remember them:
* ModelLatency, OverheadLatency and ModelSetupTime are published in
  MICROseconds; they become milliseconds (`unit="ms"`).
* CPUUtilization is the SUM over the instance's vCPUs (0..100 x vCPUs, so 350 %
  on a 4-vCPU instance is 87.5 % of each core); it is kept as published
  (`unit="% (sum of cores)"`) and also given per core
  (`cloudwatch.CPUUtilization.per_core`) when the variant's vCPU count is known.
  GPUUtilization and GPUMemoryUtilization likewise sum over the instance's GPUs.
* The counts are per period (the period is in the point's labels).

Each point's `t` is the START of its period on the run clock
(`period_start_wall - t0_wall`), so a minute that began before the run has a
negative t; series are `cloudwatch.<MetricName>[.<stat>]`, labelled by
endpoint, variant and period.

As a `Monitor` it samples nothing during the run (see above); the
coordinator calls `collect` once the load has stopped. boto3 is imported when
the monitor is built; without the `aws` extra that is a one-line UsageError.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from stinger.errors import UsageError
from stinger.monitors.base import MonitorConfig, MonitorError, Point

__all__ = ["METRICS", "CloudWatchConfig", "CloudWatchMonitor", "CloudWatchReading", "MetricSpec", "finest_period",
           "overlap"]

NS_INVOCATIONS = "AWS/SageMaker"
NS_INSTANCES = "/aws/sagemaker/Endpoints"
MAX_QUERIES = 500          # GetMetricData's limit per call
WAIT_S = 180.0             # how long collect() waits for the last minute, at most
POLL_S = 15.0


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    namespace: str
    stats: tuple[str, ...]
    unit: str
    scale: float = 1.0          # multiply the published value by this
    per_core: bool = False      # also divide by the variant's vCPU count
    latency: bool = False       # gets the extended statistics too


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("Invocations", NS_INVOCATIONS, ("Sum",), "count"),
    MetricSpec("Invocation4XXErrors", NS_INVOCATIONS, ("Sum",), "count"),
    MetricSpec("Invocation5XXErrors", NS_INVOCATIONS, ("Sum",), "count"),
    MetricSpec("InvocationModelErrors", NS_INVOCATIONS, ("Sum",), "count"),
    MetricSpec("ModelLatency", NS_INVOCATIONS, ("Average", "Maximum"), "ms", 1e-3, latency=True),
    MetricSpec("OverheadLatency", NS_INVOCATIONS, ("Average", "Maximum"), "ms", 1e-3, latency=True),
    MetricSpec("ModelSetupTime", NS_INVOCATIONS, ("Average", "Maximum"), "ms", 1e-3),
    MetricSpec("CPUUtilization", NS_INSTANCES, ("Average",), "% (sum of cores)", per_core=True),
    MetricSpec("MemoryUtilization", NS_INSTANCES, ("Average",), "%"),
    MetricSpec("GPUUtilization", NS_INSTANCES, ("Average",), "% (sum of GPUs)"),
    MetricSpec("GPUMemoryUtilization", NS_INSTANCES, ("Average",), "% (sum of GPUs)"),
    MetricSpec("DiskUtilization", NS_INSTANCES, ("Average",), "%"),
)


def finest_period(t0_wall: float, now_wall: float | None = None, high_resolution: bool = False) -> int:
    """The smallest period CloudWatch still holds for data starting at `t0_wall`."""
    age = (time.time() if now_wall is None else now_wall) - t0_wall
    if high_resolution and age < 3 * 3600:
        return 1
    if age < 15 * 86400:
        return 60
    if age < 63 * 86400:
        return 300
    return 3600


def overlap(t: float, period: float, start: float, end: float) -> float:
    """Seconds of the period [t, t + period) inside [start, end] (0 when they do not meet)."""
    return max(0.0, min(t + period, end) - max(t, start))


def _sub_minute(rows: list[tuple[float, float]]) -> bool:
    """Points off the minute boundaries: data stored at high resolution (standard data is per minute)."""
    return any(round(ts) % 60 for ts, _ in rows)


def _utc(wall: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(wall, _dt.UTC)


class CloudWatchMonitor:
    """CloudWatch figures of one SageMaker endpoint's variants (a `Monitor` with `collect`)."""

    name = "cloudwatch"

    def __init__(
        self,
        endpoint: str,
        variants: Sequence[str],
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        vcpus: dict[str, int] | None = None,
        period: int | None = None,
        extended: Sequence[str] = ("p99",),
        wait_s: float = WAIT_S,
        poll_s: float = POLL_S,
        on_wait: Callable[[float], None] | None = None,
        client: Any = None,
    ) -> None:
        if not variants:
            raise UsageError("the CloudWatch monitor needs at least one production variant name")
        if period is not None and period not in (1, 5, 10, 30) and period % 60:
            raise UsageError(f"CloudWatch period must be 1, 5, 10, 30 or a multiple of 60 seconds; got {period}")
        self.endpoint = endpoint
        self.variants = tuple(variants)
        self.vcpus = dict(vcpus or {})
        self.period = period
        self.extended = tuple(extended)
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.on_wait = on_wait
        self._client = client
        self._region = region
        self._endpoint_url = endpoint_url
        self.complete = True   # False when collect() stopped waiting before the last period arrived
        self.periods: dict[str, int] = {}   # metric name -> the period (s) its data was read at

    # -- Monitor protocol ---------------------------------------------------
    def start(self) -> None:
        if self._client is None:
            self._client = make_client("cloudwatch", self._region, self._endpoint_url)

    def sample(self, t: float) -> list[Point]:
        return []  # CloudWatch lags by minutes: read once, after the run (collect)

    def stop(self) -> None:
        pass

    # -- after the run --------------------------------------------------------
    def queries(self, period: int) -> list[tuple[dict[str, Any], MetricSpec, str, str]]:
        """(query, metric, statistic, variant) for every series this monitor reads."""
        out: list[tuple[dict[str, Any], MetricSpec, str, str]] = []
        for variant in self.variants:
            dims = [{"Name": "EndpointName", "Value": self.endpoint}, {"Name": "VariantName", "Value": variant}]
            for spec in METRICS:
                stats = spec.stats + (self.extended if spec.latency else ())
                for stat in stats:
                    query = {
                        "Id": f"m{len(out)}",
                        "MetricStat": {"Metric": {"Namespace": spec.namespace, "MetricName": spec.name,
                                                  "Dimensions": dims},
                                       "Period": period, "Stat": stat},
                        "ReturnData": True,
                    }
                    out.append((query, spec, stat, variant))
        return out

    def _fetch(self, queries: list[dict[str, Any]], start: float, end: float) -> dict[str, list[tuple[float, float]]]:
        """Query id -> [(period start wall, value)], every page of every batch of 500."""
        if self._client is None:
            self.start()
        results: dict[str, list[tuple[float, float]]] = {}
        for i in range(0, len(queries), MAX_QUERIES):
            kwargs: dict[str, Any] = {"MetricDataQueries": queries[i:i + MAX_QUERIES], "StartTime": _utc(start),
                                      "EndTime": _utc(end), "ScanBy": "TimestampAscending"}
            while True:
                try:
                    reply = self._client.get_metric_data(**kwargs)
                except Exception as exc:  # botocore ClientError, endpoint down: a monitor warning, not a crash
                    raise MonitorError(f"CloudWatch GetMetricData failed: {_first_line(exc)}") from None
                for r in reply.get("MetricDataResults", []):
                    rows = results.setdefault(r["Id"], [])
                    rows.extend((ts.timestamp(), float(v)) for ts, v in zip(r["Timestamps"], r["Values"]))
                token = reply.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        return results

    def window(self, t0_wall: float, t1_wall: float, period: int | None = None) -> tuple[int, float, float]:
        """(period, first period's start, last period's end): the periods that meet [t0_wall, t1_wall]."""
        period = period or self.period or finest_period(t0_wall)
        start = math.floor(t0_wall / period) * period
        end = math.ceil(t1_wall / period) * period
        if end <= t1_wall:
            end += period
        return period, start, end

    def wait_for_last_period(self, t1_wall: float, period: int, start: float, end: float,
                             sleep: Callable[[float], None] = time.sleep) -> bool:
        """Poll Invocations until the period holding `t1_wall` is published for every variant.

        True when it arrived, False when `wait_s` ran out (the figures then miss
        the run's last minute; the caller says so).
        """
        last = math.floor(t1_wall / period) * period
        probes = [q for q, spec, stat, _ in self.queries(period) if spec.name == "Invocations"]
        deadline = time.monotonic() + self.wait_s
        while True:
            got = self._fetch(probes, start, end)
            if all(any(ts >= last for ts, _ in got.get(q["Id"], [])) for q in probes):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.on_wait is not None:
                self.on_wait(left)
            sleep(min(self.poll_s, left))

    def _read(self, t0_wall: float, t1_wall: float) -> tuple[list, dict[str, list[tuple[float, float]]],
                                                                  dict[str, int]]:
        """(queries, query id -> rows, query id -> period): each series at the finest period it has."""
        coarse = self.period or finest_period(t0_wall)
        fine = self.period or finest_period(t0_wall, high_resolution=True)
        specs = self.queries(coarse)
        periods = {q["Id"]: coarse for q, *_ in specs}
        again = list(range(len(specs)))
        got: dict[str, list[tuple[float, float]]] = {}
        if fine < coarse:
            _, start, end = self.window(t0_wall, t1_wall, fine)
            try:
                got = self._fetch([q for q, *_ in self.queries(fine)], start, end)
            except MonitorError:   # a CloudWatch that refuses sub-minute periods: all at the minute
                got = {}
            again = [i for i, (q, *_) in enumerate(specs) if not _sub_minute(got.get(q["Id"], []))]
            minute = set(again)
            periods.update({q["Id"]: fine for i, (q, *_) in enumerate(specs) if i not in minute})
        if again:
            _, start, end = self.window(t0_wall, t1_wall, coarse)
            for i in again:
                got.pop(specs[i][0]["Id"], None)
            got.update(self._fetch([specs[i][0] for i in again], start, end))
        return specs, got, periods

    def collect(self, t0_wall: float, t1_wall: float, wait: bool = True) -> list[Point]:
        """Every series over [t0_wall, t1_wall] as points on the run clock (t0_wall = run time 0)."""
        if wait and self.wait_s > 0:
            period, start, end = self.window(t0_wall, t1_wall)   # the minute holding the end: published?
            self.complete = self.wait_for_last_period(t1_wall, period, start, end)
        specs, got, periods = self._read(t0_wall, t1_wall)
        self.periods = {}
        points: list[Point] = []
        for query, spec, stat, variant in specs:
            rows = sorted(got.get(query["Id"], []))
            period = periods[query["Id"]]
            if rows:
                self.periods[spec.name] = max(period, self.periods.get(spec.name, 0))
            series = f"cloudwatch.{spec.name}" if len(spec.stats) == 1 and stat == spec.stats[0] \
                else f"cloudwatch.{spec.name}.{stat.lower()}"
            labels = (("endpoint", self.endpoint), ("variant", variant), ("period", str(period)))
            cores = self.vcpus.get(variant)
            for ts, value in rows:
                t = ts - t0_wall
                points.append(Point(t, series, value * spec.scale, spec.unit, labels))
                if spec.per_core and cores:
                    points.append(Point(t, f"{series}.per_core", value / cores, "% (per core)", labels))
        return points


class CloudWatchConfig(MonitorConfig):
    """``{type: cloudwatch, ...}`` (``--monitor cloudwatch=ENDPOINT[@REGION]``, ``--no-cloudwatch``).

    Without `endpoint` it sets how the run's own SageMaker endpoints are read (or,
    `enabled: false`, that they are not: no wait for CloudWatch after the run). With
    one, that endpoint is read too (or instead, when it is the run's own), whatever
    the run's target: an HTTP front of a SageMaker endpoint, a different region.
    `variants`: its production variants (default: DescribeEndpoint's).
    """

    type: Literal["cloudwatch"] = "cloudwatch"
    name: str = "cloudwatch"
    endpoint: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    variants: list[str] | None = Field(default=None, min_length=1)
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    period: int | None = Field(default=None, ge=1, le=86400)
    wait_s: float = Field(default=WAIT_S, ge=0, le=3600)
    poll_s: float = Field(default=POLL_S, gt=0, le=600)
    extended: list[str] = Field(default_factory=lambda: ["p99"], max_length=10)
    enabled: bool = True

    flag_forms: ClassVar[tuple[str, ...]] = ("cloudwatch=ENDPOINT[@REGION]", "cloudwatch=off")

    @classmethod
    def from_flag(cls, value: str) -> dict[str, Any] | None:
        if value == "off":
            return {"type": "cloudwatch", "enabled": False}
        return endpoint_flag("cloudwatch", value)


def endpoint_flag(kind: str, value: str) -> dict[str, Any] | None:
    """`--monitor KIND=ENDPOINT[@REGION]` as a `monitors:` entry (None without an endpoint)."""
    if not value:
        return None
    endpoint, at, region = value.partition("@")
    return {"type": kind, "endpoint": endpoint, **({"region": region} if at else {})}


class CloudWatchReading:
    """The registry's `cloudwatch` monitor: what a spec asked of CloudWatch.

    CloudWatch publishes minutes late, so nothing is read during the run (`sample`
    returns nothing); after the load the run reads it with `monitor(...)`, a
    `CloudWatchMonitor` with these settings (`vendors/sagemaker/summary.py`).
    """

    Config = CloudWatchConfig

    def __init__(self, **settings: Any) -> None:
        self.settings = CloudWatchConfig(**settings)
        self.name = self.settings.name

    def start(self) -> None:
        pass

    def sample(self, t: float) -> list[Point]:
        return []

    def stop(self) -> None:
        pass

    def monitor(self, endpoint: str, variants: Sequence[str], **kw: Any) -> CloudWatchMonitor:
        s = self.settings
        return CloudWatchMonitor(endpoint, variants, region=kw.pop("region", None) or s.region,
                                 endpoint_url=s.endpoint_url, period=s.period, extended=tuple(s.extended),
                                 wait_s=s.wait_s, poll_s=s.poll_s, **kw)


def make_client(service: str, region: str | None, endpoint_url: str | None) -> Any:
    """A boto3 client for the control-plane calls (few and slow, so boto3's own client is fine here)."""
    try:
        import boto3  # type: ignore[import-untyped]
        import botocore.exceptions
    except ImportError:
        raise UsageError("SageMaker monitoring needs the aws extra: pip install 'stinger[aws]'") from None
    try:
        return boto3.client(service, region_name=region, endpoint_url=endpoint_url)
    except botocore.exceptions.NoRegionError:
        raise UsageError("no AWS region: pass --region, or set AWS_REGION or a profile's region") from None
    except Exception as exc:
        raise UsageError(f"cannot make an AWS {service} client: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
