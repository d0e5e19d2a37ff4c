"""The offline SageMaker end to end: variants discovered in moto, signed traffic through the front
to the real demo models, invoked variants attributed, and the front's figures read back from CloudWatch."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

boto3 = pytest.importorskip("boto3")

from stinger.demo.sagemaker_stack import SageMakerDemo  # noqa: E402
from stinger.targets.base import ResponseBatch  # noqa: E402
from stinger.vendors.sagemaker.carrier import Config, SageMakerTarget, variant_configs  # noqa: E402
from stinger.vendors.sagemaker.cloudwatch import CloudWatchMonitor  # noqa: E402
from stinger.vendors.sagemaker.endpoint_monitor import (  # noqa: E402
    EndpointMonitor,
    VariantInfo,
    describe_variants,
)

BODY = json.dumps({"instances": [[0.2] * 64]}).encode()


def test_demo_sagemaker_story_offline(aws_env, http_exchange):
    with SageMakerDemo(publish_s=0.5) as stack:
        sm = boto3.client("sagemaker", endpoint_url=stack.control_url, region_name="us-east-1")
        variants = describe_variants(sm, "stinger-demo")
        assert variants == [VariantInfo("A", 1.0, "ml.m5.large", 1, 1), VariantInfo("B", 1.0, "ml.c5.xlarge", 1, 1)]
        names = tuple(v.name for v in variants)
        base = Config(endpoint="stinger-demo", region="us-east-1", endpoint_url=stack.runtime_url)

        # SageMaker splits by weight; each reply is attributed from its invoked-variant header
        (split,) = variant_configs(base, names, pin=False)
        target = SageMakerTarget(split)
        (endpoint,) = target.endpoints()
        data, _ = target.request(endpoint, BODY, time.perf_counter())
        t0 = time.time()
        replies = [http_exchange(endpoint.port, data) for _ in range(60)]
        assert {status for status, _, _ in replies} == {200}
        header = [h["x-amzn-invoked-production-variant"].encode() for _, h, _ in replies]
        n = len(header)
        zeros = np.zeros(n, np.int64)
        batch = ResponseBatch(intended=np.zeros(n), sent=np.zeros(n), first=np.zeros(n), done=np.zeros(n),
                              kind=zeros, status=zeros + 200, variant=zeros, nbytes=zeros, payload=zeros,
                              headers={"x-amzn-invoked-production-variant": header, "x-amzn-errortype": [None] * n})
        attributed = target.interpret(batch).variant
        assert attributed.tolist() == [names.index(h.decode()) for h in header]
        counts = {name: int((attributed == i).sum()) for i, name in enumerate(names)}
        assert min(counts.values()) > 0

        # the figures the front published are what a CloudWatch read gives back
        time.sleep(1.5)
        cw = boto3.client("cloudwatch", endpoint_url=stack.control_url, region_name="us-east-1")
        points = CloudWatchMonitor("stinger-demo", names, period=60, extended=(), wait_s=0,
                                   vcpus={v.name: v.vcpus for v in variants}, client=cw).collect(t0 - 1, time.time())
        read = {name: sum(p.value for p in points if p.series == "cloudwatch.Invocations"
                          and dict(p.labels)["variant"] == name) for name in names}
        assert read == counts
        monitor = EndpointMonitor("stinger-demo", client=sm)
        monitor.start()
        assert {dict(p.labels)["instance_type"] for p in monitor.sample(0.0)} == {"ml.m5.large", "ml.c5.xlarge"}
    assert stack.front is None and stack.moto.pid is None
