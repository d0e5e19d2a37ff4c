"""How fast a live load change lands (issue 20 item 2): `python3 bench/steer.py [--from 50 --to 200 --rounds 3]`.

`stinger run --control - --save-requests` as a user runs it (the CLI, a subprocess, 2 local workers, a 2 ms
reference server); once the run clock passes 4 s (its --jsonl snapshots say so), the line {"rate": "TO/s"}
is written to its standard input and the wall-clock instant noted. From the run directory
(requests.csv's times on the run clock, whose zero is summary.json's rows[].t0_unix): the instant the
change was named for (events.jsonl: the lead the coordinator adds), the first instant from which requests
are sent at the new rate (every 100 ms window from there holds >= 90 % of TO/10 sends), and when the
per-second achieved rate (intervals.csv, as the charts draw it) first shows >= 90 % of TO: the end of
that second; and when a --jsonl snapshot's `achieved_now_rps` (the rate over the last ~0.3 s, from the
workers' pulses) first shows it (snapshots come every 0.5 s: that figure is at their resolution; the
dashboard reads it when asked, `bench/ui_timing.py`). Each as seconds after the control line; the
issue's target is <= 1 s. Saves
bench/results/steer.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stinger.testing.servers import RefServer

RESULTS = Path(__file__).parent / "results"


def elapsed(jsonl: Path) -> float:
    t = -1.0
    try:
        for line in jsonl.read_text().splitlines():
            if '"interval"' in line:
                t = json.loads(line)["t"]
    except (OSError, ValueError):
        pass
    return t


def one(url: str, rate_from: float, rate_to: float, tmp: Path, ask_at: float = 4.0, duration: float = 8.0) -> dict:
    jsonl = tmp / "live.jsonl"
    cmd = [sys.executable, "-m", "stinger.cli", "run", "--url", url, "--rate", f"{rate_from:g}", "--duration",
           f"{duration:g}s", "--workers", "2", "--control", "-", "--save-requests", "--out", str(tmp / "runs"), "-q",
           "--jsonl", str(jsonl)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    try:
        end = time.monotonic() + 90
        while elapsed(jsonl) < ask_at and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.02)
        asked_wall = time.time()
        proc.stdin.write(json.dumps({"rate": f"{rate_to:g}/s"}) + "\n")
        proc.stdin.flush()
        proc.stdin.close()
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run = next((tmp / "runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    t0 = summary["rows"][0]["t0_unix"]
    asked = asked_wall - t0
    [ev] = summary["events"]
    sent = np.sort(np.array([float(r["sent_s"]) for r in csv.DictReader((run / "requests.csv").open())
                             if r["sent_s"]]))
    win = 0.1
    need = 0.9 * rate_to * win
    starts = np.arange(math.floor(asked * 10) / 10, duration - 1.0, 0.01)
    counts = np.searchsorted(sent, starts + win) - np.searchsorted(sent, starts)
    ok = counts >= need
    # the first window start from which every later window (to the end less a second) is at the new rate
    bad = np.flatnonzero(~ok)
    first = starts[bad[-1] + 1] if len(bad) and bad[-1] + 1 < len(starts) else (starts[0] if not len(bad) else None)
    per_s = {float(r["t"]): float(r["achieved_rps"]) for r in csv.DictReader((run / "intervals.csv").open())}
    shown = next((t + 1.0 for t in sorted(per_s) if t + 1.0 > asked and per_s[t] >= 0.9 * rate_to), None)
    now = next((r["t"] for r in map(json.loads, jsonl.read_text().splitlines())
                if r.get("event") == "interval" and r["t"] > asked and (r.get("achieved_now_rps") or 0) >= 0.9 * rate_to),
               None)
    return {"asked_s": round(asked, 3), "named_for_s": ev["t"], "lead_s": round(ev["t"] - asked, 3),
            "sending_at_new_rate_after_s": None if first is None else round(first - asked, 3),
            "per_second_chart_shows_after_s": None if shown is None else round(shown - asked, 3),
            "snapshot_achieved_now_shows_after_s": None if now is None else round(now - asked, 3),
            "scheduled": summary["variants"]["default"]["requests"]["scheduled"],
            "unaccounted": summary["variants"]["default"]["requests"]["unaccounted"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="rate_from", type=float, default=50.0)
    ap.add_argument("--to", dest="rate_to", type=float, default=200.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rounds = []
    with RefServer("delay", delay_ms=2) as srv:
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="stinger-steer-") as tmp:
                rounds.append(one(srv.url, args.rate_from, args.rate_to, Path(tmp)))
            print(rounds[-1])
    keys = ("lead_s", "sending_at_new_rate_after_s", "per_second_chart_shows_after_s",
            "snapshot_achieved_now_shows_after_s")
    med = {k: statistics.median([r[k] for r in rounds if r[k] is not None] or [math.nan]) for k in keys}
    print(f"{args.rate_from:g} -> {args.rate_to:g} req/s, median of {args.rounds}: control line -> named instant "
          f"{med['lead_s']:.3f} s, -> sending at the new rate {med['sending_at_new_rate_after_s']:.3f} s, -> the "
          f"per-second achieved rate shows it {med['per_second_chart_shows_after_s']:.3f} s, -> a snapshot's "
          f"achieved-now rate shows it {med['snapshot_achieved_now_shows_after_s']:.3f} s (target <= 1 s)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "steer.json").write_text(json.dumps({"rounds": rounds, "median": med, "from": args.rate_from,
                                                    "to": args.rate_to}, indent=1))


if __name__ == "__main__":
    main()
