"""`stinger ui`'s timings (issue 20's must-show): `python3 bench/ui_timing.py [--rounds 3] [--hold 3]`.

Headless Chromium (Debian's, through Playwright) drives the page from the keyboard
(`stinger.testing.ui_flow.drive`): the form filled against a reference server on 127.0.0.1, Enter
starts at 50 req/s, the rate changed to 200 req/s (when `stinger run` has `--control`), Tab to Stop,
Enter. Every time is on `time.perf_counter()`, the clock the reference server records each request's
arrival on (CLOCK_MONOTONIC, shared on this machine), so the server's own log times the traffic:

- start: the click (Enter) to the server's first request; beside it, the same run started by the CLI
  (`stinger run` exec'd to its first request): the ratio is what the UI adds;
- change: the click to the page's achieved rate (over the last fraction of a second, from the workers'
  pulses) showing >= 90 % of the new rate (the target: <= 1 s); beside it the click to the last full
  second's achieved rate showing it, and the click to the server's own rate reaching it (250 ms windows);
- stop: the click to the server's last request, and to the page saying the run ended.

Saves JSON to bench/results/ui_timing.json. The figures belong to this machine and moment.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from statistics import median

import numpy as np

from stinger.testing.servers import RefServer
from stinger.testing.ui_flow import UiProcess, drive

RESULTS = Path(__file__).parent / "results"


def server_rate_reached(recv: np.ndarray, since: float, rate: float, window: float = 0.25) -> float | None:
    """Seconds after `since` when the server's own arrivals first run at >= 90 % of `rate` over `window`."""
    after = recv[recv > since]
    need = int(0.9 * rate * window)
    for k in range(len(after) - need):
        if after[k + need] - after[k] <= window:
            return float(after[k + need] - since)
    return None


def cli_start(url: str, out: Path) -> float:
    """`stinger run` exec'd to the server's first request (the CLI's own start-up, with the flags the UI adds), seconds."""
    with RefServer("delay", delay_ms=5, record=True) as srv:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--url", srv.url + "/", "--rate", "50",
                               "--duration", "2s", "--quiet", "--out", str(out),
                               "--dashboard", "0", "--save-requests", "csv"], capture_output=True, timeout=120)
        srv.stop()
        recv = np.sort(srv.records()["recv"])
    if proc.returncode not in (0, 1) or not len(recv):
        raise SystemExit(f"the CLI run failed: {proc.stderr.decode()[-500:]}")
    return float(recv[0] - t0)


def has_control() -> bool:
    """Whether this `stinger run` takes live load changes (`--control -`)."""
    out = subprocess.run([sys.executable, "-m", "stinger.cli", "run", "--help"], capture_output=True, text=True,
                         timeout=60)
    return "--control" in out.stdout


def one_round(chromium: str, tmp: Path, hold: float, steer: bool) -> dict:
    runs = tmp / "runs"
    with RefServer("delay", delay_ms=5, record=True) as srv:
        with UiProcess(runs) as ui:
            flow = drive(ui, srv.url + "/", chromium, rate=50, new_rate=200 if steer else None, hold=hold)
            with urllib.request.urlopen(ui.base + "/api/state", timeout=10) as r:
                spawned = json.loads(r.read())["spawned_perf"]
        srv.stop()
        recv = np.sort(srv.records()["recv"])
    row = {
        "click_to_first_request_s": float(recv[0] - flow.start_click),
        "click_to_spawn_s": spawned - flow.start_click,          # the page's POST, the check, the fork
        "spawn_to_first_request_s": float(recv[0] - spawned),    # the CLI's own start-up
        "stop_click_to_last_request_s": float(recv[-1] - flow.stop_click),
        "stop_click_to_page_ended_s": flow.ended_shown - flow.stop_click,
        "status": flow.status, "console_errors": flow.console_errors, "requests": len(recv),
        "run_files": sorted(p.name for p in (runs / flow.run_dir).iterdir()) if flow.run_dir else [],
    }
    if steer and flow.change_click is not None:
        row["change_click_to_page_rate_s"] = None if flow.rate_shown is None else flow.rate_shown - flow.change_click
        second = getattr(flow, "second_shown", None)   # (a stinger from before the sub-second rate has none)
        row["change_click_to_page_second_rate_s"] = None if second is None else second - flow.change_click
        row["change_click_to_server_rate_s"] = server_rate_reached(recv, flow.change_click, 200)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hold", type=float, default=3.0, help="seconds at the new rate before stopping")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Debian's chromium is needed (apt-get install chromium)")
    steer = has_control()
    rows, cli = [], []
    with tempfile.TemporaryDirectory(prefix="stinger-ui-bench-") as tmp:
        for k in range(args.rounds):            # UI and CLI interleaved: the machine's moment is shared
            rows.append(one_round(chromium, Path(tmp) / f"ui{k}", args.hold, steer))
            cli.append(cli_start("", Path(tmp) / f"cli{k}"))
    med = {key: median(r[key] for r in rows if r.get(key) is not None)
           for key in rows[0] if key.endswith("_s") and any(r.get(key) is not None for r in rows)}
    med["cli_exec_to_first_request_s"] = median(cli)
    med["ui_start_over_cli_start"] = med["click_to_first_request_s"] / med["cli_exec_to_first_request_s"]
    print(f"rounds: {args.rounds}; steering: {'yes (--control)' if steer else 'no: this stinger run has no --control'}")
    for key, value in med.items():
        print(f"  {key:36s} {value:8.3f}")
    if steer:
        shown = med.get("change_click_to_page_rate_s")
        print(f"  new rate shown within 1 s: {'yes' if shown is not None and shown <= 1.0 else 'NO'}")
    print(f"  console errors: {sum(len(r['console_errors']) for r in rows)}; statuses: {[r['status'] for r in rows]}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "ui_timing.json"
    out.write_text(json.dumps({"rounds": rows, "cli_start_s": cli, "median": med, "steer": steer}, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
