"""The one run in progress: `stinger run ... --control - --dashboard 0 --quiet` in a subprocess.

One run at a time (a second start is refused while one runs): the page steers one process. The
process is the CLI itself, so the run directory is the one a terminal run leaves. What it does live
is read from its dashboard's /state.json (on 127.0.0.1, polled here four times a second, so the last
state is kept after the process ends); a load change is one JSON line on its standard input (the
`--control -` contract: {"rate": "200/s"} or {"users": 20}; a refused one is a line on its stderr,
shown on the page); stop is {"stop": true}, then SIGTERM to its PID after a grace period (a stinger
without `--control` gets SIGTERM at once: exit 143, results kept).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path
from typing import IO, Any

from stinger.core.secrets import scrub, scrub_data

_DASHBOARD = re.compile(r"^dashboard: (http://127\.0\.0\.1:\d+/)\s*$")
_POLL = 0.25          # s between reads of the run's live state
GRACE = 15.0          # s a stop request waits for a clean end (the run's drain is 5 s by default) before SIGTERM


class Busy(Exception):
    """A run is already in progress."""


class NotRunning(Exception):
    """No run is in progress."""


class Runner:
    def __init__(self, runs_dir: Path, command: list[str] | None = None, *, control: bool = True,
                 grace: float = GRACE) -> None:
        self.runs_dir = Path(runs_dir)
        self.command = command or [sys.executable, "-m", "stinger.cli"]
        self.control = control            # whether this stinger reads --control (the CLI's `run` says)
        self.grace = grace
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdin: IO[bytes] | None = None
        self._state: dict[str, Any] = {"status": "idle"}
        self._live: dict[str, Any] | None = None
        self._lines: deque[str] = deque(maxlen=20)
        self._changes: list[dict[str, Any]] = []
        self._dashboard: str | None = None
        self._run_t0: float | None = None     # wall time of the run's start, from its live state's elapsed
        self._before: set[str] = set()
        self._cleanup: list[Path] = []
        self._seq = 0

    # -- start
    def start(self, argv: list[str], *, model: str | None, spec: dict[str, Any], cleanup: tuple[Path, ...] = ()) -> int:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                raise Busy("a run is in progress: one at a time (stop it first)")
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            self._before = {p.name for p in self.runs_dir.iterdir()}
            cmd = [*self.command, "run", *argv, *self.own_flags()]
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, start_new_session=True)
            self._seq += 1
            self._stdin = self._proc.stdin
            self._live, self._dashboard, self._run_t0 = None, None, None
            self._lines.clear()
            self._changes = []
            self._cleanup = list(cleanup)
            self._state = {"status": "starting", "seq": self._seq, "pid": self._proc.pid, "model": model,
                           "control": self.control, "started": time.time(),
                           "spawned_perf": time.perf_counter(),   # (CLOCK_MONOTONIC: a bench times the spawn) "spec": spec, "exit_code": None,
                           "run_dir": None, "stopping": False}
            proc, seq = self._proc, self._seq
        threading.Thread(target=self._read_stderr, args=(proc, seq), name="stinger-ui-stderr", daemon=True).start()
        threading.Thread(target=self._follow, args=(proc, seq), name="stinger-ui-follow", daemon=True).start()
        return proc.pid

    def own_flags(self) -> list[str]:
        """What the UI adds to every run: its runs directory, the live state, and control when this stinger has it."""
        flags = ["--out", str(self.runs_dir), "--quiet", "--dashboard", "0"]
        return flags + (["--control", "-"] if self.control else [])

    def _read_stderr(self, proc: subprocess.Popen[bytes], seq: int) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            m = _DASHBOARD.match(line)
            with self._lock:
                if seq != self._seq:
                    return
                if m:
                    self._dashboard = m.group(1)
                elif line:
                    self._lines.append(scrub(line)[:500])

    def _follow(self, proc: subprocess.Popen[bytes], seq: int) -> None:
        """Poll the run's live state until its process ends, then keep the last one."""
        while True:
            ended = proc.poll() is not None
            url = self._dashboard
            if url is not None:
                try:
                    with urllib.request.urlopen(url + "state.json", timeout=2) as r:
                        live = json.loads(r.read())
                    with self._lock:
                        if seq != self._seq:
                            return
                        self._live = scrub_data(live)
                        if isinstance(live.get("elapsed"), (int, float)):   # the run's start on this clock
                            t0 = time.time() - live["elapsed"]
                            self._run_t0 = t0 if self._run_t0 is None else min(self._run_t0, t0)
                        if self._state["status"] == "starting" and live.get("status") == "running":
                            self._state["status"] = "running"
                except (OSError, ValueError):
                    pass
            if ended:
                break
            time.sleep(_POLL)
        code = proc.wait()
        with self._lock:
            if seq != self._seq:
                return
            self._state.update(status="ended", exit_code=code, ended=time.time(),
                               run_dir=self._run_dir_name())
            cleanup, self._cleanup = self._cleanup, []
        for path in cleanup:
            try:
                path.unlink()
            except OSError:
                pass

    def _run_dir_name(self) -> str | None:
        """The run directory this run made: the one its live state named, else the new one in the runs folder."""
        given = (self._live or {}).get("run_dir")
        if given and Path(given).parent.resolve() == self.runs_dir.resolve():
            return Path(given).name
        new = sorted(p.name for p in self.runs_dir.iterdir() if p.is_dir() and p.name not in self._before)
        return new[-1] if new else None

    # -- steer
    def _send(self, obj: dict[str, Any]) -> None:
        if self._stdin is None or self._proc is None or self._proc.poll() is not None:
            raise NotRunning("no run is in progress")
        try:
            self._stdin.write((json.dumps(obj) + "\n").encode())
            self._stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise NotRunning("the run no longer reads changes (it is ending)") from None

    def change(self, model: str, value: float | int) -> dict[str, Any]:
        """A new rate (req/s) or number of users, sent to the run as a control line."""
        with self._lock:
            if not self.control:
                raise NotRunning("this stinger's `run` has no --control: the load cannot change while it runs")
            line: dict[str, Any] = {"rate": f"{value:g}/s"} if model == "rate" else {"users": int(value)}
            self._send(line)
            now = time.time()
            change = {"at": now, "t": None if self._run_t0 is None else round(now - self._run_t0, 3), **line}
            self._changes.append(change)
            return change

    def stop(self) -> None:
        """{"stop": true}, then SIGTERM to the run's PID after the grace period (at once without --control)."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                raise NotRunning("no run is in progress")
            self._state["stopping"] = True
            self._state["stop_asked"] = time.time()
            if self.control:
                try:
                    self._send({"stop": True})
                except NotRunning:
                    pass
        threading.Thread(target=self._terminate_late, args=(proc,), name="stinger-ui-stop", daemon=True).start()

    def _terminate_late(self, proc: subprocess.Popen[bytes]) -> None:
        if not self.control:
            # SIGTERM at once, but not before the run measures (its first interval): a SIGTERM while the
            # CLI still starts ends it before it has a run directory to keep
            deadline = time.monotonic() + self.grace
            while proc.poll() is None and not (self._live or {}).get("points") and time.monotonic() < deadline:
                time.sleep(0.05)
            _signal(proc, signal.SIGTERM)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                proc.wait(self.grace)
                return
            except subprocess.TimeoutExpired:
                _signal(proc, sig)

    def shutdown(self) -> None:
        """The UI is ending: its run ends too (SIGTERM, its results kept)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            _signal(proc, signal.SIGTERM)
            try:
                proc.wait(self.grace)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)

    # -- read
    def state(self) -> dict[str, Any]:
        with self._lock:
            return {**self._state, "live": self._live, "stderr": list(self._lines), "changes": list(self._changes)}


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)    # this run's PID only
        except ProcessLookupError:
            pass
