"""Reliability soaks (issue 10's must-show): `python3 bench/soak.py {rate,signals} [--repeat 5]`.

rate     `stinger run` at 20,000 req/s for 60 s against our own nginx on loopback, with a
         CPU hog (`python3 -c 'while True: pass'`, started and killed here by its PID)
         beside it: exit code, crash (a traceback or an unpickling error on stderr),
         accounting (unaccounted), achieved/offered, warnings; `--repeat` times.
signals  a 30 s run at 2,000 req/s, stopped after 3 s by SIGTERM, or by two SIGINTs
         5-20 ms apart (a double Ctrl-C): time from the (first) signal to exit, exit
         code, the run directory complete (summary.json, series.csv, spec.yaml, marked
         interrupted, accounting exact), and no worker process left alive (by PID,
         checked against its start time); `--repeat` times each.

Loopback only, every run bounded. Prints a table with the load average and saves JSON
under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as c

RESULTS = Path(__file__).parent / "results"


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def _run_dir(out: Path) -> Path | None:
    dirs = sorted(d for d in out.iterdir() if d.is_dir()) if out.exists() else []
    return dirs[-1] if dirs else None


def _crashed(stderr: str) -> bool:
    return "Traceback" in stderr or "UnpicklingError" in stderr or "invalid load key" in stderr


def soak_rate(url: str, repeat: int, rate: int, duration: float, workers: str | None = None) -> list[dict]:
    rows = []
    for i in range(repeat):
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        out = Path(tempfile.mkdtemp(prefix="stinger-soak-"))
        load0 = os.getloadavg()[0]
        t = time.monotonic()
        try:
            cmd = c.stinger_cmd() + ["run", "--url", url, "--rate", str(rate), "--duration", f"{duration:g}s",
                                     "--no-server-time", "-q", "--out", str(out)]
            if workers:
                cmd += ["--workers", workers]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    stdin=subprocess.DEVNULL)
            peak = 0
            while proc.poll() is None and time.monotonic() - t < duration + 120:
                peak = max(peak, c.rss_kib(c.process_tree(proc.pid)))
                time.sleep(0.5)
            if proc.poll() is None:
                proc.kill()
            _, stderr = proc.communicate(timeout=30)
        finally:
            os.kill(hog.pid, signal.SIGKILL)
            hog.wait()
        wall = time.monotonic() - t
        d = _run_dir(out)
        s = json.loads((d / "summary.json").read_text()) if d and (d / "summary.json").exists() else None
        row = {"run": i + 1, "exit": proc.returncode, "crash": _crashed(stderr) or s is None, "wall_s": round(wall, 1),
               "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
               "peak_rss_mib": round(peak / 1024, 1)}
        if s is not None:
            r = {k: sum(v["requests"][k] for v in s["variants"].values())
                 for k in ("scheduled", "ok", "failed", "dropped", "in_flight", "unaccounted")}
            tp = s["variants"]["default"]["throughput"]
            row.update(r, ratio=tp["ratio"], achieved_rps=tp["achieved_rps"], offered_rps=tp["offered_rps"],
                       workers=s.get("workers"), warnings=s.get("warnings", []),
                       generator=s.get("generator", {}).get("message"))
        row["stderr_tail"] = stderr.strip()[-300:]
        if proc.returncode not in (0, 1) and d is not None:   # keep what an unexpected end left behind
            kept = RESULTS / f"soak-rate-run{i + 1}-exit{proc.returncode}"
            subprocess.run(["rm", "-rf", str(kept)], check=False)
            subprocess.run(["cp", "-r", str(d), str(kept)], check=False)
            row["kept"] = str(kept)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k not in ("warnings", "stderr_tail", "generator")}),
              flush=True)
        subprocess.run(["rm", "-rf", str(out)], check=False)
    return rows


def soak_signals(url: str, repeat: int) -> list[dict]:
    rows = []
    for how in ("SIGTERM", "double SIGINT"):
        for i in range(repeat):
            out = Path(tempfile.mkdtemp(prefix="stinger-sig-"))
            cmd = c.stinger_cmd() + ["run", "--url", url, "--rate", "2000", "--duration", "30s", "--workers", "2",
                                     "--no-server-time", "-q", "--out", str(out)]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    stdin=subprocess.DEVNULL)
            time.sleep(3.0)
            workers = [(p, _start_time(p)) for p in c.process_tree(proc.pid) if p != proc.pid]
            gap_ms = None
            t = time.monotonic()
            if how == "SIGTERM":
                os.kill(proc.pid, signal.SIGTERM)
            else:
                os.kill(proc.pid, signal.SIGINT)
                gap = random.uniform(0.005, 0.020)
                time.sleep(gap)
                os.kill(proc.pid, signal.SIGINT)
                gap_ms = round(gap * 1e3, 1)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            took = time.monotonic() - t
            _, stderr = proc.communicate()
            time.sleep(0.2)
            alive = [p for p, st in workers if st is not None and _start_time(p) == st]
            d = _run_dir(out)
            files = sorted(f.name for f in d.iterdir()) if d else []
            s = json.loads((d / "summary.json").read_text()) if d and (d / "summary.json").exists() else None
            complete = s is not None and {"summary.json", "series.csv", "spec.yaml"} <= set(files)
            unacc = None if s is None else sum(v["requests"]["unaccounted"] for v in s["variants"].values())
            row = {"signal": how, "run": i + 1, "gap_ms": gap_ms, "exit": proc.returncode,
                   "signal_to_exit_s": round(took, 3), "complete": complete,
                   "interrupted": None if s is None else s.get("interrupted"),
                   "unaccounted": unacc, "ok": None if s is None else s["variants"]["default"]["requests"]["ok"],
                   "workers": len(workers), "workers_alive_after": alive, "crash": _crashed(stderr), "files": files,
                   "stderr_tail": stderr.strip()[-300:],
                   "load": round(os.getloadavg()[0], 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            subprocess.run(["rm", "-rf", str(out)], check=False)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("rate", "signals"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rate", type=int, default=20_000)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--workers", default=None, help="rate: pass --workers (default: stinger's auto)")
    args = ap.parse_args()
    target = c.start_target(None)
    print(f"target: {target.kind} at {target.url}; load {os.getloadavg()}", flush=True)
    try:
        if args.mode == "rate":
            rows = soak_rate(target.url, args.repeat, args.rate, args.duration, args.workers)
        else:
            rows = soak_signals(target.url, args.repeat)
    finally:
        target.stop()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"soak-{args.mode}{'-w' + args.workers if args.workers else ''}.json"
    path.write_text(json.dumps({"mode": args.mode, "target": target.kind, "cores": os.cpu_count(),
                                "loadavg_end": os.getloadavg(), "rows": rows}, indent=1))
    if args.mode == "rate":
        print(c.table(["run", "exit", "crash", "scheduled", "ok", "unaccounted", "achieved/offered", "warnings",
                       "peak RSS MiB", "load"],
                      [[str(r["run"]), str(r["exit"]), str(r["crash"]), c.fmt(r.get("scheduled")), c.fmt(r.get("ok")),
                        c.fmt(r.get("unaccounted")), c.fmt(r.get("ratio"), 3), str(len(r.get("warnings", []))),
                        c.fmt(r["peak_rss_mib"], 1), f"{r['load_before']}/{r['load_after']}"] for r in rows]))
    else:
        print(c.table(["signal", "run", "gap ms", "exit", "to exit s", "complete", "interrupted", "unaccounted",
                       "workers left", "load"],
                      [[r["signal"], str(r["run"]), c.fmt(r["gap_ms"], 1), str(r["exit"]),
                        c.fmt(r["signal_to_exit_s"], 3), str(r["complete"]), str(r["interrupted"]),
                        c.fmt(r["unaccounted"]), str(len(r["workers_alive_after"])), str(r["load"])] for r in rows]))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
