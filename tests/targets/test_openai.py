"""targets/openai.py and targets/sse.py: OpenAI-compatible LLM endpoints, streamed and whole.

The end-to-end tests drive `stinger run` against `stinger.testing.llm_server`,
a real HTTP server (uvicorn) that streams tokens at known times and records
when it read each request and sent its first and last token, so the time to
first token and inter-token latency stinger reports are checked against the
server's own clock.
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
from stinger.targets import sse
from stinger.targets.base import APIS, REGISTRY, ResponseBatch, build_target
from stinger.testing.llm_server import LlmServer


# ----------------------------------------------------------------- sse
def test_events_are_timed_by_the_read_that_completed_them():
    reads = [(1.0, b"data: {\"a\""), (2.0, b": 1}\n\ndata: x\n"), (3.0, b"\n: keep-alive\n\ndata: [DONE]\n\n")]
    assert sse.events(reads) == [(2.0, b'{"a": 1}'), (3.0, b"x"), (3.0, b"[DONE]")]


def test_event_rules_crlf_multiline_data_other_fields_and_an_unterminated_last_event():
    body = b"event: token\r\ndata: one\r\ndata:two\r\n\r\nid: 7\n\ndata: last"
    assert sse.events([(5.0, body)]) == [(5.0, b"one\ntwo"), (5.0, b"last")]


def test_timed_reads_cut_the_body_at_the_engine_s_offsets():
    body = b"aaabbbbcc"
    assert sse.timed_reads(body, [(1.0, 3), (2.0, 7)], done=9.0) == [(1.0, b"aaa"), (2.0, b"bbbb"), (9.0, b"cc")]
    assert sse.timed_reads(body, [], done=9.0) == [(9.0, body)]


# ------------------------------------------------------------- build time
def target(**cfg):
    spec = parse_spec({"target": {"type": "openai", "url": "http://127.0.0.1:9/v1", "model": "m", **cfg},
                       "payload": {"body": "hi"}, "load": {"rate": 1, "duration": 1}})
    return build_target(spec.target)


def body_of(t, payload: bytes) -> dict:
    req = t.request(t.endpoints()[0], payload, 0.0)[0]
    head, _, body = req.partition(b"\r\n\r\n")
    assert head.startswith((b"POST /v1/chat/completions HTTP/1.1", b"POST /v1/completions"))
    return json.loads(body)


def test_openai_is_registered_and_targets_the_api_path():
    assert REGISTRY["openai"] == "openai@http" and APIS["openai"] == "stinger.targets.openai:OpenAIApi"
    assert target().endpoints()[0].path == "/v1/chat/completions"
    assert target(api="completions").endpoints()[0].path == "/v1/completions"
    assert target(url="http://127.0.0.1:9/v1/completions").endpoints()[0].path == "/v1/completions"


def test_a_text_payload_becomes_the_prompt_and_the_config_fills_the_rest():
    t = target(max_tokens=32, params={"temperature": 0})
    assert body_of(t, b"tell me") == {"messages": [{"role": "user", "content": "tell me"}], "model": "m",
                                      "max_tokens": 32, "temperature": 0, "stream": True,
                                      "stream_options": {"include_usage": True}}
    assert body_of(target(api="completions", stream=False), b'"a prompt"') == {
        "prompt": "a prompt", "model": "m", "stream": False}


def test_a_json_request_payload_is_kept_and_only_completed():
    t = target(max_tokens=32)
    got = body_of(t, b'{"messages": [{"role": "system", "content": "s"}], "max_tokens": 5, "model": "other"}')
    assert got["messages"] == [{"role": "system", "content": "s"}]
    assert got["max_tokens"] == 5 and got["model"] == "other" and got["stream"] is True
    assert body_of(t, b'{"prompt": "p"}')["messages"] == [{"role": "user", "content": "p"}]
    assert body_of(t, b'[{"role": "user", "content": "x"}]')["messages"] == [{"role": "user", "content": "x"}]


def test_the_api_key_is_a_bearer_token_from_the_config_or_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fromenv1234567890")
    req = target().request(target().endpoints()[0], b"x", 0.0)[0]
    assert b"Authorization: Bearer sk-fromenv1234567890\r\n" in req
    req = target(api_key="sk-config").request(target().endpoints()[0], b"x", 0.0)[0]
    assert b"Authorization: Bearer sk-config\r\n" in req


def test_a_run_without_prompts_is_a_one_line_spec_error():
    from stinger.errors import SpecError

    with pytest.raises(SpecError, match="needs prompts"):
        parse_spec({"target": {"type": "openai", "url": "http://127.0.0.1:9/v1", "model": "m"},
                    "load": {"rate": 1, "duration": 1}})


# ------------------------------------------------------------ flush time
def sse_body(*events: dict | str) -> bytes:
    return b"".join(b"data: " + (e.encode() if isinstance(e, str) else json.dumps(e).encode()) + b"\n\n"
                    for e in events)


def tok(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


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


def test_ttft_every_gap_tpot_and_tokens_from_a_stream_with_a_usage_chunk():
    parts = [sse_body(tok("a")), sse_body(tok("b")), sse_body(tok("c")),
             sse_body({"choices": [], "usage": {"completion_tokens": 3, "prompt_tokens": 9}}, "[DONE]")]
    got = target().interpret(batch([b"".join(parts)], [stamps(parts, [10.05, 10.07, 10.10, 10.1])]))
    assert got.columns["ttft"][0] == pytest.approx(50_000)
    gaps, counts = got.many["itl"]   # every gap, not their mean: 20 and 30 ms
    assert counts.tolist() == [2] and gaps == pytest.approx([20_000, 30_000])
    # tpot = (done - first token) / (tokens - 1); done is sent + 1 s in `batch`
    assert got.columns["tpot"][0] == pytest.approx((11.0 - 10.05) / 2 * 1e6)
    assert got.columns["output_tokens"][0] == 3 and got.columns["input_tokens"][0] == 9
    assert got.columns["output_tps"][0] == pytest.approx(3 / 1.0 * 1e3)   # milli-tokens/s over done - sent
    assert got.kind[0] == Kind.OK


def think(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"reasoning_content": text}}]}


def test_a_reasoning_stream_times_its_first_output_token_apart_from_its_first_token():
    parts = [sse_body(think("hm")), sse_body({"choices": [{"delta": {"reasoning": "so"}}]}), sse_body(tok("a")),
             sse_body(tok("b")), sse_body({"choices": [], "usage": {"completion_tokens": 4, "prompt_tokens": 2,
                                                                   "completion_tokens_details": {"reasoning_tokens": 2}}})]
    got = target().interpret(batch([b"".join(parts)], [stamps(parts, [10.01, 10.02, 10.05, 10.06, 10.06])]))
    assert got.columns["ttft"][0] == pytest.approx(10_000)    # reasoning is a token of any kind
    assert got.columns["ttfo"][0] == pytest.approx(50_000)    # the first content token
    assert got.columns["reasoning_tokens"][0] == 2 and got.columns["output_tokens"][0] == 4
    assert got.many["itl"][0] == pytest.approx([10_000, 30_000, 10_000])   # every gap, reasoning's too
    # without usage details the reasoning events are counted; a stream that never reasons has ttfo = ttft
    no_usage = [sse_body(think("x")), sse_body(think("y")), sse_body(think("z")), sse_body(tok("a"))]
    plain = [sse_body(tok("a")), sse_body(tok("b"))]
    got = target().interpret(batch([b"".join(no_usage), b"".join(plain)],
                                   [stamps(no_usage, [10.01, 10.02, 10.03, 10.04]), stamps(plain, [10.02, 10.03])]))
    assert got.columns["reasoning_tokens"].tolist()[0] == 3 and np.isnan(got.columns["reasoning_tokens"][1])
    assert got.columns["ttfo"] == pytest.approx([40_000, 20_000]) and got.columns["ttft"][1] == pytest.approx(20_000)


def test_without_usage_tokens_are_the_events_carrying_text():
    parts = [sse_body({"choices": [{"delta": {"role": "assistant"}}]}), sse_body(tok("a")), sse_body(tok("b")),
             sse_body("[DONE]")]
    got = target().interpret(batch([b"".join(parts)], [stamps(parts, [10.01, 10.02, 10.05, 10.05])]))
    assert got.columns["ttft"][0] == pytest.approx(20_000)   # the role-only event carries no token
    assert got.columns["output_tokens"][0] == 2 and got.many["itl"][0] == pytest.approx([30_000])
    assert np.isnan(got.columns["input_tokens"][0])   # no usage: the prompt's tokens are unknown


def test_errors_in_a_stream_a_bad_stream_and_a_429_are_classified():
    t = target()
    bodies = [sse_body(tok("a"), {"error": {"message": "CUDA out of memory"}}), b"data: not json\n\n",
              b'{"error": {"message": "slow down"}}']
    b = batch(bodies, [[(10.1, len(x))] for x in bodies])
    b.status[2] = 429
    got = t.interpret(b)
    assert got.kind.tolist() == [Kind.MODEL_ERROR, Kind.INVALID, Kind.THROTTLED]
    assert "CUDA out of memory" in t.api.messages[int(Kind.MODEL_ERROR)]
    assert "slow down" in t.api.messages[int(Kind.THROTTLED)]
    assert np.isnan(got.columns["ttft"]).all()


def test_a_whole_answer_gives_its_usage_tokens_and_no_stream_times():
    t = target(stream=False)
    body = json.dumps({"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": 7}}).encode()
    got = t.interpret(batch([body], None))
    assert got.columns["output_tokens"][0] == 7 and "ttft" not in got.columns


# ------------------------------------------------------------ end to end
def run(tmp_path: Path, spec: dict, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", str(tmp_path / "spec.yaml"), "--out",
                        str(tmp_path / "runs"), "-q", *args], capture_output=True, text=True, timeout=120,
                       env={**os.environ, **(env or {})})
    runs = sorted((tmp_path / "runs").glob("*/summary.json"))
    return p, (json.loads(runs[-1].read_text()) if runs else {})


def test_a_streamed_run_reports_ttft_and_itl_as_the_server_timed_them(tmp_path):
    with LlmServer(ttft_ms=60, itl_ms=15, tokens=12) as s:
        p, summary = run(tmp_path, {"target": {"type": "openai", "url": s.url, "model": "m", "max_tokens": 12},
                                    "payload": {"body": "hello"}, "load": {"rate": 8, "duration": "3s"}})
    assert p.returncode == 0, p.stderr
    v = summary["variants"]["default"]
    assert v["requests"]["ok"] == v["requests"]["scheduled"] == 24 and v["requests"]["unaccounted"] == 0
    recs = s.records()
    server_ttft = np.median([(r["first"] - r["recv"]) * 1e3 for r in recs])
    server_itl = np.median([(r["last"] - r["first"]) / (r["tokens"] - 1) * 1e3 for r in recs])
    assert server_ttft == pytest.approx(60, abs=3) and server_itl == pytest.approx(15, abs=2)
    # stinger adds the network and its own read path, never less than the server's time
    assert server_ttft <= v["ttft_ms"]["p50"] <= server_ttft + 20   # loose: a test, not a bench
    assert v["itl_ms"]["p50"] == pytest.approx(server_itl, abs=3)
    assert v["tpot_ms"]["p50"] == pytest.approx(server_itl, abs=3)
    assert v["input_tokens"]["mean"] == 1   # "hello": one word
    assert v["output_tokens"]["mean"] == 12
    assert v["throughput"]["output_tokens_per_s"] == pytest.approx(12 * v["throughput"]["achieved_rps"], rel=0.01)


def test_ttfo_of_a_reasoning_model_is_the_server_s_first_output_token(tmp_path):
    """16 reasoning tokens first: ttfo is the server's first *output* token (recorded by the server as it
    handed it to the socket), ttft its first token of any kind. Each is compared with the server's own
    record; the tolerance is the client's read overhead measured in this run (ttft's), not a guess."""
    with LlmServer(ttft_ms=40, itl_ms=8, tokens=8, reasoning=16) as s:
        p, summary = run(tmp_path, {"target": {"type": "openai", "url": s.url, "model": "m"},
                                    "payload": {"body": "hello"}, "load": {"rate": 5, "duration": "4s"}})
    assert p.returncode == 0, p.stderr
    v = summary["variants"]["default"]
    recs = s.records()
    assert v["requests"]["ok"] == len(recs) == 20
    server_ttft = float(np.median([(r["first"] - r["recv"]) * 1e3 for r in recs]))
    server_ttfo = float(np.median([(r["first_output"] - r["recv"]) * 1e3 for r in recs]))
    assert server_ttfo - server_ttft == pytest.approx(16 * 8, abs=8)   # the server did reason first
    overhead = v["ttft_ms"]["p50"] - server_ttft   # the client's read path, this run, this machine
    assert overhead >= 0
    assert v["ttfo_ms"]["p50"] - server_ttfo == pytest.approx(overhead, abs=max(1.0, overhead))
    assert v["reasoning_tokens"]["mean"] == 16 and v["output_tokens"]["mean"] == 24


def test_model_errors_and_throttling_are_counted_and_the_api_key_never_reaches_the_run_dir(tmp_path):
    key = "sk-stinger-test-0123456789abcdef"
    with LlmServer(ttft_ms=5, itl_ms=1, tokens=4) as s:
        data = tmp_path / "prompts.jsonl"
        data.write_text("\n".join(json.dumps(x) for x in ["ok", "please fail", "please throttle", "ok"]))
        p, summary = run(tmp_path, {"target": {"type": "openai", "url": s.url, "model": "m"},
                                    "payload": {"data": str(data), "order": "sequential"},
                                    "load": {"rate": 20, "requests": 8}}, env={"OPENAI_API_KEY": key})
    v = summary["variants"]["default"]
    assert v["requests"]["scheduled"] == 8 and v["requests"]["unaccounted"] == 0
    assert v["errors"]["model_error"] == 2 and v["errors"]["throttled"] == 2 and v["requests"]["ok"] == 4
    said = v["error_messages"]   # what the server said, carried from the workers once per kind
    assert "the model failed mid-stream" in said["model_error"] and "rate limited" in said["throttled"]
    for f in (tmp_path / "runs").rglob("*"):
        if f.is_file():
            assert key not in f.read_text(errors="replace"), f
    assert key not in p.stdout + p.stderr


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True, timeout=120)


def test_the_command_line_runs_an_llm_with_openai_and_model(tmp_path):
    with LlmServer(ttft_ms=20, itl_ms=5, tokens=6) as s:
        p = cli("run", "--openai", s.url, "--model", "m", "--max-tokens", "6", "--body", '"hi"', "--rate", "5",
                "--duration", "2s", "-q", "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    v = json.loads(next(tmp_path.glob("*/summary.json")).read_text())["variants"]["default"]
    assert v["output_tokens"]["mean"] == 6 and v["ttft_ms"]["count"] == 10


@pytest.mark.parametrize(("args", "says"), [
    (["--openai", "http://127.0.0.1:9/v1"], "--openai needs --model"),
    (["--model", "m", "--url", "http://127.0.0.1:9/"], "--model needs --openai URL or --kserve URL"),
    (["--openai", "http://127.0.0.1:9/v1", "--kserve", "http://127.0.0.1:9", "--model", "m"], "not both"),
    (["--kserve", "http://127.0.0.1:9", "--model", "m", "--max-tokens", "3"], "--max-tokens needs --openai URL"),
])
def test_model_server_flags_misused_are_one_line_errors(args, says):
    p = cli("run", *args, "--rate", "1", "--duration", "1s", "-q")
    assert p.returncode == 2 and says in p.stderr and "Traceback" not in p.stderr
