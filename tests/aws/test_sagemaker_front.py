"""The local SageMaker front: stinger's signed requests through it to the real demo server.

One demo server (trained scikit-learn models) and one moto server for the
module; each test starts its own front as a child process and stops it by PID.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

boto3 = pytest.importorskip("boto3")

from stinger.demo.process import DemoServer
from stinger.demo.sagemaker_front import ANNOUNCE_PREFIX, verify_sigv4
from stinger.monitors.cloudwatch import CloudWatchMonitor
from stinger.targets import eventstream
from stinger.targets.sagemaker import KIND_MODEL_ERROR, Config, SageMakerTarget
from stinger.testing.procs import stop_process

BODY = json.dumps({"instances": [[0.1] * 64]}).encode()


@pytest.fixture(scope="module")
def demo():
    with DemoServer(variants=["fast", "accurate"]) as server:
        yield server


class Front:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "stinger.demo.sagemaker_front", "--port", "0", *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith(ANNOUNCE_PREFIX), line
        self.url = line[len(ANNOUNCE_PREFIX):].strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def close(self) -> None:
        stop_process(self.proc)


@pytest.fixture
def front_factory():
    fronts = []

    def make(*args):
        fronts.append(Front(*args))
        return fronts[-1]

    yield make
    for front in fronts:
        front.close()


def target(front, **kw):
    return SageMakerTarget(Config(endpoint="ep-demo", region="us-east-1", endpoint_url=front.url, **kw))


def test_signed_requests_routed_by_variant_and_weight(aws_env, demo, front_factory, http_exchange):
    front = front_factory("--backend", demo.url, "--endpoint", "ep-demo", "--variants", "A=fast,B=accurate",
                          "--weights", "A=3,B=1")
    for pinned in ("A", "B"):
        t = target(front, target_variant=pinned)
        status, headers, body = http_exchange(front.port, t.request(t.endpoints()[0], BODY, 0.0)[0])
        assert status == 200, body
        assert headers["x-amzn-invoked-production-variant"] == pinned
        assert json.loads(body)["variant"] == {"A": "fast", "B": "accurate"}[pinned]
    t = target(front)
    seen = [http_exchange(front.port, t.request(t.endpoints()[0], BODY, 0.0)[0])[1]["x-amzn-invoked-production-variant"]
            for _ in range(200)]
    assert set(seen) == {"A", "B"} and 0.6 < seen.count("A") / len(seen) < 0.9   # weights 3:1


def test_bad_signature_unknown_variant_and_model_error(aws_env, demo, front_factory, http_exchange, monkeypatch):
    front = front_factory("--backend", demo.url, "--endpoint", "ep-demo", "--variants", "A=fast,B=accurate")
    t = target(front)
    data = t.request(t.endpoints()[0], BODY, 0.0)[0]
    tampered = data[:-2] + b"9]"      # body changed after signing
    status, headers, body = http_exchange(front.port, tampered)
    assert status == 403 and headers["x-amzn-errortype"].startswith("InvalidSignatureException")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    status, _, _ = http_exchange(front.port, target(front).request(t.endpoints()[0], BODY, 0.0)[0])
    assert status == 403
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    t = target(front, target_variant="Z")
    status, headers, _ = http_exchange(front.port, t.request(t.endpoints()[0], BODY, 0.0)[0])
    assert status == 400 and headers["x-amzn-errortype"].startswith("ValidationError")
    # the container rejects the body: a 424 ModelError carrying its message, classified by the target
    t = target(front, target_variant="A")
    status, headers, body = http_exchange(front.port, t.request(t.endpoints()[0], b"not json", 0.0)[0])
    assert status == 424 and headers["x-amzn-invoked-production-variant"] == "A"
    kind, message = SageMakerTarget._classify(status, headers["x-amzn-errortype"], body)
    assert kind == KIND_MODEL_ERROR and "from primary with message" in message and "JSON" in message


def test_stream_through_the_front_parses_into_chunks(aws_env, demo, front_factory, http_exchange):
    front = front_factory("--backend", demo.url, "--endpoint", "ep-demo", "--variants", "A=fast",
                          "--stream-parts", "3", "--stream-gap-ms", "20")
    t = target(front, stream=True)
    status, headers, body = http_exchange(front.port, t.request(t.endpoints()[0], BODY, 0.0)[0])
    assert status == 200 and headers["content-type"] == "application/vnd.amazon.eventstream"
    stream = eventstream.parse([(0.0, body)])
    assert len(stream.messages) == 3 and stream.error is None
    assert json.loads(b"".join(m.payload for m in stream.messages))["variant"] == "fast"


def test_verify_rejects_expired_and_missing_signatures(aws_env):
    from stinger.targets.sigv4 import Signer

    signer = Signer("us-east-1")
    url = "http://127.0.0.1:9/endpoints/e/invocations"
    wall = time.time()
    signed = signer.sign("POST", url, [("Content-Type", "application/json")], b"{}", at=wall)
    head = signed.data.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:]
    headers = {k.lower(): v for k, _, v in (h.partition(": ") for h in head)}
    keys = {"testing": "testing"}
    assert verify_sigv4("POST", "/endpoints/e/invocations", headers, b"{}", keys, "us-east-1", now=wall) is None
    assert verify_sigv4("POST", "/endpoints/e/invocations", headers, b"{}", keys, "us-east-1",
                        now=wall + 301).error_type == "InvalidSignatureException"
    assert verify_sigv4("POST", "/endpoints/e/invocations", headers, b"{}", keys, "eu-west-1",
                        now=wall).error_type == "InvalidSignatureException"
    assert verify_sigv4("POST", "/endpoints/e/invocations", {}, b"{}", keys, "us-east-1").error_type == \
        "MissingAuthenticationTokenException"
    assert verify_sigv4("POST", "/endpoints/e/invocations", headers, b"{}", {"other": "x"}, "us-east-1",
                        now=wall).error_type == "UnrecognizedClientException"


def test_front_publishes_its_metrics_to_moto_cloudwatch(aws_env, demo, moto, front_factory, http_exchange):
    front = front_factory("--backend", demo.url, "--endpoint", "ep-demo", "--variants", "A=fast,B=accurate",
                          "--cloudwatch-url", moto.url, "--publish-s", "0.5")
    t0 = time.time()
    counts = {"A": 0, "B": 0}
    for i in range(30):
        v = "AB"[i % 3 == 0]
        tt = target(front, target_variant=v)
        assert http_exchange(front.port, tt.request(tt.endpoints()[0], BODY, 0.0)[0])[0] == 200
        counts[v] += 1
    time.sleep(1.5)   # two publish ticks
    cw = boto3.client("cloudwatch", **moto.client_kwargs())
    points = CloudWatchMonitor("ep-demo", ["A", "B"], period=60, extended=(), wait_s=0, client=cw).collect(
        t0 - 1, time.time())
    total = {v: sum(p.value for p in points if p.series == "cloudwatch.Invocations"
                    and dict(p.labels)["variant"] == v) for v in "AB"}
    assert total == counts == {"A": 20, "B": 10}
    latency = [p for p in points if p.series == "cloudwatch.ModelLatency.average"]
    assert latency and all(0 < p.value < 1000 and p.unit == "ms" for p in latency)
