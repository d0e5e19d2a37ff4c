"""How long report.html takes, and how big it is, for a 10-minute A/B run.

A real 3 s A/B run (two delay reference servers, 40 req/s) gives the run directory; its
per-second files are then stretched to MINUTES minutes by repeating their rows at later
times (intervals.csv, histograms.hlog, series.csv: the files the report reads per second),
so the renderer sees the row counts of a 10-minute run with real histogram payloads.

    PYTHONPATH=src python3 bench/report.py [--minutes 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def stretch(d: Path, seconds: int) -> None:
    """Repeat the run's per-second rows until they cover `seconds`."""
    with open(d / "intervals.csv", newline="") as fp:
        rows = list(csv.DictReader(fp))
    span = max(float(r["t"]) for r in rows) + 1
    out = [dict(r, t=f"{float(r['t']) + k * span:.3f}") for k in range(int(seconds // span)) for r in rows]
    with open(d / "intervals.csv", "w", newline="") as fp:
        w = csv.DictWriter(fp, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(out)
    lines = (d / "histograms.hlog").read_text().splitlines(keepends=True)
    head = [x for x in lines if x.startswith(("#", '"'))]
    body = [x for x in lines if not x.startswith(("#", '"'))]
    stretched = []
    for k in range(int(seconds // span)):
        for x in body:
            tag, start, rest = x.split(",", 2)
            stretched.append(f"{tag},{float(start) + k * span:.3f},{rest}")
    (d / "histograms.hlog").write_text("".join(head + stretched))
    if (d / "series.csv").exists():
        s = (d / "series.csv").read_text().splitlines(keepends=True)
        span_s = max(float(x.split(",", 1)[0]) for x in s[1:]) + 1
        out_s = [s[0]]
        for k in range(int(seconds // span_s)):
            for x in s[1:]:
                t, rest = x.split(",", 1)
                out_s.append(f"{float(t) + k * span_s:.3f},{rest}")
        (d / "series.csv").write_text("".join(out_s))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from stinger.outputs.report import render_report, write_report
    from stinger.testing.servers import RefServer

    with tempfile.TemporaryDirectory() as tmp, RefServer("delay", delay_ms=3) as a, \
            RefServer("delay", delay_ms=6) as b:
        out = Path(tmp)
        proc = subprocess.run([sys.executable, "-m", "stinger.cli", "ab", "--a", a.url + "/", "--b", b.url + "/",
                               "--rate", "40", "--duration", "3s", "--monitor", f"process=pid:{a.pid}",
                               "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            sys.exit(f"the A/B run failed: {proc.stderr.strip()}")
        [d] = [p for p in out.iterdir() if p.is_dir()]
        stretch(d, int(args.minutes * 60))
        render_report(d)  # imports, once
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            path = write_report(d)
            times.append(time.perf_counter() - t)
        n_int = sum(1 for _ in open(d / "intervals.csv")) - 1
        n_hlog = sum(1 for x in open(d / "histograms.hlog") if x.startswith("Tag="))
        print(f"{args.minutes:g}-minute A/B run: {n_int} interval rows, {n_hlog} HDR log lines, "
              f"{(d / 'histograms.hlog').stat().st_size / 1e6:.1f} MB log")
        print(f"report.html: {path.stat().st_size / 1e3:.0f} kB; write_report median {statistics.median(times):.3f} s, "
              f"min {min(times):.3f} s over {args.repeat}; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
