"""The statistics a user trusts, checked with real runs on loopback (slow; each test under ~30 s of load).

- `stinger plan`'s promise: at the planned size, a +5 ms difference and a 2 % -> 6 %
  error rate are detected by the verdict at least as often as the plan promises
  (planned at power 0.95 so that two runs make a stable check: both missing has
  probability <= 0.25 % if the promise holds).
- split-mode A/A with seconds resampled jointly: no excess of false positives, and
  the medians of one self-timing server agree to within a fraction of a millisecond.
"""

from __future__ import annotations

import asyncio
import re
import threading

import numpy as np
import pytest

from stinger.orchestrate.ab import AbOptions, run_ab
from stinger.orchestrate.ab_plan import plan_ab
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow


def _ab(tmp_path, a_url: str, b_url: str, rate_per_variant: float, seconds: float, seed: int):
    """A split A/B run of `seconds` measured seconds after a 1 s warm-up (the plan's "plus warm-up")."""
    data = {"variants": [{"name": "A", "url": a_url}, {"name": "B", "url": b_url}],
            "load": {"rate": 2 * rate_per_variant, "duration": seconds + 1, "warmup": "1s", "seed": seed,
                     "timeout": "5s"},
            "server_time": None, "output": {"dir": str(tmp_path)}}
    spec = parse_spec(data)
    return run_ab(spec, AbOptions(mode="split"),
                  quiet=True).verdict


def _planned(text: str) -> tuple[int, float]:
    n = int(re.search(r"([\d,]+) requests per variant", text).group(1).replace(",", ""))
    secs = float(re.search(r"about ([\d,.]+) s at", text).group(1).replace(",", ""))
    return n, secs


def test_planned_size_detects_5ms_as_promised(tmp_path):
    with RefServer("delay", delay_ms=5.0) as fast, RefServer("delay", delay_ms=10.0) as slow:
        from stinger.orchestrate.run import run_spec

        base = parse_spec({"target": {"url": fast.url + "/"}, "load": {"rate": 50, "duration": 5},
                           "server_time": None, "output": {"dir": str(tmp_path / "base")}})
        report = run_spec(base, outputs=None)
        text = plan_ab(min_effect="5ms", baseline=str(report.run_dir), power=0.95, rate=50)
        n, secs = _planned(text)
        assert secs >= 10 and n >= 400, text   # never below the verdict's minimum of 10 intervals
        hits = 0
        for seed in (1, 2):
            v = _ab(tmp_path / f"ab{seed}", fast.url + "/", slow.url + "/", 50, secs, seed)
            hits += any(r.significant and r.better == "a" for r in v.rows if r.kind.startswith("latency"))
    assert hits >= 1, text


class _ErrorServer:
    """HTTP/1.1 keep-alive server on 127.0.0.1 answering 500 with probability `p` (seeded), else 200."""

    def __init__(self, p: float, seed: int) -> None:
        self.p, self.rng = p, np.random.default_rng(seed)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)

    async def _handle(self, reader, writer) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                fail = self.rng.random() < self.p
                body = b"err" if fail else b"ok"
                writer.write(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s"
                             % (b"500 Internal Server Error" if fail else b"200 OK", len(body), body))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self):
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_planned_size_detects_2_to_6_percent_errors_as_promised(tmp_path):
    rate = 90
    text = plan_ab(min_effect="4%", error_rate="2%", power=0.95, rate=rate)
    _, secs = _planned(text)
    assert "alpha/5" in text and secs >= 10, text
    hits = 0
    with _ErrorServer(0.02, seed=1) as a, _ErrorServer(0.06, seed=2) as b:
        for seed in (1, 2):
            v = _ab(tmp_path / f"ab{seed}", a.url, b.url, rate, secs, seed)
            row = next(r for r in v.rows if r.kind == "error_rate")
            hits += row.significant and row.better == "a"
    assert hits >= 1, text


def test_split_aa_resampled_jointly_keeps_false_positives_rare(tmp_path):
    with RefServer("delay", delay_ms=5.0) as server:
        significant, p50_diffs = 0, []
        for seed in (11, 12, 13):
            v = _ab(tmp_path / f"aa{seed}", server.url + "/", server.url + "/", 50, 10, seed)
            significant += v.significant
            p50 = next(r for r in v.rows if r.metric.startswith("latency p50"))
            assert "jointly" in p50.method
            p50_diffs.append(p50.diff)
    assert significant <= 1, significant       # 3 runs at alpha 0.05: 2 or more has probability < 1 %
    assert all(abs(d) < 0.1 for d in p50_diffs), p50_diffs
