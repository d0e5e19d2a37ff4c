"""`stinger ab --sagemaker EP --split sagemaker`: SageMaker's own weights split one stream, each response
counted in the variant its x-Amzn-Invoked-Production-Variant header names.

Never real AWS: moto's server (control plane, CloudWatch), the real demo models, and the SigV4-checking
front, which draws each request's production variant by weight, names it in the header, and publishes
its own per-variant Invocations to moto's CloudWatch (the front's count, read back and compared with
stinger's attribution).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stinger.testing.moto_server import client_env

BODY = json.dumps({"instances": [[0.2] * 64]})
SRC = str(Path(__file__).resolve().parents[2] / "src")
A, B, C = "A_ml.m5.large", "B_ml.c5.xlarge", "C_ml.m5.large"
DELAY_MS = 120.0      # B's model answers this much later (the front adds it): a known difference


def _stinger(args: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], env=full, capture_output=True, text=True,
                          timeout=timeout)


def _env() -> dict[str, str]:
    env = {k: v for k, v in client_env().items() if k != "AWS_SESSION_TOKEN"}
    return {**env, "STINGER_CLOUDWATCH_WAIT_S": "15", "STINGER_CLOUDWATCH_POLL_S": "1"}


def _read(out: Path, name: str) -> dict:
    (path,) = list(out.rglob(name))
    return json.loads(path.read_text())


def _stack(*variants):
    pytest.importorskip("moto")
    pytest.importorskip("boto3")
    from stinger.demo.sagemaker_stack import SageMakerDemo

    return SageMakerDemo(variants=variants, publish_s=1.0, seed=11)


@pytest.fixture(scope="module")
def endpoint():
    """A 50 / 30 / 20 endpoint: B is A's model answering DELAY_MS later, C is A again (an A/A inside the run)."""
    from stinger.demo.sagemaker_stack import DemoVariant

    with _stack(DemoVariant("A", "fast", "ml.m5.large", weight=5),
                DemoVariant("B", "fast", "ml.c5.xlarge", weight=3, delay_ms=DELAY_MS),
                DemoVariant("C", "fast", "ml.m5.large", weight=2)) as s:
        yield s


def _ab(stack, out: Path, *more: str) -> subprocess.CompletedProcess:
    return _stinger(["ab", "--sagemaker", stack.endpoint, "--region", "us-east-1", "--endpoint-url",
                     stack.runtime_url, "--control-url", stack.control_url, "--split", "sagemaker", "--body", BODY,
                     "--seed", "5", "--out", str(out), "-q", *more], env=_env())


def _exact(summary: dict) -> None:
    """scheduled = ok + failed + dropped + in_flight for every row and for the run; the rows add up to the run."""
    rows = summary["variants"]
    for name, v in [*rows.items(), ("overall", summary["overall"])]:
        r = v["requests"]
        assert r["unaccounted"] == 0, (name, r)
        assert r["scheduled"] == r["ok"] + r["failed"] + r["dropped"] + r["in_flight"], (name, r)
    for key in ("scheduled", "ok", "failed", "dropped", "in_flight", "warmup"):
        assert sum(v["requests"][key] for v in rows.values()) == summary["overall"]["requests"][key], key


@pytest.mark.slow
def test_sagemaker_splits_by_its_weights_and_the_verdict_sees_the_slower_variant_only(endpoint, tmp_path):
    r = _ab(endpoint, tmp_path, "--rate", "50", "--duration", "11s", "--warmup", "1s")
    assert r.returncode == 0, r.stderr
    s = _read(tmp_path, "summary.json")
    assert s["split"] == "sagemaker"
    assert set(s["variants"]) == {A, B, C, "unattributed"}
    _exact(s)
    assert s["overall"]["requests"]["scheduled"] == 500          # 50/s over the 10 measured seconds, one stream
    assert s["variants"]["unattributed"]["requests"]["scheduled"] == 0
    # stinger's attribution = the front's own count per production variant (published to CloudWatch, read back)
    cw = s["sagemaker"]["variants"]
    for name, pv in ((A, "A"), (B, "B"), (C, "C")):
        req = s["variants"][name]["requests"]
        assert cw[name]["production_variant"] == pv
        assert cw[name]["invocations"] == req["scheduled"] + req["warmup"] > 0
    # SageMaker's weights beside the achieved split: 50 % of 500 has a standard deviation of 11 requests
    att = s["attribution"]
    assert [att["variants"][n]["current_weight"] for n in (A, B, C)] == [5, 3, 2]
    assert att["variants"][A]["weight_share"] == 0.5 and att["variants"][B]["desired_weight"] == 3
    assert att["attributed"] == 500 and 0.42 < att["variants"][A]["share"] < 0.58
    v = _read(tmp_path, "verdict.json")
    p50 = next(row for row in v["rows"] if row["metric"] == "latency p50 (ms)")
    assert p50["significant"] and p50["better"] == "a"
    assert 0.5 * DELAY_MS < p50["diff"] < 2 * DELAY_MS
    assert A in v["sentence"] and B in v["sentence"]                  # variants named with their instance types
    assert any("SageMaker split the traffic by its own weights" in n and "A 5 (50.0 %)" in n for n in v["notes"])
    # C is A's model on A's footing: the same run's A/A, no difference called
    aa = v["others"][C]
    assert not aa["significant"] and not any(row["significant"] for row in aa["rows"]), aa["sentence"]


@pytest.mark.slow
def test_requests_that_end_without_the_header_are_unattributed_and_still_accounted(endpoint, tmp_path):
    # B answers after 120 ms; a 50 ms timeout (checked every 50 ms) ends B's requests before their header
    # (all of them unless the machine is so busy that a check comes more than 70 ms late)
    r = _ab(endpoint, tmp_path, "--rate", "40", "--duration", "3s", "--timeout", "50ms")
    s = _read(tmp_path, "summary.json")
    assert r.returncode in (0, 1), r.stderr
    _exact(s)
    assert s["overall"]["requests"]["scheduled"] == 120
    un = s["variants"]["unattributed"]
    assert un["requests"]["scheduled"] >= 15                          # ~30 % of 120 were B's, all timed out
    assert un["errors"]["timeout"] == un["requests"]["failed"] > 0
    assert s["variants"][B]["requests"]["scheduled"] < un["requests"]["scheduled"] // 2
    assert s["attribution"]["unattributed"]["scheduled"] == un["requests"]["scheduled"]
    v = _read(tmp_path, "verdict.json")
    assert any("got no invoked-variant header naming a variant" in n for n in v["notes"])


@pytest.mark.slow
def test_the_spec_form_attributes_without_a_control_plane(endpoint, tmp_path):
    """Variants sharing one unpinned sagemaker target in a spec; the runtime on loopback alone, so no
    DescribeEndpoint (weights unknown, said so) and no CloudWatch: the attribution needs neither."""
    target = (f"{{type: sagemaker, endpoint: {endpoint.endpoint}, region: us-east-1, "
              f"endpoint_url: '{endpoint.runtime_url}'}}")
    spec = tmp_path / "ab.yaml"
    spec.write_text(textwrap.dedent(f"""
        split: sagemaker
        variants:
          - {{name: A, target: {target}}}
          - {{name: B, target: {target}}}
          - {{name: C, target: {target}}}
        payload: {{body: '{BODY}'}}
        load: {{rate: 40, duration: 3s, seed: 9}}
    """))
    r = _stinger(["ab", str(spec), "--out", str(tmp_path / "out"), "-q"], env=_env())
    assert r.returncode == 0, r.stderr
    s = _read(tmp_path / "out", "summary.json")
    _exact(s)
    assert s["overall"]["requests"]["scheduled"] == 120 and "sagemaker" not in s
    att = s["attribution"]
    assert att["attributed"] == 120 and all(att["variants"][n]["requests"] > 0 for n in "ABC")
    assert att["variants"]["A"]["current_weight"] is None
    v = _read(tmp_path / "out", "verdict.json")
    assert any("not read: no control plane" in n for n in v["notes"])


@pytest.mark.slow
def test_a_spec_missing_one_of_the_endpoints_variants_is_one_line_before_load(endpoint, tmp_path):
    """SageMaker may route to any of its variants: one the spec does not list would land unattributed."""
    target = (f"{{type: sagemaker, endpoint: {endpoint.endpoint}, region: us-east-1, "
              f"endpoint_url: '{endpoint.runtime_url}'}}")
    spec = tmp_path / "ab.yaml"
    spec.write_text(f"split: sagemaker\nvariants:\n  - {{name: A, target: {target}}}\n"
                    f"  - {{name: B, target: {target}}}\nload: {{rate: 5, duration: 1s}}\n")
    env = {**_env(), "AWS_ENDPOINT_URL_SAGEMAKER": endpoint.control_url,
           "AWS_ENDPOINT_URL_CLOUDWATCH": endpoint.control_url}
    r = _stinger(["ab", str(spec), "--out", str(tmp_path / "out"), "-q"], env=env)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == ("stinger: error: split: sagemaker lists production variants A, B but endpoint "
                                "'stinger-demo' has A, B, C: list each once (variant names, or "
                                "target.variant_names), as SageMaker may route to any")
    assert not list(tmp_path.rglob("summary.json"))


@pytest.mark.parametrize("args, words", [
    (["--sagemaker", "ep", "--weights", "70,30"], "--weights cannot be used with --split sagemaker"),
    (["--a", "http://127.0.0.1:9/", "--b", "http://127.0.0.1:9/"], "needs --sagemaker ENDPOINT"),
    ([], "needs --sagemaker ENDPOINT, or a spec"),
    (["--sagemaker", "ep", "--target-variant", "A"], "--target-variant pins every request"),
])
def test_split_sagemaker_usage_errors_are_one_line(args, words, tmp_path):
    r = _stinger(["ab", "--split", "sagemaker", *args, "--rate", "1", "--duration", "1s", "--out", str(tmp_path)])
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr


def test_split_sagemaker_on_a_spec_of_plain_http_variants_is_one_line(tmp_path):
    spec = tmp_path / "ab.yaml"
    spec.write_text("variants:\n  - {name: a, url: 'http://127.0.0.1:9/'}\n  - {name: b, url: 'http://127.0.0.1:9/'}\n"
                    "load: {rate: 1, duration: 1s}\n")
    r = _stinger(["ab", str(spec), "--split", "sagemaker", "--out", str(tmp_path)])
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "type: sagemaker" in r.stderr, r.stderr


def test_demo_split_needs_sagemaker(tmp_path):
    r = _stinger(["demo", "--split", "sagemaker", "--out", str(tmp_path)])
    assert r.returncode == 2 and r.stderr.strip() == "stinger: error: --split needs --sagemaker (the plain demo always pairs)"


def test_a_run_where_no_request_got_a_header_is_no_success(tmp_path):
    """Every request refused before any header: no variant has a request, the run has no success (exit 1)."""
    import socket

    with socket.socket() as sock:      # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = f"{{type: sagemaker, endpoint: ep, region: us-east-1, endpoint_url: 'http://127.0.0.1:{port}'}}"
    spec = tmp_path / "ab.yaml"
    spec.write_text(f"split: sagemaker\nvariants:\n  - {{name: A, target: {target}}}\n"
                    f"  - {{name: B, target: {target}}}\npayload: {{body: '{{}}'}}\nload: {{rate: 20, duration: 1s}}\n")
    r = _stinger(["ab", str(spec), "--out", str(tmp_path / "out"), "-q"], env=_env())
    assert r.returncode == 1, r.stderr
    s = _read(tmp_path / "out", "summary.json")
    _exact(s)
    un = s["variants"]["unattributed"]["requests"]
    assert un["scheduled"] == un["failed"] == 20 and s["variants"]["unattributed"]["errors"]["connect"] == 20
    assert s["no_success"] == ["overall"] and "unattributed" in s["failures"]
    assert "unattributed: no request succeeded (100.0% of 20 failed: connect x20)" in r.stderr
