#!/usr/bin/env python3
"""Signed vs unsigned, side by side: stinger's ok/CPU-s on the `sagemaker` target and on plain `http`.

    python3 bench/sign_vs_plain.py [--rate 2000] [--duration 5] [--body-bytes 200]

Starts one local server (stinger's reference server, answering every request at
once, pinned to its own core when there are two), then runs the same open-model
load twice against it from one pinned worker: once as plain HTTP
(`run --url .../endpoints/bench/invocations --body B`), once as a SageMaker
endpoint (`run --sagemaker bench --endpoint-url URL --body B`: every request
SigV4-signed with fake credentials, the invoked-variant and error-type headers
captured, bodies kept for the ModelError message). The reference server does
not check signatures; what is measured is stinger's own cost of signing,
caching the signed bytes and reading the SageMaker headers.

Two figures per target: ok/CPU-s of the whole stinger process tree (includes
start-up: importing botocore costs the signed run a few hundred ms once), and
ok/CPU-s of the load worker alone (its CPU from summary.json's
`generator.worker_cpu_pct` series: the steady-state cost per request). Then the
ratio signed / plain of each. Everything on 127.0.0.1, bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fmt, measure, pick_cores, pinned, stinger_cmd, stop_pid, table, wait_port

FAKE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def _worker_cpu_s(summary: dict) -> float | None:
    s = (summary.get("series") or {}).get("generator.worker_cpu_pct{worker=0}")
    if not s:
        return None
    return s["mean"] / 100.0 * summary["elapsed_s"]


def _one(name: str, args: list[str], *, core, rate: float, duration: float, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    cmd = stinger_cmd() + ["run", *args, "--rate", f"{rate:g}", "--duration", f"{duration:g}s", "--workers", "1",
                           "--max-in-flight", "256", "--drain", "1s", "--no-server-time", "--quiet",
                           "--out", str(out), "--name", name]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(FAKE_ENV)
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    m = measure(cmd, core=core, timeout=duration + 120, env=env)
    (summary_path,) = list(out.rglob("summary.json"))
    summary = json.loads(summary_path.read_text())
    (v,) = summary["variants"].values()
    ok = v["requests"]["ok"]
    worker = _worker_cpu_s(summary)
    return {"name": name, "ok": ok, "failed": v["requests"]["failed"], "achieved": v["throughput"]["achieved_rps"],
            "cpu_s": m.cpu_s, "ok_per_cpu_s": ok / m.cpu_s if m.cpu_s else None,
            "worker_cpu_s": worker, "worker_ok_per_cpu_s": ok / worker if worker else None,
            "p50_ms": v["latency_ms"]["p50"], "rc": m.returncode, "stderr": m.stderr.strip()[-300:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--body-bytes", type=int, default=200)
    args = parser.parse_args()
    body = json.dumps({"instances": [[0.5] * max(1, args.body_bytes // 5)]})[: args.body_bytes - 2] + "]}"
    cores = pick_cores()
    server = subprocess.Popen([sys.executable, "-m", "stinger.testing.servers", "delay", "--port", "0",
                               "--delay-ms", "0", "--parent-pid", str(os.getpid())],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                              text=True, preexec_fn=pinned(cores.server))
    try:
        line = server.stdout.readline() if server.stdout else ""
        if "listening on http://" not in line:
            raise SystemExit(f"the reference server did not start ({line.strip()!r})")
        base = line.strip().split("listening on ", 1)[1].rstrip("/")
        wait_port(int(base.rsplit(":", 1)[1]))
        tmp = Path(tempfile.mkdtemp(prefix="stinger-sign-bench-"))
        rows = [
            _one("plain-http", ["--url", f"{base}/endpoints/bench/invocations", "--method", "POST", "--body", body,
                                "--content-type", "application/json"],
                 core=cores.generator, rate=args.rate, duration=args.duration, out=tmp / "plain"),
            _one("sagemaker-signed", ["--sagemaker", "bench", "--region", "us-east-1", "--endpoint-url", base,
                                      "--body", body],
                 core=cores.generator, rate=args.rate, duration=args.duration, out=tmp / "signed"),
        ]
    finally:
        stop_pid(server, signal.SIGTERM)
    print(f"{cores.note}; offered {args.rate:g} req/s for {args.duration:g} s, one worker, body {len(body)} B")
    print(table(["target", "ok", "failed", "achieved/s", "p50 ms", "CPU-s (tree)", "ok/CPU-s (tree)",
                 "CPU-s (worker)", "ok/CPU-s (worker)"],
                [[r["name"], fmt(r["ok"]), fmt(r["failed"]), fmt(r["achieved"]), fmt(r["p50_ms"], 2),
                  fmt(r["cpu_s"], 2), fmt(r["ok_per_cpu_s"]), fmt(r["worker_cpu_s"], 2),
                  fmt(r["worker_ok_per_cpu_s"])] for r in rows]))
    plain, signed = rows
    for key, label in (("ok_per_cpu_s", "tree"), ("worker_ok_per_cpu_s", "worker")):
        if plain[key] and signed[key]:
            print(f"signed / plain ok/CPU-s ({label}): {signed[key] / plain[key]:.2f}")
    for r in rows:
        if r["rc"] not in (0, None) or r["failed"]:
            print(f"note: {r['name']} exited {r['rc']}, {r['failed']} failed: {r['stderr']}")


if __name__ == "__main__":
    main()
