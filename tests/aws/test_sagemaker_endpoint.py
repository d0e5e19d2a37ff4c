"""Production variants, scaling seen and cost, against moto's SageMaker control plane (a real local server)."""

from __future__ import annotations

import math

import pytest

boto3 = pytest.importorskip("boto3")

from stinger.errors import UsageError  # noqa: E402
from stinger.monitors.base import Monitor, MonitorError, Point  # noqa: E402
from stinger.vendors.sagemaker.endpoint_monitor import (  # noqa: E402
    INSTANCE_TYPES,
    EndpointMonitor,
    ScalingEvent,
    VariantInfo,
    cost_per_million,
    describe_variants,
    instance_hours,
    price_per_hour,
    scaling_events,
)

ROLE = "arn:aws:iam::123456789012:role/stinger-test"


@pytest.fixture(scope="module")
def sm(moto):
    client = boto3.client("sagemaker", **moto.client_kwargs())
    client.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "img"})
    client.create_endpoint_config(EndpointConfigName="cfg-ab", ProductionVariants=[
        {"VariantName": "fast", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
         "InitialVariantWeight": 3.0},
        {"VariantName": "accurate", "ModelName": "m", "InitialInstanceCount": 2, "InstanceType": "ml.c5.xlarge",
         "InitialVariantWeight": 1.0},
    ])
    client.create_endpoint(EndpointName="ep-ab", EndpointConfigName="cfg-ab")
    return client


def test_describe_variants_names_weights_types_counts(sm):
    variants = describe_variants(sm, "ep-ab")
    assert variants == [
        VariantInfo("fast", 3.0, "ml.m5.large", 1, 1),
        VariantInfo("accurate", 1.0, "ml.c5.xlarge", 2, 2),
    ]
    assert variants[1].vcpus == 4


def test_unknown_endpoint_is_one_line_usage_error(sm):
    with pytest.raises(UsageError) as info:
        describe_variants(sm, "no-such-endpoint")
    assert str(info.value) == "SageMaker endpoint 'no-such-endpoint' not found in region us-east-1"


def test_monitor_polls_counts_and_sees_scaling(sm):
    monitor = EndpointMonitor("ep-ab", client=sm, poll_s=10)
    assert isinstance(monitor, Monitor)
    monitor.start()
    first = monitor.sample(0.0)
    assert monitor.sample(5.0) == []              # polled at most every poll_s
    counts = {(p.series, dict(p.labels)["variant"]): p.value for p in first}
    assert counts[("sagemaker.instances", "fast")] == 1 and counts[("sagemaker.instances", "accurate")] == 2
    assert counts[("sagemaker.weight", "fast")] == 3.0
    assert dict(first[0].labels)["instance_type"] == "ml.m5.large"
    sm.update_endpoint_weights_and_capacities(EndpointName="ep-ab", DesiredWeightsAndCapacities=[
        {"VariantName": "fast", "DesiredInstanceCount": 3}])
    later = monitor.sample(12.0)
    counts = {(p.series, dict(p.labels)["variant"]): p.value for p in later}
    assert counts[("sagemaker.desired_instances", "fast")] == 3
    assert counts[("sagemaker.instances", "fast")] == 3   # moto applies capacity at once
    events = scaling_events(first + later)
    assert events == [ScalingEvent("fast", 1, 3, 12.0, 12.0)]


def test_monitor_of_unknown_endpoint_is_disabled_not_fatal(sm):
    with pytest.raises(MonitorError, match="not found"):
        EndpointMonitor("nope", client=sm).start()


def point(t, series, value, variant="A"):
    return Point(t, series, value, "instances", (("variant", variant),))


def test_scaling_events_began_and_ended_from_points():
    pts = [point(0, "sagemaker.desired_instances", 1), point(0, "sagemaker.instances", 1),
           point(10, "sagemaker.desired_instances", 4), point(10, "sagemaker.instances", 1),
           point(20, "sagemaker.desired_instances", 4), point(20, "sagemaker.instances", 2),
           point(30, "sagemaker.desired_instances", 4), point(30, "sagemaker.instances", 4),
           point(40, "sagemaker.desired_instances", 2), point(40, "sagemaker.instances", 4)]
    assert scaling_events(pts) == [ScalingEvent("A", 1, 4, 10, 30), ScalingEvent("A", 4, 2, 40, None)]


def test_instance_hours_and_cost_per_million():
    pts = [point(0, "sagemaker.instances", 1), point(1800, "sagemaker.instances", 3)]
    hours = instance_hours(pts, "A", 0, 3600)
    assert hours == pytest.approx(0.5 * 1 + 0.5 * 3)
    # 2 instance-hours at $0.115 for 1e6 inferences
    assert cost_per_million(0.115, hours, 1_000_000) == pytest.approx(0.23)
    assert math.isnan(cost_per_million(None, hours, 10))
    assert math.isnan(instance_hours(pts, "B", 0, 10))


def test_price_table_and_override():
    assert price_per_hour("ml.m5.large") == INSTANCE_TYPES["ml.m5.large"][2]
    assert price_per_hour("ml.unknown.large") is None
    assert price_per_hour("ml.m5.large", override=1.5) == 1.5
    with pytest.raises(UsageError, match="price-per-hour"):
        price_per_hour("ml.m5.large", override=-1)


@pytest.mark.parametrize("code, message", [
    ("ExpiredTokenException", "the AWS credentials have expired (ExpiredTokenException)"),
    ("UnrecognizedClientException", "the AWS credentials are not valid (UnrecognizedClientException)"),
    ("AccessDeniedException", "not allowed to describe SageMaker endpoint 'ep': the role needs sagemaker:DescribeEndpoint"),
])
def test_credential_and_permission_faults_are_one_line(code, message):
    from botocore.exceptions import ClientError

    class Client:
        def describe_endpoint(self, **kw):
            raise ClientError({"Error": {"Code": code, "Message": "long\nmulti-line text"}}, "DescribeEndpoint")

    with pytest.raises(UsageError) as info:
        describe_variants(Client(), "ep")
    assert str(info.value) == message
