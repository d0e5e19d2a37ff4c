"""Data Capture arrival times replayed as the run's trace (`--replay-arrivals`, `load.shape.trace: capture`).

Ground truth: a recording endpoint (uvicorn in a subprocess on loopback) keeps, per request, its
arrival time (CLOCK_MONOTONIC, shared by every process here) and body. A capture with known,
irregular millisecond timestamps is replayed through the real CLI; each captured request i must be
scheduled at its captured offset (exactly: requests.csv) and arrive there (within the lateness the run
measured, per request, and the server's reading of it), with its own captured body, in `run` and in
both A/B modes, every request accounted for.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from stinger.testing.procs import stop_process, wait_http

SRC = str(Path(__file__).resolve().parents[2] / "src")

APP_SOURCE = r'''
import asyncio, json, socket, time
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

seen = []

async def rec(request):
    t = time.monotonic()
    body = await request.body()
    seen.append((t, request.url.path, body.decode("utf-8", "replace"), request.headers.get("content-type")))
    return JSONResponse({"ok": True})

async def log(request):
    return JSONResponse(seen)

async def clear(request):
    seen.clear()
    return JSONResponse([])

app = Starlette(routes=[Route("/a", rec, methods=["POST"]), Route("/b", rec, methods=["POST"]),
                        Route("/endpoints/{name}/invocations", rec, methods=["POST"]),  # a SageMaker runtime
                        Route("/log", log), Route("/clear", clear, methods=["POST"])])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.bind(("127.0.0.1", 0))
s.listen(1024)
print("PORT", s.getsockname()[1], flush=True)
server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
asyncio.run(server.serve(sockets=[s]))
'''

# captured offsets (ms after the first request): irregular, with a burst and a pause
OFFSETS_MS = [0, 40, 95, 100, 180, 420, 430, 440, 700, 1010, 1030, 1300, 1650, 1660, 1900, 2200]


def _record(i: int, offset_ms: int) -> str:
    sec, ms = divmod(offset_ms, 1000)
    when = f"2026-11-24T10:00:{10 + sec:02d}.{ms:03d}Z"
    body = json.dumps({"features": [i, i * 0.5], "i": i})
    return json.dumps({"captureData": {"endpointInput": {"observedContentType": "application/json",
                                                         "mode": "INPUT", "data": body, "encoding": "JSON"}},
                       "eventMetadata": {"eventId": f"e{i}", "inferenceTime": when}, "eventVersion": "0"})


@pytest.fixture
def capture(tmp_path) -> Path:
    """Two capture files of one variant (S3 layout), lines shuffled across them: arrival order is the times'."""
    root = tmp_path / "capture" / "ep" / "AllTraffic" / "2026" / "11" / "24" / "10"
    root.mkdir(parents=True)
    lines = [_record(i, off) for i, off in enumerate(OFFSETS_MS)]
    (root / "b.jsonl").write_text("\n".join(lines[1::2][::-1]) + "\n")
    (root / "a.jsonl").write_text("\n".join(lines[0::2]) + "\n")
    return tmp_path / "capture"


@pytest.fixture(scope="module")
def recorder():
    proc = subprocess.Popen([sys.executable, "-c", APP_SOURCE], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        base = f"http://127.0.0.1:{int(line.split()[1])}"
        wait_http(base + "/log", timeout=30)
        yield base
    finally:
        stop_process(proc)


def _seen_raw(base: str) -> list[tuple[float, str, str, str]]:
    """(arrival, path, body text, Content-Type) per request."""
    with urllib.request.urlopen(base + "/log", timeout=10) as r:
        return [tuple(row) for row in json.loads(r.read())]


def _seen(base: str) -> list[tuple[float, str, dict]]:
    return [(t, path, json.loads(body)) for t, path, body, _ in _seen_raw(base)]


def _clear(base: str) -> None:
    urllib.request.urlopen(urllib.request.Request(base + "/clear", method="POST", data=b""), timeout=10).read()


def _stinger(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], env=env, capture_output=True, text=True,
                          timeout=90)


def _summary(out: Path) -> dict:
    (path,) = list(out.rglob("summary.json"))
    return json.loads(path.read_text())


def _rows(out: Path) -> list[dict]:
    """The run's requests.csv rows (`--save-requests`): each request's intended and sent instants."""
    (path,) = list(out.rglob("requests.csv"))
    return list(csv.DictReader(path.open()))


def _departures(summary: dict, variants, rows: list[dict]) -> np.ndarray:
    """Each row's departure delay (sent - intended, s), checked against what the run reports: a request
    sent at once counts it as schedule lag, one that waited for a new connection (the first on each)
    as queue wait; the largest of either is the largest departure delay of any request (HDR: 3 digits)."""
    depart = np.array([float(r["sent_s"]) - float(r["intended_s"]) for r in rows])
    reported = max(max(summary["variants"][v][m]["max"] or 0.0 for m in ("schedule_lag_ms", "queue_wait_ms")
                       if summary["variants"][v].get(m)) for v in variants)
    assert depart.max() * 1e3 == pytest.approx(reported, rel=2e-3, abs=2e-3), (depart.max(), reported)
    return depart


def _check_replay(seen: list[tuple[float, str, dict]], rows: list[dict], summary: dict, variants,
                  speed: float) -> None:
    """Captured request i went out at offset i / speed after request 0, carrying captured body i, and the
    server read it there, late by no more than the run measured.

    The schedule is exact (requests.csv's intended times are the captured offsets). What the server saw
    differs from it only by noise this run measured itself: each request's departure delay (`_departures`:
    schedule lag, or the wait for a new connection that the first request of each connection has; the
    summary reports both) and the server's reading of it (arrival - sent, whose spread over the run's
    requests is the server process's and each worker's clock reading of the start; the clocks' constant
    offset cancels). A fixed slack does not survive a busy machine: beside two CPU hogs the first
    request's connection wait alone reached 30 ms, and the server read one request 13 ms late."""
    seen = sorted(seen, key=lambda r: r[2]["i"])
    n = len(OFFSETS_MS)
    assert [r[2]["i"] for r in seen] == list(range(n))      # every captured body, once
    assert all(r[2]["features"] == [r[2]["i"], r[2]["i"] * 0.5] for r in seen)
    rows = sorted(rows, key=lambda r: int(r["payload"]))
    assert [int(r["payload"]) for r in rows] == list(range(n))   # payload k is captured request k
    offsets = np.array(OFFSETS_MS) / 1e3 / speed
    intended = np.array([float(r["intended_s"]) for r in rows])
    np.testing.assert_allclose(intended - intended[0], offsets, atol=2e-6)   # the csv keeps microseconds
    depart = _departures(summary, variants, rows)
    arrival = np.array([t for t, _, _ in seen])
    read = arrival - np.array([float(r["sent_s"]) for r in rows])
    deviation = (arrival - arrival[0]) - offsets
    slack = depart + depart[0] + np.ptp(read) + 2e-6
    assert np.all(np.abs(deviation) <= slack), list(zip(deviation.round(4), slack.round(4), strict=True))


@pytest.mark.slow
def test_run_replays_captured_arrival_times_and_bodies(recorder, capture, tmp_path):
    _clear(recorder)
    r = _stinger(["run", "--url", recorder + "/a", "--data", str(capture), "--format", "capture",
                  "--replay-arrivals", "--workers", "2", "--out", str(tmp_path), "-q", "--save-requests"])
    assert r.returncode == 0, r.stderr
    s = _summary(tmp_path)
    req = s["variants"]["default"]["requests"]
    assert req["scheduled"] == req["ok"] == len(OFFSETS_MS)
    _check_replay(_seen(recorder), _rows(tmp_path), s, ["default"], 1.0)
    spec = (next(tmp_path.rglob("spec.yaml"))).read_text()
    assert "trace: capture" in spec


@pytest.mark.slow
def test_run_replays_twice_as_fast(recorder, capture, tmp_path):
    _clear(recorder)
    r = _stinger(["run", "--url", recorder + "/a", "--data", str(capture), "--format", "capture",
                  "--replay-arrivals", "--speed", "2", "--out", str(tmp_path), "-q", "--save-requests"])
    assert r.returncode == 0, r.stderr
    s = _summary(tmp_path)
    assert s["variants"]["default"]["requests"]["ok"] == len(OFFSETS_MS)
    _check_replay(_seen(recorder), _rows(tmp_path), s, ["default"], 2.0)


@pytest.mark.slow
def test_paired_ab_replays_every_captured_request_to_both_variants(recorder, capture, tmp_path):
    _clear(recorder)
    r = _stinger(["ab", "--a", recorder + "/a", "--b", recorder + "/b", "--split", "paired", "--pairing",
                  "simultaneous", "--data", str(capture), "--format", "capture", "--replay-arrivals",
                  "--out", str(tmp_path), "-q", "--save-requests"])
    assert r.returncode in (0, 1), r.stderr      # 1: a verdict on 16 requests may call a difference
    s = _summary(tmp_path)
    n = len(OFFSETS_MS)
    for name in ("A", "B"):
        req = s["variants"][name]["requests"]
        assert req["scheduled"] == req["ok"] == n                     # every captured request to each variant
        assert req["failed"] == req["dropped"] == 0
    seen, rows = _seen(recorder), _rows(tmp_path)
    for name, path in (("A", "/a"), ("B", "/b")):
        _check_replay([row for row in seen if row[1] == path], [r for r in rows if r["variant"] == name], s,
                      [name], 1.0)


@pytest.mark.slow
def test_independent_paired_replay_sends_each_captured_request_to_both_within_its_gap(recorder, capture, tmp_path):
    """The default pairing: captured request i reaches each variant once, at instants of their own, both
    within its captured gap [offset i, offset i+1) (the last: its own gap again). The schedule is checked
    exactly (requests.csv); the server's arrivals within the lateness this run measured (`_check_replay`)."""
    _clear(recorder)
    r = _stinger(["ab", "--a", recorder + "/a", "--b", recorder + "/b", "--split", "paired",
                  "--data", str(capture), "--format", "capture", "--replay-arrivals", "--out", str(tmp_path), "-q",
                  "--save-requests"])
    assert r.returncode in (0, 1), r.stderr
    s = _summary(tmp_path)
    n = len(OFFSETS_MS)
    assert all(s["variants"][v]["requests"]["ok"] == n for v in ("A", "B"))
    seen, rows = _seen(recorder), _rows(tmp_path)
    at = {(path, body["i"]): t for t, path, body in seen}
    assert len(at) == 2 * n                                          # every body once per variant
    row_of = {("/" + r["variant"].lower(), int(r["payload"])): r for r in rows}
    assert len(row_of) == len(rows) == 2 * n
    keys = sorted(at, key=lambda k: float(row_of[k]["intended_s"]))
    intended = np.array([float(row_of[k]["intended_s"]) for k in keys])
    gaps = [b - a for a, b in itertools.pairwise(OFFSETS_MS)] + [OFFSETS_MS[-1] - OFFSETS_MS[-2]]
    for k, t in zip(keys, intended - intended[0], strict=True):      # the schedule: within the gap, exactly
        off = OFFSETS_MS[k[1]] / 1e3
        assert off - 2e-6 <= t < off + gaps[k[1]] / 1e3, (k, t, off)
    assert len(set(intended.tolist())) == 2 * n                        # no two requests at one instant
    depart = _departures(s, ("A", "B"), [row_of[k] for k in keys])
    arrival = np.array([at[k] for k in keys])
    read = arrival - np.array([float(row_of[k]["sent_s"]) for k in keys])
    deviation = (arrival - arrival[0]) - (intended - intended[0])
    slack = depart + depart[0] + np.ptp(read) + 2e-6
    assert np.all(np.abs(deviation) <= slack), list(zip(keys, deviation.round(4), slack.round(4), strict=True))


@pytest.mark.slow
def test_split_ab_replay_sends_each_captured_request_once(recorder, capture, tmp_path):
    _clear(recorder)
    r = _stinger(["ab", "--a", recorder + "/a", "--b", recorder + "/b", "--split", "split", "--seed", "3",
                  "--data", str(capture), "--format", "capture", "--replay-arrivals", "--out", str(tmp_path), "-q",
                  "--save-requests"])
    assert r.returncode in (0, 1), r.stderr
    s = _summary(tmp_path)
    n = len(OFFSETS_MS)
    assert sum(s["variants"][v]["requests"]["scheduled"] for v in ("A", "B")) == n
    assert sum(s["variants"][v]["requests"]["ok"] for v in ("A", "B")) == n
    seen = _seen(recorder)
    assert {row[1] for row in seen} == {"/a", "/b"}
    _check_replay(seen, _rows(tmp_path), s, ("A", "B"), 1.0)          # together: the whole trace, once


@pytest.fixture
def mixed_capture(tmp_path) -> tuple[Path, list[tuple[str, str]]]:
    """A capture whose records differ in content type (a CSV client and a JSON client of one endpoint)."""
    root = tmp_path / "mixed" / "ep" / "AllTraffic" / "2026" / "11" / "24" / "10"
    root.mkdir(parents=True)
    sent = []
    for i in range(8):
        body, ctype = (f"{i},{i * 0.5}", "text/csv") if i % 3 else (json.dumps({"i": i}), "application/json")
        sent.append((body, ctype))
    lines = [json.dumps({"captureData": {"endpointInput": {"observedContentType": ctype, "data": body,
                                                           "encoding": "CSV" if ctype == "text/csv" else "JSON"}},
                         "eventMetadata": {"inferenceTime": f"2026-11-24T10:00:0{i // 4}.{(i % 4) * 200:03d}Z"}})
             for i, (body, ctype) in enumerate(sent)]
    (root / "part.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "mixed", sent


@pytest.mark.parametrize("target", ["sagemaker", "http"])
def test_replay_sends_each_record_with_its_own_content_type(recorder, mixed_capture, tmp_path, target, aws_env):
    """Issue 15, item 7: every captured request went out with the first record's content type (SageMaker: the
    target's application/json whatever the capture said). Now each carries its own observedContentType."""
    capture, sent = mixed_capture
    _clear(recorder)
    where = (["--sagemaker", "ep", "--region", "us-east-1", "--endpoint-url", recorder] if target == "sagemaker"
             else ["--url", recorder + "/a"])
    r = _stinger(["run", *where, "--data", str(capture), "--format", "capture", "--replay-arrivals",
                  "--speed", "4", "--out", str(tmp_path), "-q"])
    assert r.returncode == 0, r.stderr
    got = sorted((body, ctype) for _, _, body, ctype in _seen_raw(recorder))
    assert got == sorted(sent)                   # each body with the content type it was captured with
    assert {c for _, c in got} == {"text/csv", "application/json"}


def test_replay_needs_a_capture_payload(tmp_path):
    data = tmp_path / "bodies.jsonl"
    data.write_text('{"x": 1}\n')
    r = _stinger(["run", "--url", "http://127.0.0.1:9/", "--data", str(data), "--replay-arrivals",
                  "--out", str(tmp_path)])
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "expected payload.format: capture" in r.stderr
    r = _stinger(["run", "--url", "http://127.0.0.1:9/", "--data", str(data), "--format", "capture",
                  "--replay-arrivals", "--out", str(tmp_path)])
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "not a Data Capture record" in r.stderr


def test_replay_rules_are_one_line_errors(capture, tmp_path):
    base = ["run", "--url", "http://127.0.0.1:9/", "--data", str(capture), "--format", "capture"]
    for extra, message in ((["--replay-arrivals", "--order", "random"], "payload.order must be sequential"),
                           (["--replay-arrivals", "--rate", "5"], "give no --rate or --users"),
                           (["--rate", "5", "--duration", "1s", "--speed", "2"], "speed applies to a trace"),
                           (["--replay-arrivals", "--speed", "0"], "positive factor")):
        r = _stinger(base + extra + ["--out", str(tmp_path)])
        assert r.returncode == 2, (extra, r.stderr)
        assert r.stderr.count("\n") == 1 and message in r.stderr, (extra, r.stderr)
    assert not list(tmp_path.rglob("summary.json"))


def test_capture_offsets_spread_whole_seconds_and_scale(tmp_path):
    from stinger.orchestrate.replay import payload_offsets

    root = tmp_path / "c"
    root.mkdir()
    body = json.dumps({"x": 1})
    lines = [json.dumps({"captureData": {"endpointInput": {"observedContentType": "application/json",
                                                           "data": body, "encoding": "JSON"}},
                         "eventMetadata": {"inferenceTime": when}})
             for when in ("2026-11-24T10:00:00Z", "2026-11-24T10:00:00Z", "2026-11-24T10:00:03Z")]
    (root / "x.jsonl").write_text("\n".join(lines) + "\n")
    assert payload_offsets(str(root), "capture").tolist() == [0.0, 0.5, 3.0]      # one-second stamps: ties spread
    assert payload_offsets(str(root), "capture", speed=3).tolist() == [0.0, 0.5 / 3, 1.0]


def test_speed_scales_a_trace_file_too(tmp_path):
    from types import SimpleNamespace

    from stinger.orchestrate.replay import trace_offsets

    trace = tmp_path / "gaps.txt"
    trace.write_text("0\n0.5\n1.5\n")
    shape = SimpleNamespace(trace=str(trace), speed=2.0)
    assert trace_offsets(SimpleNamespace(shape=shape), None).tolist() == [0.0, 0.25, 0.75]   # timestamps, halved
