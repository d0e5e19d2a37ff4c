"""Do the SageMaker block's figures match the run? One `stinger run` against the offline SageMaker.

    python3 bench/sagemaker_figures.py [--duration 6] [--warmup 1] [--rate 40]
    PYTHONPATH=OTHER/src python3 bench/sagemaker_figures.py      # another tree, to compare

The offline stack (`demo/sagemaker_stack.py`: moto, a model server per production variant, the SigV4
front whose publisher writes per-second CloudWatch data) serves one run pinned to variant B. Beside it
this script samples B's model-server process (its instance) every 0.1 s with psutil, and prints, as
JSON:

* `cpu`: the block's CPUUtilization (sum of cores, %) beside the instance's own CPU over the run's
  measured window (Δ CPU time / Δ wall), and their ratio (1.0 = the block matches the run);
* `cost`: the block's cost per million beside the one over a single window (price x 1e6 / (3600 x
  achieved rate): instance-hours and inferences both of the measured window), and their ratio;
* `counts`: CloudWatch's invocations beside what stinger sent (measured + warm-up), and the block's note.

The absolute CPU belongs to this machine; the ratios are the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

BODY = json.dumps({"instances": [[0.2] * 64]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--rate", type=float, default=40.0)
    a = ap.parse_args()
    from stinger.demo.sagemaker_stack import SageMakerDemo
    from stinger.testing.moto_server import client_env

    with SageMakerDemo(publish_s=1.0) as stack, tempfile.TemporaryDirectory() as out:
        server = psutil.Process(stack.demos["B"].pid)
        samples: list[tuple[float, float]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                t = server.cpu_times()
                samples.append((time.time(), t.user + t.system))
                stop.wait(0.1)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        env = {**os.environ, **{k: v for k, v in client_env().items() if k != "AWS_SESSION_TOKEN"},
               "STINGER_CLOUDWATCH_WAIT_S": "20", "STINGER_CLOUDWATCH_POLL_S": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", "stinger.cli", "run", "--sagemaker", stack.endpoint, "--region", "us-east-1",
             "--endpoint-url", stack.runtime_url, "--control-url", stack.control_url, "--target-variant", "B",
             "--body", BODY, "--rate", f"{a.rate:g}", "--duration", f"{a.duration:g}s", "--warmup",
             f"{a.warmup:g}s", "--save-requests", "--price-per-hour", "1", "--out", out, "-q"],
            env=env, capture_output=True, text=True, timeout=300)
        stop.set()
        thread.join()
        if proc.returncode not in (0, 1):
            sys.exit(f"stinger run failed ({proc.returncode}): {proc.stderr.strip()}")
        (path,) = Path(out).rglob("summary.json")
        s = json.loads(path.read_text())
    v, row = s["variants"]["default"], s["sagemaker"]["variants"]["default"]
    t0, ws, we = s["requests_file"]["t0_unix"], s["window"]["start_s"], s["window"]["end_s"]
    inside = [(t, c) for t, c in samples if t0 + ws <= t <= t0 + we]
    truth = 100 * (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
    got = row["cpu_utilization_pct_sum_of_cores"]
    one_window = 1e6 / (3600 * v["throughput"]["achieved_rps"])
    req = v["requests"]
    print(json.dumps({
        "run": {"duration_s": a.duration, "warmup_s": a.warmup, "rate": a.rate, "window_s": [ws, we]},
        "cpu": {"block_pct": got, "instance_pct": round(truth, 2), "ratio": round(got / truth, 3),
                "period_s": (row.get("cloudwatch_window") or {}).get("period_s", 60)},
        "cost": {"block_per_million": row["cost_per_million_usd"], "one_window": round(one_window, 3),
                 "ratio": round(row["cost_per_million_usd"] / one_window, 3)},
        "counts": {"cloudwatch": row.get("invocations"), "sent": req["ok"] + req["failed"] + req["warmup"],
                   "warmup": req["warmup"], "note": (row.get("counts") or {}).get("note")},
    }, indent=1))


if __name__ == "__main__":
    main()
