"""The run's monitors against real processes: the demo endpoint found by PID and by
port, its /metrics scraped, and the client-bound flag raised by a starved generator."""

from __future__ import annotations

import time
import urllib.request

import pytest

from stinger.demo.process import DemoServer
from stinger.monitors.base import MonitorRunner
from stinger.monitors.process import ProcessMonitor
from stinger.monitors.prometheus import PrometheusMonitor
from stinger.orchestrate.run import run_spec
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow

BODY = '{"instances": [[0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,0,3,15,2,0,11,8,0,0,4,12,0,0,8,8,0,0,5,8,0,0,9,8,0,0,4,11,0,1,12,7,0,0,2,14,5,10,12,0,0,0,0,6,13,10,0,0,0]]}'


@pytest.fixture(scope="module")
def demo():
    with DemoServer(port=0, workers=1) as server:
        yield server


def _load(url: str, n: int) -> None:
    for _ in range(n):
        req = urllib.request.Request(url, data=BODY.encode(), headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()


def test_demo_endpoint_found_by_pid_and_by_port(demo):
    port = int(demo.url.rsplit(":", 1)[1])
    by_port = ProcessMonitor(port=port)
    by_pid = ProcessMonitor(pid=demo.pid)
    for m in (by_port, by_pid):
        m.start()
    assert demo.pid in by_port.pids and demo.pid in by_pid.pids
    by_pid.sample(0.0)
    _load(demo.invocations_url("accurate"), 40)
    points = {p.series: p.value for p in by_pid.sample(1.0)}
    assert points["endpoint.rss_bytes"] > 10 * 2**20          # a Python process with scikit-learn models
    assert points["endpoint.cpu_pct"] > 0                      # it worked on 40 random-forest predictions
    assert points["endpoint.procs"] >= 1


def test_demo_metrics_scraped_with_the_demo_preset(demo):
    mon = PrometheusMonitor(demo.metrics_url, preset="demo")
    runner = MonitorRunner([mon], t0=time.perf_counter(), interval=0.3)
    runner.start()
    try:
        _load(demo.invocations_url("fast"), 60)
        time.sleep(0.8)
    finally:
        runner.stop()
    names = {p.series for p in runner.points}
    assert not runner.warnings
    assert any(n.startswith("prom.stinger_demo_requests") and n.endswith(".rate") for n in names), names
    assert any("stinger_demo_model_duration_seconds" in n for n in names), names
    assert "prom.process_resident_memory_bytes" in names


def test_server_time_and_resources_in_a_run_summary(demo, tmp_path):
    spec = parse_spec({"target": {"url": demo.invocations_url("fast"), "method": "POST"},
                       "payload": {"body": BODY, "content_type": "application/json"},
                       "load": {"rate": 50, "duration": 3, "warmup": 0.5},
                       "monitors": [{"type": "prometheus", "url": demo.metrics_url, "preset": "demo"}],
                       "output": {"dir": str(tmp_path)}})
    report = run_spec(spec, quiet=True)
    s = report.summary
    v = s["variants"]["default"]
    assert v["server_time_ms"]["count"] == v["requests"]["ok"] > 0
    # the server's own time is part of what the caller waits
    assert v["server_time_ms"]["p50"] <= v["latency_ms"]["p50"]
    assert "endpoint" in s["resources"] and s["resources"]["endpoint"]["rss_mib"]["peak"] > 10
    assert (report.run_dir / "series.csv").exists()


def test_a_starved_generator_is_flagged_client_bound(tmp_path):
    # One worker asked for far more than one core can send: the generator, not the
    # server, is the limit, and the summary must say so.
    with RefServer("delay", delay_ms=0.0) as server:
        spec = parse_spec({"target": {"url": server.url + "/"},
                           "load": {"rate": 400_000, "duration": 3, "workers": 1, "max_in_flight": 64, "confirm": True},
                           "server_time": None, "output": {"dir": str(tmp_path)}})
        report = run_spec(spec, quiet=True, write=False)
    gen = report.summary["generator"]
    assert gen["client_bound"] is True, gen
    assert "client-bound" in gen["message"]
    v = report.summary["variants"]["default"]
    assert v["throughput"]["achieved_rps"] < 0.9 * v["throughput"]["offered_rps"] or gen["worker_cpu_pct_p90"] >= 90


def test_each_variant_gets_its_own_monitors(tmp_path):
    # two demo servers, one per variant, each watched by a process monitor of its own
    with DemoServer(port=0, variants=["fast"]) as a, DemoServer(port=0, variants=["accurate"]) as b:
        spec = parse_spec({
            "variants": [
                {"name": "fast", "url": a.invocations_url(), "method": "POST", "monitors": [{"type": "process", "pid": a.pid}]},
                {"name": "accurate", "url": b.invocations_url(), "method": "POST", "monitors": [{"type": "process", "pid": b.pid}]},
            ],
            "payload": {"body": BODY, "content_type": "application/json"},
            "load": {"rate": 40, "duration": 3},
            "output": {"dir": str(tmp_path)},
        })
        report = run_spec(spec, quiet=True)
    res = report.summary["resources"]
    assert {"fast", "accurate"} <= set(res)
    # the random forest works harder than naive Bayes for the same requests
    assert res["accurate"]["cpu_pct"]["mean"] > res["fast"]["cpu_pct"]["mean"]


HOG = """
import select, sys, time
deadline = time.monotonic() + 60      # bounded even if nobody closes stdin
while time.monotonic() < deadline and not select.select([sys.stdin], [], [], 0)[0]:
    end = time.perf_counter() + 0.05
    while time.perf_counter() < end:
        pass
"""


def test_a_busy_machine_is_named_in_the_terminal_beside_the_slos(tmp_path):
    """Issue 15, items 8 and 9: a light run (20 req/s, a worker at a few % of a core) beside as many CPU hogs as
    this machine has cores. Before: SLO FAILs and exit 1 with nothing on the terminal about the machine, or
    "client-bound: ... add workers". Now the machine's load is measured, the verdict is "the machine is busy"
    with its load and no advice to add workers, and the terminal prints it right under the SLOs."""
    import json
    import subprocess
    import sys

    from stinger.monitors.generator import cores

    hogs = [subprocess.Popen([sys.executable, "-c", HOG], stdin=subprocess.PIPE) for _ in range(cores())]
    try:
        with RefServer("delay", delay_ms=1) as server:
            proc = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", server.url + "/", "--rate",
                                   "20", "--duration", "3s", "--workers", "1", "--slo", "p50<0.001ms",
                                   "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    finally:
        for hog in hogs:
            assert hog.stdin is not None
            hog.stdin.close()
            hog.wait(timeout=10)
    assert proc.returncode == 1, proc.stderr          # the SLO cannot hold
    [path] = tmp_path.glob("*/summary.json")
    gen = json.loads(path.read_text())["generator"]
    assert gen["machine_busy"] is True, gen
    assert gen["machine"]["load"] >= cores() - 0.5 and gen["machine"]["cores"] == cores(), gen
    assert "add workers" not in gen["message"]
    out = " ".join(proc.stdout.split())
    assert f"WARNING {gen['message']}"[:80] in out
    assert out.index("p50<0.001ms") < out.index("WARNING")
