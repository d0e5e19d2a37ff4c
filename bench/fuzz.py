"""The fuzz count of issue 16: N generated inputs through the real command line, against one or two
source trees, side by side: tracebacks, hangs, wrong exit codes, multi-line errors.

The inputs come from the fuzz test's generators (tests/test_fuzz.py: specs, near-valid specs, datasets
written per input, raw bytes; a new draw each run) plus its named inputs; no load is sent. Each tree is
counted in a child process whose PYTHONPATH is that tree, so a change is measured against its parent
on the same machine in the same run:

    python3 bench/fuzz.py                          # 1,000 inputs against the stinger on PYTHONPATH
    python3 bench/fuzz.py -n 2000 /tmp/old/src src  # before and after, side by side
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_CHILD = r"""
import json, shutil, sys, time
sys.path.insert(0, sys.argv[1])
import stinger, test_fuzz
t = time.perf_counter()
try:
    tally = test_fuzz.count(int(sys.argv[2]))
finally:
    shutil.rmtree(test_fuzz._ROOT, ignore_errors=True)
tally["seconds"] = round(time.perf_counter() - t, 1)
tally["stinger"] = stinger.__file__
print("RESULT " + json.dumps(tally, default=repr))
"""
COLUMNS = ("inputs", "ok", "traceback", "hang", "wrong-exit", "multiline", "seconds")


def count(tree: str | None, n: int) -> dict:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(Path(tree).resolve())
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT / "tests"), str(n)], env=env, capture_output=True,
                         text=True, timeout=3600)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"fuzz count failed for {tree}: {out.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trees", nargs="*", help="source trees (their src/ folder); none: the PYTHONPATH's stinger")
    ap.add_argument("-n", type=int, default=1000, help="generated inputs per tree (plus the named ones)")
    a = ap.parse_args(argv)
    results = [(tree or "PYTHONPATH", count(tree, a.n)) for tree in (a.trees or [None])]
    print(f"{'tree':<40} " + " ".join(f"{c:>10}" for c in COLUMNS))
    for tree, r in results:
        print(f"{tree[-40:]:<40} " + " ".join(f"{r[c]:>10}" for c in COLUMNS))
    for tree, r in results:
        for verdict, what, detail in r["examples"]:
            print(f"  {tree[-30:]}: {verdict}: {what[:100]} | {' '.join(detail.split())[-160:]}")


if __name__ == "__main__":
    main()
