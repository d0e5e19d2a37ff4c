"""The local SageMaker front: stinger's signed requests through it to the real demo server.

One demo server (trained scikit-learn models) and one moto server for the
module; each test starts its own front as a child process and stops it by PID.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

boto3 = pytest.importorskip("boto3")

from stinger.demo.process import DemoServer  # noqa: E402
from stinger.demo.sagemaker_front import ANNOUNCE_PREFIX, verify_sigv4  # noqa: E402
from stinger.testing.procs import stop_process  # noqa: E402
from stinger.vendors.sagemaker import eventstream  # noqa: E402
from stinger.vendors.sagemaker.carrier import KIND_MODEL_ERROR, Config, SageMakerTarget  # noqa: E402
from stinger.vendors.sagemaker.cloudwatch import CloudWatchMonitor  # noqa: E402

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
    from stinger.vendors.sagemaker.sigv4 import Signer

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


def test_instances_are_sampled_and_variants_routed_to_their_own_servers(aws_env, demo, moto, front_factory,
                                                                        http_exchange):
    """`--backends` gives variant B its own model server and `--instance-pids` names each variant's process:
    the publisher process puts their CPU, memory and disk into /aws/sagemaker/Endpoints, read back here."""
    with DemoServer(variants=["accurate"]) as own:
        front = front_factory("--backend", demo.url, "--endpoint", "ep-inst", "--variants", "A=fast,B=accurate",
                              "--backends", f"B={own.url}", "--instance-pids", f"A={demo.pid},B={own.pid}",
                              "--cloudwatch-url", moto.url, "--publish-s", "0.5")
        t0 = time.time()
        for i in range(200):   # enough model time that each server's CPU shows (psutil counts 10 ms ticks)
            tt = SageMakerTarget(Config(endpoint="ep-inst", region="us-east-1", endpoint_url=front.url,
                                        target_variant="AB"[i % 2]))
            assert http_exchange(front.port, tt.request(tt.endpoints()[0], BODY, 0.0)[0])[0] == 200
        time.sleep(2.5)   # two instance samples
        front.close()     # the publisher puts what is left on the way out
        served = urllib.request.urlopen(own.metrics_url, timeout=10).read().decode()
    # B's hundred went to its own server
    assert 'stinger_demo_requests_total{status="200",variant="accurate"} 100.0' in served
    cw = boto3.client("cloudwatch", **moto.client_kwargs())

    def by_variant() -> dict[str, dict[str, list]]:
        points = CloudWatchMonitor("ep-inst", ["A", "B"], period=60, extended=(), wait_s=0, client=cw,
                                   vcpus={"A": 2, "B": 4}).collect(t0 - 1, time.time())
        out: dict[str, dict[str, list]] = {"A": {}, "B": {}}
        for p in points:     # one point per 60 s period: the test may straddle a minute
            out[dict(p.labels)["variant"]].setdefault(p.series, []).append(p)
        return out

    # the publisher's last puts land when they land (a busy machine once read none yet): read until both
    # variants' hundred invocations are there, or 30 s
    deadline = time.monotonic() + 30
    while True:
        seen = by_variant()
        counts = [sum(p.value for p in seen[v].get("cloudwatch.Invocations", [])) for v in "AB"]
        if counts == [100, 100] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for v in "AB":
        mine = seen[v]
        assert sum(p.value for p in mine.get("cloudwatch.Invocations", [])) == 100, (v, counts)
        assert max(p.value for p in mine["cloudwatch.CPUUtilization"]) > 0
        assert all(p.unit.startswith("%") for p in mine["cloudwatch.CPUUtilization"])
        assert all(0 < p.value < 100 for p in mine["cloudwatch.MemoryUtilization"])
        assert all(0 < p.value <= 100 for p in mine["cloudwatch.DiskUtilization"])


def test_front_rejects_backends_of_unknown_variants(demo):
    r = subprocess.run([sys.executable, "-m", "stinger.demo.sagemaker_front", "--backend", demo.url,
                        "--variants", "A=fast", "--backends", "Z=http://127.0.0.1:1"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "--backends: unknown variant 'Z'" in r.stderr


def test_throttling_through_the_front_is_its_own_kind(aws_env, front_factory, http_exchange):
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from stinger.targets.base import ResponseBatch
    from stinger.testing.servers import RefServer
    from stinger.vendors.sagemaker.carrier import KIND_THROTTLED

    # a backend that holds each request 300 ms, and a front that admits one at a time
    with RefServer("delay", delay_ms=300) as slow:
        front = front_factory("--backend", slow.url, "--endpoint", "ep-demo", "--variants", "A=fast",
                              "--max-concurrency", "1")
        t = target(front, variant_names=("A",))
        data = t.request(t.endpoints()[0], BODY, 0.0)[0]
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda _: http_exchange(front.port, data), range(4)))
    statuses = sorted(status for status, _, _ in replies)
    assert statuses[0] == 200 and statuses.count(429) >= 2
    n = len(replies)
    status = np.array([s for s, _, _ in replies])
    kind = np.where(status >= 400, 5, 0)
    batch = ResponseBatch(intended=np.zeros(n), sent=np.zeros(n), first=np.zeros(n), done=np.zeros(n),
                          kind=kind, status=status, variant=np.zeros(n, np.int64), nbytes=np.zeros(n, np.int64),
                          payload=np.zeros(n, np.int64),
                          headers={"x-amzn-errortype": [h.get("x-amzn-errortype", "").encode() or None
                                                        for _, h, _ in replies],
                                   "x-amzn-invoked-production-variant": [h["x-amzn-invoked-production-variant"].encode()
                                                                         for _, h, _ in replies]},
                          bodies=[b for _, _, b in replies])
    got = t.interpret(batch)
    assert (got.kind[status == 429] == KIND_THROTTLED).all() and (got.kind[status == 200] == 0).all()
    assert t.messages[KIND_THROTTLED] == "ThrottlingException: Rate exceeded"


def test_stream_timings_measured_on_a_real_socket(aws_env, demo, front_factory):
    """Reads stamped as they arrive, then interpreted: the time to the first chunk and the mean gap are
    the stamps of the reads that completed the first and each later message, and the last part came no
    sooner than the front's gaps allow.

    The front sleeps 40 ms before each part after the first, so the last of k parts cannot arrive before
    (k - 1) x 40 ms after the request was sent: a floor, true on any machine. How much later the parts
    come is the machine's (the first part took 607 ms beside two CPU hogs), so no ceiling is asserted."""
    import numpy as np

    from stinger.targets.base import ResponseBatch

    gap_ms = 40
    front = front_factory("--backend", demo.url, "--endpoint", "ep-demo", "--variants", "A=fast",
                          "--stream-parts", "4", "--stream-gap-ms", str(gap_ms))
    t = target(front, stream=True)
    data = t.request(t.endpoints()[0], BODY, 0.0)[0]
    with socket.create_connection(("127.0.0.1", front.port), timeout=20) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        intended = time.perf_counter()
        conn.sendall(data)
        raw, stamps = b"", []
        while not raw.endswith(b"0\r\n\r\n"):
            chunk = conn.recv(65536)
            assert chunk
            raw += chunk
            stamps.append((time.perf_counter(), len(raw)))
    head_len = raw.index(b"\r\n\r\n") + 4
    # undo the chunked transfer coding, keeping each read's end offset in body bytes
    body, offsets, pos, mapping = b"", [], head_len, {}
    while True:
        size_end = raw.index(b"\r\n", pos)
        size = int(raw[pos:size_end], 16)
        if size == 0:
            break
        start = size_end + 2
        body += raw[start:start + size]
        mapping[start + size] = len(body)
        pos = start + size + 2
    for tt, end in stamps:
        done_bytes = max([b for raw_end, b in mapping.items() if raw_end <= end], default=0)
        offsets.append((tt, done_bytes))
    batch = ResponseBatch(intended=np.array([intended]), sent=np.array([intended]), first=np.array([intended]),
                          done=np.array([stamps[-1][0]]), kind=np.zeros(1, np.int64), status=np.array([200]),
                          variant=np.zeros(1, np.int64), nbytes=np.zeros(1, np.int64), payload=np.zeros(1, np.int64),
                          headers={}, bodies=[body], chunk_times=[offsets])
    got = t.interpret(batch)
    assert got.kind is None
    ttfc, gap = got.columns["ttfc"][0], got.columns["chunk_gap"][0]
    # each event-stream message's end (its prelude's total length), and the read that completed it
    ends, i = [], 0
    while i < len(body):
        i += int.from_bytes(body[i:i + 4], "big")
        ends.append(i)
    assert len(ends) >= 2 and ends[-1] == len(body)
    arrived = np.array([next(tt for tt, done in offsets if done >= end) for end in ends])
    assert ttfc == pytest.approx((arrived[0] - intended) * 1e6, abs=1e-3)
    assert gap == pytest.approx(np.mean(np.diff(arrived)) * 1e6, abs=1e-3)
    assert ttfc > 0
    assert ttfc + gap * (len(ends) - 1) >= (len(ends) - 1) * gap_ms * 1e3 - 1, (ttfc, gap, len(ends))
