"""What live breakdown rows cost (issue 20 item 4): `python3 bench/live_rows.py [--labels 64 --variants 2]`.

In process, no sockets. A snapshot period's worth of flushes (`--flushes` flushes, each with a group row of
`--per-group` requests for every label of every variant: 64 backends x 2 variants by default) is merged into
two coordinators' books side by side, interleaved round by round:

- before: no live rows (the snapshot as it was: `snapshot_of` without a breakdown view), the dashboard's
  `interval` on that snapshot;
- after: the merge path taps the flushes to a `LiveBreakdown` and `take`s a view per snapshot; the dashboard's
  `interval` (a page watching) folds the view and builds the rows with `core.breakdown.groups`;
- copy: the design not taken, copying every row's histogram per snapshot on the merge path.

Figures are thread CPU time (ms, median of `--rounds`), per snapshot; the point is the ratios in one run.
Saves JSON to bench/results/live_rows.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from statistics import median

import numpy as np

from stinger.core.breakdown import SERVED_BY
from stinger.core.histogram import Histogram
from stinger.core.metrics import RunMetrics
from stinger.core.records import GroupRecord, Kind
from stinger.outputs.base import RunInfo, snapshot_of
from stinger.outputs.dashboard import DashboardOutput
from stinger.outputs.live_breakdown import LiveBreakdown

RESULTS = Path(__file__).parent / "results"


class _ServedBy:
    header = "X-Served-By"
    weights = None


def flushes(n: int, labels: int, variants: list[str], per_group: int, rng: np.random.Generator) -> list[tuple]:
    """`n` flushes, each a group row per (variant, label) of `per_group` requests (lognormal latency ~5 ms)."""
    out = []
    for _ in range(n):
        rows = []
        for v in variants:
            for k in range(labels):
                h = Histogram()
                h.record_many(rng.lognormal(np.log(5000.0), 0.4, per_group))
                idx = np.flatnonzero(h.counts)
                kinds = [0] * len(Kind)
                kinds[Kind.OK] = per_group
                rows.append(GroupRecord(by=SERVED_BY, variant=v, label=f"backend-{k:02d}", kinds=tuple(kinds),
                                        responses=per_group, latency=(idx.astype(np.int32), h.counts[idx])))
        out.append(tuple(rows))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=int, default=64)
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--flushes", type=int, default=20, help="flushes per snapshot (4 workers x 5 a second / 2)")
    ap.add_argument("--per-group", type=int, default=3, help="requests per label per flush")
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    names = [chr(ord("A") + i) for i in range(args.variants)]
    rng = np.random.default_rng(7)
    batches = [flushes(args.flushes, args.labels, names, args.per_group, rng) for _ in range(4)]
    before, after = RunMetrics(names, spill=False), RunMetrics(names, spill=False)
    live = LiveBreakdown(served_by=_ServedBy(), urls={})
    info = RunInfo(spec=None, variants=tuple(names), duration=None, total=None, mode="open")
    dash_before, dash_after = DashboardOutput(), DashboardOutput()
    dash_before.start(info)
    dash_after.start(info)
    t = {k: [] for k in ("merge_before", "merge_after", "snap_before", "snap_after", "copy",
                         "out_before", "out_after")}
    clock = time.thread_time
    try:
        for r in range(args.rounds):
            batch = batches[r % len(batches)]
            elapsed = 0.5 * (r + 1)
            for m, key in ((before, "merge_before"), (after, "merge_after")):
                t0 = clock()
                for f in batch:
                    m.breakdown.add(f)
                t[key].append(clock() - t0)
            t0 = clock()
            snap_b = snapshot_of(before, elapsed)
            t["snap_before"].append(clock() - t0)
            t0 = clock()
            snap_a = snapshot_of(after, elapsed, None, live.take(after, elapsed))
            t["snap_after"].append(clock() - t0)
            t0 = clock()
            after.breakdown.copy()
            t["copy"].append(clock() - t0)
            for d, s, key in ((dash_before, snap_b, "out_before"), (dash_after, snap_a, "out_after")):
                d.state_json()   # a page polled: the dashboard builds the rows (it skips them when none watches)
                t0 = clock()
                d.interval(s)
                t[key].append(clock() - t0)
        state = json.loads(dash_after.state_json())
    finally:
        dash_before.close()
        dash_after.close()
    rows = len(state["breakdown"][SERVED_BY]["rows"])
    assert rows == args.labels * args.variants, rows
    med = {k: round(median(v) * 1e3, 3) for k, v in t.items()}
    merge_before = med["merge_before"] + med["snap_before"]
    merge_after = med["merge_after"] + med["snap_after"]
    out = {"labels": args.labels, "variants": args.variants, "rows": rows, "flushes": args.flushes,
           "per_group": args.per_group, "rounds": args.rounds, "ms_per_snapshot": med,
           "merge_path_ms": {"before": round(merge_before, 3), "after": round(merge_after, 3),
                             "ratio": round(merge_after / merge_before, 3),
                             "copy_design": round(merge_before + med["copy"], 3),
                             "copy_ratio": round((merge_before + med["copy"]) / merge_before, 3)},
           "output_thread_ms": {"before": med["out_before"], "after": med["out_after"],
                                "ratio": round(med["out_after"] / med["out_before"], 2) if med["out_before"] else None}}
    print(f"{rows} rows ({args.variants} variants x {args.labels} labels), {args.flushes} flushes of "
          f"{args.per_group} requests per row per snapshot; thread CPU ms per snapshot, median of {args.rounds}")
    print(f"  merge path (merge + snapshot):  before {merge_before:.3f}   after {merge_after:.3f}   "
          f"ratio {out['merge_path_ms']['ratio']:.3f}   (copying every histogram instead: "
          f"{out['merge_path_ms']['copy_design']:.3f}, ratio {out['merge_path_ms']['copy_ratio']:.2f})")
    print(f"  output thread (dashboard interval): before {med['out_before']:.3f}   after {med['out_after']:.3f}"
          f"   (+{med['out_after'] - med['out_before']:.3f} ms)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "live_rows.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
