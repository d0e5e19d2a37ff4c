"""Capacity on goodput (issue 18 item 2's must-show): `python3 bench/llm_capacity.py [--cases closed,constant,poisson]`.

One self-timing LLM server (`stinger.testing.llm_server --ttft-per-inflight-ms K`, a process on loopback)
whose time to first token grows with its load: a request read while N requests are in flight (itself
included, each counted from its read to its last token) gets TTFT = B + K x N. Each answer is T tokens
G ms apart, so it is in flight D(N) = B + K x N + (T - 1) x G. One `stinger capacity` per case (the CLI,
a subprocess) with `--goodput 'ttft<OBJ' --slo 'goodput>=95%' --hold 20s`, and the boundary predicted
from that rule beside the one found, as a ratio:

* ``closed`` (`--mode concurrency`): at U users N = U, so the most users meeting the objective is
  N* = the largest N with B + K N < OBJ;
* ``constant`` (open model, evenly spaced arrivals at r/s): a request sees the ones read in the last
  D seconds, N = ceil(r D); N stays at N* while r x D(N*) <= N*, so the good state exists up to
  N* / D(N*). But the rule feeds back (a later token keeps a request in flight longer, which raises N):
  above N* / D(N* + 1) the bad state (N* + 1 in flight, every request failing) sustains itself too, so
  between the two rates either state holds and a moment of lateness flips the server into the bad one.
  The boundary that holds is N* / D(N* + 1); the prediction is that interval;
* ``poisson`` (open model, Poisson arrivals): N varies, so the share of good requests at a rate is
  predicted by simulating the same rule: the rate at which half of 400 simulated steps (as long as
  the search's, each from an idle server) meet 95 % (the search's own question), and the rate at which
  the long run's share is 95 % (200,000 arrivals: the feedback's bad state, once entered, drags it
  lower, as a long hold would see).

With `--adaptive` each case also runs as `stinger capacity --adaptive` (the same policy, its steps as
windows of ONE run whose load is changed live, then the hold in the same run), beside the step search:
found/predicted, held, and the wall time of each, as a ratio.

The search steps at its own rates (start, growth 2, bisection to 5 %, each failure re-tested once); `--hold`
then runs the load found for 20 s more on the same SLO: the boundary held when that run meets it. Prints
a table and saves JSON to bench/results/llm_capacity.json (with --adaptive: llm_capacity_adaptive.json).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stinger.testing.llm_server import LlmServer

RESULTS = Path(__file__).parent / "results"
# The objective sits 1 ms under the rule's TTFT at N* + 1 (50 + 30 x 10 = 350 ms): at N* + 1 it fails
# whatever the machine does, and at N* a token may leave up to 29 ms late (a busy machine only ever makes
# it later) before the boundary moves.
B_MS, K_MS, TOKENS, GAP_MS, OBJ_MS = 50.0, 30.0, 4, 10.0, 349.0


def n_star() -> int:
    """The most requests in flight whose TTFT (B + K N) stays under the objective."""
    return math.ceil((OBJ_MS - B_MS) / K_MS) - 1


def duration_ms(n: int | np.ndarray):
    return B_MS + K_MS * n + (TOKENS - 1) * GAP_MS


STEP_S, WARMUP_S = 5.0, 1.0   # each step's measured window and warm-up (the search's flags below)


def _good(t: np.ndarray, counted_from: float) -> tuple[int, int]:
    """(good, counted) of arrivals `t` (s) at an idle server by its rule, counting those from `counted_from`."""
    import heapq

    ends: list[float] = []
    good = counted = 0
    for ti in t:
        while ends and ends[0] <= ti:
            heapq.heappop(ends)
        n = len(ends) + 1
        if ti >= counted_from:
            counted += 1
            good += B_MS + K_MS * n < OBJ_MS
        heapq.heappush(ends, ti + duration_ms(n) / 1e3)
    return good, counted


def simulate_share(rate: float, *, step: bool, seed: int = 1, share: float = 0.95) -> float:
    """Under Poisson arrivals at `rate`/s by the server's rule: the long run's share of requests meeting the
    objective (200,000 arrivals), or (`step`) the share of 400 simulated steps (warm-up + window, each
    from an idle server) whose own share met `share`: a short step mostly stays in the good state or
    falls into the bad one, so the search's question is how often a step passes, not the pooled share."""
    rng = np.random.default_rng(seed)
    if not step:
        good, counted = _good(np.cumsum(rng.exponential(1.0 / rate, 200_000)), 0.0)
        return good / counted
    passed = 0
    for _ in range(400):
        t = np.cumsum(rng.exponential(1.0 / rate, int(rate * (STEP_S + WARMUP_S) * 2) + 20))
        g, c = _good(t[t < STEP_S + WARMUP_S], WARMUP_S)
        passed += c > 0 and g / c >= share
    return passed / 400


def poisson_boundary(*, step: bool, share: float = 0.95) -> float:
    """The rate where the long run's share is `share`, or (`step`) where half the simulated steps pass."""
    lo, hi = 1.0, n_star() / (duration_ms(n_star()) / 1e3) * 1.5
    want = 0.5 if step else share
    for _ in range(16):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if simulate_share(mid, step=step, share=share) >= want else (lo, mid)
    return lo


def predicted(case: str) -> tuple[float, float]:
    """(the highest load that holds in the long run, the highest at which a step meets the SLO): equal for
    `closed`; for `constant` the bistable interval; for `poisson` the long run's and a step's boundary."""
    if case == "closed":
        return float(n_star()), float(n_star())
    if case == "constant":
        return n_star() / (duration_ms(n_star() + 1) / 1e3), n_star() / (duration_ms(n_star()) / 1e3)
    return poisson_boundary(step=False), poisson_boundary(step=True)


def search(case: str, url: str, out: Path, adaptive: bool = False) -> dict:
    args = [sys.executable, "-m", "stinger.cli", "capacity", "--openai", url, "--model", "m", "--max-tokens",
            str(TOKENS), "--body", '"hello"', "--goodput", f"ttft<{OBJ_MS:g}ms", "--slo", "goodput>=95%",
            "--step-duration", f"{STEP_S:g}s", "--step-warmup", f"{WARMUP_S:g}s", "--hold", "20s", "--max-steps", "16", "--timeout", "5s",
            "-q", "--out", str(out)]
    if adaptive:
        args.append("--adaptive")
    if case == "closed":
        args += ["--mode", "concurrency", "--start", "2"]
    else:
        args += ["--start", "10", "--arrival", "constant" if case == "constant" else "poisson"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=900, env=dict(os.environ))
    if p.returncode not in (0, 1):
        raise RuntimeError(f"stinger capacity exited {p.returncode}: {p.stderr[-800:]}")
    run = next(d for d in out.iterdir() if (d / "capacity.json").exists())
    cap = json.loads((run / "capacity.json").read_text())
    cap["exit_code"] = p.returncode
    return cap


def _one(case: str, how: str, want_lo: float, want: float) -> dict:
    """One capacity search (`how`: the step search, or --adaptive: one run) against a fresh server."""
    with tempfile.TemporaryDirectory(prefix="stinger-llm-cap-") as tmp, \
            LlmServer(ttft_ms=B_MS, itl_ms=GAP_MS, tokens=TOKENS, ttft_per_inflight_ms=K_MS) as s:
        t0 = time.monotonic()
        cap = search(case, s.url, Path(tmp), adaptive=how == "adaptive")
        wall = time.monotonic() - t0
        recs = s.records()
    found, hold = cap["max_sustainable"], cap.get("hold") or {}
    unit = cap["unit"]
    steps = [(r["target"], r.get("goodput"), r["passed"], bool(r.get("retest"))) for r in cap["steps"]]
    due_ok = float(np.mean([r["ttft_due"] * 1e3 < OBJ_MS for r in recs])) if recs else None
    row = {"how": how, "predicted": want, "predicted_holds": want_lo, "found": found,
           "ratio": found / want if found else None, "ratio_to_holding": found / want_lo if found else None,
           "bracket": cap["bracket"], "unit": unit, "stop_reason": cap["stop_reason"],
           "hold_passed": hold.get("passed"), "hold_goodput": hold.get("goodput"), "exit_code": cap["exit_code"],
           "steps": steps, "wall_s": round(wall, 1), "server_requests": len(recs),
           "server_share_due_under_objective": due_ok,
           "busy_steps": cap["stability"].get("busy_steps"), "events": len(cap.get("events") or [])}
    pred = f"{want:7.2f}" if want_lo == want else f"{want_lo:.2f}-{want:.2f} (holds up to {want_lo:.2f})"
    print(f"{case:8s} {how:8s}: predicted {pred} {unit}, found {found} {unit} (bracket {cap['bracket']}, "
          f"stopped: {cap['stop_reason']}, {cap['stability'].get('note')}), "
          f"found/predicted {row['ratio'] or 0:.3f}; held 20 s: goodput "
          f"{100 * (hold.get('goodput') or 0):.1f}% -> {'held' if hold.get('passed') else 'NOT held'}; "
          f"{len(steps)} steps, {wall:.0f} s", flush=True)
    print("          steps: " + ", ".join(f"{t:g}{'r' if rt else ''}:{100 * (g or 0):.0f}%{'' if ok else ' x'}"
                                     for t, g, ok, rt in steps), flush=True)
    return row


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # the server's block stops it by its PID
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="closed,constant,poisson")
    ap.add_argument("--adaptive", action="store_true",
                    help="also run each case as `capacity --adaptive` (one run ramping, then holding), side by side")
    a = ap.parse_args()
    report: dict = {"rule": {"base_ms": B_MS, "per_in_flight_ms": K_MS, "tokens": TOKENS, "gap_ms": GAP_MS,
                             "objective": f"ttft<{OBJ_MS:g}ms", "slo": "goodput>=95%"}, "cases": {}}
    for case in a.cases.split(","):
        want_lo, want = predicted(case)
        for how in ("steps", "adaptive") if a.adaptive else ("steps",):
            row = _one(case, how, want_lo, want)
            report["cases"][case if how == "steps" else f"{case}/adaptive"] = row
        if a.adaptive:
            st, ad = report["cases"][case], report["cases"][f"{case}/adaptive"]
            print(f"{case:8s}: adaptive vs steps: found {ad['found']} vs {st['found']}, wall "
                  f"{ad['wall_s']:.0f} s vs {st['wall_s']:.0f} s (ratio {ad['wall_s'] / st['wall_s']:.2f}), held "
                  f"{ad['hold_passed']} vs {st['hold_passed']}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    name = "llm_capacity_adaptive.json" if a.adaptive else "llm_capacity.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
