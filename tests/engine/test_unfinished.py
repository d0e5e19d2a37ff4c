"""Requests still unanswered when a run ends normally are failures, `unfinished` (issue 15 item 3).

An endpoint that never answers, in a run shorter than the request timeout, used to
end with every request "in flight at stop", error rate 0 % and `error_rate<1%`
passing (exit 0). At the end of the drain those requests are failures of their own
kind, counted in every figure, SLO and verdict; a run where nothing finished exits 1
and says so. Real servers on 127.0.0.1: `testing.faults` in its `stall` mode (reads
each request, never answers) and the reference server.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from stinger.errors import ExitCode
from stinger.orchestrate.run import run_spec
from stinger.spec import parse_spec
from stinger.testing.faults import FaultServer
from stinger.testing.servers import RefServer


def _run(url: str, load: dict, slo=("error_rate<1%",)):
    data = {"target": {"url": url}, "server_time": None, "slo": list(slo),
            "load": {"workers": 1, "timeout": "30s", "drain": "0.5s", **load}}
    return run_spec(parse_spec(data), quiet=True, write=False)


@pytest.mark.parametrize("load", [
    {"rate": 20, "duration": "1.5s"},                                   # open model
    {"rate": 20, "duration": "1.5s", "max_in_flight": 3},               # most wait in the queue, never sent
    {"users": 4, "duration": "1.5s"},                                   # closed model
], ids=["open", "open-queued", "closed"])
def test_a_never_answering_endpoint_fails_every_request_as_unfinished(load):
    with FaultServer("stall") as server:
        report = _run(server.url, load)
    s = report.summary
    v = s["variants"]["default"]
    r = v["requests"]
    assert r["scheduled"] > 0 and r["ok"] == 0
    assert r["in_flight"] == 0 and r["unaccounted"] == 0, r           # every request accounted for
    assert r["failed"] == r["scheduled"] == v["errors"]["unfinished"], (r, v["errors"])
    assert v["error_rate"] == 1.0
    assert [x["passed"] for x in s["slo"]] == [False]
    assert s["no_success"] == ["default"]
    assert s["failures"]["default"]["top_errors"][0]["kind"] == "unfinished"
    assert report.exit_code == ExitCode.FAILED


def test_only_the_unanswered_ones_are_unfinished_when_some_answer():
    # 300 ms answers, a 0.1 s drain: the requests of the last ~200 ms cannot finish in time
    with RefServer(delay_ms=300) as server:
        report = _run(server.url, {"rate": 20, "duration": "2s", "drain": "0.1s"}, slo=())
    v = report.summary["variants"]["default"]
    r = v["requests"]
    assert r["unaccounted"] == 0 and r["in_flight"] == 0, r
    assert r["ok"] > 20, r
    assert 1 <= v["errors"]["unfinished"] <= 10, v["errors"]
    assert r["ok"] + v["errors"]["unfinished"] == r["scheduled"] - r["dropped"]


def test_cli_exits_1_and_says_so_on_stderr_when_quiet(tmp_path):
    with FaultServer("stall") as server:
        p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", server.url, "--rate", "20",
                            "--duration", "1s", "--drain", "0.5s", "--slo", "error_rate<1%", "--quiet",
                            "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert "no request succeeded" in p.stderr and "unfinished x20" in p.stderr, p.stderr
    (summary_path,) = tmp_path.glob("*/summary.json")
    v = json.loads(summary_path.read_text())["variants"]["default"]
    assert v["errors"]["unfinished"] == 20 and v["requests"]["in_flight"] == 0


def test_requests_csv_has_a_row_for_each_unfinished_one_sent_or_queued(tmp_path):
    with FaultServer("stall") as server:
        p = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", server.url, "--rate", "20",
                            "--duration", "1s", "--drain", "0.5s", "--max-in-flight", "3", "--workers", "1",
                            "--save-requests", "--quiet", "--out", str(tmp_path)], capture_output=True, text=True,
                           timeout=120)
    assert p.returncode == 1, p.stderr
    (run,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    rows = list(csv.DictReader((run / "requests.csv").open()))
    assert len(rows) == 20 and {r["kind"] for r in rows} == {"unfinished"}
    assert sum(r["sent_s"] != "" for r in rows) == 3          # three were sent; the rest waited in the queue
    assert all(r["done_s"] != "" for r in rows)
