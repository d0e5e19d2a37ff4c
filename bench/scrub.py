"""The secrets scrubber's cost against the length of a text, per source tree, side by side (issue 16 item 7).

A response body or a request body of a long alphanumeric run (base64 without its '/' and '=', a
token, a padded field) followed by a URL made the scrubber quadratic: its scheme pattern was
retried at every letter of the run and scanned to its end each time, and the key=value pattern
did the same with names. Each tree is timed in a child process whose PYTHONPATH is that tree
(`scrub` and `redact_text`: from `core.secrets`, or `orchestrate.run` in trees before they moved):

    python3 bench/scrub.py OLD/src src            # sizes 5, 10, 20, 40 KB
    python3 bench/scrub.py --sizes 200000 src     # the issue's 200 KB body, one tree

A size whose time passes --give-up (s) stops that tree's larger sizes (a quadratic tree would
take minutes); the ratio column divides the first tree's time by each other tree's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import json, sys, time
from stinger.core.secrets import scrub
try:
    from stinger.core.secrets import redact_text
except ImportError:
    from stinger.orchestrate.run import redact_text
sizes, give_up = json.loads(sys.argv[1]), float(sys.argv[2])
out = {}
for n in sizes:
    text = '{"image": "' + "A" * n + '", "callback": "http://127.0.0.1:9/cb?token=abc"}'
    row = {}
    for name, fn in (("scrub", scrub), ("redact_text", redact_text)):
        best = None
        for _ in range(3):
            t = time.perf_counter()
            fn(text)
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
            if dt > give_up:
                break
        row[name] = best
    out[n] = row
    print("ROW " + json.dumps([n, row]), flush=True)
    if max(row.values()) > give_up:
        break
"""


def time_tree(tree: str, sizes: list[int], give_up: float) -> dict[int, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(sizes), str(give_up)], env=env,
                          capture_output=True, text=True, timeout=3600)
    rows = [json.loads(x[4:]) for x in proc.stdout.splitlines() if x.startswith("ROW ")]
    if not rows:
        raise SystemExit(f"{tree}: {proc.stderr[-1500:]}")
    return dict(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trees", nargs="+", help="source trees (their src/ folder)")
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[5000, 10000, 20000, 40000])
    ap.add_argument("--give-up", type=float, default=30.0, help="s: stop a tree's larger sizes past this")
    a = ap.parse_args(argv)
    results = [(t, time_tree(t, a.sizes, a.give_up)) for t in a.trees]
    print(f"{'tree':<32} {'bytes':>8} {'scrub s':>10} {'redact_text s':>14} {'ratio (first/this)':>20}")
    first = results[0][1]
    for tree, rows in results:
        for n, r in rows.items():
            base = first.get(n)
            ratio = (f"{(base['scrub'] + base['redact_text']) / (r['scrub'] + r['redact_text']):,.0f}x"
                     if base and tree != results[0][0] else "")
            print(f"{tree[-32:]:<32} {n:>8,} {r['scrub']:>10.4f} {r['redact_text']:>14.4f} {ratio:>20}")


if __name__ == "__main__":
    main()
