"""The sagemaker target: config errors, signed requests (sent to moto's server), interpretation."""

from __future__ import annotations

import json
import math
import socket
import urllib.request

import numpy as np
import pytest

pytest.importorskip("botocore")

from stinger.core.records import Kind
from stinger.errors import SpecError, UsageError
from stinger.targets.base import ResponseBatch, Target
from stinger.vendors.sagemaker import eventstream
from stinger.vendors.sagemaker.carrier import (
    KIND_MODEL_ERROR,
    KIND_THROTTLED,
    Config,
    SageMakerTarget,
    parse_config,
)


@pytest.mark.parametrize("data, field", [
    ({"type": "sagemaker", "endpoint": "bad_name"}, "target.endpoint"),
    ({"type": "sagemaker", "endpoint": "ok", "region": "Mars"}, "target.region"),
    ({"type": "sagemaker", "endpoint": "ok", "endpoint_url": "ftp://x"}, "target.endpoint_url"),
    ({"type": "sagemaker", "endpoint": "ok", "target_variant": "A B"}, "target.target_variant"),
    ({"type": "sagemaker", "endpoint": "ok", "inference_id": "x" * 65}, "target.inference_id"),
    ({"type": "sagemaker", "endpoint": "ok", "custom_attributes": "é"}, "target.custom_attributes"),
    ({"type": "sagemaker", "endpoint": "ok", "stream": True, "target_model": "m.tar.gz"}, "target:"),
    ({"type": "sagemaker", "endpoint": "ok", "colour": "red"}, "target.colour"),
    ({"type": "sagemaker"}, "target.endpoint"),
])
def test_bad_config_is_one_line_spec_error(data, field):
    with pytest.raises(SpecError) as info:
        parse_config(data)
    text = str(info.value)
    assert text.startswith(field) and "\n" not in text


def test_region_comes_from_the_chain_or_fails_in_one_line(aws_env, monkeypatch):
    assert SageMakerTarget(Config(endpoint="ep")).region == "us-east-1"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(UsageError, match="no AWS region"):
        SageMakerTarget(Config(endpoint="ep"))
    with pytest.raises(UsageError, match="unknown AWS region 'xx-nowhere-9'"):
        SageMakerTarget(Config(endpoint="ep", region="xx-nowhere-9"))
    # a local emulator may use any well-formed region
    assert SageMakerTarget(Config(endpoint="ep", region="xx-nowhere-9", endpoint_url="http://127.0.0.1:1")).region


def test_no_credentials_fails_before_load(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(UsageError, match="no AWS credentials"):
        SageMakerTarget(Config(endpoint="ep"))


def test_request_headers_url_and_expiry(aws_env):
    target = SageMakerTarget(Config(
        endpoint="my-ep", region="eu-west-1", target_variant="B", target_model="m.tar.gz",
        inference_component="ic-1", custom_attributes="a=1", inference_id="id-1", accept="text/csv"))
    assert isinstance(target, Target)
    (endpoint,) = target.endpoints()
    assert (endpoint.scheme, endpoint.host, endpoint.port, endpoint.path) == (
        "https", "runtime.sagemaker.eu-west-1.amazonaws.com", 443, "/endpoints/my-ep/invocations")
    data, expires = target.request(endpoint, b"[1,2]", now=100.0)
    assert expires == pytest.approx(100.0 + 240.0)
    head = data.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /endpoints/my-ep/invocations HTTP/1.1\r\n")
    for line in ("Host: runtime.sagemaker.eu-west-1.amazonaws.com", "Accept: text/csv",
                 "X-Amzn-SageMaker-Target-Variant: B", "X-Amzn-SageMaker-Target-Model: m.tar.gz",
                 "X-Amzn-SageMaker-Inference-Component: ic-1", "X-Amzn-SageMaker-Custom-Attributes: a=1",
                 "X-Amzn-SageMaker-Inference-Id: id-1", "Content-Length: 5"):
        assert line in head.split("\r\n")
    assert "SignedHeaders=accept;content-type;host;x-amz-date;x-amzn-sagemaker-custom-attributes;" in head

    streaming = SageMakerTarget(Config(endpoint="my-ep", region="eu-west-1", stream=True, accept="text/csv"))
    (ep,) = streaming.endpoints()
    assert ep.path == "/endpoints/my-ep/invocations-response-stream"
    head = streaming.request(ep, b"{}", 0.0)[0].decode()
    assert "X-Amzn-SageMaker-Accept: text/csv" in head and "\r\nAccept:" not in head
    assert streaming.needs().body and streaming.needs().chunk_times
    assert not target.needs().body and "x-amzn-invoked-production-variant" in target.needs().headers


def read_reply(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        raw = b""
        while chunk := conn.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_signed_bytes_are_an_invoke_endpoint_call_moto_answers(aws_env, moto):
    results = {"results": [{"Body": "[0.25]", "ContentType": "application/json",
                            "InvokedProductionVariant": "B", "CustomAttributes": "x"}]}
    req = urllib.request.Request(f"{moto.url}/moto-api/static/sagemaker/endpoint-results",
                                 data=json.dumps(results).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()
    target = SageMakerTarget(Config(endpoint="ep-1", region="us-east-1", endpoint_url=moto.url,
                                    variant_names=("A", "B")))
    (endpoint,) = target.endpoints()
    data, _ = target.request(endpoint, b'{"instances": [[1, 2]]}', 0.0)
    status, headers, body = read_reply(endpoint.port, data)
    assert (status, body) == (200, b"[0.25]")
    assert headers["x-amzn-invoked-production-variant"] == "B"


def batch(status, headers=None, bodies=None, chunk_times=None, variant=None):
    n = len(status)
    status = np.asarray(status, dtype=np.int64)
    kind = np.where(status >= 500, int(Kind.HTTP_5XX), np.where(status >= 400, int(Kind.HTTP_4XX), int(Kind.OK)))
    return ResponseBatch(
        intended=np.arange(n, dtype=float), sent=np.arange(n, dtype=float), first=np.arange(n) + 0.1,
        done=np.arange(n) + 0.5, kind=kind, status=status,
        variant=np.zeros(n, np.int64) if variant is None else np.asarray(variant), nbytes=np.zeros(n, np.int64),
        payload=np.zeros(n, np.int64), headers=headers or {}, bodies=bodies, chunk_times=chunk_times)


def test_interpret_throttling_model_error_and_variants(aws_env):
    target = SageMakerTarget(Config(endpoint="ep", variant_names=("A", "B")))
    model_error = json.dumps({"ErrorCode": "CLIENT_ERROR_FROM_MODEL",
                              "Message": 'Received client error (400) from primary with message "bad input"'}).encode()
    b = batch(
        [200, 429, 400, 424, 424, 500, 400],
        headers={
            "x-amzn-invoked-production-variant": [b"B", None, None, b"A", b"A", b"B", b"C"],
            "x-amzn-errortype": [None, None, b"ThrottlingException:http://internal.amazon.com/coral/x/",
                                 b"ModelError:http://internal.amazon.com/coral/x/", b"ModelError:", b"InternalFailure:",
                                 b"ValidationError:"],
        },
        bodies=[b"", b"", b'{"message": "Rate exceeded"}', model_error, model_error, b"", b"{}"],
    )
    got = target.interpret(b)
    assert got.kind.tolist() == [int(Kind.OK), KIND_THROTTLED, KIND_THROTTLED, KIND_MODEL_ERROR,
                                 KIND_MODEL_ERROR, int(Kind.HTTP_5XX), int(Kind.HTTP_4XX)]
    assert got.variant.tolist() == [1, 0, 0, 0, 0, 1, 0]   # missing/unknown names keep the planned variant
    assert target.unknown_variants == {"C"}
    assert target.messages[KIND_MODEL_ERROR] == 'ModelError: Received client error (400) from primary with message "bad input"'
    assert target.messages[KIND_THROTTLED] == "HTTP 429"
    assert target.messages[int(Kind.HTTP_5XX)] == "InternalFailure"
    assert target.messages[int(Kind.HTTP_4XX)] == "ValidationError"
    assert b.kind.tolist()[1] == int(Kind.HTTP_4XX), "the batch itself is not modified"


def test_interpret_without_error_bodies_uses_the_header(aws_env):
    target = SageMakerTarget(Config(endpoint="ep"))
    got = target.interpret(batch([200, 400], headers={"x-amzn-errortype": [None, b"ThrottlingException:"]}))
    assert got.kind.tolist() == [int(Kind.OK), KIND_THROTTLED]
    assert got.variant is None
    assert target.interpret(batch([200, 200])).kind is None


def test_interpret_stream_timings_and_in_stream_errors(aws_env):
    target = SageMakerTarget(Config(endpoint="ep", stream=True))
    ok = b"".join(eventstream.encode(t) for t in (b"a", b"b", b"c"))
    failing = eventstream.encode(b"a") + eventstream.encode_exception("ModelStreamError", '{"Message": "oom"}')
    # row 0 intended at 0: reads at 0.2, 0.3, 0.6 (bare times: one message a read)
    # row 1 intended at 1: exact (time, bytes so far) stamps
    one = len(eventstream.encode(b"a"))
    b = batch([200, 200, 200, 503], bodies=[ok, ok, failing, b""],
              chunk_times=[[0.2, 0.3, 0.6], [(1.1, one + 3), (1.4, len(ok))], [2.1, 2.2], []])
    got = target.interpret(b)
    assert got.columns["ttfc"][:3] == pytest.approx([200_000, 100_000, 100_000])
    assert got.columns["chunk_gap"][:2] == pytest.approx([200_000, 150_000])
    assert math.isnan(got.columns["chunk_gap"][2]) and math.isnan(got.columns["ttfc"][3])
    assert got.kind.tolist() == [int(Kind.OK), int(Kind.OK), KIND_MODEL_ERROR, int(Kind.HTTP_5XX)]
    assert target.messages[KIND_MODEL_ERROR] == "ModelStreamError: oom"


def test_variant_configs_pinned_or_split_by_sagemaker():
    from stinger.vendors.sagemaker.carrier import variant_configs

    base = Config(endpoint="ep", region="us-east-1")
    pinned = variant_configs(base, ["A", "B"])
    assert [(c.target_variant, c.variant_names) for c in pinned] == [("A", ("A", "B")), ("B", ("A", "B"))]
    (split,) = variant_configs(base, ["A", "B"], pin=False)
    assert split.target_variant is None and split.variant_names == ("A", "B")
    with pytest.raises(UsageError, match="no production variants"):
        variant_configs(base, [])
