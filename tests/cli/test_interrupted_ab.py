"""An interrupted run says so everywhere (issue 16 item 11).

Before: `verdict.json` of an `ab` stopped by a signal had no word of it; requests in flight
at the stop had no row in requests.csv (101 rows for 113 scheduled); a run stopped by
SIGTERM was headed "stopped by Ctrl-C". Two reference servers answering in 300 ms keep
about 12 requests in flight at any instant; the real CLI is stopped by a signal.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from stinger.testing.servers import RefServer

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig, code, how", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_a_stopped_ab_marks_its_verdict_rows_and_heading(sig, code, how, tmp_path):
    with RefServer(delay_ms=300) as a, RefServer(delay_ms=300) as b:
        proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "ab", "--a", a.url + "/", "--b", b.url + "/",
                                 "--rate", "40", "--duration", "60s", "--save-requests", "--out", str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "COLUMNS": "250"})   # the heading on one line
        try:
            time.sleep(5)
            os.kill(proc.pid, sig)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert f"(stopped by {how}: partial results)" in out
    assert ("Ctrl-C" in out.split("stopped by", 1)[1].split(")")[0]) is (how == "Ctrl-C")
    (run,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["interrupted"] is True and verdict["terminated"] is (how == "SIGTERM")
    assert any(f"stopped by {how}" in n for n in verdict["notes"])
    summary = json.loads((run / "summary.json").read_text())
    reqs = [v["requests"] for v in summary["variants"].values()]
    in_flight = sum(r["in_flight"] for r in reqs)
    assert in_flight > 0 and all(r["unaccounted"] == 0 for r in reqs)
    rows = list(csv.DictReader((run / "requests.csv").open()))
    # a row for every request neither dropped nor warm-up-free: here every scheduled one
    assert len(rows) == summary["requests_file"]["rows"] == sum(r["scheduled"] for r in reqs)
    open_rows = [r for r in rows if r["kind"] == "in_flight"]
    assert len(open_rows) == in_flight
    assert all(r["done_s"] == "" and r["latency_ms"] == "" and r["sent_s"] != "" for r in open_rows)
    for name in ("A", "B"):
        assert sum(r["variant"] == name for r in open_rows) == summary["variants"][name]["requests"]["in_flight"]
