"""--otlp (outputs/otlp.py) against a real OTLP/HTTP receiver on loopback (testing/otlp_receiver.py, decoding
with opentelemetry-proto): the metrics' counts are summary.json's, one span per request, and each span's
trace id and span id are the traceparent the LLM server received; a receiver that is not there is one warning
line, never a failure; the span cap is said."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import stinger
from stinger.testing.llm_server import LlmServer
from stinger.testing.otlp_receiver import OtlpReceiver


def _hex(b64: str) -> str:
    return base64.b64decode(b64).hex()


def _spans(exports: list[dict]) -> list[dict]:
    return [s for e in exports for r in e["resourceSpans"] for sc in r["scopeSpans"] for s in sc["spans"]]


def _attrs(span: dict) -> dict:
    out = {}
    for kv in span.get("attributes", []):
        v = kv["value"]
        out[kv["key"]] = next(iter(v.values()))
    return out


def _metrics(exports: list[dict]) -> dict[str, dict]:
    return {m["name"]: m for e in exports for r in e["resourceMetrics"] for sc in r["scopeMetrics"] for m in sc["metrics"]}


def test_metrics_and_spans_reach_a_real_receiver_and_join_the_server_s_traceparent(tmp_path):
    with OtlpReceiver() as rx, LlmServer(ttft_ms=5, itl_ms=1, tokens=4) as s:
        spec = {"target": {"type": "openai", "url": s.url, "model": "m-test", "max_tokens": 4,
                           "api_key": "sk-SECRET-never-exported-123456"},
                "payload": {"body": "hi"}, "load": {"rate": 30, "duration": "1.5s", "workers": 2, "seed": 5},
                "output": {"dir": str(tmp_path)}, "otlp": {"url": rx.url}}
        result = stinger.run(spec, outputs=["rundir"])
        traces, metrics = rx.exports("traces"), rx.exports("metrics")
    summary = json.loads((Path(result.run_dir) / "summary.json").read_text())
    [(_name, v)] = summary["variants"].items()
    got = _metrics(metrics)
    counts = {p["attributes"][1]["value"]["stringValue"]: int(p["asInt"])
              for p in got["stinger.requests"]["sum"]["dataPoints"]}
    assert counts == {"ok": v["requests"]["ok"], "failed": v["requests"]["failed"],
                      "dropped": v["requests"]["dropped"]}
    [lat] = got["stinger.latency"]["histogram"]["dataPoints"]
    assert int(lat["count"]) == v["latency_ms"]["count"]
    assert sum(int(c) for c in lat["bucketCounts"]) == int(lat["count"])
    assert "gen_ai.server.time_to_first_token" in got and "stinger.itl" in got

    spans = _spans(traces)
    server = s.records()
    with open(Path(result.run_dir) / "requests.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(spans) == len(rows) == len(server) == v["requests"]["ok"] + v["requests"]["failed"]
    sent = {rec["traceparent"] for rec in server}
    assert {f"00-{_hex(sp['traceId'])}-{_hex(sp['spanId'])}-01" for sp in spans} == sent   # 100 % joined
    a = _attrs(spans[0])
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "m-test"
    assert a["http.response.status_code"] in ("200", 200)
    assert int(a["gen_ai.usage.output_tokens"]) == 4 and int(a["gen_ai.usage.input_tokens"]) >= 1
    assert 0.004 < float(a["gen_ai.server.time_to_first_token"]) < 1.0   # the server waits 5 ms before the first
    assert all(r["ttft_ms"] and r["output_tokens"] == "4" for r in rows)   # requests.csv carries them too
    blob = json.dumps(traces) + json.dumps(metrics)
    assert "SECRET" not in blob


def test_no_receiver_is_one_warning_and_the_run_stands(tmp_path, capsys):
    with LlmServer(ttft_ms=2, itl_ms=1, tokens=2) as s:
        spec = {"target": {"type": "openai", "url": s.url, "model": "m", "max_tokens": 2},
                "payload": {"body": "hi"}, "load": {"rate": 20, "requests": 5, "workers": 1},
                "output": {"dir": str(tmp_path)}, "otlp": {"url": "http://127.0.0.1:9", "timeout": 2}}
        result = stinger.run(spec, outputs=["rundir"])
    assert result.exit_code == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "--otlp" in ln]
    assert len(lines) == 1 and "failed" in lines[0] and "unaffected" in lines[0]


def test_the_span_cap_is_said_from_the_command_line(tmp_path):
    import subprocess
    import sys

    with OtlpReceiver() as rx, LlmServer(ttft_ms=2, itl_ms=1, tokens=2) as s:
        res = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--openai", s.url, "--model", "m",
                              "--body", "hi", "--rate", "40", "--requests", "12", "--workers", "1", "-q",
                              "--out", str(tmp_path), "--otlp", rx.url, "--otlp-max-spans", "5"],
                             capture_output=True, text=True, timeout=120)
        spans = _spans(rx.exports("traces"))
    assert res.returncode == 0, res.stderr
    assert len(spans) == 5
    assert "exported the first 5 spans of 12" in res.stderr


def test_rows_without_ids_get_distinct_ids_of_the_same_form_and_unended_rows_no_span(tmp_path):
    from stinger.outputs.otlp import spans_requests

    path = tmp_path / "requests.csv"
    path.write_text("intended_s,sent_s,first_byte_s,done_s,latency_ms,service_ms,server_ms,variant,status,kind,bytes,"
                    "payload,queued,worker,request_id,ttft_ms,input_tokens,output_tokens\n"
                    "0.0,0.001,0.002,0.003,3.0,2.0,,default,200,ok,2,0,0,0,,,,\n"
                    "0.1,0.101,0.102,0.103,3.0,2.0,,default,500,http_5xx,2,1,0,0,,,,\n"
                    "0.2,0.201,,,,,,default,0,in_flight,0,2,0,0,,,,\n")
    [message], made, capped = spans_requests(path, {"name": "x", "seed": 1}, {}, 1000.0, 10, seed=1)
    spans = message.resource_spans[0].scope_spans[0].spans
    assert made == len(spans) == 2 and capped == 0
    assert len({s.trace_id for s in spans}) == 2 and all(len(s.trace_id) == 16 and len(s.span_id) == 8 for s in spans)
    assert spans[0].start_time_unix_nano == 1000 * 10**9 and spans[0].end_time_unix_nano == int(1000.003 * 1e9)
    assert [s.status.code for s in spans] == [1, 2]   # OK, ERROR


def test_the_receiver_refuses_what_does_not_decode():
    import urllib.error
    import urllib.request

    import pytest

    with OtlpReceiver() as rx:
        req = urllib.request.Request(rx.url + "/v1/traces", data=b"\xff\xff\xff not protobuf", method="POST",
                                     headers={"Content-Type": "application/x-protobuf"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 400
        assert rx.exports("traces") == []
