"""Which backend answered (issue 19 item 2's must-show): `python3 bench/served_by.py [--rate 2000 --duration 20]`.

nginx on loopback (its own config, pid file and logs in a temporary folder; ended by its PID) balances
three reference servers with weights 1:1:2; each answers after its own delay (a 2 ms, b 8 ms, c 16 ms)
and names itself in X-Served-By. One `stinger run --served-by-header X-Served-By --served-by-weights
a=1,b=1,c=2` as a user runs it (the CLI, a subprocess, bounded). Prints per backend: stinger's count
and the server's own, the share against the weight's (and the ± 2 points the issue asks), the latency
percentiles from the row's merged histogram, the achieved rate against the offered one and the load
average; saves JSON to bench/results/served_by.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import _common as c
from stinger.testing.balancer import Balancer
from stinger.testing.servers import RefServer

RESULTS = Path(__file__).parent / "results"
DELAYS = {"a": 2.0, "b": 8.0, "c": 16.0}
WEIGHTS = {"a": 1, "b": 1, "c": 2}


def flush_cost(rows: int = 2000, rounds: int = 200) -> dict:
    """What grouping costs the flush thread: one interval of `rows` requests (three backends, every
    response with its header) flushed with and without `served_by_header`, interleaved, median of
    `rounds` (process CPU time, the same in both arms but for the grouping)."""
    from dataclasses import dataclass, replace
    from statistics import median

    from stinger.engine.batch import Flusher
    from stinger.engine.columns import Columns
    from stinger.engine.plan import VariantPlan, WorkerPlan
    from stinger.targets.http import Config

    @dataclass
    class Slots:
        check: object = None
        prediction: object = None

    t0 = 100.0
    base = WorkerPlan(worker=0, workers=1, variants=(VariantPlan("A", Config(url="http://127.0.0.1:9/")),),
                      duration=1e9, server_time_header="server-timing")
    arms = {"plain": base, "served_by": replace(base, served_by_header="x-served-by")}
    names = [b"a", b"b", b"c", b"c"]
    table = [(t0 + i * 5e-4, t0 + i * 5e-4, t0 + i * 5e-4 + 0.002, t0 + i * 5e-4 + 0.003 + (i % 7) * 1e-3,
              0, 200, 0, 11, 0, 0) for i in range(rows)]
    times: dict[str, list[float]] = {k: [] for k in arms}
    flushers = {k: Flusher(p, t0, Slots()) for k, p in arms.items()}
    for _ in range(rounds):
        for k, f in flushers.items():
            header = ("server-timing", "x-served-by") if k == "served_by" else ("server-timing",)
            cols = Columns(header_names=header)
            cols.rows = list(table)
            cols.hvals = ([(b"app;dur=2.0", names[i % 4]) for i in range(rows)] if k == "served_by"
                          else [b"app;dur=2.0"] * rows)
            start = time.process_time()
            f.flush(cols, {"scheduled": [rows], "dropped": [0]}, loop_lags=[], in_flight=0,
                    in_flight_by_variant=None, final=False, cpu=0.0)
            times[k].append(time.process_time() - start)
    out = {k: round(median(v) * 1e3, 3) for k, v in times.items()}
    out["ratio"] = round(out["served_by"] / out["plain"], 3)
    out["rows"] = rows
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    cost = flush_cost()
    print(f"flush of {cost['rows']:,} rows: {cost['plain']} ms plain, {cost['served_by']} ms with served-by rows "
          f"(x{cost['ratio']}; median CPU ms, interleaved)")
    servers = {n: RefServer("delay", delay_ms=d, name=n, record=True) for n, d in DELAYS.items()}
    out = Path(tempfile.mkdtemp(prefix="stinger-servedby-"))
    load_before = os.getloadavg()[0]
    try:
        for s in servers.values():
            s.start()
        with Balancer([(servers[n].url, WEIGHTS[n]) for n in WEIGHTS]) as lb:
            cmd = [*c.stinger_cmd(), "run", "-q", "--url", lb.url + "/", "--rate", f"{a.rate:g}",
                   "--duration", f"{a.duration:g}s", "--workers", str(a.workers), "--out", str(out),
                   "--served-by-header", "X-Served-By", "--served-by-weights", "a=1,b=1,c=2", *c.confirm_flag()]
            t = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration + 120,
                                  stdin=subprocess.DEVNULL)
            wall = time.monotonic() - t
        own = {}
        for n, s in servers.items():
            s.stop()
            own[n] = len(s.records())
    finally:
        for s in servers.values():
            s.stop()
    load_after = os.getloadavg()[0]
    found = list(out.glob("*/summary.json"))
    if proc.returncode not in (0, 1) or not found:
        raise SystemExit(f"stinger exited {proc.returncode}: {(proc.stdout + proc.stderr)[-1500:]}")
    summary = json.loads(found[0].read_text())
    subprocess.run(["rm", "-rf", str(out)], check=False)
    v = summary["variants"]["default"]
    sb = summary["breakdown"]["served_by"]
    total_w = sum(WEIGHTS.values())
    rows, table = [], []
    for r in sb["rows"]:
        n = r["label"]
        expected = WEIGHTS.get(n, 0) / total_w
        lat = r["latency_ms"]
        within = r["share"] is not None and abs(r["share"] - expected) <= 0.02
        rows.append({"backend": n, "responses": r["responses"], "server_count": own.get(n), "share": r["share"],
                     "weight_share": expected, "within_2_points": within, "delay_ms": DELAYS.get(n),
                     "latency_ms": lat})
        table.append([n, f"{r['responses']:,}", f"{own.get(n, 0):,}", f"{100 * r['share']:.2f}%",
                      f"{100 * expected:.1f}%", "yes" if within else "NO", f"{DELAYS.get(n, 0):g}",
                      c.fmt(lat["p50"], 2), c.fmt(lat["p90"], 2), c.fmt(lat["p99"], 2)])
    tp = v["throughput"]
    result = {"rate": a.rate, "duration_s": a.duration, "workers": a.workers, "exit": proc.returncode,
              "wall_s": round(wall, 1), "offered_rps": tp["offered_rps"], "achieved_rps": tp["achieved_rps"],
              "requests": v["requests"], "rows": rows, "notes": sb["notes"], "warnings": summary["warnings"],
              "load_avg": [round(load_before, 2), round(load_after, 2)], "cores": os.cpu_count(),
              "flush_cost": cost}
    print(c.table(["backend", "stinger count", "server count", "share", "weight share", "±2 pts", "delay ms",
                   "p50 ms", "p90 ms", "p99 ms"], table))
    print(f"offered {tp['offered_rps']:.1f} req/s, achieved {tp['achieved_rps']:.1f} req/s, "
          f"ok {v['requests']['ok']:,} of {v['requests']['scheduled']:,}, exit {proc.returncode}; "
          f"load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores")
    for note in sb["notes"]:
        print("note:", note)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "served_by.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
