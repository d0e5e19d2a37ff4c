"""gRPC beside HTTP on one MLServer model: `python3 bench/transports.py [--rounds 4] [--rate 600]`.

Starts MLServer on 127.0.0.1 (its HTTP and gRPC ports; the sklearn runtime with a small
logistic regression on the digits data, about a millisecond of server time), pinned to one
core, and runs `stinger run --kserve URL --model digits` on the other, in rounds: once over
HTTP (`http://...:HTTP_PORT`), once over gRPC (`grpc://...:GRPC_PORT`), the order alternating
from round to round (a run that follows another immediately is measured lower on a small
machine). Each run sends the same 64-feature row at the same open-model rate, one worker.

Prints, per run, ok requests per CPU-second of the stinger process and its workers (the
generator's cost of a request: `getrusage` of the waited-for children, see `_common`), the
best and median per transport, and gRPC's ratio to HTTP. The figure is the client's; MLServer
serves both, so a rate it keeps up with on both transports is the fair one (the default).
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


def one_run(url: str, row: str, rate: float, duration: float, core: int | None, out: Path) -> tuple[float, int, int]:
    """(ok per CPU-second, ok, scheduled) of one stinger run."""
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.iterdir())
    cmd = c.stinger_cmd() + ["run", "--kserve", url, "--model", "digits", "--body", row, "--rate", f"{rate:g}",
                             "--duration", f"{duration:g}s", "--workers", "1", "--max-in-flight", "64",
                             "--no-server-time", "--quiet", "--out", str(out)]
    m = c.measure(cmd, core=core, timeout=duration + 120)
    new = sorted(set(out.iterdir()) - before)
    if not new or not (new[-1] / "summary.json").exists():
        raise SystemExit(f"stinger run failed: {m.stderr[-2000:]}")
    r = json.loads((new[-1] / "summary.json").read_text())["variants"]["default"]["requests"]
    return r["ok"] / m.cpu_s, r["ok"], r["scheduled"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--rate", type=float, default=600.0, help="requests per second, both transports")
    ap.add_argument("--duration", type=float, default=8.0)
    args = ap.parse_args()
    c.check_rusage_counts_grandchildren()
    cores = c.pick_cores()
    tmp = Path(tempfile.mkdtemp(prefix="stinger-transports-"))
    server, where = start_mlserver(tmp / "models", cores.server)
    print(f"MLServer at {where['http']} and {where['grpc']} ({cores.note}); {args.rate:g} req/s, "
          f"{args.duration:g} s per run, load {os.getloadavg()[0]:.2f}")
    res: dict[str, list[float]] = {"http": [], "grpc": []}
    try:
        for r in range(args.rounds):
            for name in (("http", "grpc") if r % 2 == 0 else ("grpc", "http")):
                per_cpu, ok, scheduled = one_run(where[name], where["row"], args.rate, args.duration, cores.generator,
                                                 tmp / "runs" / name)
                res[name].append(per_cpu)
                print(f"round {r + 1} {name:4s}: {per_cpu:8,.0f} ok/CPU-s  ({ok:,} ok of {scheduled:,})", flush=True)
    finally:
        c.stop_pid(server)
    for name, v in res.items():
        print(f"{name:4s} best {max(v):8,.0f}  median {statistics.median(v):8,.0f} ok/CPU-s  runs {[round(x) for x in v]}")
    print(f"grpc / http: best {max(res['grpc']) / max(res['http']):.3f}  "
          f"median {statistics.median(res['grpc']) / statistics.median(res['http']):.3f}")


if __name__ == "__main__":
    main()
