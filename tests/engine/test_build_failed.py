"""A request that cannot be built is an error of its own kind, counted and shown (issue 15 item 4).

Before: a URL with a non-Latin-1 character raised inside the event loop's callback for
every request (40 tracebacks in 2 s), reached the server 0 times and exited 0. Now URLs
are encoded once, as browsers do (`targets.http.encode_target`), so that request reaches
the server; a request a target still cannot build (here a KServe V2 payload that is no
tensor) is `build_failed`, never sent, the target's message beside the count, and a run
that sent nothing exits 1 with one loud line. Real servers on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys

from stinger.errors import ExitCode
from stinger.orchestrate.run import run_spec
from stinger.spec import parse_spec
from stinger.testing.faults import FaultServer
from stinger.testing.servers import RefServer


def _stinger(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_a_non_latin1_url_reaches_the_server_percent_encoded(tmp_path):
    with FaultServer("ok") as server:
        p = _stinger("run", "--url", server.url + "v1/models/😀/predict", "--rate", "20", "--duration", "1s",
                     "--quiet", "--out", str(tmp_path))
        counts = server.stop()
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == 0, p.stderr
    assert counts["requests"] == 20 and counts["status"] == {"200": 20}
    (summary_path,) = tmp_path.glob("*/summary.json")
    v = json.loads(summary_path.read_text())["variants"]["default"]
    assert v["requests"]["ok"] == 20


def test_a_kserve_model_name_outside_ascii_is_encoded_for_its_readiness_check_too():
    with FaultServer("ok") as server:
        data = _kserve(server.url.rstrip("/"), body="[[1.0, 2.0]]")
        data["target"]["model"] = "mödel-😀"
        report = run_spec(parse_spec(data), quiet=True, write=False)   # was: a traceback in urllib
        counts = server.stop()
    assert counts["requests"] == 1 + 20 and report.summary["variants"]["default"]["requests"]["ok"] == 20


def _kserve(url: str, body: str | None = None, data: str | None = None, load: dict | None = None) -> dict:
    payload = {"body": body} if body is not None else {"data": data}
    return {"target": {"type": "kserve", "url": url, "model": "m", "protocol": "v2"}, "payload": payload,
            "server_time": None, "load": {"workers": 1, "rate": 20, "duration": "1s", **(load or {})}}


def test_a_run_whose_requests_cannot_be_built_fails_each_one_and_sends_nothing():
    with FaultServer("ok") as server:   # answers the readiness check, then counts what reaches it
        data = _kserve(server.url.rstrip("/"), body='"not a tensor"')
        report = run_spec(parse_spec(data), quiet=True, write=False)
        counts = server.stop()
    assert counts["requests"] == 1          # the readiness check only: no request was sent
    s = report.summary
    v = s["variants"]["default"]
    r = v["requests"]
    assert r["scheduled"] == 20 == r["failed"] == v["errors"]["build_failed"], (r, v["errors"])
    assert r["unaccounted"] == 0 and r["in_flight"] == 0 and v["bytes"]["sent"] == 0
    assert "must be a V2 request" in v["error_messages"]["build_failed"]
    assert s["no_success"] == ["default"] and report.exit_code == ExitCode.FAILED
    assert s["failures"]["default"]["top_errors"][0]["kind"] == "build_failed"


def test_the_cli_says_so_in_one_line_when_quiet(tmp_path):
    with FaultServer("ok") as server:
        p = _stinger("run", "--kserve", server.url.rstrip("/"), "--model", "m", "--body", '"not a tensor"',
                     "--rate", "20", "--duration", "1s", "--quiet", "--out", str(tmp_path))
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr
    [line] = [x for x in p.stderr.splitlines() if "build_failed" in x]
    assert "no request succeeded" in line and "build_failed x20" in line and "V2 request" in line, line


def test_queued_requests_that_cannot_be_built_do_not_nest(tmp_path):
    """One good payload, then 400 that cannot be built, one request in flight at a time: while the good
    one waits 300 ms the others queue; each then fails at once. Draining the queue from inside the
    failure (as before) went one level deeper per request (RecursionError past ~250)."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text("[[1.0, 2.0]]\n" + '"not a tensor"\n' * 400)
    with RefServer(delay_ms=300, record=True) as server:
        data = _kserve(server.url, data=str(rows),
                       load={"rate": 1000, "duration": "0.401s", "max_in_flight": 1, "drain": "2s"})
        report = run_spec(parse_spec(data), quiet=True, write=False)
        server.stop()
        received = len(server.records())
    v = report.summary["variants"]["default"]
    r = v["requests"]
    assert r["unaccounted"] == 0 and r["in_flight"] == 0, r
    assert r["scheduled"] == 401 and v["errors"]["build_failed"] == 400, (r, v["errors"])
    assert r["ok"] == 1 and received == 1 + 1   # the readiness check and the one good request
