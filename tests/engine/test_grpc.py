"""engine/grpc.py + targets/grpc.py: KServe V2 ModelInfer over gRPC against a real MLServer's gRPC port.

* A run through the CLI (`--kserve grpc://... --model M` and the spec form) counts exactly what
  MLServer counted (`model_infer_request_success_total`, and its gRPC interceptor's
  `grpc_server_handled_total{grpc_code="OK"}`), reads predictions as over HTTP, and takes server
  time from MLServer's Prometheus metrics.
* An unknown model stops the run before any load (ModelReady, asked by a spawned helper), in
  one line; a gRPC error during the load is its HTTP equivalent (NOT_FOUND: 404, `http_4xx`).
* The transport contract's checks (tests/engine/test_transport_contract.py) hold for gRPC: the
  answers from MLServer, the silent and reset cases from a reference gRPC server of known
  behaviour (a model that never answers; one whose calls end UNAVAILABLE, as when the
  connection goes away).
* The coordinator never imports grpc (it forks the workers: §4.4 of the plan).

Everything that starts gRPC core runs in a child process (the CLI, or `python -c` for the engine
checks): this pytest process forks workers in other tests, and a fork after gRPC's threads
started can deadlock the child.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from stinger.testing.procs import free_port, stop_process

pytest.importorskip("grpc")

REFERENCE_SERVER = r'''
import sys, time
from concurrent import futures
import grpc

def infer(request, context):
    # the model name is ModelInferRequest field 1: b"\x0a" + length + name
    name = request[2:2 + request[1]]
    if name == b"sleep":
        time.sleep(60)
    if name == b"unavailable":
        context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
    if name == b"missing":
        context.abort(grpc.StatusCode.NOT_FOUND, "model missing not found")
    return b""

handler = grpc.method_handlers_generic_handler(
    "inference.GRPCInferenceService", {"ModelInfer": grpc.unary_unary_rpc_method_handler(infer)})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
server.add_generic_rpc_handlers((handler,))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
server.wait_for_termination()
'''

CHECK_SCRIPT = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
from test_transport_contract import CHECKS, Wire
wire = Wire(**json.loads(sys.argv[3]))
CHECKS[sys.argv[2]](wire)
print("ok")
'''


def _metric(text: str, family: str, **labels: str) -> float:
    """The sum of a Prometheus family's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"{family}\{{(.*)\}} (\S+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
            total += float(m.group(2))
    return total


@pytest.fixture(scope="module")
def mlserver(tmp_path_factory):
    pytest.importorskip("mlserver_sklearn")
    from stinger.testing.mlserver import digits_mlserver

    with digits_mlserver(tmp_path_factory.mktemp("mlserver-grpc")) as s:
        yield {"grpc": s.grpc, "http": s.url, "metrics": s.metrics, "data": s.data, "features": s.features}


@pytest.fixture(scope="module")
def reference():
    proc = subprocess.Popen([sys.executable, "-c", REFERENCE_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"grpc://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def run(tmp_path: Path, spec: dict, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", str(tmp_path / "spec.yaml"), "--out",
                        str(tmp_path / "runs"), "-q", *args], capture_output=True, text=True, timeout=180,
                       env=dict(os.environ))
    runs = sorted((tmp_path / "runs").glob("*/summary.json"))
    return p, (json.loads(runs[-1].read_text()) if runs else {})


def test_counts_equal_mlserver_s_predictions_read_and_server_time_from_its_metrics(mlserver, tmp_path):
    before = scrape(mlserver["metrics"])
    p, summary = run(tmp_path, {
        "target": {"type": "kserve", "url": mlserver["grpc"], "model": "digits"},
        "payload": {"data": str(mlserver["data"]), "body_field": "x", "label_field": "label"},
        "prediction": "outputs.0.data.0",
        "load": {"rate": 50, "duration": "3s", "workers": 2},
        "monitors": [{"type": "prometheus", "url": mlserver["metrics"], "preset": "mlserver"}]})
    after = scrape(mlserver["metrics"])
    assert p.returncode == 0, p.stderr + p.stdout
    v = summary["variants"]["default"]
    r = v["requests"]
    served = (_metric(after, "model_infer_request_success_total", model="digits")
              - _metric(before, "model_infer_request_success_total", model="digits"))
    handled = (_metric(after, "grpc_server_handled_total", grpc_code="OK", grpc_method="ModelInfer")
               - _metric(before, "grpc_server_handled_total", grpc_code="OK", grpc_method="ModelInfer"))
    assert r["scheduled"] == 150 and r["unaccounted"] == 0
    started = (_metric(after, "grpc_server_started_total", grpc_method="ModelInfer")
               - _metric(before, "grpc_server_started_total", grpc_method="ModelInfer"))
    assert r["ok"] == served == handled == started == 150, (r, served, handled, started)
    assert v["quality"]["accuracy"] > 0.8 and v["quality"]["labelled"] == 150
    st = v["server_time_ms"]
    assert st["count"] > 0 and 0 < st["mean"] < v["latency_ms"]["mean"]
    assert "model_infer_request_duration" in summary["server_time"]["source"]["default"]


def test_the_kserve_flag_with_a_grpc_url_selects_the_carrier_and_an_unknown_model_stops_before_any_load(
        mlserver, tmp_path):
    before = scrape(mlserver["metrics"])
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--kserve", mlserver["grpc"], "--model", "nope",
                        "--body", json.dumps(mlserver["features"]), "--rate", "20", "--duration", "1s", "--out",
                        str(tmp_path / "runs"), "-q"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and not list((tmp_path / "runs").glob("*/summary.json"))
    assert p.stderr.strip() == ("stinger: error: kserve: model 'nope' is not ready at " + mlserver["grpc"] +
                                " (UNKNOWN: Unexpected <class 'mlserver.errors.ModelNotFound'>: Model nope with "
                                "version not found); expected ModelReady to say ready"), p.stderr
    after = scrape(mlserver["metrics"])   # no load was sent: no ModelInfer call started
    assert (_metric(after, "grpc_server_started_total", grpc_method="ModelInfer")
            == _metric(before, "grpc_server_started_total", grpc_method="ModelInfer"))
    nothing = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--kserve", f"grpc://127.0.0.1:{free_port()}",
                              "--model", "m", "--body", "[1]", "--rate", "5", "--duration", "1s", "--out",
                              str(tmp_path / "runs"), "-q"], capture_output=True, text=True, timeout=120)
    assert nothing.returncode == 2 and "cannot reach grpc://127.0.0.1:" in nothing.stderr
    assert len(nothing.stderr.strip().splitlines()) == 1


def test_a_grpc_error_is_counted_as_its_http_equivalent_with_its_message(reference):
    # NOT_FOUND from the server for every call: 404s (http_4xx), the server's details kept as the body
    script = CHECK_SCRIPT.replace('CHECKS[sys.argv[2]](wire)', '''
from test_transport_contract import run
r = run(wire, wire.answers, rate=20, duration="0.5s")
assert r.scheduled == 10 == r.accounted(), (r.scheduled, r.kinds())
assert r.kinds() == {"http_4xx": 10} and (r.rows["status"] == 404).all(), r.kinds()
assert (r.rows["sent"] <= r.rows["first"]).all() and (r.rows["first"] <= r.rows["done"]).all()
''')
    wire = {"name": "grpc", "payload": {"payload": {"body": "[1, 2]"}},
            "answers": {"type": "kserve", "url": reference, "model": "missing"}, "silent": {}, "resets": {}}
    p = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent), "-", json.dumps(wire)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stderr[-3000:]


@pytest.mark.parametrize("check", ["answers", "timeout", "reset", "stop_mid_flight", "unfinished"])
def test_the_transport_contract_holds_for_grpc(mlserver, reference, check):
    payload = {"payload": {"body": json.dumps(mlserver["features"])}}
    wire = {"name": "grpc", "payload": payload,
            "answers": {"type": "kserve", "url": mlserver["grpc"], "model": "digits"},
            "silent": {"type": "kserve", "url": reference, "model": "sleep"},
            "resets": {"type": "kserve", "url": reference, "model": "unavailable"}}
    p = subprocess.run([sys.executable, "-c", CHECK_SCRIPT, str(Path(__file__).parent), check, json.dumps(wire)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stderr[-3000:]


def test_a_port_nothing_listens_on_is_connect_failures_at_once():
    script = CHECK_SCRIPT.replace('CHECKS[sys.argv[2]](wire)', '''
from test_transport_contract import run
r = run(wire, wire.answers, rate=20, duration="0.5s", connect_timeout="5s")
assert r.scheduled == 10 == r.accounted(), (r.scheduled, r.kinds())
assert r.kinds() == {"connect": 10}, r.kinds()
assert float((r.rows["done"] - r.rows["intended"]).max()) < 2.0   # the channel's state, not the 5 s timeout
''')
    wire = {"name": "grpc", "payload": {"payload": {"body": "[1, 2]"}},
            "answers": {"type": "kserve", "url": f"grpc://127.0.0.1:{free_port()}", "model": "m"},
            "silent": {}, "resets": {}}
    p = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent), "-", json.dumps(wire)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stderr[-3000:]


def test_the_coordinator_never_imports_grpc():
    # the coordinator forks the workers; gRPC core started before a fork can deadlock the child
    code = ("import sys\n"
            "from stinger.spec import parse_spec\n"
            "from stinger.orchestrate.planning import build_plans\n"
            "from stinger.targets.abilities import sides_of\n"
            "spec = parse_spec({'target': {'type': 'kserve', 'url': 'grpc://127.0.0.1:1', 'model': 'm'},"
            " 'payload': {'body': '[1]'}, 'load': {'rate': 1, 'duration': 1}})\n"
            "assert spec.target.via == 'grpc'\n"
            "build_plans(spec, workers=2)\n"
            "assert 'grpc' not in sys.modules, 'grpc imported'\n"
            "print('ok')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


def test_grpc_urls_and_options_a_channel_cannot_honour_are_one_line_spec_errors():
    from stinger.errors import SpecError
    from stinger.spec import parse_spec

    def error(target: dict) -> str:
        with pytest.raises(SpecError) as got:
            parse_spec({"target": {"type": "kserve", "model": "m", **target}, "load": {"rate": 1, "duration": 1}})
        return str(got.value)

    assert "insecure: true is not available over grpcs://" in error({"url": "grpcs://127.0.0.1:8081", "insecure": True})
    assert "has no port" in error({"url": "grpc://127.0.0.1"})
    assert "expected e.g. grpc://127.0.0.1:8081" in error({"url": "grpc://127.0.0.1:8081/v2"})
    assert "protocol" in error({"url": "grpc://127.0.0.1:8081", "protocol": "v1"})


def test_past_100_calls_in_flight_a_pool_opens_another_channel(reference):
    # a server's usual limit is 100 concurrent streams per connection: 150 slots in flight use 2 channels
    script = CHECK_SCRIPT.replace('CHECKS[sys.argv[2]](wire)', '''
from test_transport_contract import run
r = run(wire, wire.silent, stop_after=1.0, rate=15000, duration="0.01s", timeout="30s", max_in_flight=200)
assert r.scheduled == 150 == r.in_flight == r.accounted(), (r.scheduled, r.in_flight, r.kinds())
[pool] = r.engine.pools[0]
assert len(pool.state.channels) == 0   # closed at the end of the run
assert r.engine.transports["stinger.engine.grpc:Grpc"].states[0] is pool.state
print("channels", pool.state.made)
''')
    wire = {"name": "grpc", "payload": {"payload": {"body": "[1, 2]"}},
            "answers": {}, "silent": {"type": "kserve", "url": reference, "model": "sleep"}, "resets": {}}
    p = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent), "-", json.dumps(wire)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stderr[-3000:]
    assert "channels 2" in p.stdout, p.stdout
