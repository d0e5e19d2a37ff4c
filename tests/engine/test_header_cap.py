"""The response head is capped (issue 16 item 6); a close-delimited reply whose head comes in two reads is OK.

Before: a 10 MB header was accepted, and a head that never ends grew the worker's memory
about one to one until the request timeout. Now past `load.max_header` (`--max-header`,
64 KiB by default) the response is `header_too_large` and its connection is closed at
once, so neither time nor memory follow the endpoint. And an HTTP/1.0 reply without a
length, whose head arrived in two reads, was counted `reset` (100 of 100): it is a whole
response. Real servers on 127.0.0.1 (`testing.faults` modes), the real CLI and worker
processes; the worker's memory is read from /proc while it runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import psutil
import pytest

from stinger.spec import parse_spec
from stinger.testing.faults import FaultServer


class _PeakRss:
    """The peak RSS of every descendant of `pid` (the run's workers), sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.first: dict[int, int] = {}
        self.peak: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                kids = self.root.children(recursive=True)
            except psutil.Error:
                return
            for k in kids:
                try:
                    rss = k.memory_info().rss
                except psutil.Error:
                    continue
                self.first.setdefault(k.pid, rss)
                self.peak[k.pid] = max(self.peak.get(k.pid, 0), rss)
            time.sleep(0.02)

    def growth_mib(self) -> float:
        self.stop.set()
        self.thread.join(5)
        return max((self.peak[p] - self.first[p]) / 2**20 for p in self.peak) if self.peak else 0.0


def _run(url: str, tmp_path, *extra: str) -> tuple[subprocess.CompletedProcess, dict, float]:
    cmd = [sys.executable, "-m", "stinger.cli", "run", "--url", url, "--rate", "4", "--duration", "2s",
           "--timeout", "15s", "--drain", "15s", "--workers", "1", "--quiet", "--out", str(tmp_path), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rss = _PeakRss(proc.pid)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    growth = rss.growth_mib()
    (summary_path,) = tmp_path.glob("*/summary.json")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), json.loads(summary_path.read_text()), growth


@pytest.fixture(scope="module")
def control_growth(tmp_path_factory) -> float:
    """How much a worker grows in the same run against plain 200s (its own warm-up: ~13 MiB here)."""
    with FaultServer("ok") as server:
        p, s, growth = _run(server.url, tmp_path_factory.mktemp("control"))
    assert s["variants"]["default"]["requests"]["ok"] == 8, p.stderr
    return growth


@pytest.mark.parametrize("mode", ["huge-header", "endless-header"])
def test_a_head_past_the_cap_is_header_too_large_and_memory_stays_flat(mode, tmp_path, control_growth):
    with FaultServer(mode) as server:
        p, s, growth = _run(server.url, tmp_path)
    assert "Traceback" not in p.stderr, p.stderr
    v = s["variants"]["default"]
    r = v["requests"]
    assert r["scheduled"] == 8 and r["unaccounted"] == 0 and r["in_flight"] == 0, r
    # every one ended by the cap: none by the 15 s timeout or the drain, so the time is bounded too
    assert v["errors"]["header_too_large"] == 8, v["errors"]
    # before: a worker grew by 39 MiB (huge-header) and 391 MiB (endless-header) against 14 for the control
    assert growth < control_growth + 10, f"a worker grew by {growth:.0f} MiB ({control_growth:.0f} MiB: control)"
    assert p.returncode == 1   # nothing succeeded


def test_the_cap_is_a_setting(tmp_path):
    # a 10 MB header passes under a 16 MB cap, and is kept out of memory no longer than it takes
    with FaultServer("huge-header") as server:
        p, s, _growth = _run(server.url, tmp_path, "--max-header", "16MB")
    v = s["variants"]["default"]
    assert v["requests"]["ok"] == 8 and v["errors"]["header_too_large"] == 0, (v["errors"], p.stderr)
    assert parse_spec({"target": {"url": "http://127.0.0.1:9/"},
                       "load": {"rate": 1, "duration": "1s"}}).load.max_header == 64 * 1024


def test_a_close_delimited_reply_whose_head_comes_in_two_reads_is_ok(tmp_path):
    with FaultServer("http10-split-head") as server:
        p, s, _growth = _run(server.url, tmp_path)
        counts = server.stop()
    v = s["variants"]["default"]
    assert counts["status"] == {"200": 8}
    assert v["requests"]["ok"] == 8 and v["errors"]["reset"] == 0, (v["errors"], p.stderr)
    assert p.returncode == 0
