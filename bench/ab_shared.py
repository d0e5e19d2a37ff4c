"""A/B verdicts on shared infrastructure and past capacity (issue 15, items 1 and 2), on real runs.

Three parts, every figure beside the ground truth the reference servers record themselves:

* ``shared``: ONE worker serves A in 2 ms and B in 20 ms (`RefServer("slots", slots=1,
  routes={"/a": 2, "/b": 20})`: a request waits for whatever the worker is doing), 15 req/s
  per variant (evenly spaced arrivals, as `stinger ab` sends by default, or `--arrival
  poisson`), `--runs` runs of each schedule: the default paired (independent instants),
  paired with `--pairing simultaneous`, and a split for reference. Per run: stinger's p50
  B - A with its CI and significance, the server's own difference (median service time,
  start to send, of B minus A: what the models cost), |B-A - own| <= 2 ms, and whether the
  verdict found interference and called the comparison confounded.
* ``overload``: A behind a 5 ms delay server, B behind one 50 ms slot (capacity 20 req/s),
  30 req/s offered per variant: `saturated` and the sentence.
* ``demo``: `stinger demo`'s verdict sentence beside its server's own p50 server times.
* ``mlserver`` (not in the default parts): a real model server nobody here wrote, MLServer
  with two scikit-learn models on the digits data (a decision tree and a 100-tree random
  forest) in its one inference process (`parallel_workers: 0`), 15 req/s per variant: p50
  B - A of each schedule (MLServer times nothing itself; the split is the reference).

    PYTHONPATH=src python3 bench/ab_shared.py                    # 10 runs each, about 8 minutes
    PYTHONPATH=src python3 bench/ab_shared.py --parts shared --arrival poisson   # queues at random
    PYTHONPATH=src python3 bench/ab_shared.py --runs 3 --parts shared

Every run is bounded: 1 s warm-up + `--seconds` measured, 5 s request timeout. Results go to
bench/results/ab_shared-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stinger.orchestrate.ab import AbOptions, run_ab
from stinger.spec import parse_spec
from stinger.testing.servers import RefServer

ROUTES = {"/a": 2.0, "/b": 20.0}
TOLERANCE_MS = 2.0
SCHEDULES = {   # name: (split, pairing)
    "paired (default)": ("paired", None),
    "paired --pairing simultaneous": ("paired", "simultaneous"),
    "split": ("split", None),
}


def _ab(data: dict, out: Path):
    data = {**data, "output": {"dir": str(out)}}
    spec = parse_spec(data)
    return run_ab(spec, AbOptions(mode=spec.split),
                  quiet=True)


def shared_run(schedule: str, seed: int, seconds: float, out: Path, arrival: str = "constant") -> dict:
    split, pairing = SCHEDULES[schedule]
    with RefServer("slots", slots=1, routes=ROUTES, record=True, precise=True) as server:
        data = {"variants": [{"name": "A", "url": server.url + "/a"}, {"name": "B", "url": server.url + "/b"}],
                "split": split, "payload": {"body": "{}"},
                "load": {"rate": 15 if split == "paired" else 30, "duration": seconds + 1, "warmup": "1s",
                         "arrival": arrival, "seed": seed, "timeout": "5s"}}
        if pairing:
            data["pairing"] = pairing
        res = _ab(data, out)
        server.stop()
        a, b = server.route_records("/a"), server.route_records("/b")
    own = float(np.median(b["send"] - b["start"]) - np.median(a["send"] - a["start"])) * 1e3
    seen = float(np.median(b["send"] - b["recv"]) - np.median(a["send"] - a["recv"])) * 1e3
    p50 = next(r for r in res.verdict.rows if r.metric.startswith("latency p50"))
    inter = res.extra.get("interference") or {}
    return {"schedule": schedule, "seed": seed, "p50_diff_ms": round(p50.diff, 3), "ci": [round(p50.ci_low, 3),
            round(p50.ci_high, 3)], "significant": bool(p50.significant), "server_own_ms": round(own, 3),
            "server_seen_ms": round(seen, 3), "within_2ms": abs(p50.diff - own) <= TOLERANCE_MS,
            "interference_found": list(inter.get("found") or []), "confounded": bool(inter.get("confounded")),
            "sentence": res.verdict.sentence}


def overload_run(seconds: float, out: Path) -> dict:
    with RefServer("delay", delay_ms=5) as fast, RefServer("slots", slots=1, service_ms=50) as slow:
        res = _ab({"variants": [{"name": "A", "url": fast.url + "/"}, {"name": "B", "url": slow.url + "/"}],
                   "split": "paired",
                   "load": {"rate": 30, "duration": seconds + 1, "warmup": "1s", "arrival": "poisson",
                            "timeout": "10s"}}, out)
    variants = res.report.summary["variants"]
    return {"saturated": res.extra.get("saturated"),
            "saturation": res.extra.get("saturation"),
            "achieved": {n: variants[n]["throughput"] for n in ("A", "B")},
            "latency_p95_ms": {n: variants[n]["latency_ms"]["p95"] for n in ("A", "B")},
            "sentence": res.verdict.sentence,
            "latency_rows_marked": all(r.caveat for r in res.verdict.rows if r.kind == "latency")}


def demo_run(out: Path) -> dict:
    r = subprocess.run([sys.executable, "-m", "stinger.cli", "demo", "--quiet", "--out", str(out)],
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    [run] = [p for p in out.iterdir() if p.is_dir()]
    verdict = json.loads((run / "verdict.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    server = {n: summary["variants"][n].get("server_time_ms", {}).get("p50") for n in ("fast", "accurate")}
    latency = {n: summary["variants"][n]["latency_ms"]["p50"] for n in ("fast", "accurate")}
    return {"exit_code": r.returncode, "sentence": verdict["sentence"], "server_time_p50_ms": server,
            "latency_p50_ms": latency, "pairing": summary.get("pairing"),
            "interference_found": (verdict.get("interference") or {}).get("found")}


def _mlserver(root: Path):
    """Start MLServer with `tree` and `forest` in one process; yields (url, jsonl data, its Popen)."""
    import os

    import joblib
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    from stinger.testing.procs import free_port

    X, y = load_digits(return_X_y=True)
    for name, model in (("tree", DecisionTreeClassifier(random_state=0)),
                        ("forest", RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1))):
        (root / name).mkdir()
        joblib.dump(model.fit(X[:1000], y[:1000]), root / name / "model.joblib")
        (root / name / "model-settings.json").write_text(json.dumps(
            {"name": name, "implementation": "mlserver_sklearn.SKLearnModel", "parameters": {"uri": "./model.joblib"}}))
    http, grpc, metrics = free_port(), free_port(), free_port()
    (root / "settings.json").write_text(json.dumps({"host": "127.0.0.1", "http_port": http, "grpc_port": grpc,
                                                    "metrics_port": metrics, "parallel_workers": 0}))
    data = root / "digits.jsonl"
    data.write_text("\n".join(json.dumps({"x": X[i].tolist(), "label": int(y[i])}) for i in range(1000, 1797)))
    exe = Path(sys.executable).with_name("mlserver")
    proc = subprocess.Popen([str(exe) if exe.exists() else "mlserver", "start", str(root)], env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return f"http://127.0.0.1:{http}", data, proc


def mlserver_runs(runs: int, seconds: float, out: Path) -> list[dict]:
    from stinger.testing.mlserver import wait_model_ready
    from stinger.testing.procs import stop_process

    root = out / "mlserver"
    root.mkdir()
    url, data, proc = _mlserver(root)
    rows = []
    try:
        wait_model_ready(url, "forest", proc, 120)
        for i in range(runs):
            for schedule, (split, pairing) in SCHEDULES.items():
                spec = {"variants": [{"name": "tree", "type": "kserve", "url": url, "model": "tree"},
                                     {"name": "forest", "type": "kserve", "url": url, "model": "forest"}],
                        "split": split, "payload": {"data": str(data), "body_field": "x", "label_field": "label",
                                                    "order": "random"},
                        "prediction": "$.outputs[0].data[0]",
                        "load": {"rate": 15 if split == "paired" else 30, "duration": seconds + 1, "warmup": "1s",
                                 "seed": 2000 + i, "timeout": "5s"}}
                if pairing:
                    spec["pairing"] = pairing
                res = _ab(spec, out / f"m{i}")
                p50 = next(r for r in res.verdict.rows if r.metric.startswith("latency p50"))
                inter = res.extra.get("interference") or {}
                row = {"schedule": schedule, "p50_diff_ms": round(p50.diff, 3),
                       "ci": [round(p50.ci_low, 3), round(p50.ci_high, 3)], "significant": bool(p50.significant),
                       "confounded": bool(inter.get("confounded")), "interference_found": inter.get("found"),
                       "sentence": res.verdict.sentence}
                rows.append(row)
                print(f"mlserver {schedule:31s} run {i}: p50 forest-tree {row['p50_diff_ms']:6.2f} ms "
                      f"[{row['ci'][0]:6.2f}, {row['ci'][1]:6.2f}] sig {'yes' if row['significant'] else 'no'} "
                      f"confounded {'yes' if row['confounded'] else 'no'}", flush=True)
    finally:
        stop_process(proc)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="runs of each schedule in the shared case")
    ap.add_argument("--seconds", type=float, default=12.0, help="measured seconds per run (after a 1 s warm-up)")
    ap.add_argument("--parts", default="shared,overload,demo")
    ap.add_argument("--arrival", choices=("constant", "poisson"), default="constant",
                    help="shared case: evenly spaced arrivals (ab's default) or Poisson (queues form at random)")
    ap.add_argument("--schedules", default=",".join(SCHEDULES), help="comma-separated subset of " + ", ".join(SCHEDULES))
    args = ap.parse_args()
    parts = args.parts.split(",")
    results: dict = {"routes_ms": ROUTES, "runs": args.runs, "seconds": args.seconds, "arrival": args.arrival}
    with tempfile.TemporaryDirectory(prefix="stinger-ab-shared-") as tmp:
        tmpdir = Path(tmp)
        if "shared" in parts:
            rows = []
            for i in range(args.runs):
                for schedule in args.schedules.split(","):
                    row = shared_run(schedule, 1500 + i, args.seconds, tmpdir / f"s{i}", args.arrival)
                    rows.append(row)
                    print(f"{schedule:31s} seed {row['seed']}: p50 B-A {row['p50_diff_ms']:6.2f} ms "
                          f"[{row['ci'][0]:6.2f}, {row['ci'][1]:6.2f}] sig {'yes' if row['significant'] else 'no ':3s} "
                          f"server's own {row['server_own_ms']:5.2f}  within 2 ms {'yes' if row['within_2ms'] else 'no ':3s} "
                          f"interference {','.join(row['interference_found']) or '-':4s} "
                          f"confounded {'yes' if row['confounded'] else 'no'}", flush=True)
            results["shared"] = rows
            print(f"\nsummary (shared worker: A 2 ms, B 20 ms, 15 req/s per variant, {args.arrival} arrivals):")
            for schedule in args.schedules.split(","):
                mine = [r for r in rows if r["schedule"] == schedule]
                diffs = [r["p50_diff_ms"] for r in mine]
                print(f"  {schedule:31s} p50 B-A {np.mean(diffs):6.2f} ms (min {min(diffs):.2f}, max {max(diffs):.2f}); "
                      f"server's own {np.mean([r['server_own_ms'] for r in mine]):.2f}; "
                      f"within 2 ms {sum(r['within_2ms'] for r in mine)}/{len(mine)}, "
                      f"significant {sum(r['significant'] for r in mine)}/{len(mine)}, "
                      f"interference found {sum(bool(r['interference_found']) for r in mine)}/{len(mine)}, "
                      f"confounded {sum(r['confounded'] for r in mine)}/{len(mine)}, "
                      f"close or confounded {sum(r['within_2ms'] or r['confounded'] for r in mine)}/{len(mine)}")
        if "overload" in parts:
            o = overload_run(min(args.seconds, 8.0), tmpdir / "overload")
            results["overload"] = o
            print(f"\noverload (B: capacity 20 req/s, 30 offered per variant): saturated {o['saturated']}; "
                  f"achieved/offered A {o['achieved']['A']['ratio']}, B {o['achieved']['B']['ratio']}; "
                  f"latency rows marked {o['latency_rows_marked']}\n  {o['sentence']}")
        if "mlserver" in parts:
            results["mlserver"] = mlserver_runs(min(args.runs, 3), args.seconds, tmpdir)
        if "demo" in parts:
            (tmpdir / "demo").mkdir()
            d = demo_run(tmpdir / "demo")
            results["demo"] = d
            print(f"\nstinger demo (pairing {d['pairing']}): server time p50 {d['server_time_p50_ms']}, latency p50 "
                  f"{d['latency_p50_ms']}, interference found {d['interference_found']}\n  {d['sentence']}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"ab_shared-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
