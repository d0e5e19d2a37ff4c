#!/usr/bin/env python3
"""The reference server's answer precision: `--precise` beside the coarse server, side by side.

    python3 bench/ref_precision.py [--rounds 3] [--clients 4] [--requests 25] [--delay-ms 7.3]

Each round drives both modes (delay, slots) with and without `precise`, in
alternating order, from `--clients` keep-alive clients of `--requests` requests
each, and reads how late each answer left after its due instant (recv + D;
slots: the virtual end of its service) from the server's own recording. The
table gives the lateness p50/p90 (ms) and the coarse/precise ratio of the
medians: about 0.5 ms against tens of microseconds on a quiet machine (a
coarse timer fires on the next whole millisecond, a precise one spins out the
last tick). On a busy machine both are the scheduler's (beside two CPU hogs
the precise median ranged 0.04-3.8 ms over five rounds), which is why the
test suite asserts only that no answer leaves early
(`tests/testing/test_servers.py`) and this figure lives here. Results go to
bench/results/ref_precision-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from _common import BENCH_DIR, fmt, table
from stinger.testing.servers import RefServer


def lateness_ms(mode: str, precise: bool, clients: int, requests: int, delay_ms: float) -> np.ndarray:
    """Per answer: send - start - D, ms, from the server's own recording."""
    def client(port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(requests):
            conn.request("GET", "/")
            conn.getresponse().read()
        conn.close()

    with RefServer(mode, delay_ms=delay_ms, service_ms=delay_ms, slots=clients, record=True, precise=precise) as srv:
        threads = [threading.Thread(target=client, args=(srv.port,)) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    rec = srv.records()
    return (rec["send"] - rec["start"]) * 1e3 - delay_ms


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=25, help="requests per client")
    ap.add_argument("--delay-ms", type=float, default=7.3)
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args(argv)
    print(f"{a.clients} clients x {a.requests} requests, D = {a.delay_ms:g} ms, {a.rounds} rounds; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    late: dict[tuple[str, bool], list[np.ndarray]] = {}
    for r in range(a.rounds):
        for mode in ("delay", "slots"):
            for precise in ((True, False) if r % 2 == 0 else (False, True)):   # alternate who goes first
                late.setdefault((mode, precise), []).append(
                    lateness_ms(mode, precise, a.clients, a.requests, a.delay_ms))
    rows, doc = [], {"bench": "ref_precision", "args": vars(a), "load": os.getloadavg()[0], "modes": {}}
    for mode in ("delay", "slots"):
        got = {p: np.concatenate(late[(mode, p)]) for p in (True, False)}
        med = {p: float(np.median(v)) for p, v in got.items()}
        p90 = {p: float(np.percentile(v, 90)) for p, v in got.items()}
        early = {p: int(np.sum(v < 0)) for p, v in got.items()}
        ratio = med[False] / med[True] if med[True] > 0 else float("nan")
        rows.append([mode, fmt(med[True], 3), fmt(p90[True], 3), fmt(med[False], 3), fmt(p90[False], 3),
                     fmt(ratio, 1), f"{early[True]}/{early[False]}"])
        doc["modes"][mode] = {"precise": {"p50_ms": med[True], "p90_ms": p90[True], "early": early[True]},
                              "coarse": {"p50_ms": med[False], "p90_ms": p90[False], "early": early[False]},
                              "coarse_over_precise_p50": ratio}
    print(table(["mode", "precise p50", "precise p90", "coarse p50", "coarse p90", "coarse/precise p50",
                 "early (p/c)"], rows))
    if not a.no_save:
        out = BENCH_DIR / "results" / f"ref_precision-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(doc, indent=2))
        print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
