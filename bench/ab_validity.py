"""Is stinger's A/B verdict honest on real runs? A/A false positives, bias of B-A, and power.

Runs real A/B tests on loopback against the self-timing reference servers of
`stinger.testing.servers` (each records, per request, when it arrived and when it was
answered) and compares what stinger measured with what the servers timed:

* ``paired-same``: paired A/A, one server behind both variants (server B-A = 0).
* ``paired-two``:  paired A/A, two identical servers (server B-A from their recordings;
  the share of pairs whose A request reached its server first, from the arrival logs).
* ``split-two``:   split A/A, two identical servers.
* ``paired-5ms`` / ``split-5ms``: B's server answers 5 ms later than A's (power).

For each case it prints: runs, false positives (or detections) of the whole verdict and
per row, mean B-A at p50 and p95 as stinger measured them and as the servers timed them,
and (two servers, paired) the share of pairs where A arrived first.

    PYTHONPATH=src python3 bench/ab_validity.py --runs 20 --power-runs 8 --rate 120 --seconds 9
    PYTHONPATH=src python3 bench/ab_validity.py --cases paired-two --runs 5

Every run is bounded: warm-up 1 s + `--seconds` measured, 5 s request timeout.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from stinger.orchestrate.ab import AbOptions, run_ab
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer

CASES = {   # name: (mode, A delay ms, B delay ms, one server for both)
    "paired-same": ("paired", 5.0, 5.0, True),
    "paired-two": ("paired", 5.0, 5.0, False),
    "split-two": ("split", 5.0, 5.0, False),
    "paired-5ms": ("paired", 5.0, 10.0, False),
    # diagnostics, not in the default set: B's server started before A's
    "paired-two-bstart": ("paired", 5.0, 5.0, False),
    "split-5ms": ("split", 5.0, 10.0, False),
}


def a_first_share(rec_a: np.ndarray, rec_b: np.ndarray, window: float = 0.002) -> tuple[float, int]:
    """Share of pairs whose A request arrived first: each A arrival matched to the nearest B arrival
    (within `window` s; a paired request's two halves leave the generator at the same instant)."""
    ta, tb = np.sort(rec_a["recv"]), np.sort(rec_b["recv"])
    if not len(ta) or not len(tb):
        return float("nan"), 0
    idx = np.clip(np.searchsorted(tb, ta), 1, len(tb) - 1)
    left, right = tb[idx - 1], tb[idx]
    near = np.where(np.abs(ta - left) <= np.abs(ta - right), left, right)
    gap = near - ta
    ok = np.abs(gap) <= window
    return float(np.mean(gap[ok] > 0)) if ok.any() else float("nan"), int(ok.sum())


def one_run(case: str, seed: int, rate: float, seconds: float, root: Path, pairing: str = "simultaneous") -> dict:
    mode, da, db, same = CASES[case]
    with ExitStack() as stack:
        if case.endswith("-bstart"):
            sb = stack.enter_context(RefServer("delay", delay_ms=db, record=True))
            sa = stack.enter_context(RefServer("delay", delay_ms=da, record=True))
        else:
            sa = stack.enter_context(RefServer("delay", delay_ms=da, record=True))
            sb = sa if same else stack.enter_context(RefServer("delay", delay_ms=db, record=True))
        data = {"variants": [{"name": "A", "url": sa.url + "/"}, {"name": "B", "url": sb.url + "/"}],
                "split": mode, **({"pairing": pairing} if mode == "paired" else {}),
                "load": {"rate": rate / 2 if mode == "paired" else rate, "duration": seconds + 1, "warmup": "1s", "seed": seed, "timeout": "5s"},
                "server_time": None, "output": {"dir": str(root / f"{case}-{seed}")}}
        spec = parse_spec(data)
        out = run_ab(spec, AbOptions(mode=mode),
                     quiet=True)
        sa.stop()
        if not same:
            sb.stop()
    v = out.verdict
    row = {"case": case, "seed": seed, "significant": bool(v.significant),
           "rows": {r.metric: bool(r.significant) for r in v.rows}}
    for r in v.rows:
        if r.metric.startswith("latency p50"):
            row["p50"] = r.diff
        elif r.metric.startswith("latency p95"):
            row["p95"] = r.diff
    ra = sa.records()
    if same:
        row["srv_p50"] = row["srv_p95"] = 0.0   # one server, one delay: B-A is zero by construction
    else:
        rb = sb.records()
        da_ms, db_ms = (ra["send"] - ra["recv"]) * 1e3, (rb["send"] - rb["recv"]) * 1e3
        row["srv_p50"] = float(np.percentile(db_ms, 50) - np.percentile(da_ms, 50))
        row["srv_p95"] = float(np.percentile(db_ms, 95) - np.percentile(da_ms, 95))
        row["requests_a"], row["requests_b"] = len(ra), len(rb)
        if mode == "paired":
            row["a_first"], row["pairs_matched"] = a_first_share(ra, rb)
    return row


def _mean_se(rs: list[dict], key: str) -> tuple[float, float]:
    vals = [r[key] for r in rs if r.get(key) is not None]
    if not vals:
        return float("nan"), 0.0
    return float(np.mean(vals)), float(np.std(vals, ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else 0.0


def summarise(rows: list[dict]) -> None:
    by = defaultdict(list)
    for r in rows:
        by[r["case"]].append(r)
    print(f"\n{'case':12} {'runs':>4} {'verdict+':>8}  {'B-A p50 stinger':>15} {'server':>8}  "
          f"{'B-A p95 stinger':>15} {'server':>8}  {'A first':>7}")
    for case, rs in by.items():
        n = len(rs)
        sig = sum(r["significant"] for r in rs)
        p50, s50 = _mean_se(rs, "p50")
        p95, s95 = _mean_se(rs, "p95")
        sp50, _ = _mean_se(rs, "srv_p50")
        sp95, _ = _mean_se(rs, "srv_p95")
        af = [r["a_first"] for r in rs if "a_first" in r]
        af_txt = f"{np.mean(af):.3f}" if af else "-"
        print(f"{case:12} {n:>4} {sig:>4}/{n:<3}  {p50:+8.4f}±{s50:.4f} {sp50:+8.4f}  "
              f"{p95:+8.4f}±{s95:.4f} {sp95:+8.4f}  {af_txt:>7}")
        per_row = defaultdict(int)
        for r in rs:
            for k, s in r["rows"].items():
                per_row[k] += s
        print("    per row: " + ", ".join(f"{k} {c}/{n}" for k, c in per_row.items()))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(c for c in CASES if not c.endswith("-bstart")), help="comma-separated: " + ", ".join(CASES))
    ap.add_argument("--runs", type=int, default=20, help="runs per A/A case")
    ap.add_argument("--power-runs", type=int, default=8, help="runs per +5 ms case")
    ap.add_argument("--rate", type=float, default=120.0, help="requests/s over both variants (paired: rate/2 pairs/s)")
    ap.add_argument("--seconds", type=float, default=9.0, help="measured seconds per run (after 1 s warm-up)")
    ap.add_argument("--seed", type=int, default=100, help="first seed")
    ap.add_argument("--json", help="append one JSON line per run here")
    ap.add_argument("--pairing", choices=("simultaneous", "independent"), default="simultaneous",
                    help="paired cases: one instant per pair (what the README's table measured; the A-first share "
                         "needs it) or the default independent instants")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="stinger-abv-") as tmp:
        for case in args.cases.split(","):
            n = args.power_runs if case.endswith("5ms") else args.runs
            for i in range(n):
                t = time.monotonic()
                r = one_run(case, args.seed + i, args.rate, args.seconds, Path(tmp), args.pairing)
                rows.append(r)
                print(f"{case} seed {r['seed']}: verdict {'SIG' if r['significant'] else 'ns '} "
                      f"p50 B-A {r.get('p50', float('nan')):+.4f} (server {r['srv_p50']:+.4f}) "
                      f"p95 B-A {r.get('p95', float('nan')):+.4f} (server {r['srv_p95']:+.4f}) "
                      f"A first {r.get('a_first', float('nan')):.3f}  {time.monotonic() - t:.1f} s", flush=True)
                if args.json:
                    with open(args.json, "a", encoding="utf-8") as f:
                        f.write(json.dumps(r) + "\n")
    summarise(rows)


if __name__ == "__main__":
    main()
