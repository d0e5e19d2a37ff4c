"""The live dashboard's page (issue 20 item 4), in headless Chromium (Debian's, through Playwright).

Two kinds of test:
- a real `stinger ab` run with a warm-up, SLOs and a served-by header against two reference
  servers, followed by the page from its first poll until after the process exited: the verdict
  (its sentence and rows with intervals, as verdict.json holds them), the end state, the warm-up
  drawn as warm-up, the SLOs live and at the end, the per-backend rows, no console error at all
  (also after the server went away) and no request after the page was told the run is final;
- the page fed by a `DashboardOutput` in this process with a real `Spec` (openai variants naming
  their models) and a summary carrying groups and events the run above cannot make (per-origin
  rows, load changes): drawn generically, escaped, usable from the keyboard.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stinger.core.histogram import Histogram
from stinger.outputs.base import RunFinished, RunInfo, Snapshot, VariantSnapshot
from stinger.outputs.dashboard import DashboardOutput
from stinger.testing.procs import free_port
from stinger.testing.servers import RefServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EVIL = "<img src=x onerror=\"document.title='pwned'\">"


def _browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])


def _sync_api():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("no system Chromium in CI: .ci/run's apt-get install chromium did not work")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    return pytest.importorskip("playwright.sync_api")


class Watch:
    """A page's console errors, page errors, and its requests (with the time each was made)."""

    def __init__(self, page, port: int) -> None:
        self.errors: list[str] = []
        self.requests: list[tuple[float, str]] = []
        self.foreign: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}"))
        page.on("request", self._request)
        self.origin = f"http://127.0.0.1:{port}/"

    def _request(self, r) -> None:
        self.requests.append((time.monotonic(), r.url))
        if not r.url.startswith(self.origin):
            self.foreign.append(r.url)


def _ys(page, selector: str) -> list[list[float]]:
    """Each polyline's raw values (data-ys) for the selector."""
    return [[float(y) for y in (e.get_attribute("data-ys") or "").split(",") if y]
            for e in page.query_selector_all(selector)]


def _ts(page, selector: str) -> list[float]:
    return [float(t) for e in page.query_selector_all(selector) for t in (e.get_attribute("data-ts") or "").split(",")
            if t]


# ------------------------------------------------------------------ a real A/B run, followed to its end
@pytest.fixture(scope="module")
def ab_run(tmp_path_factory):
    sync_api = _sync_api()
    out = tmp_path_factory.mktemp("ab")
    port = free_port()
    seen: dict = {"live_slos": None, "live_warm": None, "live_band": None, "live_backend": None}
    with RefServer("delay", delay_ms=4, name="a-1") as a, RefServer("delay", delay_ms=9, name="b-1") as b, \
            RefServer("delay", delay_ms=4, name="c-1") as c:
        spec = out / "ab.yaml"     # three variants: B and C each against the baseline A
        spec.write_text(json.dumps({"variants": [{"name": n, "url": srv.url + "/"} for n, srv in
                                                 (("A", a), ("B", b), ("C", c))],
                                    "load": {"rate": 60, "duration": "5s", "warmup": "2s"},
                                    "slo": ["p95<300ms", "error_rate<1%"], "served_by": {"header": "X-Served-By"}}))
        proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "ab", str(spec), "--dashboard", str(port), "-q",
                                 "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            with sync_api.sync_playwright() as p:
                browser = _browser(p)
                page = browser.new_page()
                watch = Watch(page, port)
                deadline = time.monotonic() + 30
                while True:
                    try:
                        page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except sync_api.Error:
                        assert time.monotonic() < deadline and proc.poll() is None, "the dashboard never answered"
                        time.sleep(0.2)
                watch.errors.clear()   # the connection refused before the server listened is the test's own
                while proc.poll() is None:
                    if (page.query_selector("#status.running") and page.query_selector("#slo-table")
                            and seen["live_slos"] is None):
                        rows = page.query_selector_all("#slo-table tbody tr")
                        if any(r.get_attribute("data-status") == "pass" for r in rows):
                            seen["live_slos"] = [(r.get_attribute("data-variant"), r.get_attribute("data-slo"),
                                                  r.get_attribute("data-status"), r.inner_text()) for r in rows]
                    if seen["live_backend"] is None and page.query_selector("#status.running"):
                        rows = page.query_selector_all("section[data-group=served_by] tbody tr")
                        if rows:   # per-backend rows while the run goes on, and the clock when seen
                            seen["live_backend"] = {
                                "rows": [(r.get_attribute("data-variant"), r.get_attribute("data-label"),
                                          r.query_selector_all("td")[2].inner_text()) for r in rows],
                                "title": page.query_selector("section[data-group=served_by] h3").inner_text(),
                                "clock": page.query_selector("#clock").inner_text()}
                    if seen["live_warm"] is None and page.query_selector("#status.running"):
                        warm = _ys(page, "#rate polyline[data-series='A warm-up']")
                        if warm:
                            seen["live_warm"] = warm
                            band = page.query_selector("#rate rect.warmup")
                            seen["live_band"] = band and band.get_attribute("data-until")
                    page.wait_for_timeout(150)
                exited = time.monotonic()
                page.wait_for_timeout(2000)     # the page stays, the server is gone: nothing may complain
                def text(sel: str) -> str | None:   # None when the page has no such element
                    e = page.query_selector(sel)
                    return e.text_content() if e is not None else None

                def attr(sel: str, name: str) -> str | None:
                    e = page.query_selector(sel)
                    return e.get_attribute(name) if e is not None else None

                seen.update(
                    status=text("#status"), end=text("#end"), end_class=attr("#end", "class"),
                    sentence=text("#sentence"),
                    verdict_rows=[[c.inner_text() for c in r.query_selector_all("td")]
                                  for r in page.query_selector_all("#verdict-rows tbody tr")],
                    other=text("#verdict section[data-other=C] p"),
                    other_rows=len(page.query_selector_all("#verdict section[data-other=C] tbody tr")),
                    final_slos=[(r.get_attribute("data-variant"), r.get_attribute("data-slo"),
                                 r.get_attribute("data-status")) for r in page.query_selector_all("#slo-table tbody tr")],
                    backend_rows=[(r.get_attribute("data-variant"), r.get_attribute("data-label"))
                                  for r in page.query_selector_all("section[data-group=served_by] tbody tr")],
                    achieved_ts=_ts(page, "#rate polyline[data-series='A achieved']"),
                    offered_ts=_ts(page, "#rate polyline[data-series='A offered']"),
                    rate_label=attr("#rate", "aria-label"),
                    achieved_ys=_ys(page, "#rate polyline[data-series='A achieved']"),
                    warm_ys=_ys(page, "#rate polyline[data-series='A warm-up']"),
                    band=attr("#rate rect.warmup", "data-until"), ok_a=text("tr[data-variant=A] td.ok"),
                    html=page.content(), errors=list(watch.errors), foreign=list(watch.foreign),
                    after_exit=[u for t, u in watch.requests if t > exited + 0.6])
                browser.close()
        finally:
            _out, err = proc.communicate(timeout=60)
    seen["returncode"], seen["stderr"] = proc.returncode, err
    run_dir = next(out.glob("*/verdict.json")).parent
    seen["verdict"] = json.loads((run_dir / "verdict.json").read_text())
    seen["summary"] = json.loads((run_dir / "summary.json").read_text())
    return seen


def test_the_ab_verdict_is_shown_at_the_end_with_its_rows_and_intervals(ab_run):
    assert ab_run["returncode"] == 0, ab_run["stderr"]
    v = ab_run["verdict"]
    assert ab_run["sentence"] == v["sentence"]
    assert [r[0] for r in ab_run["verdict_rows"]] == [r["metric"] for r in v["rows"]]
    for shown, row in zip(ab_run["verdict_rows"], v["rows"], strict=True):
        if row.get("undecided"):   # too few requests for this row (p99 below 100 a variant): no interval, says why
            assert shown[4] == "[n/a, n/a]" and shown[6] == f"undecided: {row['undecided']}", (shown, row)
            continue
        lo, hi = (float(x.replace(",", "")) for x in shown[4].strip("[]").split(", "))
        assert lo == pytest.approx(row["ci_low"], rel=1e-3, abs=1e-3) and hi == pytest.approx(row["ci_high"], rel=1e-3,
                                                                                                abs=1e-3)
        assert shown[6].startswith("yes") == bool(row["significant"])
    other = v["others"]["C"]     # the third variant against the baseline
    assert ab_run["other"] == other["sentence"] and ab_run["other_rows"] == len(other["rows"])


def test_the_end_state_stays_on_the_page_after_the_process_exits_without_any_console_error(ab_run):
    assert ab_run["end_class"] == "finished" and "exit code 0" in (ab_run["end"] or ""), ab_run["end"]
    assert ab_run["status"] == "finished"
    assert int(ab_run["ok_a"].replace(",", "")) == ab_run["summary"]["variants"]["A"]["requests"]["ok"]
    # the page stopped polling once told the run is final: no fetch to a server that is gone, nothing logged
    assert ab_run["errors"] == [] and ab_run["foreign"] == [] and ab_run["after_exit"] == []


def test_the_warm_up_is_drawn_as_warm_up_not_as_zero(ab_run):
    warmup = 2.0
    assert ab_run["live_band"] == "2" and ab_run["band"] == "2"
    # its seconds carry the requests they sent (dotted), never a 0 req/s achieved line
    assert ab_run["live_warm"] and all(y > 0 for ys in ab_run["live_warm"] for y in ys)
    assert ab_run["warm_ys"] and all(y > 0 for ys in ab_run["warm_ys"] for y in ys)
    # a point shows the last complete second: the first measured one ([2, 3) s) is shown from t = 3 s on
    assert ab_run["achieved_ts"] and min(ab_run["achieved_ts"]) >= warmup + 1.0
    assert ab_run["offered_ts"] and min(ab_run["offered_ts"]) >= warmup + 1.0
    assert min(y for ys in ab_run["achieved_ys"] for y in ys) > 0
    assert "A achieved" in (ab_run["rate_label"] or "")    # the chart's label says its latest values
    assert ab_run["summary"]["window"]["start_s"] == warmup


def test_slos_are_judged_live_and_the_runs_result_shown_at_the_end(ab_run):
    live = ab_run["live_slos"]
    assert live is not None, "no SLO was judged while the run went"
    assert {(v, s) for v, s, _st, _t in live} == {(v, s) for v in "ABC" for s in ("p95<300ms", "error_rate<1%")}
    assert all("(so far)" in text for _v, _s, st, text in live if st == "pass")
    final = {(r["variant"], r["slo"]): "pass" if r["passed"] else "fail" for r in ab_run["summary"]["slo"]}
    assert {(v, s): st for v, s, st in ab_run["final_slos"]} == final


def test_per_backend_rows_are_shown_while_the_run_goes_on(ab_run):
    live = ab_run["live_backend"]
    assert live is not None, "no per-backend row was shown while the run was running"
    assert {("A", "a-1"), ("B", "b-1"), ("C", "c-1")} <= {(v, label) for v, label, _n in live["rows"]}
    assert all(int(n.replace(",", "")) > 0 for _v, _label, n in live["rows"])   # responses so far
    assert live["title"] == "per served by (response header X-Served-By) (so far)"
    assert float(live["clock"].split(" s")[0]) < 5.0   # seen before the planned end (5 s)
    assert not ab_run["errors"]


def test_per_backend_rows_come_from_the_summarys_breakdown(ab_run):
    rows = ab_run["summary"]["breakdown"]["served_by"]["rows"]
    assert ab_run["backend_rows"] == [(r["variant"], r["label"]) for r in rows]
    assert {("A", "a-1"), ("B", "b-1"), ("C", "c-1")} <= set(ab_run["backend_rows"])


# ------------------------------------------------------------------ the page fed in this process
def _spec():
    from stinger.spec.model import Spec

    target = {"type": "openai", "url": "http://127.0.0.1:9/v1", "prompt": "hi"}
    return Spec.model_validate({"variants": [{"name": "A", "target": {**target, "model": "llama-3-8b"}},
                                             {"name": "B", "target": {**target, "model": "qwen-2.5"}}],
                                "load": {"rate": 10, "duration": "6s", "warmup": "1s"},
                                "slo": ["p95<300ms", "server.p95<10ms"], "goodput": ["ttft<200ms"]})


def _snap(t: float, ok: int, events=()) -> Snapshot:
    def one(name: str, ms_each: float) -> VariantSnapshot:
        h = Histogram()
        h.record_many([ms_each * 1000.0] * ok)
        return VariantSnapshot(name, ok, 0, 0, h, 10.0, 10.0, ms_each, ms_each, 0, last_warmup_rps=0.0,
                               good=ok - 1, scheduled=ok)
    return Snapshot(elapsed=t, variants=(one("A", 20.0), one("B", 400.0)), events=tuple(events))


def _row(variant: str, label: str) -> dict:
    return {"variant": variant, "label": label, "responses": 10, "share": 0.5, "ok": 10, "failed": 0,
            "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": 3.0, "max": 4.0}}


def test_groups_events_legends_escaped_and_the_keyboard(tmp_path: Path):
    sync_api = _sync_api()
    d = DashboardOutput()
    change = {"t": 2.5, "kind": "load_change", "rate": "20/s", "source": "control"}
    try:
        d.start(RunInfo(spec=_spec(), variants=("A", "B"), duration=6.0, total=None, mode="open"))
        port = int(d.url.rsplit(":", 1)[1].rstrip("/"))
        d.interval(_snap(2.0, 20))
        with sync_api.sync_playwright() as p:
            browser = _browser(p)
            page = browser.new_page()
            watch = Watch(page, port)
            page.goto(d.url)
            page.wait_for_selector("#slo-table")
            live = {(r.get_attribute("data-variant"), r.get_attribute("data-slo")): r.get_attribute("data-status")
                    for r in page.query_selector_all("#slo-table tbody tr")}
            # latency so far passes for A, fails for B; server time is not known live: cannot tell yet
            assert live == {("A", "p95<300ms"): "pass", ("B", "p95<300ms"): "fail",
                            ("A", "server.p95<10ms"): "cannot tell yet", ("B", "server.p95<10ms"): "cannot tell yet"}
            assert page.text_content("tr[data-variant=A] td.goodput") == "95.00 %"
            legend = page.text_content("#legend-rate")
            assert "A: llama-3-8b" in legend and "B: qwen-2.5" in legend
            assert page.text_content("tr[data-variant=B] td.name") == "B: qwen-2.5"

            d.interval(_snap(3.0, 30, events=[change]))   # a load change while the run goes (steer's events)
            page.wait_for_selector("#rate g.event", state="attached")
            assert page.get_attribute("#rate g.event", "data-t") == "2.5"
            assert "load_change" in page.text_content("#events") and "20/s" in page.text_content("#events")

            # the keyboard: Tab reaches the pause button, Enter pauses (no more polls), Space resumes
            for _ in range(10):
                page.keyboard.press("Tab")
                if page.query_selector("#follow:focus") is not None:
                    break
            assert page.query_selector("#follow:focus") is not None   # (:focus: the page's CSP forbids eval)
            page.keyboard.press("Enter")
            assert page.get_attribute("#follow", "aria-pressed") == "true"
            page.wait_for_timeout(300)
            polls = len(watch.requests)
            page.wait_for_timeout(1500)
            assert len(watch.requests) == polls
            page.keyboard.press(" ")
            assert page.get_attribute("#follow", "aria-pressed") == "false"

            summary = {"variants": {"A": {"requests": {"ok": 60, "failed": 0, "dropped": 0}, "error_rate": 0.0,
                                          "latency_ms": {"p50": 20.0, "p95": 20.0, "p99": 20.0},
                                          "goodput": {"good": 59, "of": 60, "share": 0.983333}},
                                    "B": {"requests": {"ok": 60, "failed": 0, "dropped": 0}, "error_rate": 0.0,
                                          "latency_ms": {"p50": 400.0, "p95": 400.0, "p99": 400.0}}},
                       "slo": [{"slo": "p95<300ms", "variant": "A", "passed": True, "observed": 20.0, "unit": "ms"},
                               {"slo": "p95<300ms", "variant": "B", "passed": False, "observed": 400.0, "unit": "ms"}],
                       "slo_passed": False, "events": [change, {"t": 4.0, "kind": "load_change", "rate": "5/s",
                                                                "source": EVIL}],
                       "breakdown": {"served_by": {"header": "X-Served-By", "rows": [_row("A", "a-1"), _row("B", EVIL)]},
                                     "url": {"rows": [_row("A", "http://127.0.0.1:9/v1")]},
                                     "origin": {"rows": [_row("A", "eu-west-1a"), _row("B", "us-east-1b")]}}}
            d.finish(RunFinished(summary=summary, metrics=None, started_at=0.0))
            page.wait_for_selector("section[data-group=origin]")
            assert [r.get_attribute("data-label") for r in
                    page.query_selector_all("section[data-group=origin] tbody tr")] == ["eu-west-1a", "us-east-1b"]
            assert page.text_content("section[data-group=origin] h3") == "per origin"
            assert [s.get_attribute("data-group") for s in page.query_selector_all("#breakdown section")] == [
                "served_by", "url", "origin"]
            assert page.text_content("#end") == ("run finished: SLO not met: B p95<300ms (exit code 1)")
            assert len(page.query_selector_all("#rate g.event")) == 2
            # markup from the run (a header value, an event's field) is text, never markup
            assert page.query_selector("img") is None and page.title() == "stinger — live"
            assert EVIL in page.text_content("section[data-group=served_by]") and EVIL in page.text_content("#events")
            browser.close()
    finally:
        d.close()
    assert watch.errors == [] and watch.foreign == []


# ------------------------------------------------------------------ a run stopped by SIGTERM
def test_a_terminated_run_says_so_and_the_page_keeps_it_without_errors(tmp_path: Path):
    import signal

    sync_api = _sync_api()
    port = free_port()
    with RefServer("delay", delay_ms=3) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "run", "--url", srv.url + "/", "--rate", "30",
                                 "--duration", "30s", "--dashboard", str(port), "-q", "--out", str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            with sync_api.sync_playwright() as p:
                browser = _browser(p)
                page = browser.new_page()
                watch = Watch(page, port)
                deadline = time.monotonic() + 30
                while True:
                    try:
                        page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except sync_api.Error:
                        assert time.monotonic() < deadline and proc.poll() is None, "the dashboard never answered"
                        time.sleep(0.2)
                watch.errors.clear()
                until = time.monotonic() + 30
                while not (page.query_selector("#rate polyline") and page.query_selector("#status.running")):
                    assert time.monotonic() < until, "the run never showed"
                    page.wait_for_timeout(100)
                proc.send_signal(signal.SIGTERM)                 # our own child, by its PID
                proc.wait(timeout=60)
                page.wait_for_timeout(1500)
                end = page.query_selector("#end")
                shown = (end.get_attribute("class"), end.text_content()) if end is not None else None
                browser.close()
        finally:
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert shown == ("terminated", "run terminated: stopped by SIGTERM before its end (what was measured is kept) "
                                   "(exit code 143)")
    assert watch.errors == []


# ------------------------------------------------------------------ how a run ended, in words
@pytest.mark.parametrize("summary, state, code", [
    ({}, "finished", 0),
    ({"interrupted": True}, "stopped", 130),
    ({"interrupted": True, "terminated": True}, "terminated", 143),
    ({"aborted": "error rate 60% > 50% (--abort-on)"}, "aborted", 3),
    ({"incomplete": True, "lost_workers": [{"worker": 1}]}, "incomplete", 3),
    ({"stopped_early": True}, "stopped", 0),
    ({"slo": [{"variant": "A", "slo": "p95<1ms", "passed": False}], "slo_passed": False}, "finished", 1),
])
def test_the_end_state_names_how_the_run_ended_and_its_exit_code(summary, state, code):
    from stinger.outputs.dashboard import end_state

    end = end_state(summary)
    assert (end["state"], end["exit_code"]) == (state, code) and end["reason"]
    if summary.get("aborted"):
        assert end["reason"] == summary["aborted"]
    if summary.get("slo"):
        assert end["reason"] == "SLO not met: A p95<1ms"


# ------------------------------------------------------------------ a process killed outright
def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads Linux /proc")
def test_a_killed_run_is_shown_as_ended_and_the_page_stops_asking(tmp_path: Path):
    import signal

    sync_api = _sync_api()
    port = free_port()
    with RefServer("delay", delay_ms=3) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "run", "--url", srv.url + "/", "--rate", "30",
                                 "--duration", "30s", "--dashboard", str(port), "-q", "--out", str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            with sync_api.sync_playwright() as p:
                browser = _browser(p)
                page = browser.new_page()
                watch = Watch(page, port)
                deadline = time.monotonic() + 30
                while True:
                    try:
                        page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except sync_api.Error:
                        assert time.monotonic() < deadline and proc.poll() is None, "the dashboard never answered"
                        time.sleep(0.2)
                watch.errors.clear()
                until = time.monotonic() + 30
                while not (page.query_selector("#rate polyline") and page.query_selector("#status.running")):
                    assert time.monotonic() < until, "the run never showed"
                    page.wait_for_timeout(100)
                workers = _children(proc.pid)
                proc.kill()                                      # our own child, by its PID: no exit handler runs
                proc.wait(timeout=30)
                for w in workers:                                # and its load workers, by theirs
                    try:
                        os.kill(w, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                page.wait_for_selector("#status.lost", timeout=10_000)
                polls = len(watch.requests)
                page.wait_for_timeout(2500)
                seen = {"status": page.text_content("#status"), "polls after": len(watch.requests) - polls,
                        "follow disabled": page.is_disabled("#follow")}
                browser.close()
        finally:
            proc.communicate(timeout=60)
    assert seen == {"status": "the run ended (its process is gone)", "polls after": 0, "follow disabled": True}
    # the one fetch that found the server gone is the browser's own network line; no script error, no retries
    assert len(watch.errors) <= 2 and all("ERR_CONNECTION" in e or "request failed" in e for e in watch.errors), \
        watch.errors


# ------------------------------------------------------------------ goodput and the model's name, from a real LLM run
def test_goodput_and_the_model_name_are_in_the_live_state_of_a_real_llm_run(tmp_path: Path):
    import urllib.request

    from stinger.testing.llm_server import LlmServer

    port = free_port()
    states = []
    with LlmServer(ttft_ms=20, itl_ms=4, tokens=8) as s:
        proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "run", "--openai", s.url, "--model", "tiny-m",
                                 "--body", '"hi"', "--rate", "10", "--duration", "4s", "--goodput", "ttft<2s",
                                 "--slo", "goodput>=50%", "--slo", "ttft.p95<2s", "--dashboard", str(port), "-q",
                                 "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/state.json", timeout=5) as r:
                        states.append(json.loads(r.read()))
                except OSError:
                    pass
                time.sleep(0.25)
        finally:
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    live = [st for st in states if st["status"] == "running" and st["goodput"].get("default", {}).get("of")]
    assert live, "goodput never showed while the run went"
    g = live[-1]["goodput"]["default"]
    assert g["good"] == g["of"] and g["share"] == 1.0          # every first token well under 2 s
    slos = {r["slo"]: r["status"] for r in live[-1]["slos"]}
    # goodput is judged live; a token metric's percentile is only in the summary: cannot tell yet
    assert slos == {"goodput>=50%": "pass", "ttft.p95<2s": "cannot tell yet"}
    final = states[-1]
    assert final["labels"] == {"default": "default: tiny-m"}
    assert final["goodput"]["default"]["share"] == summary["variants"]["default"]["goodput"]["share"] == 1.0
    assert {r["slo"]: r["status"] for r in final["slos"]} == {"goodput>=50%": "pass", "ttft.p95<2s": "pass"}


def test_state_json_keeps_every_field_it_had_and_only_adds():
    """`stinger ui` and scripts read /state.json: the first version's fields stay, with their types."""
    from stinger.core.verdict import Verdict

    d = DashboardOutput()
    try:
        d.start(RunInfo(spec=_spec(), variants=("A", "B"), duration=6.0, total=None, mode="open"))
        d.interval(_snap(2.0, 20))
        running = json.loads(d.state_json())
        d.finish(RunFinished(summary={"variants": {}, "run_dir": "runs/x"}, metrics=None, started_at=0.0))
        d.verdict(Verdict(rows=[], sentence="no significant difference", significant=False), {}, None)
        ended = json.loads(d.state_json())
    finally:
        d.close()
    first = {"run": int, "status": str, "variants": list, "points": list, "totals": dict, "extra": dict,
             "steps": list, "verdict": type(None), "duration": float, "total": type(None), "mode": str, "name": str,
             "lost": list, "lost_workers": list, "elapsed": float}
    assert {k: type(running[k]) for k in first} == first
    assert set(running["points"][0]["v"]["A"]) >= {"offered", "achieved", "p50", "p99", "failed"}
    assert set(running["totals"]["A"]) >= {"ok", "failed", "dropped", "error_rate", "p50", "p95", "p99"}
    assert ended["status"] == "finished" and ended["run_dir"] == "runs/x"
    assert {k: type(ended["verdict"][k]) for k in ("sentence", "significant", "table")} == {
        "sentence": str, "significant": bool, "table": str}
