"""`stinger ui` driven as a user drives it, for the tests and bench/ui_timing.py (issue 20's must-show).

`UiProcess` starts `python -m stinger.cli ui --port 0` in a subprocess, reads the URL (with its token)
it prints, and stops it by its PID. `drive` opens that URL in headless Chromium (Debian's, through
Playwright) and, from the keyboard where a user would use it (fields found by their labels, Enter in
a field submits, Tab to the Stop button), fills the form against a target, starts, changes the rate
(when asked), stops, and times each step on `time.perf_counter()`, the clock the reference servers
record on (CLOCK_MONOTONIC, shared on this machine): click to the server's first request, click to
the page's achieved rate showing the new rate (the sub-second one, `#live-now`, from the workers' pulses;
the last full second's, `#live-achieved`, beside it), click to the run's end.

The page's CSP forbids eval, so every wait polls from here (`wait_for_function` would need it).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_URL = re.compile(r"stinger ui: (http://\S+/\?token=(\S+))")


class UiProcess:
    """`stinger ui` in a subprocess: `url` (with the token), `base` (via 127.0.0.1), `token`, `stderr()`."""

    def __init__(self, runs: Path, host: str = "127.0.0.1", extra: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "stinger.cli", "ui", "--host", host, "--port", "0",
                                      "--runs", str(runs), *extra],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._lines: list[str] = []
        self._ready = threading.Event()
        self.url = self.token = self.base = ""
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(30) or not self.url:
            self.stop()
            raise RuntimeError("stinger ui did not start: " + self.stderr())

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            self._lines.append(line)
            m = _URL.search(line)
            if m and not self.url:
                self.url, self.token = m.group(1), m.group(2)
                self.base = self.url.split("/?token=", 1)[0]
                self._ready.set()
        self._ready.set()

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def stderr(self) -> str:
        return "".join(self._lines)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> UiProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Flow:
    """What one drive saw, every time in seconds on perf_counter."""

    start_click: float = 0.0
    change_click: float | None = None
    rate_shown: float | None = None          # the page's achieved-now rate first at >= 90 % of the new rate
    second_shown: float | None = None        # the page's last-full-second rate first at >= 90 % of it
    achieved_seen: list[tuple[float, float]] = field(default_factory=list)   # (time, page's achieved now)
    stop_click: float = 0.0
    ended_shown: float = 0.0                 # the page says the run ended
    status: str = ""
    run_dir: str = ""
    console_errors: list[str] = field(default_factory=list)
    focus_after_tabs: str = ""
    errors_shown: str = ""


def _achieved(page: Any, which: str = "#live-now") -> float | None:
    """A figure of the page's: the achieved rate over the last fraction of a second (`#live-now`) or over the
    last full second (`#live-achieved`); None while it shows none."""
    text = (page.text_content(which) or "").strip()
    try:
        return float(text)
    except ValueError:
        return None


def drive(ui: UiProcess, target: str, chromium: str, *, rate: float = 50, new_rate: float | None = 200,
          hold: float = 3.0, duration: str = "60s", timeout: float = 60.0) -> Flow:
    """Fill the form (target, rate, duration), start with Enter, wait for traffic, change the rate
    (unless `new_rate` is None), hold, stop from the keyboard; the page's own figures are read."""
    from playwright.sync_api import sync_playwright

    flow = Flow()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: flow.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: flow.console_errors.append(str(e)))
            page.goto(ui.url)
            page.get_by_label("URL", exact=True).fill(target)
            page.get_by_label("Rate (req/s)", exact=True).fill(f"{rate:g}")
            duration_field = page.get_by_label("Duration", exact=True)
            duration_field.fill(duration)
            flow.start_click = time.perf_counter()
            duration_field.press("Enter")                          # Enter in a field submits the form
            deadline = time.monotonic() + timeout
            while (_achieved(page) or 0) <= 0:
                if time.monotonic() > deadline:
                    flow.errors_shown = page.text_content("#error") or page.text_content("#messages") or ""
                    raise AssertionError("no achieved rate on the page: " + flow.errors_shown)
                page.wait_for_timeout(50)
            if new_rate is not None:
                page.wait_for_timeout(1000)                        # a second at the first rate
                field_ = page.get_by_label("New rate (req/s)")
                field_.fill(f"{new_rate:g}")
                flow.change_click = time.perf_counter()
                field_.press("Enter")
                until = time.monotonic() + 15
                while time.monotonic() < until and (flow.rate_shown is None or flow.second_shown is None):
                    now, seen = time.perf_counter(), _achieved(page)
                    if seen is not None and flow.rate_shown is None:
                        flow.achieved_seen.append((now - flow.change_click, seen))
                        if seen >= 0.9 * new_rate:
                            flow.rate_shown = now
                    second = _achieved(page, "#live-achieved")
                    if flow.second_shown is None and second is not None and second >= 0.9 * new_rate:
                        flow.second_shown = now
                    page.wait_for_timeout(20)
            page.wait_for_timeout(hold * 1000)
            page.get_by_label("New rate (req/s)").focus()
            order = []
            for _ in range(3):                                     # focus order: the field, Apply (if live), Stop
                page.keyboard.press("Tab")
                order.append(page.locator(":focus").get_attribute("id") or "")
                if order[-1] == "stop":
                    break
            flow.focus_after_tabs = " ".join(order)
            flow.stop_click = time.perf_counter()
            page.keyboard.press("Enter")
            until = time.monotonic() + timeout
            while not (page.text_content("#status") or "").startswith("ended"):
                assert time.monotonic() < until, "the run never ended"
                page.wait_for_timeout(20)
            flow.ended_shown = time.perf_counter()
            flow.status = page.text_content("#status") or ""
            page.wait_for_timeout(300)
            flow.run_dir = (page.text_content("#last-run") or "").removeprefix("run directory: ").strip()
        finally:
            browser.close()
    return flow
