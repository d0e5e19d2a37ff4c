"""gRPC beside HTTP on one MLServer model: `python3 bench/transports.py [--rounds 4] [--users 16]`.

Starts MLServer on 127.0.0.1 (its HTTP and gRPC ports; the sklearn runtime with a small
logistic regression on the digits data, about a millisecond of server time), pinned to one
core, and runs `stinger run --kserve URL --model digits` on the other, in rounds: once over
HTTP (`http://...:HTTP_PORT`), once over gRPC (`grpc://...:GRPC_PORT`), the order alternating
from round to round (a run that follows another immediately is measured lower on a small
machine). Each run sends the same 64-feature row from the same number of closed-model users,
one worker: each transport runs at what MLServer serves over it, with no backlog. (An open-model
rate was tried first: MLServer's HTTP side fell behind on its one core at 500 req/s and 2,035 of
5,000 requests ended `unfinished`, whose client CPU then counted against HTTP's ok.)

Prints, per run, ok requests per CPU-second two ways: of the stinger process and its workers
(`getrusage` of the waited-for children, see `_common`; start-up is in it, the same for both
but gRPC's worker also imports grpc, and it weighs more in the run with fewer requests), and of
the worker alone over the run's window (the generator monitor's `worker_cpu_pct` series: the
per-request cost); the best and median per transport, and gRPC's ratio to HTTP for each.
The figures are the client's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import _common as c


def start_mlserver(root: Path, core: int | None) -> tuple[subprocess.Popen, dict]:
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(return_X_y=True)
    (root / "digits").mkdir(parents=True)
    joblib.dump(LogisticRegression(max_iter=300).fit(X[:1000], y[:1000]), root / "digits" / "model.joblib")
    (root / "digits" / "model-settings.json").write_text(json.dumps({
        "name": "digits", "implementation": "mlserver_sklearn.SKLearnModel", "parameters": {"uri": "./model.joblib"}}))
    ports = {"http": c.free_port(), "grpc": c.free_port(), "metrics": c.free_port()}
    (root / "settings.json").write_text(json.dumps({"host": c.HOST, "http_port": ports["http"],
                                                    "grpc_port": ports["grpc"], "metrics_port": ports["metrics"],
                                                    "parallel_workers": 0}))
    exe = Path(sys.executable).with_name("mlserver")
    proc = subprocess.Popen([str(exe) if exe.exists() else "mlserver", "start", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=c.pinned(core))
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"http://{c.HOST}:{ports['http']}/v2/models/digits/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            c.stop_pid(proc)
            raise SystemExit("MLServer did not become ready")
        time.sleep(0.3)
    return proc, {"http": f"http://{c.HOST}:{ports['http']}", "grpc": f"grpc://{c.HOST}:{ports['grpc']}",
                  "row": json.dumps(X[1000].tolist())}


def one_run(url: str, row: str, users: int, duration: float, core: int | None,
            out: Path) -> tuple[float, float, int, int]:
    """(ok per CPU-second of the whole run, ok per worker CPU-second in the window, ok, scheduled)."""
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.iterdir())
    cmd = c.stinger_cmd() + ["run", "--kserve", url, "--model", "digits", "--body", row, "--users", str(users),
                             "--duration", f"{duration:g}s", "--workers", "1",
                             "--no-server-time", "--quiet", "--out", str(out)]
    m = c.measure(cmd, core=core, timeout=duration + 120)
    new = sorted(set(out.iterdir()) - before)
    if not new or not (new[-1] / "summary.json").exists():
        raise SystemExit(f"stinger run failed: {m.stderr[-2000:]}")
    s = json.loads((new[-1] / "summary.json").read_text())
    r = s["variants"]["default"]["requests"]
    # the workers' own CPU over the run's window (the generator monitor's series): no start-up in it
    window = s["window"]["end_s"] - s["window"]["start_s"]
    worker_s = sum(v["mean"] for k, v in s["series"].items()
                   if k.startswith("generator.worker_cpu_pct{")) / 100 * window
    return r["ok"] / m.cpu_s, r["ok"] / worker_s, r["ok"], r["scheduled"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--users", type=int, default=16, help="closed-model users, both transports")
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()
    c.check_rusage_counts_grandchildren()
    cores = c.pick_cores()
    tmp = Path(tempfile.mkdtemp(prefix="stinger-transports-"))
    server, where = start_mlserver(tmp / "models", cores.server)
    print(f"MLServer at {where['http']} and {where['grpc']} ({cores.note}); {args.users} users, "
          f"{args.duration:g} s per run, load {os.getloadavg()[0]:.2f}")
    res: dict[str, list[float]] = {"http": [], "grpc": []}
    work: dict[str, list[float]] = {"http": [], "grpc": []}
    try:
        for r in range(args.rounds):
            for name in (("http", "grpc") if r % 2 == 0 else ("grpc", "http")):
                per_cpu, per_worker, ok, scheduled = one_run(where[name], where["row"], args.users, args.duration, cores.generator,
                                                 tmp / "runs" / name)
                res[name].append(per_cpu)
                work[name].append(per_worker)
                print(f"round {r + 1} {name:4s}: {per_cpu:8,.0f} ok/CPU-s (process), {per_worker:8,.0f} ok/CPU-s "
                      f"(worker, window)  ({ok:,} ok of {scheduled:,}: {ok / args.duration:,.0f} ok/s)", flush=True)
    finally:
        c.stop_pid(server)
    for label, table in (("process", res), ("worker", work)):
        for name, v in table.items():
            print(f"{label:7s} {name:4s} best {max(v):8,.0f}  median {statistics.median(v):8,.0f} ok/CPU-s  "
                  f"runs {[round(x) for x in v]}")
        print(f"{label:7s} grpc / http: best {max(table['grpc']) / max(table['http']):.3f}  "
              f"median {statistics.median(table['grpc']) / statistics.median(table['http']):.3f}")


if __name__ == "__main__":
    main()
