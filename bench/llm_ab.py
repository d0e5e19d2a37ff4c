"""A/B on tokens (issue 18 item 6's must-show): `python3 bench/llm_ab.py [--runs 8 --seconds 12 --rate 40]`.

Two self-timing LLM servers (`stinger.testing.llm_server --precise`, two processes on loopback: each token
within microseconds of its instant, so 40 vs 50 ms differ by 10.0 ms, not the 9.8 of whole-millisecond
timers), each answer 8 tokens 8 ms apart, and one `stinger ab` (the CLI, a subprocess, bounded: warm-up 1 s + the measured seconds) per
run between them, goodput objective 'ttft<45ms'. Three cases, each repeated:

* ``ttft``: A's TTFT 40 ms, B's 50 ms, equal otherwise: counts the runs whose TTFT p50 row is significant
  with its 95 % CI containing +10 ms (the nominal difference; up to the histograms' 0.1 % resolution), and gives each run's CI beside the servers'
  own difference (their median first-token time minus request read);
* ``aa``: A and B both 40 ms (two processes): counts the runs with a significant token row (TTFT, TTFO,
  ITL, TPOT, tokens/s, goodput), which should be none;
* ``tpot``: equal TTFT, B's gaps 10 ms instead of 8 (TPOT +2 ms): counts the runs whose TPOT p50 row is
  significant with its CI containing +2 ms and whose TTFT rows say no difference.

Prints a table per case and saves JSON to bench/results/llm_ab.json.
"""

from __future__ import annotations

import argparse
import json
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
TOKEN_KINDS = ("ttft", "ttfo", "itl", "tpot", "output_tps", "goodput")
TOKENS, ITL = 8, 8.0
CASES = {
    "ttft": ({"ttft_ms": 40.0, "itl_ms": ITL}, {"ttft_ms": 50.0, "itl_ms": ITL}),
    "aa": ({"ttft_ms": 40.0, "itl_ms": ITL}, {"ttft_ms": 40.0, "itl_ms": ITL}),
    "tpot": ({"ttft_ms": 40.0, "itl_ms": ITL}, {"ttft_ms": 40.0, "itl_ms": ITL + 2.0}),
}


def one_ab(a: LlmServer, b: LlmServer, out: Path, *, rate: float, seconds: int, seed: int) -> dict:
    kw = {"type": "openai", "model": "m", "max_tokens": TOKENS}
    spec = {"variants": [{"name": "A", "url": a.url, **kw}, {"name": "B", "url": b.url, **kw}],
            "payload": {"body": "hello there"}, "server_time": None, "goodput": ["ttft<45ms"],
            "load": {"rate": rate, "duration": f"{seconds + 1}s", "warmup": "1s", "seed": seed, "timeout": "5s"}}
    path = out / "ab.yaml"
    path.write_text(json.dumps(spec))
    p = subprocess.run([sys.executable, "-m", "stinger.cli", "ab", str(path), "-q", "--out", str(out / "runs")],
                       capture_output=True, text=True, timeout=seconds + 120, env=dict(os.environ))
    if p.returncode not in (0, 1):
        raise RuntimeError(f"stinger ab exited {p.returncode}: {p.stderr[-800:]}")
    run = next(d for d in (out / "runs").iterdir() if (d / "verdict.json").exists())
    verdict = json.loads((run / "verdict.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    return {"rows": verdict["rows"], "sentence": verdict["sentence"],
            "load": (summary.get("generator") or {}).get("machine", {}).get("load")}


def server_diff(a: LlmServer, b: LlmServer, what: str) -> float:
    """B minus A by the servers' own clocks: median TTFT, or median mean gap (TPOT)."""
    def med(s: LlmServer) -> float:
        recs = s.records()
        if what == "ttft":
            return float(np.median([(r["first"] - r["recv"]) * 1e3 for r in recs]))
        return float(np.median([np.mean(r["gaps"]) * 1e3 for r in recs if r["gaps"]]))
    return med(b) - med(a)


def row(rows: list[dict], metric: str) -> dict | None:
    return next((r for r in rows if r["metric"] == metric), None)


def holds(r: dict, value: float) -> bool:
    """The row's CI holds `value`, up to the histograms' resolution (3 significant digits: 0.1 % of each
    variant's value, e.g. 0.01 ms at a 10 ms TPOT, which a +2.00 ms difference can sit one bucket off)."""
    slack = 1e-3 * (abs(r["a"]) + abs(r["b"]))
    return r["ci_low"] - slack <= value <= r["ci_high"] + slack


def judge(case: str, res: dict) -> dict:
    rows = res["rows"]
    token_sig = [r["metric"] for r in rows if r["kind"] in TOKEN_KINDS and r["significant"]]
    ttft, tpot = row(rows, "time to first token p50 (ms)"), row(rows, "time per output token p50 (ms)")
    out = {"token_rows_significant": token_sig, "load": res["load"]}
    if case == "ttft":
        out.update(ci=[ttft["ci_low"], ttft["ci_high"]], diff=ttft["diff"], significant=ttft["significant"],
                   ok=bool(ttft["significant"] and holds(ttft, 10.0)))
    elif case == "tpot":
        ttft_quiet = not any(r["significant"] for r in rows if r["kind"] == "ttft")
        out.update(ci=[tpot["ci_low"], tpot["ci_high"]], diff=tpot["diff"], significant=tpot["significant"],
                   ttft_quiet=ttft_quiet, ttft_diff=ttft["diff"], ttft_ci=[ttft["ci_low"], ttft["ci_high"]],
                   ok=bool(tpot["significant"] and holds(tpot, 2.0) and ttft_quiet))
    else:
        out.update(ci=[ttft["ci_low"], ttft["ci_high"]], diff=ttft["diff"], significant=ttft["significant"],
                   ok=not token_sig)
    return out


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # the servers' blocks stop them by their PIDs
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--aa-runs", type=int, default=4)
    ap.add_argument("--tpot-runs", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=12)
    ap.add_argument("--rate", type=float, default=40.0, help="requests per second, both variants together")
    ap.add_argument("--cases", default="ttft,aa,tpot")
    a = ap.parse_args()
    counts = {"ttft": a.runs, "aa": a.aa_runs, "tpot": a.tpot_runs}
    report: dict = {"args": vars(a), "cases": {}}
    for case in a.cases.split(","):
        sa, sb = CASES[case]
        runs = []
        for k in range(counts[case]):
            with tempfile.TemporaryDirectory(prefix="stinger-llm-ab-") as tmp, \
                    LlmServer(tokens=TOKENS, precise=True, **sa) as srv_a, \
                    LlmServer(tokens=TOKENS, precise=True, **sb) as srv_b:
                t0 = time.monotonic()
                res = one_ab(srv_a, srv_b, Path(tmp), rate=a.rate, seconds=a.seconds, seed=100 + k)
                got = judge(case, res)
                got["server_diff_ms"] = server_diff(srv_a, srv_b, "tpot" if case == "tpot" else "ttft")
                got["server_ttft_diff_ms"] = server_diff(srv_a, srv_b, "ttft")
                got["wall_s"] = round(time.monotonic() - t0, 1)
            runs.append(got)
            lo, hi = got["ci"]
            print(f"{case:5s} run {k + 1}: diff {got['diff']:+7.2f} ms, 95 % CI [{lo:+7.2f}, {hi:+7.2f}], "
                  f"server's own {got['server_diff_ms']:+6.2f} ms, significant token rows "
                  f"{got['token_rows_significant'] or 'none'}, load {got['load']}  -> {'ok' if got['ok'] else 'MISS'}",
                  flush=True)
        report["cases"][case] = {"runs": runs, "ok": sum(r["ok"] for r in runs), "of": len(runs)}
        print(f"{case}: {sum(r['ok'] for r in runs)} of {len(runs)} as expected\n", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "llm_ab.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
