"""Two source trees side by side: `python3 bench/trees.py BEFORE/src AFTER/src [--rounds 4]`.

stinger's peak run (the one `bench/run.py` makes: open model at 150,000/s, one
worker, 64 in flight, histograms on) under each tree's PYTHONPATH, and wrk,
against one nginx, in rounds. The order of the two trees alternates from round
to round: the run that follows another immediately is measured lower on a
small machine, and a fixed order turned that into a false 15 % gap here.
Prints ok/CPU-s per run, best and median per tree, and each one's ratio to wrk.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
from pathlib import Path

import _common as c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", nargs=2, help="two directories to put on PYTHONPATH (each holds the stinger package)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=float, default=5.0)
    args = ap.parse_args()
    trees = [str(Path(t).resolve()) for t in args.trees]
    cores = c.pick_cores()
    target = c.start_target(cores.server)
    wrk = c.tool("wrk")
    print(f"target: {target.kind} at {target.url} ({cores.note})")
    res: dict[str, list[float]] = {t: [] for t in trees}
    res["wrk"] = []
    out = Path(tempfile.mkdtemp(prefix="stinger-trees-"))
    try:
        for r in range(args.rounds):
            for tree in (trees if r % 2 == 0 else trees[::-1]):
                os.environ["PYTHONPATH"] = tree
                m, s = c.run_stinger(target.url, rate=150_000, duration=args.duration, core=cores.generator,
                                     out_dir=out / str(trees.index(tree)), max_in_flight=64, drain=1.0)
                ok = sum(v["requests"]["ok"] for v in s["variants"].values()) if s else 0
                res[tree].append(ok / (m.user_s + m.sys_s))
            if wrk:
                m = c.measure([wrk, "-t1", "-c64", f"-d{args.duration:g}s", target.url], core=cores.generator,
                              timeout=args.duration + 60)
                found = re.search(r"(\d+) requests in", m.stdout)
                if found:
                    res["wrk"].append(int(found.group(1)) / (m.user_s + m.sys_s))
            print(f"round {r + 1}: load {os.getloadavg()[0]:.2f} " +
                  "  ".join(f"{Path(k).parent.name or k}: {v[-1]:,.0f}" for k, v in res.items() if v), flush=True)
    finally:
        target.stop()
    for k, v in res.items():
        if v:
            print(f"{k:40s} best {max(v):9,.0f}  median {statistics.median(v):9,.0f}  runs {[round(x) for x in v]}")
    if res["wrk"]:
        for t in trees:
            print(f"{t:40s} / wrk: best {max(res[t]) / max(res['wrk']):.3f}  "
                  f"median {statistics.median(res[t]) / statistics.median(res['wrk']):.3f}")


if __name__ == "__main__":
    main()
