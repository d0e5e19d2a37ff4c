"""--save-requests: requests.csv (rows/csv.py over rows/spill.py), unit and end to end.

The end-to-end test joins stinger's rows with the reference server's own record of
every request (one monotonic clock, converted through the run's `t0_unix`): every
row's send and done bracket the server's read and its timed answer of the same
request, and the rows' latencies are the summary's.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from stinger.core.rows import RowBatch
from stinger.rows.csv import CsvRows
from stinger.rows.spill import DTYPE, append
from stinger.testing.servers import RefServer


def _batch(t0, worker, **cols):
    return RowBatch(t0, worker, **{k: np.asarray(v) for k, v in cols.items()})


def test_rows_round_trip_to_a_sorted_csv(tmp_path):
    paths = [tmp_path / f".requests-w{w}.bin" for w in (0, 1)]
    for w, path in enumerate(paths):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for flush in range(2):
            base = 100.0 + w * 0.5 + flush
            append(fd, _batch(100.0, w, intended=[base, base + 0.25], sent=[base + 0.001, base + 0.251],
                              first=[base + 0.01, 0.0], done=[base + 0.02, base + 0.3], server_ms=[5.0, np.nan],
                              status=[200, 0], kind=[0, 2], variant=[0, 1], nbytes=[12, 0], payload=[3, 4],
                              queued=[0, 2]))
        os.close(fd)
        assert path.stat().st_size == 4 * DTYPE.itemsize
    got = CsvRows().collect(paths, tmp_path, ["A", 'B, "quoted"'], 1234.5)
    assert (got.sink, got.path, got.rows, got.t0_unix) == ("csv", "requests.csv", 8, 1234.5)
    rows = list(csv.DictReader((tmp_path / "requests.csv").open()))
    assert [float(r["intended_s"]) for r in rows] == sorted(float(r["intended_s"]) for r in rows)
    first = rows[0]
    assert first["intended_s"] == "0.000000" and first["latency_ms"] == "20.000" and first["service_ms"] == "19.000"
    assert first["server_ms"] == "5.000" and first["kind"] == "ok" and first["variant"] == "A"
    timeout = next(r for r in rows if r["kind"] == "timeout")
    assert timeout["first_byte_s"] == "" and timeout["server_ms"] == "" and timeout["variant"] == 'B, "quoted"'
    assert timeout["queued"] == "2" and timeout["status"] == "0"
    assert {r["worker"] for r in rows} == {"0", "1"}


def test_a_partial_last_row_of_a_killed_worker_is_dropped(tmp_path):
    path = tmp_path / ".requests-w0.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    fields = {"intended": 1.0, "sent": 1.0, "first": 1.1, "done": 1.2, "server_ms": np.nan, "status": 200,
              "kind": 0, "variant": 0, "nbytes": 1, "payload": 0, "queued": 0}
    append(fd, _batch(0.0, 0, **{k: [v] for k, v in fields.items()}))
    os.close(fd)
    with open(path, "ab") as f:
        f.write(b"\x01" * (DTYPE.itemsize // 2))   # torn by a SIGKILL mid-write
    assert CsvRows().collect([path], tmp_path, ["default"], 0.0).rows == 1


def _stinger(args, timeout=120):
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_every_request_sent_has_a_row_that_pairs_with_the_servers_own_record(tmp_path):
    with RefServer("delay", delay_ms=10, record=True, precise=True) as server:
        r = _stinger(["run", "--url", server.url + "/", "--rate", "40", "--duration", "3s", "--workers", "2",
                      "--server-time", "server-timing:app", "--save-requests", "--out", str(tmp_path), "-q"])
        offset = time.time() - time.perf_counter()   # the server's perf_counter clock to wall time
    assert r.returncode == 0, r.stderr
    [run] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert not list(run.glob(".requests-w*"))       # the workers' files were merged and removed
    summary = json.loads((run / "summary.json").read_text())
    v = summary["variants"]["default"]
    rows = list(csv.DictReader((run / "requests.csv").open()))
    assert summary["requests_file"]["rows"] == len(rows) == v["requests"]["ok"] == 120
    assert summary["rows"] == [{"sink": "csv", **summary["requests_file"]}]
    assert {r["worker"] for r in rows} == {"0", "1"}
    lat = np.array([float(r["latency_ms"]) for r in rows])
    # the summary's percentiles come from the same requests (HDR: 3 significant digits)
    assert np.percentile(lat, 50) == pytest.approx(v["latency_ms"]["p50"], rel=0.01, abs=0.05)
    assert lat.max() == pytest.approx(v["latency_ms"]["max"], rel=0.01, abs=0.05)
    server_ms = np.array([float(r["server_ms"]) for r in rows])
    assert np.all((server_ms >= 10.0) & (server_ms < 1000.0))
    # pair the k-th request the server read with the k-th row sent: one server process reads its
    # connections in the order their bytes arrived (one epoll ready list), and requests leave 25 ms apart.
    # Not "the row sent last before the read": beside two CPU hogs the server once read a request 31 ms
    # after it was sent, after the next one had left
    rec = np.sort(server.records(), order="recv")
    t0 = summary["requests_file"]["t0_unix"]
    order = sorted(rows, key=lambda r: float(r["sent_s"]))
    sent = np.array([float(r["sent_s"]) for r in order])
    done = np.array([float(r["done_s"]) for r in order])
    reported = np.array([float(r["server_ms"]) for r in order]) / 1e3   # Server-Timing: recv to before the write
    recv = rec["recv"] + offset - t0
    slack = 0.002    # the two clock readings that convert the server's clock
    assert len(rec) == len(rows)
    # its send and done bracket the server's read, and the answer it read is the one the server timed
    assert np.all(recv >= sent - slack) and np.all(recv <= done + slack)
    assert np.all(reported <= rec["send"] - rec["recv"] + 5e-7)   # taken before the recording's send stamp
    # the answer reached stinger after the server wrote it, for every request: judged on the instant the
    # server timed before its write (recv + Server-Timing), not on its stamp after the write returns, which
    # the client the write wakes can preempt (seen: stamped 8 ms after stinger had read the answer)
    inbound, outbound = recv - sent, done - (recv + reported)
    assert np.all(outbound >= -slack), np.sort(outbound)[:5]
    # stinger stamps `done` on the read, not later: at the median its wake-up for an answer is no slower
    # than the 90th percentile of the server's wake-up for a request, measured in the same run (both are a
    # process woken by a loopback write on this machine, in this moment)
    assert np.median(outbound) <= np.percentile(inbound, 90) + 2 * slack, (np.median(outbound), inbound)


def test_save_requests_is_refused_on_ray_and_not_offered_by_capacity(tmp_path):
    r = _stinger(["run", "--url", "http://127.0.0.1:9/", "--rate", "1", "--duration", "1s", "--backend", "ray",
                  "--save-requests", "--out", str(tmp_path), "-q"])
    assert r.returncode == 2 and "--save-requests works with the local backend" in r.stderr
    assert "Traceback" not in r.stderr
    r = _stinger(["capacity", "--help"])
    assert r.returncode == 0 and "--save-requests" not in r.stdout


def test_ab_paired_rows_name_their_variant(tmp_path):
    with RefServer("delay", delay_ms=2) as server:
        r = _stinger(["ab", "--a", server.url + "/a", "--b", server.url + "/b", "--split", "paired",
                      "--rate", "20", "--requests", "40", "--save-requests", "--out", str(tmp_path), "-q"])
    assert r.returncode in (0, 1), r.stderr
    [run] = [p for p in tmp_path.iterdir() if p.is_dir()]
    rows = list(csv.DictReader((run / "requests.csv").open()))
    by_variant = {}
    for row in rows:
        by_variant.setdefault(row["variant"], []).append(float(row["intended_s"]))
    assert len(by_variant) == 2 and all(len(v) == 40 for v in by_variant.values())
    # paired (independent instants, the default): each variant at instants of its own
    a, b = by_variant.values()
    assert not set(a) & set(b)


def test_the_spec_names_its_row_sinks_and_save_requests_is_csv():
    from stinger.errors import SpecError
    from stinger.spec import parse_spec

    base = {"target": {"url": "http://127.0.0.1:9/"}, "load": {"rate": 1, "duration": "1s"}}
    assert parse_spec({**base, "output": {"save_requests": True}}).output.row_sinks() == ("csv",)
    assert parse_spec({**base, "output": {"rows": ["csv"]}}).output.row_sinks() == ("csv",)
    assert parse_spec({**base, "output": {"rows": "csv,csv"}}).output.row_sinks() == ("csv",)
    assert parse_spec(base).output.row_sinks() == ()
    with pytest.raises(SpecError) as info:
        parse_spec({**base, "output": {"rows": ["xml"]}})
    assert "unknown row sink 'xml'; expected one of csv" in str(info.value)


def test_save_requests_takes_a_sink_name_and_refuses_an_unknown_one(tmp_path):
    with RefServer("delay", delay_ms=1) as server:
        ok = _stinger(["run", "--url", server.url + "/", "--rate", "20", "--requests", "10", "--save-requests=csv",
                       "--out", str(tmp_path), "-q"])
        bad = _stinger(["run", "--url", server.url + "/", "--rate", "20", "--requests", "10", "--save-requests=xml",
                        "--out", str(tmp_path / "bad"), "-q"])
    assert ok.returncode == 0, ok.stderr
    [run] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(list(csv.DictReader((run / "requests.csv").open()))) == 10
    assert bad.returncode == 2 and "unknown row sink 'xml'" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()


def test_a_run_writing_requests_csv_imports_no_pyarrow(tmp_path):
    script = ("import sys, stinger\n"
              "r = stinger.run({'target': {'type': 'fake', 'delay': '1ms'}, 'load': {'rate': 50, 'requests': 20},"
              f" 'output': {{'rows': ['csv'], 'dir': {str(tmp_path)!r}}}}})\n"
              "assert r.summary['requests_file']['rows'] == 20, r.summary\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyarrow'))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
