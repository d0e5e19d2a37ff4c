#!/usr/bin/env python3
"""Data Capture replay vs a plain trace file, side by side: how close each request arrives to its offset.

    python3 bench/capture_replay.py [--requests 400] [--mean-gap-ms 20] [--seed 1] [--repeat 3]

Makes one set of irregular arrival offsets (exponential gaps, seeded, millisecond
timestamps as Data Capture writes them) and replays it three ways against
stinger's reference server, which records when each request arrived
(perf_counter, the same monotonic clock in every process here):

* `trace file`: the offsets as a trace file (`load.shape.trace: FILE`) with JSONL bodies;
* `capture`: the same offsets and bodies as Data Capture files, `--replay-arrivals`;
* `capture x2`: the same, `--speed 2`.

For each: the deviation of every arrival from its intended offset (arrivals aligned
on the median difference, so the run's start is no error), p50 / p99 / max in ms, and the ratio capture / trace file. A
ratio near 1 means replaying a capture is as precise as replaying a trace file.
Everything on 127.0.0.1, bounded by the trace's length; the server is stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _common import fmt, stinger_cmd, table
from stinger.testing.servers import RefServer


def offsets_ms(n: int, mean_gap_ms: float, seed: int) -> list[int]:
    rng = random.Random(seed)
    out, t = [], 0.0
    for _ in range(n):
        out.append(round(t))
        t += rng.expovariate(1.0 / mean_gap_ms)
    return out


def write_inputs(root: Path, offs: list[int]) -> tuple[Path, Path, Path]:
    capture = root / "capture" / "ep" / "AllTraffic" / "2026" / "11" / "24" / "10"
    capture.mkdir(parents=True)
    lines, bodies = [], []
    for i, off in enumerate(offs):
        body = json.dumps({"i": i})
        bodies.append(body)
        stamp = 36_000_000 + off            # 10:00:00.000 + off ms
        h, rest = divmod(stamp, 3_600_000)
        m, rest = divmod(rest, 60_000)
        s, ms = divmod(rest, 1000)
        lines.append(json.dumps({"captureData": {"endpointInput": {"observedContentType": "application/json",
                                                                   "data": body, "encoding": "JSON"}},
                                 "eventMetadata": {"inferenceTime": f"2026-11-24T{h:02d}:{m:02d}:{s:02d}.{ms:03d}Z"}}))
    (capture / "part.jsonl").write_text("\n".join(lines) + "\n")
    trace = root / "trace.txt"
    trace.write_text("\n".join(f"{o / 1000:.3f}" for o in offs) + "\n")
    data = root / "bodies.jsonl"
    data.write_text("\n".join(bodies) + "\n")
    return root / "capture", trace, data


def replay(args: list[str], out: Path, offs: list[int], speed: float) -> dict:
    with RefServer("delay", delay_ms=1.0, record=True) as server:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
        r = subprocess.run([*stinger_cmd(), "run", "--url", server.url + "/", *args, "--workers", "1",
                            "--out", str(out), "-q"], env=env, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise SystemExit(f"stinger failed: {r.stderr.strip()}")
    recv = np.sort(np.asarray(server.records()["recv"], dtype=float))
    want = np.asarray(offs, dtype=float) / 1000 / speed
    if len(recv) != len(want):
        raise SystemExit(f"{len(recv)} requests arrived, {len(want)} expected")
    # aligned on the median: the run's start (and the first request's connection set-up) is a
    # constant shift of every arrival; what a replay must keep is the spacing
    diff = recv - want
    dev = np.abs(diff - np.median(diff)) * 1e3
    return {"p50": float(np.percentile(dev, 50)), "p99": float(np.percentile(dev, 99)), "max": float(dev.max()),
            "n": len(recv)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--mean-gap-ms", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="runs per mode; the table shows each figure's median")
    a = ap.parse_args()
    offs = offsets_ms(a.requests, a.mean_gap_ms, a.seed)
    with tempfile.TemporaryDirectory(prefix="stinger-replay-bench-") as tmp:
        root = Path(tmp)
        capture, trace, data = write_inputs(root, offs)
        spec = root / "trace.yaml"
        spec.write_text(f"load: {{shape: {{trace: '{trace}'}}}}\n")
        modes = {
            "trace file": ([str(spec), "--data", str(data)], 1.0),
            "capture": (["--data", str(capture), "--format", "capture", "--replay-arrivals"], 1.0),
            "capture x2": (["--data", str(capture), "--format", "capture", "--replay-arrivals", "--speed", "2"], 2.0),
        }
        runs: dict[str, list[dict]] = {k: [] for k in modes}
        for rep in range(a.repeat):          # interleaved, so a busy spell of the machine hits every mode
            for k, (args, speed) in modes.items():
                runs[k].append(replay(args, root / f"{k.replace(' ', '_')}{rep}", offs, speed))
        rows = {k: {stat: float(np.median([r[stat] for r in rs])) for stat in ("p50", "p99", "max", "n")}
                for k, rs in runs.items()}
    base = rows["trace file"]
    print(f"{a.requests} arrivals over {offs[-1] / 1000:.1f} s (mean gap {a.mean_gap_ms:g} ms, seed {a.seed}), "
          f"median of {a.repeat} runs each; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(table(["replay", "requests", "|dev| p50 ms", "p99 ms", "max ms", "p99 / trace file"],
                [[k, f"{r['n']:.0f}", fmt(r["p50"], 2), fmt(r["p99"], 2), fmt(r["max"], 2),
                  fmt(r["p99"] / base["p99"] if base["p99"] else None, 2)] for k, r in rows.items()]))


if __name__ == "__main__":
    main()
