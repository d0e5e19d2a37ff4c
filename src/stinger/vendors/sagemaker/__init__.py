"""Amazon SageMaker: every plugin half stinger has for it, in one package.

    carrier.py           the `sagemaker` carrier (`Config`, SigV4-signed InvokeEndpoint(WithResponseStream),
                         throttling, ModelError, the invoked variant, streamed chunk timings)
    sigv4.py             signing (botocore's signer, re-signed every 4 minutes, never per request)
    eventstream.py       the response stream's framing (InvokeEndpointWithResponseStream)
    cloudwatch.py        the `cloudwatch` monitor (metrics read back after the run)
    endpoint_monitor.py  the `sagemaker-endpoint` monitor (DescribeEndpoint polled: instances, weights, prices)
    capture.py           the `capture` dataset format (Data Capture files, with their arrival times)
    summary.py           the after-run block (CloudWatch beside client latency, instances, cost)
    split.py             `split: sagemaker` (the endpoint's own split, attributed per response)
    side.py              the coordinator half: the abilities orchestration asks (targets/abilities.py)

Nothing here is imported until a seam looks a name up (`PLUGINS` below, read through
`stinger.vendors`); botocore only when a target is built or the control plane is asked.
"""

from __future__ import annotations

_HERE = "stinger.vendors.sagemaker"

PLUGINS: dict[str, dict[str, str]] = {
    "carriers": {"sagemaker": f"{_HERE}.carrier:SageMakerTarget"},
    "pairs": {"plain@sagemaker": f"{_HERE}.carrier:Config", "openai@sagemaker": f"{_HERE}.carrier:OpenAIConfig"},
    # an older `type:` name read as its pair (the value is the pair's tag, not a module)
    "legacy": {"sagemaker": "plain@sagemaker"},
    # the carrier and a spec's `cloudwatch` monitor share one coordinator half (CloudWatch is read
    # after the run whatever the target)
    "sides": {"sagemaker": f"{_HERE}.side:SageMakerSide", "cloudwatch": f"{_HERE}.side:SageMakerSide"},
    "monitors": {"cloudwatch": f"{_HERE}.cloudwatch:CloudWatchReading",
                 "sagemaker-endpoint": f"{_HERE}.endpoint_monitor:EndpointMonitor"},
    "formats": {"capture": f"{_HERE}.capture:CaptureDataset"},
}
