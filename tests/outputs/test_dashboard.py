"""outputs/dashboard.py: the live page, unit-tested and followed in headless Chromium during a real run.

The browser test drives the system Chromium (Debian's `chromium`) through
Playwright's Python package while `stinger run --dashboard PORT` loads a
reference server: the page must show the counts rising, draw the charts, end
on "finished" with the run's own numbers, fetch nothing but its own origin,
log no console error, and show no secret the run carried.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from stinger.core.histogram import Histogram
from stinger.errors import UsageError
from stinger.outputs.base import REGISTRY, RunFinished, RunInfo, Snapshot, VariantSnapshot
from stinger.outputs.dashboard import DashboardOutput
from stinger.testing.procs import free_port
from stinger.testing.servers import RefServer


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read()


def snapshot(t: float, ok: int) -> Snapshot:
    h = Histogram()
    h.record_many([10_000.0] * ok)
    return Snapshot(elapsed=t, variants=(VariantSnapshot("a", ok, 1, 0, h, 50.0, 49.0, 10.0, 12.0, 0),),
                    extra={"endpoint.cpu_pct": "12"})


def test_the_dashboard_serves_its_page_and_the_state_of_the_run():
    assert REGISTRY["dashboard"] == "stinger.outputs.dashboard:DashboardOutput"
    urls = []
    d = DashboardOutput(announce=urls.append)
    try:
        d.start(RunInfo(spec=None, variants=("a",), duration=5.0, total=None, mode="open"))
        assert urls == [d.url] and d.url.startswith("http://127.0.0.1:")
        page = get(d.url).decode()
        assert "<svg id=\"rate\"" in page and "http" not in page.split("<script>")[1].replace("http://www.w3.org", "")
        d.interval(snapshot(1.0, 49))
        d.interval(snapshot(1.5, 60))
        state = json.loads(get(d.url + "state.json"))
        assert state["status"] == "running" and [p["t"] for p in state["points"]] == [1.0, 1.5]
        assert state["totals"]["a"]["ok"] == 60 and state["totals"]["a"]["p50"] == pytest.approx(10.0, rel=0.01)
        assert state["extra"] == {"endpoint.cpu_pct": "12"}
        summary = {"variants": {"a": {"requests": {"ok": 100, "failed": 1, "dropped": 0}, "error_rate": 0.0099,
                                      "latency_ms": {"p50": 10.0, "p95": 11.0, "p99": 12.0}}}, "run_dir": "runs/x"}
        d.finish(RunFinished(summary=summary, metrics=None, started_at=0.0))
        state = json.loads(get(d.url + "state.json"))
        assert state["status"] == "finished" and state["totals"]["a"]["ok"] == 100 and state["run_dir"] == "runs/x"
        with pytest.raises(OSError):
            get(d.url + "anything-else")
    finally:
        d.close()


def test_a_port_in_use_is_a_one_line_error():
    d = DashboardOutput()
    d.start(RunInfo(spec=None, variants=("a",), duration=1.0, total=None, mode="open"))
    try:
        other = DashboardOutput(port=int(d.url.rsplit(":", 1)[1].rstrip("/")))
        with pytest.raises(UsageError, match=r"cannot listen on 127\.0\.0\.1"):
            other.start(RunInfo(spec=None, variants=("a",), duration=1.0, total=None, mode="open"))
    finally:
        d.close()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_page_follows_a_real_run_in_headless_chromium(tmp_path: Path):
    if CHROMIUM is None:
        if os.environ.get("CI"):  # .ci/run installs it: absent there is a broken install step, not a skip
            pytest.fail("no system Chromium in CI: .ci/run's apt-get install chromium did not work")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    secret = "Bearer dash-secret-0123456789abcdef"
    port = free_port()
    with RefServer("delay", delay_ms=5) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "run", "--url", srv.url + "/", "--rate", "40",
                                 "--duration", "6s", "--header", f"Authorization: {secret}", "--dashboard", str(port),
                                 "-q", "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        errors, foreign = [], []
        try:
            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("request", lambda r: None if r.url.startswith(f"http://127.0.0.1:{port}/")
                        else foreign.append(r.url))
                deadline = time.monotonic() + 30
                while True:
                    try:
                        page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except sync_api.Error:
                        if time.monotonic() > deadline or proc.poll() is not None:
                            raise
                        time.sleep(0.2)

                def ok_count() -> int:
                    text = page.text_content("tr[data-variant=default] td.ok") or "0"
                    return int(text.replace(",", "")) if text.replace(",", "").isdigit() else 0

                # polled from here: the page's CSP forbids eval, which wait_for_function would need
                until = time.monotonic() + 30
                while page.query_selector("tr[data-variant=default] td.ok") is None or ok_count() == 0:
                    assert time.monotonic() < until, "the counts never appeared"
                    page.wait_for_timeout(100)
                first = ok_count()
                page.wait_for_timeout(1500)
                assert ok_count() > first                       # live: the counts rise while the run goes
                # the achieved rate over the last fraction of a second (the workers' pulses), beside the chart
                now = page.text_content("#now") or ""
                assert now.startswith("achieved (last ") and now.endswith(" req/s, every variant"), now
                assert 20 <= float(now.split(": ")[1].split()[0]) <= 60, now   # about the 40 req/s asked
                points = page.get_attribute("#rate polyline[data-series='default achieved']", "points") or ""
                assert len(points.split()) >= 2                  # the throughput chart is drawn
                page.wait_for_selector("#status.finished", timeout=30_000)
                final_ok = ok_count()
                html = page.content()
                browser.close()
        finally:
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    assert final_ok == summary["variants"]["default"]["requests"]["ok"] == 240
    assert errors == [] and foreign == []
    assert "dash-secret" not in html and f"dashboard: http://127.0.0.1:{port}/" in err


# ---------------------------------------------------------------- issue 16 item 9
def _raw_get(port: int, path: str, host: str) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_only_this_machines_host_names_and_exact_routes_are_answered():
    d = DashboardOutput()
    d.start(RunInfo(spec=None, variants=("a",), duration=5.0, total=None, mode="open"))
    try:
        port = int(d.url.rsplit(":", 1)[1].rstrip("/"))
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LocalHost:{port}"):
            status, body = _raw_get(port, "/state.json", host)
            assert status == 200 and json.loads(body)["status"] == "running", host
        # DNS rebinding: a page at evil.example whose name now resolves to 127.0.0.1
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", f"127.0.0.1.nip.io:{port}", ""):
            status, body = _raw_get(port, "/state.json", host)
            assert status == 403 and b"variants" not in body, host
        ok = f"127.0.0.1:{port}"
        assert _raw_get(port, "/state.json?t=1", ok)[0] == 200
        for path in ("/state.jsonx", "/state.json/../x", "/state.json.bak", "/index.htmlx", "/x"):
            assert _raw_get(port, path, ok)[0] == 404, path
        with urllib.request.urlopen(d.url, timeout=5) as r:
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    finally:
        d.close()


def _listening_inode(port: int) -> str:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[1].endswith(f":{port:04X}") and f[3] == "0A":   # 0A: LISTEN
            return f[9]
    raise AssertionError(f"nothing listens on {port}")


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def _poll_state(port: int) -> dict:
    return json.loads(get(f"http://127.0.0.1:{port}/state.json"))


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux /proc")
def test_a_lost_worker_is_shown_live_and_the_run_ends_incomplete_and_no_worker_holds_the_port(tmp_path: Path):
    port = free_port()
    with RefServer("delay", delay_ms=2) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "run", "--url", srv.url + "/", "--rate", "40",
                                 "--duration", "5s", "--workers", "2", "--dashboard", str(port), "-q",
                                 "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    state = _poll_state(port)
                    if state["status"] == "running" and state["points"]:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else ""
                time.sleep(0.1)
            listener = _listening_inode(port)
            workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
            assert len(workers) == 2
            assert listener in _socket_inodes(proc.pid)
            holding = [w for w in workers if listener in _socket_inodes(w)]   # forked workers must close it
            os.kill(workers[1], 9)                           # our own child's child, by its PID
            seen_lost, last = None, None
            while proc.poll() is None:
                try:
                    last = _poll_state(port)
                except OSError:
                    break
                if last["status"] == "running" and last.get("lost") and seen_lost is None:
                    seen_lost = last["lost"]
                time.sleep(0.1)
        finally:
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    rows = (last or {}).get("lost_workers") or [{}]
    seen = {"workers holding the port": holding, "lost, seen while running": seen_lost,
            "status at the end": (last or {}).get("status"), "lost row": (rows[0].get("worker"), rows[0].get("pid"))}
    assert seen == {"workers holding the port": [], "lost, seen while running": [1],
                    "status at the end": "incomplete", "lost row": (1, workers[1])}
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    assert summary["incomplete"] and summary["lost_workers"][0]["pid"] == workers[1]
    html = next(tmp_path.glob("*/report.html")).read_text()
    table = html.split('<table class="lost-workers">', 1)[1].split("</table>", 1)[0]
    assert "<th>PID</th>" in table and f"<td>{workers[1]}</td>" in table and "share of the schedule" in table
    assert "{'worker'" not in html and "&#x27;worker&#x27;" not in html   # not Python's repr of the list
