"""targets/anthropic.py: the Anthropic Messages API, streamed and whole.

The end-to-end tests drive `stinger run` against `stinger.testing.anthropic_server`, a real
HTTP server (uvicorn) that streams the API's events at known times and records the instant
it handed each event to the socket, so time to first token and every inter-token gap are
checked against the server's own clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stinger.core.records import Kind
from stinger.spec import parse_spec
from stinger.targets.base import APIS, PAIRS, REGISTRY, ResponseBatch, build_target
from stinger.testing.anthropic_server import AnthropicServer


def target(**cfg):
    spec = parse_spec({"target": {"type": "anthropic", "url": "http://127.0.0.1:9/v1", "model": "claude-x", **cfg},
                       "payload": {"body": "hi"}, "load": {"rate": 1, "duration": 1}})
    return build_target(spec.target)


def request_of(t, payload: bytes) -> tuple[bytes, dict]:
    req = t.request(t.endpoints()[0], payload, 0.0)[0]
    head, _, body = req.partition(b"\r\n\r\n")
    return head, json.loads(body)


# ------------------------------------------------------------- build time
def test_anthropic_is_registered_and_posts_to_messages():
    assert REGISTRY["anthropic"] == "anthropic@http"
    assert APIS["anthropic"] == "stinger.targets.anthropic:AnthropicApi"
    assert PAIRS["anthropic@http"] == "stinger.targets.anthropic:Config"
    head, _ = request_of(target(), b'"hi"')
    assert head.startswith(b"POST /v1/messages HTTP/1.1")
    assert b"anthropic-version: 2023-06-01" in head and b"content-type: application/json" in head.lower()
    head, _ = request_of(target(url="http://127.0.0.1:9/v1/messages"), b'"hi"')
    assert head.startswith(b"POST /v1/messages HTTP/1.1")   # a URL naming the path is kept


def test_a_text_payload_is_one_user_message_and_the_config_fills_the_rest():
    _, body = request_of(target(max_tokens=64, params={"temperature": 0}), b"hello there")
    assert body == {"messages": [{"role": "user", "content": "hello there"}], "model": "claude-x",
                    "max_tokens": 64, "temperature": 0, "stream": True}
    _, body = request_of(target(), b'[{"role": "user", "content": "a"}]')
    assert body["messages"] == [{"role": "user", "content": "a"}] and body["max_tokens"] == 1024
    _, body = request_of(target(stream=False), b'{"prompt": "p", "max_tokens": 5, "system": "s"}')
    assert body == {"messages": [{"role": "user", "content": "p"}], "max_tokens": 5, "system": "s",
                    "model": "claude-x", "stream": False}


def test_the_api_key_goes_in_x_api_key_from_the_config_or_the_environment(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    assert b"x-api-key: sk-ant-env" in request_of(target(), b'"x"')[0]
    assert b"x-api-key: sk-ant-cfg" in request_of(target(api_key="sk-ant-cfg"), b'"x"')[0]


# ------------------------------------------------------------ flush time
def ev(typ: str, **obj) -> bytes:
    return f"event: {typ}\ndata: ".encode() + json.dumps({"type": typ, **obj}).encode() + b"\n\n"


def text(t: str, kind: str = "text_delta") -> bytes:
    field = "text" if kind == "text_delta" else "thinking"
    return ev("content_block_delta", index=0, delta={"type": kind, field: t})


def batch(bodies, chunks, status=200, sent=10.0):
    n = len(bodies)
    return ResponseBatch(intended=np.full(n, sent), sent=np.full(n, sent), first=np.full(n, sent + 0.01),
                         done=np.full(n, sent + 1.0), kind=np.zeros(n, np.int64), status=np.full(n, status),
                         variant=np.zeros(n, np.int64), nbytes=np.full(n, 100), payload=np.zeros(n, np.int64),
                         bodies=bodies, chunk_times=chunks)


def stamps(parts: list[bytes], times: list[float]):
    out, end = [], 0
    for p, t in zip(parts, times):
        end += len(p)
        out.append((t, end))
    return out


def test_ttft_every_gap_tpot_and_tokens_from_the_usage_of_message_start_and_message_delta():
    parts = [ev("message_start", message={"usage": {"input_tokens": 9, "output_tokens": 1}}) + ev("ping"),
             text("thinking...", "thinking_delta"), text("a"), text("b"),
             ev("content_block_stop", index=0) + ev("message_delta", delta={"stop_reason": "end_turn"},
                                                     usage={"output_tokens": 5}) + ev("message_stop")]
    got = target().interpret(batch([b"".join(parts)], [stamps(parts, [10.01, 10.05, 10.07, 10.10, 10.1])]))
    assert got.kind[0] == Kind.OK
    assert got.columns["ttft"][0] == pytest.approx(50_000)   # a thinking token is a token; message_start is not
    gaps, counts = got.many["itl"]   # every gap: 20 and 30 ms
    assert counts.tolist() == [1 + 1] and gaps == pytest.approx([20_000, 30_000])
    assert got.columns["output_tokens"][0] == 5 and got.columns["input_tokens"][0] == 9   # the server's usage
    assert got.columns["tpot"][0] == pytest.approx((11.0 - 10.05) / 4 * 1e6)   # done is sent + 1 s
    assert got.columns["output_tps"][0] == pytest.approx(5 / 1.0 * 1e3)


def test_without_usage_tokens_are_the_deltas_carrying_text():
    parts = [ev("message_start", message={}), text("a"), ev("content_block_delta", delta={"type": "text_delta"}),
             text("b"), ev("message_stop")]
    got = target().interpret(batch([b"".join(parts)], [stamps(parts, [10.01, 10.02, 10.03, 10.05, 10.05])]))
    assert got.columns["output_tokens"][0] == 2 and got.many["itl"][0] == pytest.approx([30_000])
    assert np.isnan(got.columns["input_tokens"][0])


def test_an_error_event_a_bad_stream_a_429_and_a_529_are_classified():
    t = target()
    bodies = [text("a") + ev("error", error={"type": "overloaded_error", "message": "Overloaded"}),
              b"data: not json\n\n", b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}',
              b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', b""]
    b = batch(bodies, [[(10.1, len(x))] for x in bodies])
    b.status[2], b.status[3] = 429, 529
    got = t.interpret(b)
    assert got.kind.tolist() == [Kind.MODEL_ERROR, Kind.INVALID, Kind.THROTTLED, Kind.THROTTLED, Kind.INVALID]
    assert "Overloaded" in t.api.messages[int(Kind.MODEL_ERROR)]
    assert "HTTP 429: slow down" in t.api.messages[int(Kind.THROTTLED)]
    assert np.isnan(got.columns["ttft"]).all()


def test_a_whole_message_gives_its_usage_and_no_stream_times():
    body = json.dumps({"type": "message", "content": [{"type": "text", "text": "x"}],
                       "usage": {"input_tokens": 3, "output_tokens": 7}}).encode()
    got = target(stream=False).interpret(batch([body], None))
    assert got.columns["output_tokens"][0] == 7 and got.columns["input_tokens"][0] == 3 and "ttft" not in got.columns


# ------------------------------------------------------------ end to end
def run(tmp_path: Path, spec: dict, env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", str(tmp_path / "spec.yaml"), "--out",
                        str(tmp_path / "runs"), "-q"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, **(env or {})})
    runs = sorted((tmp_path / "runs").glob("*/summary.json"))
    return p, (json.loads(runs[-1].read_text()) if runs else {})


def test_a_streamed_run_reports_ttft_itl_and_tokens_as_the_server_sent_them(tmp_path):
    with AnthropicServer(ttft_ms=40, itl_ms=8, tokens=16, long_every=10, long_ms=40) as s:
        p, summary = run(tmp_path, {"target": {"type": "anthropic", "url": s.url, "model": "m", "max_tokens": 16},
                                    "payload": {"body": "hello world"}, "load": {"rate": 8, "duration": "3s"}})
    assert p.returncode == 0, p.stderr
    v = summary["variants"]["default"]
    assert v["requests"]["ok"] == v["requests"]["scheduled"] == 24 and v["requests"]["unaccounted"] == 0
    recs = s.records()
    assert len(recs) == 24
    # the server's own record: the instant it handed each event to the socket
    deltas = [[t for typ, t in r["events"] if typ == "content_block_delta"] for r in recs]
    server_ttft = np.median([(d[0] - r["recv"]) * 1e3 for d, r in zip(deltas, recs)])
    server_gaps = np.concatenate([np.diff(d) * 1e3 for d in deltas])
    assert server_ttft == pytest.approx(40, abs=3)
    # stinger adds the network and its own read path, never less than the server's time
    assert server_ttft <= v["ttft_ms"]["p50"] <= server_ttft + 20   # loose: a test, not a bench
    # every gap, the tail too: 1 in 15 gaps is 40 ms, so the p99 of gaps is a long one (a mean's would not be)
    assert v["itl_ms"]["count"] == len(server_gaps) == 24 * 15
    assert v["itl_ms"]["p50"] == pytest.approx(np.percentile(server_gaps, 50), abs=3)
    assert v["itl_ms"]["p99"] == pytest.approx(np.percentile(server_gaps, 99), abs=5)
    assert v["input_tokens"]["mean"] == 2 and v["output_tokens"]["mean"] == 16   # message_start's, message_delta's


def test_overload_and_throttling_are_counted_and_the_api_key_never_reaches_the_run_dir(tmp_path):
    key = "sk-ant-stinger-test-0123456789abcdef"
    with AnthropicServer(ttft_ms=5, itl_ms=1, tokens=4) as s:
        data = tmp_path / "prompts.jsonl"
        data.write_text("\n".join(json.dumps(x) for x in ["ok", "please fail", "please throttle", "ok"]))
        p, summary = run(tmp_path, {"target": {"type": "anthropic", "url": s.url, "model": "m"},
                                    "payload": {"data": str(data), "order": "sequential"},
                                    "load": {"rate": 20, "requests": 8}}, env={"ANTHROPIC_API_KEY": key})
    v = summary["variants"]["default"]
    assert v["requests"]["scheduled"] == 8 and v["requests"]["unaccounted"] == 0
    assert v["errors"]["model_error"] == 2 and v["errors"]["throttled"] == 2 and v["requests"]["ok"] == 4
    said = v["error_messages"]
    assert "Overloaded mid-stream" in said["model_error"] and "rate limited" in said["throttled"]
    for f in (tmp_path / "runs").rglob("*"):
        if f.is_file():
            assert key not in f.read_text(errors="replace"), f
    assert key not in p.stdout + p.stderr


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True, timeout=120)


def test_the_command_line_runs_anthropic_with_model(tmp_path):
    with AnthropicServer(ttft_ms=20, itl_ms=5, tokens=6) as s:
        p = cli("run", "--anthropic", s.url, "--model", "m", "--max-tokens", "6", "--body", '"hi"', "--rate", "5",
                "--duration", "2s", "-q", "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    v = json.loads(next(tmp_path.glob("*/summary.json")).read_text())["variants"]["default"]
    assert v["output_tokens"]["mean"] == 6 and v["ttft_ms"]["count"] == 10


def test_anthropic_without_model_is_a_one_line_error():
    p = cli("run", "--anthropic", "http://127.0.0.1:9/v1", "--rate", "1", "--duration", "1s", "-q")
    assert p.returncode == 2 and "--anthropic needs --model" in p.stderr and "Traceback" not in p.stderr
