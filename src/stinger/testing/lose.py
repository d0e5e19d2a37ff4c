"""A worker SIGKILLed mid-run, as a user would meet it (issue 19 item 6's must-show; bench/rebalance.py
and tests/scale/test_worker_loss.py).

`stinger run` runs as a subprocess (the CLI, the local backend, `--on-worker-loss MODE`); when its
JSON lines (`--jsonl`) say the run clock has passed `kill_at` of the duration, one of its load
workers (its own child, by PID) is SIGKILLed. Read back: the exit code, summary.json (lost workers,
events, the identity) and intervals.csv's per-second achieved rate before and after the loss.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    """The direct children of `pid` (our subprocess's forked workers), by /proc."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(d))
    return sorted(out)


def _elapsed(jsonl: Path) -> float:
    """The last live snapshot's run-clock seconds in the JSON lines so far (-1 before the first)."""
    t = -1.0
    try:
        for line in jsonl.read_text().splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "interval":
                t = float(ev["t"])
    except OSError:
        pass
    return t


def run_and_kill(url: str, mode: str, out: Path, *, workers: int = 4, rate: float = 200.0,
                 duration: float = 10.0, kill_at: float = 0.5, timeout: float = 120.0) -> dict:
    """One run with one worker killed at `kill_at` of its duration; what it reported (see the module)."""
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "live.jsonl"
    cmd = [sys.executable, "-m", "stinger.cli", "run", "--url", url, "--rate", f"{rate:g}",
           "--duration", f"{duration:g}s", "--workers", str(workers), "--on-worker-loss", mode,
           "--out", str(out / "runs"), "-q", "--jsonl", str(jsonl), "--seed", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    victim = None
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if _elapsed(jsonl) >= kill_at * duration:
                kids = _children(proc.pid)
                if len(kids) >= workers:
                    victim = kids[1]
                    os.kill(victim, signal.SIGKILL)   # our own subprocess's worker, by its PID
                    break
            time.sleep(0.05)
        _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run_dir = next((out / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = list(csv.DictReader((run_dir / "intervals.csv").open()))
    lost = summary.get("lost_workers") or []
    since = lost[0]["since_s"] if lost else kill_at * duration
    changed = [e["t"] for e in summary.get("events") or []]
    start_after = math.ceil(max([since, *changed])) + 1   # whole seconds after the loss (and its rebalance)
    before = [float(r["achieved_rps"]) for r in rows if 1 <= float(r["t"]) < math.floor(since)]
    after = [float(r["achieved_rps"]) for r in rows if start_after <= float(r["t"]) < duration - 1]
    req = summary["variants"]["default"]["requests"]
    return {
        "mode": mode, "exit_code": proc.returncode, "victim": victim, "stderr": err.strip().splitlines()[-3:],
        "lost_workers": lost, "events": summary.get("events") or [], "incomplete": summary.get("incomplete"),
        "warnings": summary.get("warnings") or [], "elapsed_s": summary.get("elapsed_s"),
        "offered_rps": rate, "before_rps": before, "after_rps": after,
        "before_mean": statistics.fmean(before) if before else None,
        "after_mean": statistics.fmean(after) if after else None,
        "before_sd": statistics.pstdev(before) if len(before) > 1 else None,
        "requests": req, "errors": summary["variants"]["default"].get("errors") or {},
    }
