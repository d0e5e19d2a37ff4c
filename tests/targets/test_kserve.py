"""targets/kserve.py: the KServe V2 / V1 inference protocols, against a real MLServer from PyPI.

MLServer (the `test` extra installs it with its scikit-learn runtime) serves a
logistic regression trained here on scikit-learn's digits; stinger sends V2
infer requests built from dataset rows, reads the predictions back through the
run's prediction path, and gets server time from MLServer's own Prometheus
metrics (the `mlserver` preset).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stinger.errors import TargetError
from stinger.spec import parse_spec
from stinger.targets.abilities import Preflight, coordinator_side
from stinger.targets.base import APIS, REGISTRY, build_target
from stinger.targets.kserve import check_ready
from stinger.testing.procs import free_port


def target(**cfg):
    spec = parse_spec({"target": {"type": "kserve", "url": "http://127.0.0.1:9", "model": "digits", **cfg},
                       "payload": {"body": "[1]"}, "load": {"rate": 1, "duration": 1}})
    return build_target(spec.target)


def sent(t, payload: bytes) -> tuple[bytes, dict]:
    req = t.request(t.endpoints()[0], payload, 0.0)[0]
    head, _, body = req.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], json.loads(body)


def test_kserve_is_a_registered_api_whose_coordinator_half_has_the_preflight_ability():
    assert REGISTRY["kserve"] == "kserve@http" and APIS["kserve"] == "stinger.targets.kserve:KServeApi"
    assert target().config.tag == "kserve@http"
    assert isinstance(coordinator_side("kserve"), Preflight)


def test_rows_become_one_v2_tensor_with_an_inferred_or_given_datatype():
    line, body = sent(target(), b"[1, 2, 3]")
    assert line == b"POST /v2/models/digits/infer HTTP/1.1"
    assert body == {"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "INT64", "data": [1, 2, 3]}]}
    _, body = sent(target(datatype="FP32", input_name="x"), b'{"instances": [[1.5, 2], [3, 4]]}')
    assert body["inputs"] == [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1.5, 2, 3, 4]}]
    _, body = sent(target(), b'[["a", "b"]]')
    assert body["inputs"][0]["datatype"] == "BYTES"


def test_a_v2_request_payload_is_sent_as_it_is_and_versions_and_v1_have_their_paths():
    raw = b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]}'
    line, body = sent(target(version="3"), raw)
    assert line == b"POST /v2/models/digits/versions/3/infer HTTP/1.1" and body == json.loads(raw)
    line, body = sent(target(protocol="v1"), b"[1, 2]")
    assert line == b"POST /v1/models/digits:predict HTTP/1.1" and body == {"instances": [[1, 2]]}


def test_payloads_that_are_not_tensors_are_one_line_errors():
    with pytest.raises(TargetError, match="not JSON"):
        sent(target(), b"hello")
    with pytest.raises(TargetError, match="all have 2 values"):
        sent(target(), b"[[1, 2], [3]]")


def test_preflight_says_when_nothing_listens():
    with pytest.raises(TargetError, match=r"cannot reach .* is the model server running"):
        check_ready(target(url=f"http://127.0.0.1:{free_port()}").config, timeout=2)


# ------------------------------------------------------------------ MLServer
@pytest.fixture(scope="module")
def mlserver(tmp_path_factory):
    pytest.importorskip("mlserver_sklearn")
    from stinger.testing.mlserver import digits_mlserver

    with digits_mlserver(tmp_path_factory.mktemp("mlserver")) as s:
        yield {"url": s.url, "metrics": s.metrics, "data": s.data}


def run(tmp_path: Path, spec: dict, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", str(tmp_path / "spec.yaml"), "--out",
                        str(tmp_path / "runs"), "-q", *args], capture_output=True, text=True, timeout=180,
                       env=dict(os.environ))
    runs = sorted((tmp_path / "runs").glob("*/summary.json"))
    return p, (json.loads(runs[-1].read_text()) if runs else {})


def test_a_run_against_mlserver_reads_predictions_accuracy_and_server_time(mlserver, tmp_path):
    p, summary = run(tmp_path, {
        "target": {"type": "kserve", "url": mlserver["url"], "model": "digits"},
        "payload": {"data": str(mlserver["data"]), "body_field": "x", "label_field": "label"},
        "prediction": "outputs.0.data.0",
        "load": {"rate": 40, "duration": "3s"},
        "monitors": [{"type": "prometheus", "url": mlserver["metrics"], "preset": "mlserver"}]})
    assert p.returncode == 0, p.stderr + p.stdout
    v = summary["variants"]["default"]
    assert v["requests"]["ok"] == v["requests"]["scheduled"] == 120 and v["requests"]["unaccounted"] == 0
    assert v["quality"]["accuracy"] > 0.8 and v["quality"]["labelled"] >= 100
    st = v["server_time_ms"]
    assert st["mean"] is not None and 0 < st["mean"] < v["latency_ms"]["mean"]


def test_an_unknown_model_stops_before_any_load_with_one_line(mlserver, tmp_path):
    p, summary = run(tmp_path, {"target": {"type": "kserve", "url": mlserver["url"], "model": "nope"},
                                "payload": {"body": "[1, 2]"}, "load": {"rate": 5, "duration": "1s"}})
    assert p.returncode == 2 and not summary
    assert "model 'nope' is not ready" in p.stderr and "Model nope not found" in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
