#!/usr/bin/env python3
"""Throughput bench: stinger beside wrk, hey, ab and Locust, one loopback target, one core each.

    python3 bench/run.py [--quick] [--duration S] [--only stinger,wrk,...]

One target for every generator: a private nginx (1 worker, no access log,
keep-alive without limit) on a free port, pinned to the second allowed core;
without nginx, stinger's reference server answering at once. Each generator in
turn is pinned to the first allowed core and runs for the same duration. Per
generator: completed requests, wall seconds, CPU seconds of its whole process
tree (getrusage of children), requests per wall second and per CPU second.
Python generators (stinger, Locust) pay an interpreter start-up that the C/Go
tools do not; a tiny run measures it and the "net" column takes it out.

stinger is open-model: it is offered more than one core can send
(--stinger-rate, default 150k/s) with a bounded in-flight window (64, queue
mode: the 64 connections the other tools get), and its
completed requests per CPU second are its peak efficiency; a second run at
a rate it sustains (--sustained-rate, default 20k/s) shows its cost there.

Results go to the terminal and to bench/results/run-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_DIR,
    Cores,
    check_rusage_counts_grandchildren,
    fmt,
    measure,
    pick_cores,
    run_stinger,
    start_target,
    table,
    tool,
)

GENERATORS = ("stinger", "wrk", "hey", "ab", "locust")


# ------------------------------------------------------------------ one result
def result(name: str, m, ok: int, errors: int, *, startup_cpu: float = 0.0, notes: str = "", **extra) -> dict:
    net_cpu = m.cpu_s - startup_cpu
    return {
        "generator": name, "cmd": " ".join(m.cmd), "returncode": m.returncode,
        "ok": ok, "errors": errors, "wall_s": round(m.wall_s, 3), "cpu_s": round(m.cpu_s, 3),
        "user_s": round(m.user_s, 3), "sys_s": round(m.sys_s, 3),
        "startup_cpu_s": round(startup_cpu, 3),
        "rps_wall": ok / m.wall_s if m.wall_s > 0 else 0.0,
        "rps_cpu": ok / m.cpu_s if m.cpu_s > 0 else 0.0,
        "rps_cpu_net": ok / net_cpu if net_cpu > 0 else 0.0,
        "notes": notes, **extra,
    }


def skipped(name: str, why: str) -> dict:
    return {"generator": name, "skipped": why}


# ------------------------------------------------------------------ generators
def bench_stinger(url: str, a, cores: Cores, work: Path, state: dict) -> list[dict]:
    out = []
    drain = 1.0
    # start-up cost: a run that sends almost nothing (the least seen over the repeats)
    base, _ = run_stinger(url, rate=10, duration=1, core=cores.generator, out_dir=work / "stinger", drain=drain,
                          name="startup")
    startup = state["stinger_startup"] = min(base.cpu_s, state.get("stinger_startup", math.inf))
    m, s = run_stinger(url, rate=a.stinger_rate, duration=a.duration, core=cores.generator,
                       out_dir=work / "stinger", max_in_flight=a.stinger_in_flight, on_limit=a.stinger_on_limit,
                       drain=drain, name="peak")
    if s is None:
        return [skipped("stinger", f"no summary.json (exit {m.returncode}): {m.stderr.strip()[-300:]}")]
    v = s["variants"]["default"]
    rq = v["requests"]
    out.append(result("stinger (peak)", m, rq["ok"], rq["failed"], startup_cpu=startup,
                      notes=f"offered {a.stinger_rate:g}/s, --max-in-flight {a.stinger_in_flight} "
                            f"--on-limit {a.stinger_on_limit}",
                      requests=rq, throughput=v["throughput"], latency_ms=v["latency_ms"],
                      generator_check=s.get("generator")))
    # a rate it sustains, the same in every round
    rate = a.sustained_rate
    m2, s2 = run_stinger(url, rate=rate, duration=a.duration, core=cores.generator, out_dir=work / "stinger",
                         max_in_flight=a.stinger_in_flight, drain=drain, name="sustained")
    if s2 is not None:
        v2 = s2["variants"]["default"]
        rq2 = v2["requests"]
        out.append(result("stinger (sustained)", m2, rq2["ok"], rq2["failed"], startup_cpu=startup,
                          notes=f"offered {rate:g}/s; achieved/offered "
                                f"{v2['throughput'].get('ratio', float('nan')):.3f}, "
                                f"latency p50 {v2['latency_ms']['p50']:.2f} ms, p99 {v2['latency_ms']['p99']:.2f} ms, "
                                f"worker CPU p90 {(s2.get('generator') or {}).get('worker_cpu_pct_p90')} %",
                          requests=rq2, throughput=v2["throughput"], latency_ms=v2["latency_ms"],
                          generator_check=s2.get("generator")))
    return out


def bench_wrk(url: str, a, cores: Cores, work: Path, state: dict) -> list[dict]:
    exe = tool("wrk")
    if not exe:
        return [skipped("wrk", "not installed")]
    m = measure([exe, "-t1", f"-c{a.connections}", f"-d{a.duration:g}s", url], core=cores.generator,
                timeout=a.duration + 60)
    got = re.search(r"(\d+) requests in ([\d.]+)(\w+)", m.stdout)
    if not got:
        return [skipped("wrk", f"unreadable output: {(m.stdout + m.stderr)[-300:]}")]
    total = int(got.group(1))
    non2xx = _int(r"Non-2xx or 3xx responses: (\d+)", m.stdout)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", m.stdout)
    errs = non2xx + (sum(int(x) for x in sock.groups()) if sock else 0)
    return [result("wrk", m, total - non2xx, errs, notes=f"-t1 -c{a.connections}")]


def bench_hey(url: str, a, cores: Cores, work: Path, state: dict) -> list[dict]:
    exe = tool("hey")
    if not exe:
        return [skipped("hey", "not installed")]
    m = measure([exe, "-z", f"{a.duration:g}s", "-c", str(a.connections), url], core=cores.generator,
                timeout=a.duration + 60)
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", m.stdout)}
    if not codes:
        return [skipped("hey", f"unreadable output: {(m.stdout + m.stderr)[-300:]}")]
    ok = sum(n for c, n in codes.items() if 200 <= c < 400)
    err_section = m.stdout.split("Error distribution:", 1)[1] if "Error distribution:" in m.stdout else ""
    errs = sum(n for c, n in codes.items() if c >= 400) + sum(int(n) for n in re.findall(r"\[(\d+)\]\s", err_section))
    return [result("hey", m, ok, errs, notes=f"-c {a.connections} (keeps every result in memory)")]


def bench_ab(url: str, a, cores: Cores, work: Path, state: dict) -> list[dict]:
    exe = tool("ab")
    if not exe:
        return [skipped("ab", "not installed")]
    # -t alone caps the run at 50,000 requests; -n after it lifts the cap (ab sizes an array by it)
    cap = int(max(50_000, a.duration * 200_000))
    m = measure([exe, "-k", "-q", "-c", str(a.connections), "-t", f"{math.ceil(a.duration)}", "-n", str(cap),
                 url], core=cores.generator, timeout=a.duration + 60)
    done = _int(r"Complete requests:\s+(\d+)", m.stdout, None)
    if done is None:
        return [skipped("ab", f"unreadable output: {(m.stdout + m.stderr)[-300:]}")]
    failed = _int(r"Failed requests:\s+(\d+)", m.stdout)
    non2xx = _int(r"Non-2xx responses:\s+(\d+)", m.stdout)
    note = f"-k -c {a.connections} (HTTP/1.0 keep-alive; what Bees with Machine Guns drives)"
    if done >= cap:
        note += f"; hit the -n {cap} cap before -t"
    return [result("ab", m, done - failed - non2xx, failed + non2xx, notes=note)]


def bench_locust(url: str, a, cores: Cores, work: Path, state: dict) -> list[dict]:
    exe = tool("locust")
    if not exe:
        return [skipped("locust", "not installed")]
    lf = str(BENCH_DIR / "locustfile.py")
    host = url.rstrip("/")

    def run(users: int, seconds: float, prefix: Path, env_extra: dict):
        env = dict(os.environ, **env_extra)
        cmd = [exe, "-f", lf, "--headless", "-u", str(users), "-r", str(users), "--run-time", f"{seconds:g}s",
               "--host", host, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
               "--stop-timeout", "1"]
        return measure(cmd, core=cores.generator, timeout=seconds + 90, env=env)

    (work / "locust").mkdir(parents=True, exist_ok=True)
    base = run(1, 1, work / "locust" / "startup", {"BENCH_WAIT_S": "1"})
    startup = state["locust_startup"] = min(base.cpu_s, state.get("locust_startup", math.inf))
    prefix = work / "locust" / "peak"
    m = run(a.connections, a.duration, prefix, {"BENCH_WAIT_S": "0"})
    row = _locust_aggregated(Path(f"{prefix}_stats.csv"))
    if row is None:
        return [skipped("locust", f"no stats CSV (exit {m.returncode}): {m.stderr.strip()[-300:]}")]
    n, fails = int(row["Request Count"]), int(row["Failure Count"])
    return [result("locust", m, n - fails, fails, startup_cpu=startup,
                   notes=f"FastHttpUser, -u {a.connections}, 1 process, wait 0")]


def _locust_aggregated(path: Path) -> dict | None:
    if not path.exists():
        return None
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("Name") == "Aggregated":
                return row
    return None


def _int(pattern: str, text: str, default: int | None = 0) -> int | None:
    got = re.search(pattern, text)
    return int(got.group(1)) if got else default


BENCHES = {"stinger": bench_stinger, "wrk": bench_wrk, "hey": bench_hey, "ab": bench_ab, "locust": bench_locust}


# ------------------------------------------------------------------ report
def best_runs(results: list[dict]) -> list[dict]:
    """Per generator, its run with the most requests per CPU second (noise only ever slows a run down)."""
    by: dict[str, list[dict]] = {}
    for r in results:
        if "skipped" not in r:
            by.setdefault(r["generator"], []).append(r)
    out = []
    for name, runs in by.items():
        # a run that did not keep up with its offered rate is no "sustained" figure
        kept_up = [r for r in runs if (r.get("throughput") or {}).get("ratio", 1.0) >= 0.99]
        pool = kept_up if name == "stinger (sustained)" and kept_up else runs
        best = dict(max(pool, key=lambda r: r["rps_cpu"]))
        best["runs"] = len(runs)
        best["rps_cpu_all"] = [round(r["rps_cpu"]) for r in runs]
        best["rps_cpu_median"] = statistics.median(r["rps_cpu"] for r in runs)
        out.append(best)
    return out


def report(results: list[dict]) -> tuple[str, dict]:
    ran = best_runs(results)
    rows = [[r["generator"], fmt(r["ok"]), fmt(r["errors"]), fmt(r["wall_s"], 2), fmt(r["user_s"], 2),
             fmt(r["sys_s"], 2), fmt(r["startup_cpu_s"], 2), fmt(r["rps_wall"]), fmt(r["rps_cpu"]),
             fmt(r["rps_cpu_net"]), fmt(r["rps_cpu_median"])]
            for r in ran]
    text = [table(["generator (best run)", "ok", "errors", "wall s", "user s", "sys s", "start CPU s",
                   "ok/s wall", "ok/CPU-s", "net ok/CPU-s", "median ok/CPU-s"], rows)]
    for r in ran:
        text.append(f"  {r['generator']}: {r['notes']}; ok/CPU-s of each run: {r['rps_cpu_all']}")
    for r in {r["generator"]: r for r in results if "skipped" in r}.values():
        text.append(f"  {r['generator']}: skipped ({r['skipped']})")
    ratios: dict = {}
    st = next((r for r in ran if r["generator"] == "stinger (peak)"), None)
    if st is not None:
        lines = []
        for r in ran:
            if r["generator"].startswith("stinger"):
                continue
            k = r["generator"]
            x = ratios[k] = {
                "per_cpu_s": _ratio(st["rps_cpu"], r["rps_cpu"]),
                "per_cpu_s_net": _ratio(st["rps_cpu_net"], r["rps_cpu_net"]),
                "per_cpu_s_median": _ratio(st["rps_cpu_median"], r["rps_cpu_median"]),
                "per_wall_s": _ratio(st["rps_wall"], r["rps_wall"]),
            }
            lines.append([f"stinger / {k}", fmt(x["per_cpu_s"], 2), fmt(x["per_cpu_s_net"], 2),
                          fmt(x["per_cpu_s_median"], 2), fmt(x["per_wall_s"], 2)])
        text.append("")
        text.append(table(["ratio (stinger peak run)", "per CPU-s", "per CPU-s net", "per CPU-s median",
                           "per wall-s"], lines))
        text.append("")
        if "wrk" in ratios:
            x = ratios["wrk"]["per_cpu_s"]
            text.append(f"target stinger >= 0.8 x wrk per CPU-s:     {x:.2f} -> {'met' if x >= 0.8 else 'NOT met'}")
        if "locust" in ratios:
            x = ratios["locust"]["per_cpu_s"]
            text.append(f"target stinger >= 10 x Locust per CPU-s:   {x:.2f} -> {'met' if x >= 10 else 'NOT met'}")
        gc = st.get("generator_check") or {}
        tp = st.get("throughput") or {}
        figures = ", ".join(f"{k} {v}" for k, v in gc.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
        text.append(f"stinger peak run: achieved/offered {tp.get('ratio', float('nan')):.3f}; {figures}; "
                    f"{gc.get('message') or ''}")
    return "\n".join(text), ratios


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 s per generator, one round (default: 10 s, 3 rounds)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per generator run")
    ap.add_argument("--repeat", type=int, default=None, help="rounds over all generators; the table shows each "
                                                             "generator's best run (default 3, --quick 1)")
    ap.add_argument("--only", default=",".join(GENERATORS), help=f"comma-separated subset of {','.join(GENERATORS)}")
    ap.add_argument("--connections", type=int, default=64, help="connections/users for wrk, hey, ab, Locust")
    ap.add_argument("--stinger-rate", type=float, default=150_000, help="offered rate for stinger's peak run")
    ap.add_argument("--stinger-in-flight", type=int, default=64,
                    help="stinger --max-in-flight (64: the connection count the other tools get)")
    ap.add_argument("--stinger-on-limit", choices=("queue", "drop"), default="queue")
    ap.add_argument("--sustained-rate", type=float, default=20_000,
                    help="offered rate of stinger's second run, one it sustains (default 20000/s)")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/run-<timestamp>.json")
    a = ap.parse_args(argv)
    a.duration = a.duration or (3.0 if a.quick else 10.0)
    a.repeat = a.repeat or (1 if a.quick else 3)
    wanted = [g.strip() for g in a.only.split(",") if g.strip()]
    for g in wanted:
        if g not in BENCHES:
            ap.error(f"--only: unknown generator {g!r}; choose from {', '.join(GENERATORS)}")

    burn = check_rusage_counts_grandchildren()
    cores = pick_cores()
    target = start_target(cores.server)
    work = Path(tempfile.mkdtemp(prefix="stinger-bench-run-"))
    print(f"target: {target.kind} at {target.url} ({cores.note})" + (f"; {target.note}" if target.note else ""))
    print(f"CPU check: a grandchild's 0.30 s of CPU is counted ({burn:.2f} s seen); "
          f"{a.duration:g} s per run, {a.repeat} round(s); load average {os.getloadavg()[0]:.2f}")
    results: list[dict] = []
    state: dict = {}
    try:
        for rnd in range(a.repeat):
            for g in wanted:
                print(f"  round {rnd + 1}: {g} ...", flush=True)
                results += BENCHES[g](target.url, a, cores, work, state)
    finally:
        target.stop()
        shutil.rmtree(work, ignore_errors=True)
    # start-up CPU: the least seen over all rounds
    for r in results:
        if "skipped" in r:
            continue
        key = "stinger_startup" if r["generator"].startswith("stinger") else f"{r['generator']}_startup"
        if key in state:
            r["startup_cpu_s"] = round(state[key], 3)
            net = r["cpu_s"] - state[key]
            r["rps_cpu_net"] = r["ok"] / net if net > 0 else 0.0
    text, ratios = report(results)
    print()
    print(text)
    if not a.no_save:
        res_dir = BENCH_DIR / "results"
        res_dir.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        doc = {"bench": "throughput", "started": stamp, "args": vars(a), "target": target.kind,
               "target_url": target.url, "cores": cores.note, "cpu_count": os.cpu_count(),
               "load_avg_end": os.getloadavg(), "python": platform.python_version(),
               "best": best_runs(results), "ratios": ratios, "runs": results}
        path = res_dir / f"run-{stamp}.json"
        path.write_text(json.dumps(doc, indent=2, default=str))
        print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
