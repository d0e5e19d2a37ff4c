"""Does the verdict catch tail-only and token-only differences, and does `compare` pass identical runs?

Real runs on loopback against servers that time themselves (`stinger.testing.servers`,
`stinger.testing.llm_server`); each case repeats a run and counts outcomes:

* ``tail``:  `stinger plan --baseline <a run of A> --min-effect 28ms --at p95` sizes the
  test; then A/B split runs of that length, A a 5 ms delay server, B the same with every
  10th request 28 ms later (p95/p99 +28 ms, the median unchanged, by construction).
  Counts the runs whose verdict calls B slower at p95 or p99.
* ``aa-compare``: pairs of separate `stinger run`s against one delay server (identical
  runs), each pair judged by `stinger compare` (default margin); counts exit codes 0.
  ``--hogs N`` keeps N CPU-bound processes running meanwhile (a busy machine).
* ``ttft``: A/B split runs against two LLM servers, TTFT 40 vs 50 ms and equal end-to-end
  time (B's gaps shorter); counts runs whose TTFT p50 row is significant with its CI
  containing +10 ms; then `stinger compare` of two separate runs (exit 1 expected).

``--old-src DIR`` also judges every saved run (or pair) with another source tree's
`stinger compare` (e.g. the tree before a change: ``git archive BASE src | tar -x -C DIR``),
so before and after are read from the very same runs, side by side.

    PYTHONPATH=src python3 bench/verdict_validity.py --cases tail,ttft,aa-compare --runs 10
    PYTHONPATH=src python3 bench/verdict_validity.py --cases aa-compare --runs 10 --seconds 30 --hogs 2

Every run is bounded: warm-up 1 s + the measured seconds, 5 s request timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from stinger.orchestrate.ab import AbOptions, run_ab
from stinger.spec import parse_spec
from stinger.testing.llm_server import LlmServer
from stinger.testing.servers import RefServer


def cli(args: list[str], src: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src
    return subprocess.run([sys.executable, "-m", "stinger.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def only_dir(root: Path) -> Path:
    dirs = [d for d in root.iterdir() if (d / "summary.json").exists()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def ab(variants: list[dict], rate: float, seconds: float, seed: int, out: Path, extra: dict | None = None):
    data = {"variants": variants, "load": {"rate": rate, "duration": seconds + 1, "warmup": "1s", "seed": seed,
                                           "timeout": "5s"},
            "server_time": None, "output": {"dir": str(out)}, **(extra or {})}
    spec = parse_spec(data)
    return run_ab(spec, AbOptions(), quiet=True)


_JUDGE = ("import json, sys, stinger; r = stinger.compare(sys.argv[1], sys.argv[2]); "
          "print(json.dumps({'exit': r.exit_code, 'rows': {x['metric']: x['significant'] and x['better'] == 'a' "
          "for x in r.verdict['rows']}}))")


def old_verdict(run_dir: Path, old_src: str | None, a: str = "A", b: str = "B") -> dict | None:
    """The other tree's `compare RUN:A RUN:B` of a saved A/B run: its exit code and, per row, whether it
    called B worse."""
    if old_src is None:
        return None
    p = subprocess.run([sys.executable, "-c", _JUDGE, f"{run_dir}:{a}", f"{run_dir}:{b}"], capture_output=True,
                       text=True, timeout=600, env={**os.environ, "PYTHONPATH": old_src})
    return json.loads(p.stdout) if p.returncode == 0 else {"exit": None, "rows": {}, "error": p.stderr[-300:]}


def plan_seconds(baseline: Path, effect: str, at: str | None) -> tuple[int, str]:
    args = ["plan", "--baseline", f"{baseline}", "--min-effect", effect] + (["--at", at] if at else [])
    p = cli(args)
    m = re.search(r"about ([\d,]+) s at", p.stdout)
    assert p.returncode == 0 and m, p.stdout + p.stderr
    return int(m.group(1).replace(",", "")), p.stdout.strip()


# ------------------------------------------------------------------ cases
def case_tail(args, root: Path) -> list[dict]:
    rows = []
    with RefServer("delay", delay_ms=5) as fast, RefServer("delay", delay_ms=5, slow_every=10, slow_ms=28) as slow:
        base_out = root / "tail-baseline"
        p = cli(["run", "--url", fast.url + "/", "--rate", str(args.rate / 2), "--duration", "21s", "--warmup", "1s",
                 "--out", str(base_out), "-q", "--seed", str(args.seed)])
        assert p.returncode == 0, p.stderr
        seconds, text = plan_seconds(only_dir(base_out), "28ms", "p95")
        whole, _ = plan_seconds(only_dir(base_out), "28ms", None)
        print(f"plan (tail, --at p95): {seconds} s; plan (whole distribution): {whole} s\n  {text}", flush=True)
        planned = seconds
        if args.tail_seconds:
            seconds = int(args.tail_seconds)
            print(f"running at --tail-seconds {seconds} instead", flush=True)
        for i in range(args.runs):
            seed = args.seed + i
            out = root / f"tail-{seed}"
            t = time.monotonic()
            got = ab([{"name": "A", "url": fast.url + "/"}, {"name": "B", "url": slow.url + "/"}],
                     args.rate, seconds, seed, out)
            v = got.verdict
            tail_rows = [r for r in v.rows if r.metric.startswith(("latency p95", "latency p99"))]
            caught = any(r.significant and r.better == "a" for r in tail_rows)
            p50 = next(r for r in v.rows if r.metric.startswith("latency p50"))
            row = {"case": "tail", "seed": seed, "seconds": seconds, "planned": planned, "caught": caught,
                   "p50_diff": p50.diff, "p50_sig": p50.significant,
                   "p95": [tail_rows[0].diff, tail_rows[0].p_adjusted], "p99": [tail_rows[1].diff, tail_rows[1].p_adjusted],
                   "old": old_verdict(got.run_dir, args.old_src)}
            if row["old"] is not None:
                row["old_caught"] = any(v for k, v in row["old"]["rows"].items() if k.startswith(("latency p95",
                                                                                                  "latency p99")))
            rows.append(row)
            print(f"tail seed {seed}: {'CAUGHT' if caught else 'missed'} p95 {row['p95'][0]:+.1f} ms "
                  f"(p adj {row['p95'][1]:.2g}) p99 {row['p99'][0]:+.1f} ms (p adj {row['p99'][1]:.2g}); "
                  f"p50 {p50.diff:+.2f} ms sig={p50.significant}"
                  + (f"; old tree caught={row['old_caught']}" if row["old"] is not None else "")
                  + f"  {time.monotonic() - t:.0f} s", flush=True)
    return rows


class Hogs:
    """N CPU-bound child processes (a busy machine), stopped by their PIDs."""

    def __init__(self, n: int) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]

    def __enter__(self) -> Hogs:
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.terminate()
            p.wait(timeout=10)


def case_aa_compare(args, root: Path) -> list[dict]:
    rows = []
    with RefServer("delay", delay_ms=5) as srv, Hogs(args.hogs):
        for i in range(args.runs):
            seed = args.seed + 2 * i
            dirs = []
            for k in range(2):
                out = root / f"aa-{seed}-{k}"
                p = cli(["run", "--url", srv.url + "/", "--rate", str(args.rate), "--duration",
                         f"{args.seconds + 1:g}s", "--warmup", "1s", "--out", str(out), "-q", "--seed", str(seed + k)])
                assert p.returncode in (0, 1), p.stderr
                dirs.append(only_dir(out))
            new = cli(["compare", str(dirs[0]), str(dirs[1])])
            old = cli(["compare", str(dirs[0]), str(dirs[1])], args.old_src) if args.old_src else None
            busy = [json.loads((d / "summary.json").read_text()).get("generator", {}) for d in dirs]
            row = {"case": "aa-compare", "seed": seed, "exit": new.returncode,
                   "old_exit": None if old is None else old.returncode,
                   "busy": [bool(g.get("machine_busy") or g.get("client_bound")) for g in busy],
                   "named_busy": "busy machine" in new.stdout or "client-bound" in new.stdout,
                   "regressions": new.stderr.strip()}
            rows.append(row)
            print(f"aa-compare seed {seed}: exit {new.returncode}"
                  + (f" (old tree: exit {old.returncode})" if old is not None else "")
                  + f"; busy {row['busy']} named {row['named_busy']} {row['regressions'][:160]}", flush=True)
    return rows


def case_ttft(args, root: Path) -> list[dict]:
    rows = []
    kw = {"type": "openai", "model": "m", "max_tokens": 16}
    with LlmServer(ttft_ms=40, itl_ms=8, tokens=16) as a, LlmServer(ttft_ms=50, itl_ms=8 - 10 / 15, tokens=16) as b:
        variants = [{"name": "A", "url": a.url, **kw}, {"name": "B", "url": b.url, **kw}]
        extra = {"payload": {"body": "hello there"}}
        for i in range(args.runs):
            seed = args.seed + i
            seen = len(a.records()), len(b.records())
            got = ab(variants, 40, args.ttft_seconds, seed, root / f"ttft-{seed}", extra)
            # the servers' own TTFT (token handed to the socket - request read) over this run's requests
            ta = [(r["first"] - r["recv"]) * 1e3 for r in a.records()[seen[0]:]]
            tb = [(r["first"] - r["recv"]) * 1e3 for r in b.records()[seen[1]:]]
            truth = float(np.median(tb) - np.median(ta))
            v = got.verdict
            t50 = next(r for r in v.rows if r.metric.startswith("time to first token p50"))
            lat = next(r for r in v.rows if r.metric.startswith("latency p50"))
            ok = t50.significant and t50.better == "a" and t50.ci_low <= 10 <= t50.ci_high
            row = {"case": "ttft", "seed": seed, "ttft_p50": [t50.diff, t50.ci_low, t50.ci_high, t50.p_adjusted],
                   "server_diff": truth, "significant": t50.significant and t50.better == "a",
                   "truth_in_ci": t50.ci_low <= truth <= t50.ci_high,
                   "latency_p50_sig": lat.significant, "caught_with_10_in_ci": ok, "old": old_verdict(got.run_dir,
                                                                                                    args.old_src)}
            rows.append(row)
            print(f"ttft seed {seed}: TTFT p50 {t50.diff:+.2f} ms CI [{t50.ci_low:.2f}, {t50.ci_high:.2f}] "
                  f"p adj {t50.p_adjusted:.2g} sig={t50.significant} (+10 in CI: {t50.ci_low <= 10 <= t50.ci_high}; "
                  f"servers' own +{truth:.2f} in CI: {row['truth_in_ci']}); latency p50 sig={lat.significant}"
                  + (f"; old tree rows {sorted(row['old']['rows'])}" if row["old"] else ""), flush=True)
        # two separate runs, compared
        dirs = []
        for name, srv in (("a", a), ("b", b)):
            out = root / f"ttft-run-{name}"
            p = cli(["run", "--openai", srv.url, "--model", "m", "--max-tokens", "16", "--body", '"hello there"',
                     "--rate", "20", "--duration", f"{args.ttft_seconds + 1:g}s", "--warmup", "1s", "--out", str(out),
                     "-q", "--seed", str(args.seed)])
            assert p.returncode == 0, p.stderr
            dirs.append(only_dir(out))
        new = cli(["compare", str(dirs[0]), str(dirs[1])])
        old = cli(["compare", str(dirs[0]), str(dirs[1])], args.old_src) if args.old_src else None
        rows.append({"case": "ttft-compare", "exit": new.returncode, "old_exit": None if old is None else old.returncode,
                     "said": new.stderr.strip()})
        print(f"ttft compare of two separate runs: exit {new.returncode} ({new.stderr.strip()[:160]})"
              + (f"; old tree: exit {old.returncode}" if old is not None else ""), flush=True)
    return rows


CASES = {"tail": case_tail, "aa-compare": case_aa_compare, "ttft": case_ttft}


def summarise(rows: list[dict]) -> None:
    print()
    tail = [r for r in rows if r["case"] == "tail"]
    if tail:
        n = len(tail)
        line = (f"tail-only +28 ms at p95/p99, {tail[0]['seconds']} s runs (the plan said {tail[0]['planned']} s): "
                f"caught {sum(r['caught'] for r in tail)}/{n}")
        line += f", median called different {sum(r['p50_sig'] for r in tail)}/{n}"
        if tail[0].get("old") is not None:
            line += f"; old tree on the same runs: caught {sum(r['old_caught'] for r in tail)}/{n}"
        print(line)
    aa = [r for r in rows if r["case"] == "aa-compare"]
    if aa:
        n = len(aa)
        line = f"identical runs compared: passed (exit 0) {sum(r['exit'] == 0 for r in aa)}/{n}"
        if aa[0].get("old_exit") is not None:
            line += f"; old tree {sum(r['old_exit'] == 0 for r in aa)}/{n}"
        line += f"; a busy run in {sum(any(r['busy']) for r in aa)}/{n} pairs, named in {sum(r['named_busy'] for r in aa)}"
        print(line)
    tt = [r for r in rows if r["case"] == "ttft"]
    if tt:
        n = len(tt)
        print(f"TTFT 40 vs 50 ms, equal e2e: TTFT p50 significant {sum(r['significant'] for r in tt)}/{n}, "
              f"with +10 ms in its CI {sum(r['caught_with_10_in_ci'] for r in tt)}/{n}, with the servers' own "
              f"difference (mean {np.mean([r['server_diff'] for r in tt]):+.2f} ms) in its CI "
              f"{sum(r['truth_in_ci'] for r in tt)}/{n}; latency p50 called different "
              f"{sum(r['latency_p50_sig'] for r in tt)}/{n}; old tree: no TTFT row in "
              f"{sum(not any('first token' in k for k in (r['old'] or {}).get('rows', {})) for r in tt)}/{n}")
    for r in rows:
        if r["case"] == "ttft-compare":
            print(f"TTFT compare of separate runs: exit {r['exit']}" + (f" (old tree: exit {r['old_exit']})"
                                                                        if r["old_exit"] is not None else ""))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="tail,ttft,aa-compare")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rate", type=float, default=100.0, help="req/s (tail: over both variants; aa: per run)")
    ap.add_argument("--seconds", type=float, default=30.0, help="aa-compare: measured seconds per run")
    ap.add_argument("--ttft-seconds", type=float, default=11.0, help="ttft: measured seconds per run")
    ap.add_argument("--tail-seconds", type=float, default=None,
                    help="tail: run at this length instead of the plan's (e.g. 10, the old plan's)")
    ap.add_argument("--hogs", type=int, default=0, help="aa-compare: CPU-bound processes during the runs")
    ap.add_argument("--seed", type=int, default=300)
    ap.add_argument("--old-src", default=None, help="another tree's src/ to judge the same runs with")
    ap.add_argument("--keep", default=None, help="keep the run directories here")
    ap.add_argument("--json", help="append one JSON line per run here")
    args = ap.parse_args(argv)
    rows: list[dict] = []
    with ExitStack() as stack:
        root = Path(args.keep) if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vv-")))
        root.mkdir(parents=True, exist_ok=True)
        for case in args.cases.split(","):
            got = CASES[case](args, root)
            rows += got
            if args.json:
                with open(args.json, "a", encoding="utf-8") as f:
                    for r in got:
                        f.write(json.dumps(r, default=str) + "\n")
    summarise(rows)


if __name__ == "__main__":
    main()
