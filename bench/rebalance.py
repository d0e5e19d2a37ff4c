"""A worker lost mid-run (issue 19 item 6's must-show): `python3 bench/rebalance.py [--rate 200 --duration 20]`.

`stinger run` with 4 local workers against a reference server (2 ms), one worker SIGKILLed (the run's own
child, by PID) when the run clock passes 50 %, once per `--on-worker-loss` mode, side by side in one
invocation (`stinger.testing.lose`). Prints per mode: the exit code, the per-second achieved rate before
and after the loss (intervals.csv, whole seconds after the loss and its rebalance) against the offered
rate, the requests the schedule lost between the kill and the rebalance, and the identity; saves JSON
to bench/results/rebalance.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import _common as c
from stinger.testing.lose import run_and_kill
from stinger.testing.servers import RefServer

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    out: dict = {"rate": args.rate, "duration": args.duration, "workers": args.workers,
                 "load_before": os.getloadavg()[0], "modes": {}}
    with RefServer("delay", delay_ms=2) as srv, tempfile.TemporaryDirectory(prefix="stinger-rebalance-") as tmp:
        for mode in ("rebalance", "continue", "stop"):
            r = run_and_kill(srv.url, mode, Path(tmp, mode), workers=args.workers, rate=args.rate,
                             duration=args.duration)
            out["modes"][mode] = r
    out["load_after"] = os.getloadavg()[0]
    rows = []
    for mode, r in out["modes"].items():
        q = r["requests"]
        expected = args.rate * min(args.duration, r["elapsed_s"] or args.duration)
        rows.append([mode, str(r["exit_code"]), c.fmt(r["before_mean"], 1), c.fmt(r["after_mean"], 1),
                     "-" if r["after_mean"] is None else f"{r['after_mean'] / args.rate:.3f}",
                     f"{q['scheduled']:,}", f"{expected - q['scheduled']:,.0f}", str(q["unaccounted"]),
                     ", ".join(f"{e['source']} at {e['t']:.2f} s" for e in r["events"]) or "-"])
    print(c.table(["mode", "exit", "before rps", "after rps", "after/offered", "scheduled", "not sent",
                   "unaccounted", "events"], rows))
    print(f"offered {args.rate:g}/s, {args.workers} workers, a worker killed at 50 % of {args.duration:g} s; "
          f"load average {out['load_before']:.1f} -> {out['load_after']:.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rebalance.json").write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
