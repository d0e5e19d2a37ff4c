"""Verdicts that hold on real deployments (issue 15, items 1 and 2), against self-timing servers.

- Shared infrastructure: ONE worker serves A in 2 ms and B in 20 ms (the reference server's
  `routes` in one slot: a request waits for whatever the worker is doing), 15 req/s per variant.
  The default paired schedule (independent instants) must find B slower by what the server's own
  record says its models differ (its service times, start to send); the simultaneous schedule must
  say its latency comparison is confounded (it measured p50 B-A 0.1 ms here before).
- Saturation: B behind one slot of 50 ms (capacity 20 req/s), 30 req/s offered per variant: the
  verdict names B as the variant that could not keep up.

The tolerance of the first test is the run's own: half the verdict's p50 CI, plus the client's own
overhead at p50 (stinger's latency minus the server's own time, measured in the same run).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from stinger.orchestrate.ab import AbOptions, run_ab
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow

ROUTES = {"/a": 2.0, "/b": 20.0}


def _shared():
    return RefServer("slots", slots=1, routes=ROUTES, record=True, precise=True)


def _run(data: dict):
    spec = parse_spec(data)
    return run_ab(spec, AbOptions(mode=spec.split),
                  quiet=True)


def _p50(v):
    return next(r for r in v.rows if r.metric.startswith("latency p50"))


def test_default_paired_on_one_shared_worker_finds_the_models_own_difference(tmp_path):
    with _shared() as server:
        out = _run({"variants": [{"name": "A", "url": server.url + "/a"}, {"name": "B", "url": server.url + "/b"}],
                    "split": "paired", "payload": {"body": "{}"},
                    "load": {"rate": 15, "duration": 11, "warmup": "1s", "arrival": "poisson", "seed": 15,
                             "timeout": "5s"},
                    "output": {"dir": str(tmp_path)}})
        server.stop()
        a, b = server.route_records("/a"), server.route_records("/b")
    truth = float(np.median(b["send"] - b["start"]) - np.median(a["send"] - a["start"])) * 1e3
    assert 17.5 < truth < 18.5, truth                      # the server's own: 20 - 2 ms of service
    variants = out.report.summary["variants"]
    overhead = max(variants[n]["latency_ms"]["p50"] - variants[n]["server_time_ms"]["p50"] for n in "AB")
    p50 = _p50(out.verdict)
    tolerance = (p50.ci_high - p50.ci_low) / 2 + max(overhead, 0.0)
    assert p50.significant and p50.better == "a", (out.verdict.sentence, p50)
    assert abs(p50.diff - truth) <= tolerance, (p50.diff, truth, tolerance)
    assert out.verdict.sentence.startswith("B is slower than A at p50")
    inter = out.extra["interference"]
    assert inter["schedule"] == "independent" and inter["confounded"] is False
    assert out.report.summary["pairing"] == "independent"


def test_simultaneous_pairing_on_one_shared_worker_is_called_confounded(tmp_path):
    with _shared() as server:
        r = subprocess.run([sys.executable, "-m", "stinger.cli", "ab", "--a", server.url + "/a",
                            "--b", server.url + "/b", "--split", "paired", "--pairing", "simultaneous",
                            "--rate", "15", "--duration", "8s", "--warmup", "1s", "--arrival", "poisson",
                            "--out", str(tmp_path), "-q"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode in (0, 1), r.stderr
    [run] = [p for p in tmp_path.iterdir() if p.is_dir()]
    verdict = json.loads((run / "verdict.json").read_text())
    inter = verdict["interference"]
    assert inter["confounded"] is True and "A" in inter["found"], inter
    a = inter["variants"]["A"]["effects"][0]
    assert a["metric"] == "latency" and a["diff_ms"] > 10          # A waited for B's 20 ms when sent second
    assert verdict["sentence"].startswith("The latency comparison is confounded by shared infrastructure")
    assert "slower" not in verdict["sentence"]
    assert all("confounded" in (row["caveat"] or "") for row in verdict["rows"] if row["kind"] == "latency")
    assert "‡" in (run / "verdict.md").read_text()


def test_an_overloaded_variant_is_named_saturated(tmp_path):
    with RefServer("delay", delay_ms=5) as fast, RefServer("slots", slots=1, service_ms=50) as slow:
        assert slow.capacity == pytest.approx(20.0)
        out = _run({"variants": [{"name": "A", "url": fast.url + "/"}, {"name": "B", "url": slow.url + "/"}],
                    "split": "paired",
                    "load": {"rate": 30, "duration": 6, "warmup": "1s", "arrival": "poisson", "timeout": "10s"},
                    "output": {"dir": str(tmp_path)}})
    assert out.extra["saturated"] == ["B"], out.extra["saturation"]
    assert out.verdict.sentence.startswith("B could not keep up with the load")
    latency = [r for r in out.verdict.rows if r.kind == "latency"]
    assert latency and all("B could not keep up" in (r.caveat or "") for r in latency)
    saved = json.loads((out.run_dir / "verdict.json").read_text())
    assert saved["saturated"] == ["B"] and saved["saturation"]["A"]["saturated"] is False
    assert "‡ measured while B could not keep up" in (out.run_dir / "report.html").read_text()
