"""`stinger ui` end to end in headless Chromium (Debian's, through Playwright), from the keyboard: the form
filled by its labels, Enter starts the run, the rate changed from 50 to 200 req/s (once `stinger run` has
`--control`), Tab reaches Stop and Enter stops it; the reference server's own log shows the traffic; the
page logs no console error; the run directory holds the same files as a CLI run's. The timings are
bench/ui_timing.py's (no absolute time is asserted here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from stinger.testing.servers import RefServer
from stinger.testing.ui_flow import UiProcess, drive

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("no system Chromium in CI: .ci/run's apt-get install chromium did not work")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    pytest.importorskip("playwright.sync_api")
    return CHROMIUM


def cli_run_files(url: str, out: Path) -> set[str]:
    proc = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", url, "--rate", "50", "--duration", "2s",
                           "--save-requests", "csv", "--quiet", "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    (run,) = out.iterdir()
    return {p.name for p in run.iterdir()}


def test_start_and_stop_from_the_keyboard_leave_a_cli_run_directory(tmp_path, chromium):
    runs = tmp_path / "runs"
    with RefServer("delay", delay_ms=5, record=True) as srv:
        with UiProcess(runs) as ui:
            flow = drive(ui, srv.url + "/", chromium, rate=50, new_rate=None, hold=1.5)
        srv.stop()
        recv = np.sort(srv.records()["recv"])
    with RefServer("delay", delay_ms=5) as other:
        cli = cli_run_files(other.url + "/", tmp_path / "cli")
    assert flow.console_errors == []
    assert flow.focus_after_tabs.split()[-1] == "stop"
    assert flow.status.startswith("ended (exit code")
    # the server saw the run: its first request after the click, its last before the page said it ended
    assert len(recv) > 0 and flow.start_click < recv[0] and recv[-1] < flow.ended_shown
    (run,) = runs.iterdir()
    assert flow.run_dir == run.name
    ui_files = {p.name for p in run.iterdir()}
    assert ui_files - {"events.jsonl"} == cli - {"events.jsonl"} and "requests.csv" in ui_files
    summary = json.loads((run / "summary.json").read_text())
    req = summary["variants"]["default"]["requests"]
    # every request the server saw is counted once: answered (ok), or in flight when SIGTERM stopped the run
    assert req["ok"] <= len(recv) <= req["ok"] + req["failed"] + req["in_flight"] and req["unaccounted"] == 0


def test_the_rate_changes_from_50_to_200_while_the_run_goes(tmp_path, chromium):
    runs = tmp_path / "runs"
    with RefServer("delay", delay_ms=5, record=True) as srv:
        with UiProcess(runs) as ui:
            flow = drive(ui, srv.url + "/", chromium, rate=50, new_rate=200, hold=2.0)
        srv.stop()
        recv = np.sort(srv.records()["recv"])
    assert flow.console_errors == []
    # the page's achieved rate over the last fraction of a second (#live-now, from the workers' pulses)
    # reached the new rate, and before the last full second's figure did (which waits for a whole second)
    assert flow.rate_shown is not None, flow.achieved_seen
    assert flow.second_shown is None or flow.rate_shown < flow.second_shown, (flow.rate_shown, flow.second_shown)
    assert flow.status.startswith("ended (exit code 0")          # {"stop": true}: a normal end
    # the server's own log: about 50 req/s before the change, about 200 after it (one-second windows)
    before = recv[(recv > flow.change_click - 1.0) & (recv <= flow.change_click)]
    after = recv[(recv > flow.rate_shown) & (recv <= flow.rate_shown + 1.0)]
    assert 35 <= len(before) <= 65 and 160 <= len(after) <= 240, (len(before), len(after))
    (run,) = runs.iterdir()
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines() if x.strip()]
    assert [e.get("rate") for e in events if e.get("kind") == "load_change"][-1] in (200, 200.0, "200/s")


def test_runs_are_browsed_compared_and_downloaded_through_the_token_beyond_loopback(tmp_path, chromium):
    """Bound to 0.0.0.0 (reached through 127.0.0.1): the page with ?token= lists two CLI runs, compares them
    (compare's own verdict), opens a report and downloads summary.json, every fetch carrying the token."""
    from playwright.sync_api import sync_playwright

    from stinger import _api

    runs = tmp_path / "runs"
    with RefServer("delay", delay_ms=5) as srv:
        for _ in range(2):
            subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", srv.url + "/", "--rate", "50",
                            "--duration", "2s", "--quiet", "--out", str(runs)], check=True, capture_output=True,
                           timeout=120)
    names = sorted(p.name for p in runs.iterdir())
    expected = _api.compare(runs / names[0], runs / names[1], outputs=()).verdict["sentence"]
    errors: list[str] = []
    with UiProcess(runs, host="0.0.0.0") as ui, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            bare = browser.new_page()
            assert bare.goto(ui.base + "/").status == 401              # no token, no page
            bare.close()                                               # (its console logs that 401)
            page = browser.new_page(accept_downloads=True)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(ui.url)
            page.wait_for_selector("#runs tbody tr >> nth=1")
            page.get_by_label("Baseline").select_option(names[0])
            page.get_by_label("Candidate").select_option(names[1])
            page.get_by_role("button", name="Compare").click()
            deadline = time.monotonic() + 60
            while (page.text_content("#verdict-sentence") or "") in ("", "comparing..."):
                assert time.monotonic() < deadline
                page.wait_for_timeout(100)
            sentence = page.text_content("#verdict-sentence") or ""
            with page.expect_popup() as popup:
                page.locator(f"#runs tr:has-text('{names[1]}') a", has_text="report").click()
            report = popup.value
            report.wait_for_load_state()
            report_text = report.text_content("body") or ""
            with page.expect_download() as download:
                page.locator(f"#runs tr:has-text('{names[1]}') a", has_text="summary.json").click()
            saved = json.loads(Path(download.value.path()).read_text())
        finally:
            browser.close()
    assert sentence.startswith(expected)
    assert "stinger" in report_text and saved == json.loads((runs / names[1] / "summary.json").read_text())
    assert errors == []
