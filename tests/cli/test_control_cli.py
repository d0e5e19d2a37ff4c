"""`stinger run --control -` (the contract `stinger ui` builds on): JSON lines on standard input change the
rate, a wrong line is refused on stderr in one line and the run goes on, {"stop": true} ends the run early
and cleanly (a complete run directory, the exit code of a normal end); `--jsonl` snapshots carry the events."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow


def test_control_lines_change_the_rate_refuse_mistakes_and_stop_the_run(tmp_path: Path):
    live = tmp_path / "live.jsonl"
    with RefServer("delay", delay_ms=2) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "run", "--url", srv.url, "--rate", "40",
                                 "--duration", "30s", "--workers", "2", "--control", "-", "-q", "--jsonl", str(live),
                                 "--out", str(tmp_path / "runs")],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert proc.stdin is not None
        try:
            deadline = time.monotonic() + 60
            while '"interval"' not in (live.read_text() if live.exists() else ""):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            proc.stdin.write('{"rate": "120/s"}\nnot json\n{"users": 3}\n{"rate": -5}\n')
            proc.stdin.flush()
            while '"events"' not in live.read_text():   # a snapshot after the change names it
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            proc.stdin.write('{"stop": true}\n')
            proc.stdin.flush()
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    refusals = [line for line in err.splitlines() if line.startswith("stinger: control: ")]
    assert len(refusals) == 3, err                 # not JSON, users in an open-model run, a negative rate
    assert any("not JSON" in r for r in refusals) and any("rate, not users" in r for r in refusals)
    [run] = list((tmp_path / "runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    [ev] = summary["events"]
    assert ev["kind"] == "load_change" and ev["rate"] == 120.0 and ev["source"] == "control"
    assert [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()] == [ev]
    assert summary["stopped_early"] and not summary["interrupted"] and summary["elapsed_s"] < 30
    assert (run / "report.html").exists() and (run / "intervals.csv").exists()
    snaps = [json.loads(x) for x in live.read_text().splitlines()]
    assert any(s.get("events") == [ev] for s in snaps if s["event"] == "interval")
    req = summary["variants"]["default"]["requests"]
    assert req["unaccounted"] == 0
