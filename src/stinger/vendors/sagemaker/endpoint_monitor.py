"""A SageMaker endpoint's production variants: discovered, polled during a run, and priced.

This module owns three things the SageMaker control plane tells:

* `describe_variants(client, endpoint)`: the production variants (name, current
  weight, instance type, current and desired instance count, serverless or
  not) from DescribeEndpoint + DescribeEndpointConfig - what `ab --sagemaker`
  compares and what the verdict names. An unknown endpoint, or one that cannot
  take traffic, is a one-line UsageError before any load.
* `EndpointMonitor`: a `Monitor` that polls DescribeEndpoint every `poll_s`
  (10 s: the API's rate limit is low and autoscaling acts in minutes) and
  records per variant `sagemaker.instances`, `sagemaker.desired_instances`,
  `sagemaker.weight` and `sagemaker.desired_weight` (CurrentWeight, DesiredWeight); `scaling_events` reads from those points when a
  scale-out or scale-in began (desired count changed) and ended (current count
  reached it) - what a spike test wants to see.
* cost: `cost_per_million(...)` from an hourly price and the instance-hours a
  variant held over the run; `INSTANCE_TYPES` holds vCPUs, GPUs and an
  INDICATIVE on-demand price for a few common real-time inference instance
  types in us-east-1 (see `PRICE_TABLE_NOTE`: typed in by hand, not fetched;
  prices differ by region and change - pass `--price-per-hour` for real figures).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar, Literal

from pydantic import Field

from stinger.errors import UsageError
from stinger.monitors.base import MonitorConfig, MonitorError, Point
from stinger.vendors.sagemaker.cloudwatch import endpoint_flag, make_client

__all__ = [
    "INSTANCE_TYPES",
    "PRICE_FLAG_SOURCE",
    "PRICE_TABLE_DATE",
    "PRICE_TABLE_NOTE",
    "PRICE_TABLE_SOURCE",
    "EndpointConfig",
    "EndpointMonitor",
    "ScalingEvent",
    "VariantInfo",
    "cost_per_million",
    "describe_variants",
    "instance_hours",
    "price_per_hour",
    "scaling_events",
]

# instance type -> (vCPUs, GPUs, indicative USD per hour, on-demand real-time inference, us-east-1)
PRICE_TABLE_DATE = "2026-11"
PRICE_TABLE_SOURCE = f"the bundled table dated {PRICE_TABLE_DATE} (indicative, us-east-1)"
PRICE_FLAG_SOURCE = "--price-per-hour"
PRICE_TABLE_NOTE = (
    "indicative SageMaker real-time inference on-demand prices for us-east-1, typed in by hand in "
    "November 2026 from the public price list as its authors knew it; not fetched, not authoritative: "
    "prices differ by region and change - pass --price-per-hour for the figure you pay"
)
INSTANCE_TYPES: dict[str, tuple[int, int, float]] = {
    "ml.t2.medium": (2, 0, 0.056),
    "ml.m5.large": (2, 0, 0.115),
    "ml.m5.xlarge": (4, 0, 0.23),
    "ml.m5.2xlarge": (8, 0, 0.461),
    "ml.c5.large": (2, 0, 0.102),
    "ml.c5.xlarge": (4, 0, 0.204),
    "ml.c5.2xlarge": (8, 0, 0.408),
    "ml.g4dn.xlarge": (4, 1, 0.736),
    "ml.g5.xlarge": (4, 1, 1.408),
    "ml.g5.2xlarge": (8, 1, 1.515),
    "ml.p3.2xlarge": (8, 1, 3.825),
    "ml.inf2.xlarge": (4, 1, 0.99),
}
OK_STATUSES = ("InService", "Updating", "SystemUpdating", "UpdateRollbackFailed")
POLL_S = 10.0


@dataclass(frozen=True, slots=True)
class VariantInfo:
    """One production variant as the control plane describes it now."""

    name: str
    weight: float
    instance_type: str | None          # None for a serverless variant
    instance_count: int
    desired_count: int
    serverless: bool = False

    @property
    def vcpus(self) -> int | None:
        entry = INSTANCE_TYPES.get(self.instance_type or "")
        return entry[0] if entry else None


def _error_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


# AWS error codes that mean the credentials, not the request, are wrong
_CREDENTIAL_ERRORS = {
    "ExpiredToken": "have expired", "ExpiredTokenException": "have expired",
    "RequestExpired": "were used with a clock more than 5 minutes off",
    "UnrecognizedClientException": "are not valid", "InvalidClientTokenId": "are not valid",
    "InvalidSignatureException": "do not match (wrong secret key?)",
    "SignatureDoesNotMatch": "do not match (wrong secret key?)",
}


def describe_variants(client: Any, endpoint: str, *, check_status: bool = True) -> list[VariantInfo]:
    """The endpoint's production variants, in the endpoint config's order.

    Also the SageMaker preflight: an unknown endpoint, expired or invalid
    credentials, a missing permission or a missing region is a one-line
    UsageError here, before any load.
    """
    region = getattr(getattr(client, "meta", None), "region_name", "?")
    try:
        described = client.describe_endpoint(EndpointName=endpoint)
    except Exception as exc:
        code = _error_code(exc)
        if code in _CREDENTIAL_ERRORS:
            raise UsageError(f"the AWS credentials {_CREDENTIAL_ERRORS[code]} ({code})") from None
        if code in ("AccessDeniedException", "AccessDenied"):
            raise UsageError(f"not allowed to describe SageMaker endpoint {endpoint!r}: "
                             "the role needs sagemaker:DescribeEndpoint") from None
        if code in ("ValidationException", "ResourceNotFound") or "could not find" in str(exc).lower():
            raise UsageError(f"SageMaker endpoint {endpoint!r} not found in region {region}") from None
        raise UsageError(f"DescribeEndpoint {endpoint!r} failed: {_first_line(exc)}") from None
    status = described.get("EndpointStatus", "")
    if check_status and status not in OK_STATUSES:
        raise UsageError(f"SageMaker endpoint {endpoint!r} is {status}, not InService: it cannot take the load")
    try:
        config = client.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    except Exception as exc:
        raise UsageError(f"DescribeEndpointConfig for {endpoint!r} failed: {_first_line(exc)}") from None
    current = {v["VariantName"]: v for v in described.get("ProductionVariants", [])}
    out = []
    for v in config.get("ProductionVariants", []):
        now = current.get(v["VariantName"], {})
        serverless = "ServerlessConfig" in v
        count = int(now.get("CurrentInstanceCount", v.get("InitialInstanceCount", 0) or 0))
        out.append(VariantInfo(
            name=v["VariantName"],
            weight=float(now.get("CurrentWeight", v.get("InitialVariantWeight", 1.0))),
            instance_type=v.get("InstanceType"),
            instance_count=count,
            desired_count=int(now.get("DesiredInstanceCount", count)),
            serverless=serverless,
        ))
    if not out:
        raise UsageError(f"SageMaker endpoint {endpoint!r} has no production variants")
    return out


class EndpointConfig(MonitorConfig):
    """``{type: sagemaker-endpoint, endpoint: NAME, region, endpoint_url, poll_s}``
    (``--monitor sagemaker-endpoint=NAME[@REGION]``): poll that endpoint's instances during the run,
    whatever the run's target (a SageMaker target's own endpoint is polled without being asked)."""

    type: Literal["sagemaker-endpoint"] = "sagemaker-endpoint"
    name: str = "sagemaker-endpoint"
    endpoint: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    poll_s: float = Field(default=POLL_S, ge=1, le=3600)   # DescribeEndpoint's rate limit is low

    flag_forms: ClassVar[tuple[str, ...]] = ("sagemaker-endpoint=ENDPOINT[@REGION]",)

    @classmethod
    def from_flag(cls, value: str) -> dict[str, Any] | None:
        return endpoint_flag("sagemaker-endpoint", value)


class EndpointMonitor:
    """Polls DescribeEndpoint during a run: instance count, desired count and weight per variant."""

    Config = EndpointConfig

    def __init__(self, endpoint: str, *, region: str | None = None, endpoint_url: str | None = None,
                 poll_s: float = POLL_S, client: Any = None, name: str = "sagemaker-endpoint") -> None:
        self.name = name
        self.endpoint = endpoint
        self.poll_s = poll_s
        self._client = client
        self._region = region
        self._endpoint_url = endpoint_url
        self._last: float = -math.inf
        self.variants: list[VariantInfo] = []

    def start(self) -> None:
        if self._client is None:
            self._client = make_client("sagemaker", self._region, self._endpoint_url)
        try:
            self.variants = describe_variants(self._client, self.endpoint, check_status=False)
        except UsageError as exc:
            raise MonitorError(str(exc)) from None

    def sample(self, t: float) -> list[Point]:
        if t - self._last < self.poll_s:
            return []
        self._last = t
        try:
            described = self._client.describe_endpoint(EndpointName=self.endpoint)
        except Exception as exc:
            raise MonitorError(f"DescribeEndpoint failed: {_first_line(exc)}") from None
        types = {v.name: v.instance_type or "serverless" for v in self.variants}
        points = []
        for v in described.get("ProductionVariants", []):
            name = v["VariantName"]
            labels = (("endpoint", self.endpoint), ("variant", name), ("instance_type", types.get(name, "?")))
            current = float(v.get("CurrentInstanceCount", math.nan))
            points.append(Point(t, "sagemaker.instances", current, "instances", labels))
            points.append(Point(t, "sagemaker.desired_instances",
                                float(v.get("DesiredInstanceCount", current)), "instances", labels))
            weight = float(v.get("CurrentWeight", math.nan))
            points.append(Point(t, "sagemaker.weight", weight, "", labels))
            points.append(Point(t, "sagemaker.desired_weight", float(v.get("DesiredWeight", weight)), "", labels))
        return points

    def stop(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ScalingEvent:
    """A variant's instance count moving from `before` to `after`: asked at `began`, reached at `ended`."""

    variant: str
    before: int
    after: int
    began: float
    ended: float | None   # None: still scaling when the run ended


def _by_variant(points: Iterable[Point], series: str) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for p in points:
        if p.series == series:
            out.setdefault(dict(p.labels).get("variant", ""), []).append((p.t, p.value))
    for rows in out.values():
        rows.sort()
    return out


def scaling_events(points: Sequence[Point]) -> list[ScalingEvent]:
    """Scale-outs and scale-ins seen in `EndpointMonitor` points, in time order."""
    desired = _by_variant(points, "sagemaker.desired_instances")
    current = _by_variant(points, "sagemaker.instances")
    events = []
    for variant, rows in desired.items():
        have = current.get(variant, [])
        for (_, before), (t, after) in pairwise(rows):
            if after == before:
                continue
            ended = next((tc for tc, c in have if tc >= t and c == after), None)
            events.append(ScalingEvent(variant, int(before), int(after), t, ended))
    return sorted(events, key=lambda e: e.began)


def instance_hours(points: Sequence[Point], variant: str, t0: float, t1: float) -> float:
    """Instance-hours a variant held over [t0, t1] (run clock), its count held until the next poll."""
    rows = [(t, c) for t, c in _by_variant(points, "sagemaker.instances").get(variant, []) if math.isfinite(c)]
    if not rows or t1 <= t0:
        return math.nan
    total = 0.0
    for i, (t, count) in enumerate(rows):
        start = t0 if i == 0 else max(t0, t)   # the first poll's count stands for the run's start
        end = min(t1, rows[i + 1][0]) if i + 1 < len(rows) else t1
        if end > start:
            total += count * (end - start)
    return total / 3600.0


def price_per_hour(instance_type: str | None, override: float | None = None) -> float | None:
    """`override` if given, else the bundled indicative price, else None (unknown type)."""
    if override is not None:
        if not (math.isfinite(override) and override > 0):
            raise UsageError(f"--price-per-hour must be a positive number of dollars; got {override}")
        return override
    entry = INSTANCE_TYPES.get(instance_type or "")
    return entry[2] if entry else None


def cost_per_million(price_hour: float | None, hours: float, invocations: float) -> float:
    """Dollars per million inferences: instance-hours x hourly price / invocations x 1e6 (NaN if unknown)."""
    if price_hour is None or not invocations or not math.isfinite(hours):
        return math.nan
    return price_hour * hours / invocations * 1e6


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def wait_in_service(client: Any, endpoint: str, timeout: float = 30.0) -> None:
    """Block until the endpoint is InService (tests and the demo create endpoints on the fly)."""
    deadline = time.monotonic() + timeout
    while client.describe_endpoint(EndpointName=endpoint).get("EndpointStatus") != "InService":
        if time.monotonic() > deadline:
            raise UsageError(f"SageMaker endpoint {endpoint!r} did not reach InService in {timeout:.0f} s")
        time.sleep(0.5)
