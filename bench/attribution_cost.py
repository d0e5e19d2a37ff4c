#!/usr/bin/env python3
"""What `split: sagemaker` costs a worker's flush, side by side with the pinned split.

    python3 bench/attribution_cost.py [--rows 20000] [--repeat 30]

Both runs flush the same interval of `--rows` finished requests (a worker at that
many req/s) through the real `engine.batch.Flusher` and the real `SageMakerTarget`,
each row carrying its `x-Amzn-Invoked-Production-Variant` header (70 % A, 30 % B):

* pinned (`split`): rows planned on A or B (TargetVariant), the header read and
  agreeing;
* attributed (`sagemaker`): every row planned on `unattributed`, moved to the
  variant the header names, the counters settled (`engine/attribution.py`).

The send path is the same code in both modes (one stream, fire-time counters), so
the flush is the only place the mode can cost anything. Reports the median flush
time of each and the ratio attributed / pinned. No network; fake credentials.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

FAKE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


class _Slots:
    check = None
    prediction = None


def _setup(split: str, rows: int):
    import numpy as np

    from stinger.engine.batch import Flusher
    from stinger.engine.columns import Columns
    from stinger.engine.plan import ATTRIBUTED, VariantPlan, WorkerPlan
    from stinger.vendors.sagemaker.carrier import ERROR_TYPE, INVOKED_VARIANT, Config, SageMakerTarget

    base = Config(endpoint="ep", region="us-east-1", endpoint_url="http://127.0.0.1:9", variant_names=("A", "B"))
    if split == "sagemaker":
        configs = [base, base, base]
        names = ("A", "B", "unattributed")
        target = SageMakerTarget(base)
        targets = [target] * 3
    else:
        configs = [base.model_copy(update={"target_variant": n}) for n in ("A", "B")]
        names = ("A", "B")
        targets = [SageMakerTarget(c) for c in configs]
    plan = WorkerPlan(worker=0, workers=1, split=ATTRIBUTED if split == "sagemaker" else split, duration=60.0,
                      variants=tuple(VariantPlan(n, c) for n, c in zip(names, configs, strict=True)))
    rng = np.random.default_rng(1)
    served = (rng.random(rows) < 0.3).astype(int)      # 0: A, 1: B
    t0 = 100.0
    intended = t0 + 5.0 + np.sort(rng.random(rows))

    def columns():
        cols = Columns(header_names=(INVOKED_VARIANT, ERROR_TYPE))
        planned = served if split != "sagemaker" else np.full(rows, 2)
        for i in range(rows):
            t = float(intended[i])
            cols.rows.append((t, t + 0.0001, t + 0.004, t + 0.005, 0, 200, int(planned[i]), 180, i % 100, 0))
            cols.hvals.append((b"B" if served[i] else b"A", None))
        return cols

    def counters():
        n = len(names)
        sched = [0] * n
        if split == "sagemaker":
            sched[2] = rows
        else:
            sched[0], sched[1] = int((served == 0).sum()), int(served.sum())
        zero = [0] * n
        return {"scheduled": sched, "scheduled_warm": list(zero), "dropped": list(zero),
                "dropped_warm": list(zero), "bytes_out": list(zero), "overflow": list(zero)}

    return Flusher(plan, t0, _Slots(), targets), columns, counters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    os.environ.update(FAKE_ENV)
    results = {}
    for split in ("split", "sagemaker", "split", "sagemaker"):    # interleaved: a busy moment hits both
        flusher, columns, counters = _setup(split, args.rows)
        times = []
        for _ in range(args.repeat):
            cols = columns()
            start = time.perf_counter()
            flusher.flush(cols, counters(), loop_lags=[], in_flight=0, in_flight_by_variant=None, final=False,
                          cpu=0.0)
            times.append(time.perf_counter() - start)
        results.setdefault(split, []).extend(times)
    pinned, attributed = (statistics.median(results[k]) * 1e3 for k in ("split", "sagemaker"))
    load = os.getloadavg()
    print(f"flush of {args.rows:,} rows, median of {2 * args.repeat} (load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}, {os.cpu_count()} cores)")
    print(f"  pinned (split)          {pinned:8.2f} ms")
    print(f"  attributed (sagemaker)  {attributed:8.2f} ms")
    print(f"  ratio attributed/pinned {attributed / pinned:8.2f}")


if __name__ == "__main__":
    main()
