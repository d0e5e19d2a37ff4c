"""Does the coordinator's memory grow with a run's length? Two measurements.

`run` mode: one `stinger run` (open model, `--workers 1` then `--workers 2`)
against a private nginx on loopback (else stinger's reference server) at a high
rate for a bounded time. Every second it samples the RSS of the coordinator
(the `stinger` process itself, not its workers: psutil) and fits a straight
line, by least squares, to the second half of the run (after warm-up and the
allocator's first growth). The slope is reported in MB per 10 M requests at
the rate the run achieved (summary.json).

`synthetic` mode: no network. It feeds `RunMetrics.add` with realistic interval
records (`stinger.testing.records`: 2 variants, every metric a plain HTTP run
records, a wide latency spread, late cells) for N intervals and measures
(1) the time per `add` (wall and the thread's CPU time, which a busy machine
disturbs less) and RSS growth without tracing, (2) tracemalloc's count
of live Python/numpy bytes, sampled every 100 intervals, its slope per interval
fitted over the second half. From that slope it extrapolates a 24 h run.

    python bench/memory.py synthetic --intervals 20000
    python bench/memory.py run --rate 20000 --duration 90
    python bench/memory.py all

Every process started here is stopped here, by its own PID.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import confirm_flag, fmt, start_target, stinger_cmd, stop_pid, table

MB = 1e6
TEN_M = 10_000_000


def slope(xs, ys) -> float:
    """Least-squares slope of ys over xs."""
    if len(xs) < 2:
        return float("nan")
    return float(np.polyfit(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), 1)[0])


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} {b:.2f} {c:.2f}"


# ------------------------------------------------------------------ synthetic
def synthetic(intervals: int, rate: float, workers: int) -> dict:
    from stinger.core.metrics import RunMetrics
    from stinger.testing.records import VARIANTS, final_records, synthetic_records

    def feed(trace: bool) -> dict:
        gc.collect()
        proc = psutil.Process()
        m = RunMetrics(list(VARIANTS))
        if trace:
            tracemalloc.start()
        recs = synthetic_records(intervals, rate=rate, workers=workers)
        xs, mem, rss = [], [], []
        add_s = add_cpu = 0.0
        n = 0
        for k, rec in enumerate(recs):
            c0 = time.thread_time()
            t0 = time.perf_counter()
            m.add(rec)
            add_s += time.perf_counter() - t0
            add_cpu += time.thread_time() - c0
            n += 1
            if (k + 1) % (100 * workers) == 0:
                i = (k + 1) // workers
                xs.append(i)
                rss.append(proc.memory_info().rss)
                if trace:
                    mem.append(tracemalloc.get_traced_memory()[0])
        for rec in final_records(intervals, workers=workers):
            m.add(rec)
        if trace:
            tracemalloc.stop()
        half = len(xs) // 2
        out = {"records": n, "add_us": add_s / n * 1e6, "add_cpu_us": add_cpu / n * 1e6,
               "rss_per_interval_b": slope(xs[half:], rss[half:]),
               "rss_start_mb": rss[0] / MB if rss else None, "rss_end_mb": rss[-1] / MB if rss else None}
        if trace:
            out["traced_per_interval_b"] = slope(xs[half:], mem[half:])
            out["traced_end_mb"] = mem[-1] / MB
        rows = m.interval_rows()
        out["rows"] = len(rows)
        close = getattr(m, "close", None)
        if callable(close):
            close()
        return out

    plain = feed(trace=False)
    traced = feed(trace=True)
    per_s = rate  # requests per interval (1 s intervals)
    b = traced["traced_per_interval_b"]
    return {
        "mode": "synthetic", "intervals": intervals, "rate": rate, "workers": workers, "load": load(),
        "add_us": plain["add_us"], "add_cpu_us": plain["add_cpu_us"], "records": plain["records"],
        "rss_per_interval_b": plain["rss_per_interval_b"], "rss_end_mb": plain["rss_end_mb"],
        "traced_per_interval_b": b, "traced_end_mb": traced["traced_end_mb"],
        "mb_per_10m_requests": b / per_s * TEN_M / MB,
        "mb_per_24h": b * 86_400 / MB,
    }


# ------------------------------------------------------------------ run
def run_once(url: str, *, rate: float, duration: float, workers: int, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.iterdir())
    cmd = stinger_cmd() + ["run", "--url", url, "--rate", f"{rate:g}", "--duration", f"{duration:g}s",
                           "--workers", str(workers), "--max-in-flight", "512", "--on-limit", "queue",
                           "--drain", "1s", "--no-server-time", "--quiet", "--out", str(out_dir),
                           "--name", f"mem-w{workers}"] + (confirm_flag() if rate > 100_000 else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        try:
            p = psutil.Process(proc.pid)
            t0 = time.monotonic()
            while not stop.is_set() and proc.poll() is None:
                samples.append((time.monotonic() - t0, p.memory_info().rss))
                stop.wait(1.0)
        except psutil.Error:
            pass

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        _, err = proc.communicate(timeout=duration + 120)
    except subprocess.TimeoutExpired:
        stop_pid(proc)
        _, err = proc.communicate()
    stop.set()
    th.join(5)
    summary = None
    for d in sorted(set(out_dir.iterdir()) - before):
        p = d / "summary.json"
        if p.exists():
            summary = json.loads(p.read_text())
    if summary is None:
        raise SystemExit(f"stinger run wrote no summary (exit {proc.returncode}): {err.strip()[-500:]}")
    achieved = sum(v["throughput"]["achieved_rps"] for v in summary["variants"].values())
    ok = sum(v["requests"]["ok"] for v in summary["variants"].values())
    # second half of the measured part: after start-up and the allocator's first growth
    body = [(t, r) for t, r in samples if duration / 2 <= t <= duration]
    s = slope([t for t, _ in body], [r for _, r in body])   # bytes per second
    return {"mode": "run", "workers": workers, "rate": rate, "duration": duration, "achieved_rps": achieved,
            "ok": ok, "rss_start_mb": samples[0][1] / MB if samples else None,
            "rss_mid_mb": body[0][1] / MB if body else None, "rss_end_mb": body[-1][1] / MB if body else None,
            "rss_peak_mb": max(r for _, r in samples) / MB if samples else None,
            "slope_mb_per_s": s / MB, "mb_per_10m_requests": s / achieved * TEN_M / MB if achieved else None,
            "samples": len(samples), "load": load()}


def run_mode(rate: float, duration: float, workers_list: list[int]) -> list[dict]:
    target = start_target(None)
    out = []
    try:
        with tempfile.TemporaryDirectory(prefix="stinger-mem-", dir=os.environ.get("STINGER_BENCH_DIR")) as tmp:
            for w in workers_list:
                r = run_once(target.url, rate=rate, duration=duration, workers=w, out_dir=Path(tmp))
                r["server"] = target.kind
                out.append(r)
                print(json.dumps(r), flush=True)
    finally:
        target.stop()
    return out


def report(results: list[dict]) -> str:
    lines = []
    syn = [r for r in results if r["mode"] == "synthetic"]
    if syn:
        lines.append(table(["synthetic", "intervals", "add us", "add CPU us", "traced B/interval", "RSS B/interval",
                            "MB/10M req", "MB/24h", "load"],
                           [["RunMetrics.add", str(r["intervals"]), fmt(r["add_us"], 1), fmt(r.get("add_cpu_us"), 1),
                             fmt(r["traced_per_interval_b"]), fmt(r["rss_per_interval_b"]),
                             fmt(r["mb_per_10m_requests"], 2), fmt(r["mb_per_24h"], 1), r["load"]] for r in syn]))
    runs = [r for r in results if r["mode"] == "run"]
    if runs:
        lines.append(table(["run", "workers", "achieved req/s", "RSS start MB", "RSS end MB", "MB/s",
                            "MB/10M req", "load"],
                           [[r["server"], str(r["workers"]), fmt(r["achieved_rps"]), fmt(r["rss_start_mb"], 1),
                             fmt(r["rss_end_mb"], 1), fmt(r["slope_mb_per_s"], 4),
                             fmt(r["mb_per_10m_requests"], 2), r["load"]] for r in runs]))
    return "\n\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("synthetic", "run", "all"))
    ap.add_argument("--intervals", type=int, default=20_000, help="synthetic: intervals fed")
    ap.add_argument("--rate", type=float, default=20_000.0, help="req/s (run: offered; synthetic: modelled)")
    ap.add_argument("--duration", type=float, default=90.0, help="run: seconds per run (bounded)")
    ap.add_argument("--workers", default="1,2", help="run: worker counts, comma-separated")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    results = []
    if args.mode in ("synthetic", "all"):
        r = synthetic(args.intervals, args.rate, workers=2)
        print(json.dumps(r), flush=True)
        results.append(r)
    if args.mode in ("run", "all"):
        results += run_mode(args.rate, args.duration, [int(w) for w in args.workers.split(",")])
    print()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
