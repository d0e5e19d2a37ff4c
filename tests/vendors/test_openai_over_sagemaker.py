"""The openai api over the sagemaker carrier: an LLM container behind a SageMaker endpoint.

`{type: openai, via: sagemaker, stream: true}` sends the OpenAI request JSON, SigV4-signed, as
InvokeEndpointWithResponseStream; the demo's SageMaker front (`demo/sagemaker_front.py`, which
checks the signature as AWS does) relays each read of the container's server-sent events as one
event-stream PayloadPart as it arrives (`--stream-through`), and the container is
`testing/llm_server.py`, which records when it read each request and wrote each token. The carrier
unwraps the PayloadParts, each stamped by the read that completed it, and the openai api reads
the events as it does over HTTP: the same tokens, the same metrics, and a time to first token
that can only be later than the server's own (the request left before the server read it, the
token arrived after the server wrote it), and earlier than the server's whole answer (streamed,
not buffered). The same run over plain HTTP, against the same server, is the reference.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from stinger.spec import parse_spec
from stinger.testing.llm_server import LlmServer
from stinger.testing.procs import stop_process

pytest.importorskip("botocore")

TOKENS, TTFT_MS, ITL_MS = 12, 40, 8
HIST_SLACK = 1.01   # an HDR quantile is its bucket's value: within 1 % (2 significant digits) of the exact one


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    from stinger.testing.moto_server import client_env

    for name, value in client_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    # this test has no control plane: none from the environment either
    for name in ("AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


class Front:
    """The demo's SageMaker front as a child process, stopped by its PID."""

    def __init__(self, *args: str) -> None:
        from stinger.demo.sagemaker_front import ANNOUNCE_PREFIX

        self.proc = subprocess.Popen([sys.executable, "-m", "stinger.demo.sagemaker_front", "--port", "0", *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith(ANNOUNCE_PREFIX), line
        self.url = line[len(ANNOUNCE_PREFIX):].strip()

    def close(self) -> None:
        stop_process(self.proc)


def _run(target: dict) -> dict:
    from stinger.orchestrate.run import run_spec

    data = {"target": {**target, "model": "m", "max_tokens": TOKENS, "prompt": "hello"},
            "load": {"rate": 8, "duration": "2s", "workers": 1}, "output": {"dir": "unused"}}
    summary: dict = run_spec(parse_spec(data), quiet=True, write=False).summary["variants"]["default"]
    return summary


def test_openai_over_sagemaker_gives_ttft_and_tokens_as_over_http(aws_env):
    with LlmServer(ttft_ms=TTFT_MS, itl_ms=ITL_MS, tokens=TOKENS) as llm:
        front = Front("--backend", llm.url, "--backend-path", "/chat/completions", "--endpoint", "llm",
                      "--variants", "AllTraffic=llm", "--stream-through")
        try:
            sm = _run({"type": "openai", "via": "sagemaker", "endpoint": "llm", "region": "us-east-1",
                       "endpoint_url": front.url})
        finally:
            front.close()
        http = _run({"type": "openai", "url": llm.url})
    records = llm.records()
    assert len(records) == 32   # 16 requests each way, every one answered (the server's own count)
    server_ttft = sorted((r["first"] - r["recv"]) * 1e3 for r in records)
    server_total = sorted((r["last"] - r["recv"]) * 1e3 for r in records)
    for name, v in (("sagemaker", sm), ("http", http)):
        req = v["requests"]
        assert req["ok"] == req["scheduled"] == 16 and req["unaccounted"] == 0, (name, req)
        # the same tokens, the same metrics: every answer's TOKENS tokens, a ttft and TOKENS - 1 gaps each
        assert v["output_tokens"]["mean"] == v["output_tokens"]["max"] == TOKENS, name
        assert v["ttft_ms"]["count"] == 16 and v["itl_ms"]["count"] == 16 * (TOKENS - 1), name
        assert v["tpot_ms"]["count"] == 16, name
        # causality against the server's own record: each client ttft is past its server ttft, so every
        # quantile is; and a streamed first token arrives before the server wrote its last one
        assert v["ttft_ms"]["min"] * HIST_SLACK >= server_ttft[0], (name, v["ttft_ms"], server_ttft[:3])
        # (the k-th smallest of 16 client values >= the k-th smallest of their 16 records >= of all 32)
        assert v["ttft_ms"]["p50"] * HIST_SLACK >= server_ttft[16 // 2 - 1], name
        # streamed, not buffered: the first token came well before the end of the answer (a buffered relay
        # gives ttft = latency); half the server's own streaming time apart at the median at least
        assert v["latency_ms"]["p50"] - v["ttft_ms"]["p50"] >= 0.5 * (TOKENS - 1) * ITL_MS, (name, v["ttft_ms"],
                                                                                          v["latency_ms"])
    # over plain HTTP nothing stands between: the median first token arrives before the server's median
    # last one (through the SageMaker front, a busy machine queues requests in the front before the
    # server sees them, which the server's own record cannot show: 2 s at load 16 once)
    assert http["ttft_ms"]["p50"] < server_total[len(server_total) // 2], (http["ttft_ms"], server_total)
    # the carrier's own stream timing is there too (time to first PayloadPart), only over sagemaker
    assert sm["ttfc_ms"]["count"] == 16
    assert not (http.get("ttfc_ms") or {}).get("count")
